// Secrets that may be generated on first run: outside production a missing JWT secret or
// encryption key is created once under DATA_DIR/secrets (mode 0600) and reused on later runs,
// so `npm start` works with no setup and tokens survive restarts.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type AppConfig } from './index';

export interface Secrets {
  jwtSecret: string | undefined;
  /** Current key first, then older keys still accepted for decryption. */
  encryptionKeys: Buffer[];
  /** Temporal payload keys, current first (TEMPORAL_PAYLOAD_KEY, then TEMPORAL_PAYLOAD_OLD_KEYS); empty: no payload encryption. */
  payloadKeys: Buffer[];
}

function readOrCreate(file: string, create: () => string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  // Only the secrets folder is private: DATA_DIR itself must stay enterable by the embedded
  // PostgreSQL, which runs as another user when we are root.
  mkdirSync(path.dirname(path.dirname(file)), { recursive: true });
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const value = create();
  writeFileSync(file, value + '\n', { mode: 0o600, flag: 'wx' });
  return value;
}

/** Accepts 32 bytes as base64 or hex. */
export function parseEncryptionKey(text: string, variable: string): Buffer {
  const raw = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64');
  if (key.length !== 32) {
    throw new ConfigError([{ variable, message: 'must be 32 bytes, base64 or hex (openssl rand -base64 32)' }]);
  }
  return key;
}

function keyList(text: string | undefined, variable: string): Buffer[] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((k) => parseEncryptionKey(k, variable));
}

/** Never generated: without TEMPORAL_PAYLOAD_KEY payloads are not encrypted. */
export function resolvePayloadKeys(config: Pick<AppConfig, 'TEMPORAL_PAYLOAD_KEY' | 'TEMPORAL_PAYLOAD_OLD_KEYS'>): Buffer[] {
  if (!config.TEMPORAL_PAYLOAD_KEY) return [];
  return [
    parseEncryptionKey(config.TEMPORAL_PAYLOAD_KEY, 'TEMPORAL_PAYLOAD_KEY'),
    ...keyList(config.TEMPORAL_PAYLOAD_OLD_KEYS, 'TEMPORAL_PAYLOAD_OLD_KEYS'),
  ];
}

export function resolveSecrets(config: AppConfig): Secrets {
  const generate = config.NODE_ENV !== 'production';
  const secretsDir = path.join(config.dataDir, 'secrets');
  let jwtSecret = config.JWT_SECRET;
  if (!jwtSecret && !config.JWT_JWKS_URL) {
    if (!generate) {
      throw new ConfigError([{ variable: 'JWT_SECRET', message: 'required in production unless JWT_JWKS_URL is set' }]);
    }
    jwtSecret = readOrCreate(path.join(secretsDir, 'jwt-secret'), () => randomBytes(48).toString('base64url'));
  }
  let current = config.CONFIG_ENCRYPTION_KEY;
  if (!current) {
    if (!generate) {
      throw new ConfigError([{ variable: 'CONFIG_ENCRYPTION_KEY', message: 'required in production' }]);
    }
    current = readOrCreate(path.join(secretsDir, 'config-encryption-key'), () => randomBytes(32).toString('base64'));
  }
  const old = keyList(config.CONFIG_ENCRYPTION_OLD_KEYS, 'CONFIG_ENCRYPTION_OLD_KEYS');
  return {
    jwtSecret,
    encryptionKeys: [parseEncryptionKey(current, 'CONFIG_ENCRYPTION_KEY'), ...old],
    payloadKeys: resolvePayloadKeys(config),
  };
}
