// `npm run migrate -- up|down|status`: the schema migrations on DATABASE_URL, or on the embedded
// PostgreSQL under DATA_DIR (started for the command and stopped after; stop `npm start` first,
// since it holds that data directory). `npm start` runs `up` by itself.
import { parseArgs } from 'node:util';
import { createMigrator } from '../db';
import { createLogger } from '../lib/logger';
import { loadConfigOrExit, runCli, UsageError } from '../runtime/cli';
import { openDatabase, provideDatabase, withMigrationLock } from '../runtime/database';

const USAGE = 'usage: npm run migrate -- up|down|status';
const COMMANDS = ['up', 'down', 'status'] as const;

async function main(): Promise<void> {
  const { positionals } = parseArgs({ allowPositionals: true, options: {} });
  const command = COMMANDS.find((c) => c === positionals[0]);
  if (!command || positionals.length !== 1) throw new UsageError(`expected one of ${COMMANDS.join(', ')}`);
  const { config } = loadConfigOrExit();
  // Only warnings from the machinery; this command prints its own summary.
  const logger = createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
  const server = await provideDatabase(config, logger);
  try {
    const db = await openDatabase(server.url, logger);
    try {
      const migrator = createMigrator(db.sequelize, logger);
      if (command === 'status') {
        const [executed, pending] = await Promise.all([migrator.executed(), migrator.pending()]);
        for (const m of executed) process.stdout.write(`applied  ${m.name}\n`);
        for (const m of pending) process.stdout.write(`pending  ${m.name}\n`);
        return;
      }
      const done = await withMigrationLock(server.url, () => (command === 'up' ? migrator.up() : migrator.down()));
      const verb = command === 'up' ? 'applied' : 'reverted';
      if (done.length === 0) process.stdout.write(`nothing to do (${command})\n`);
      for (const m of done) process.stdout.write(`${verb}  ${m.name}\n`);
    } finally {
      await db.close();
    }
  } finally {
    await server.stop();
  }
}

runCli(main, USAGE);
