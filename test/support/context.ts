// The one way tests build an AppContext: the run's migrated database, the shared Temporal dev
// server, a random JWT secret and encryption key, and a unique task queue per call so workers of
// other suites (running at the same time) never take this suite's tasks.
import { randomBytes } from 'node:crypto';
import { loadConfig, type AppConfig } from '../../config';
import { resolvePayloadKeys, type Secrets } from '../../config/secrets';
import { Client } from '@temporalio/client';
import { createPayloadEncryption } from '../../lib/payload-codec';
import { mintToken } from '../../lib/auth';
import { createSecretBox } from '../../lib/secret-box';
import type { PublicConfig } from '../../contract';
import { createVerifier, type AppContext } from '../../app/context';
import { createDatabase } from '../../db';
import { runDatabaseUrlOnce, openTestDatabase } from './database';
import type { Logger } from '../../lib/logger';
import { testLogger } from './logger';
import { testTemporal } from './temporal';
import { createLLMConfigRow } from './llm-configs';

export interface TestContext {
  ctx: AppContext;
  /** A valid token for the user, signed with this context's secret. */
  token(userId: string, options?: { expiresIn?: string }): Promise<string>;
  close(): Promise<void>;
}

/** A short random suffix for user ids, session ids and queues, so concurrent runs never collide. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export async function createTestContext(
  options: {
    env?: Record<string, string>;
    temporal?: boolean;
    logger?: Logger;
    /** A migrated database of the suite's own (default: the run's). */ databaseUrl?: string;
  } = {},
): Promise<TestContext> {
  const jwtSecret = randomBytes(32).toString('base64url');
  const encryptionKey = randomBytes(32);
  const temporalEnv = options.temporal === false ? undefined : await testTemporal();
  const config: Readonly<AppConfig> = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: options.databaseUrl ?? (await runDatabaseUrlOnce()),
    JWT_SECRET: jwtSecret,
    CONFIG_ENCRYPTION_KEY: encryptionKey.toString('base64'),
    TEMPORAL_TASK_QUEUE: uniqueId('test-sessions'),
    // Every suite's clients share 127.0.0.1 and the run's counters; suites that test the limit set their own.
    AUTH_FAILURES_PER_MINUTE: '1000000',
    ...(temporalEnv ? { TEMPORAL_ADDRESS: temporalEnv.address } : {}),
    ...options.env,
  });
  const secrets: Secrets = { jwtSecret, encryptionKeys: [encryptionKey], payloadKeys: resolvePayloadKeys(config) };
  // With TEMPORAL_PAYLOAD_KEY in `env`, the context's client encrypts as main.ts's does (the
  // server's own client, temporalEnv.client, stays without the codec: it reads the raw history).
  const payloadEncryption = createPayloadEncryption(secrets.payloadKeys);
  const db = options.databaseUrl ? createDatabase(options.databaseUrl) : await openTestDatabase();
  const ctx: AppContext = {
    config,
    secrets,
    logger: options.logger ?? testLogger,
    db,
    secretBox: createSecretBox(secrets.encryptionKeys),
    verifier: createVerifier(config, secrets, db),
    payloadEncryption,
    temporal: temporalEnv
      ? {
          connection: temporalEnv.connection,
          client: payloadEncryption
            ? new Client({
                connection: temporalEnv.connection,
                namespace: temporalEnv.namespace,
                dataConverter: payloadEncryption.dataConverter,
              })
            : temporalEnv.client,
        }
      : undefined,
  };
  return {
    ctx,
    token: (userId, tokenOptions = {}) => mintToken(jwtSecret, userId, tokenOptions),
    close: () => db.close(),
  };
}

/** An LLM config row for `userId` (API key encrypted as the API would), answered by `baseUrl`. */
export async function insertLLMConfig(
  ctx: AppContext,
  userId: string,
  values: { name?: string; model: string; baseUrl: string; priority?: number; apiKey?: string; isActive?: boolean },
): Promise<PublicConfig> {
  const { config } = await createLLMConfigRow(ctx, userId, {
    config_name: values.name ?? values.model,
    description: `Answers questions with ${values.model}`,
    model_name: values.model,
    base_url: values.baseUrl,
    api_key: values.apiKey,
    priority: values.priority ?? 0,
    is_active: values.isActive ?? true,
  });
  return config;
}
