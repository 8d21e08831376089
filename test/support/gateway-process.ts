// A gateway in its own process, for tests that kill it (SIGKILL) with results pending. Reads the
// same environment as the service (DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE,
// JWT_SECRET, CONFIG_ENCRYPTION_KEY, GATEWAY_PORT) and prints "gateway ready <ws url>" once listening.
import { buildAppContext, payloadEncryptionOf } from '../../app/context';
import { loadConfig } from '../../config';
import { resolveSecrets } from '../../config/secrets';
import { createDatabase } from '../../db';
import { startGateway } from '../../gateway';
import { createLogger } from '../../lib/logger';
import { closeTemporal, connectTemporal } from '../../lib/temporal-connection';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  if (!config.DATABASE_URL || !config.TEMPORAL_ADDRESS) throw new Error('DATABASE_URL and TEMPORAL_ADDRESS are required');
  const logger = createLogger(config.LOG_LEVEL);
  const db = createDatabase(config.DATABASE_URL);
  const secrets = resolveSecrets(config);
  const payloadEncryption = payloadEncryptionOf(secrets);
  const temporal = await connectTemporal(config, payloadEncryption?.dataConverter);
  const ctx = buildAppContext({ config, secrets, logger, db, temporal, payloadEncryption });
  const gateway = await startGateway(ctx, { host: '127.0.0.1', port: config.GATEWAY_PORT });
  process.stdout.write(`gateway ready ${gateway.urls.websocket}\n`);
  process.once('SIGTERM', () => {
    void gateway
      .close()
      .then(() => closeTemporal(temporal))
      .then(() => db.close())
      .then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`gateway process failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
