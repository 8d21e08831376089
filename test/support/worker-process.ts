// A session worker in its own process, for tests that kill it (SIGKILL) mid-activity. Reads the
// same environment as the service (DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE,
// CONFIG_ENCRYPTION_KEY, EGRESS_ALLOW, ROUTER_LLM_*) and prints "worker ready" once polling.
import { loadConfig } from '../../config';
import { parseEncryptionKey, resolvePayloadKeys } from '../../config/secrets';
import { createDatabase } from '../../db';
import { createLogger } from '../../lib/logger';
import { createPayloadEncryption } from '../../lib/payload-codec';
import { createSecretBox } from '../../lib/secret-box';
import { startWorker } from '../../worker';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  if (!config.DATABASE_URL || !config.CONFIG_ENCRYPTION_KEY) throw new Error('DATABASE_URL and CONFIG_ENCRYPTION_KEY are required');
  const logger = createLogger(config.LOG_LEVEL);
  const db = createDatabase(config.DATABASE_URL);
  const secretBox = createSecretBox([parseEncryptionKey(config.CONFIG_ENCRYPTION_KEY, 'CONFIG_ENCRYPTION_KEY')]);
  const payloadEncryption = createPayloadEncryption(resolvePayloadKeys(config));
  const worker = await startWorker({ config, logger, db, secretBox, payloadEncryption });
  process.stdout.write('worker ready\n');
  process.once('SIGTERM', () => {
    void worker
      .close()
      .then(() => db.close())
      .then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`worker process failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
