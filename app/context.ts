// What every role (api, gateway, worker) is built from. main.ts assembles it once per process;
// tests assemble it from the test database and Temporal server.
import type { AppConfig } from '../config';
import type { Secrets } from '../config/secrets';
import { createApiKeyAuthenticator, type Database } from '../db';
import { createTokenVerifier, withApiKeys, type TokenVerifier } from '../lib/auth';
import type { Logger } from '../lib/logger';
import { createPayloadEncryption, type PayloadEncryption } from '../lib/payload-codec';
import { createSecretBox, type SecretBox } from '../lib/secret-box';

import type { TemporalHandles } from '../lib/temporal-connection';

export type { TemporalHandles } from '../lib/temporal-connection';

export interface AppContext {
  config: Readonly<AppConfig>;
  secrets: Secrets;
  logger: Logger;
  db: Database;
  secretBox: SecretBox;
  verifier: TokenVerifier;
  /** Present when TEMPORAL_PAYLOAD_KEY is set: the codec and data converter of every Temporal client and worker. */
  payloadEncryption?: PayloadEncryption;
  /** Absent only where a role runs without Temporal (API tests of the config routes). */
  temporal?: TemporalHandles;
}

/** A started role: `close` stops it gracefully. */
export interface RunningRole {
  name: string;
  urls: Record<string, string>;
  close(): Promise<void>;
  /**
   * Settles with the error if the role dies on its own (its Temporal worker stopped). main.ts
   * then shuts the process down with a non-zero code, so a supervisor restarts it rather than
   * leaving a process that looks alive but does no work.
   */
  failed?: Promise<unknown>;
}

/** Told by the API after any change to a user's configs; signals that user's open sessions to refresh. */
export interface ConfigChangeNotifier {
  configsChanged(userId: string): Promise<void>;
}

/** Payload encryption from the secrets, when a payload key is configured (connect Temporal with its data converter). */
export function payloadEncryptionOf(secrets: Secrets): PayloadEncryption | undefined {
  return createPayloadEncryption(secrets.payloadKeys);
}

/** What authenticates requests and sockets: JWTs, and the user API keys stored in `db`. */
export function createVerifier(config: AppConfig, secrets: Secrets, db: Database): TokenVerifier {
  return withApiKeys(createTokenVerifier(config, secrets), createApiKeyAuthenticator(db));
}

/**
 * Every role's context from what start-up gathered: the encryption box and the token verifier
 * built here. `temporal` must have been connected with `payloadEncryption`'s data converter.
 */
export function buildAppContext(
  parts: Pick<AppContext, 'config' | 'secrets' | 'logger' | 'db' | 'temporal' | 'payloadEncryption'>,
): AppContext {
  return {
    ...parts,
    secretBox: createSecretBox(parts.secrets.encryptionKeys),
    verifier: createVerifier(parts.config, parts.secrets, parts.db),
  };
}
