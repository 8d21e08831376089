// AES-256-GCM for API keys at rest. The stored text carries a version and the key id, so keys
// can rotate: new writes use the current key, reads accept any configured key.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const PREFIX = 'enc:v1';

/** A key's id: the first 8 hex digits of its SHA-256 (the payload codec names keys the same way). */
export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export interface SecretBox {
  encrypt(plain: string): string;
  decrypt(stored: string): string;
  /** Key id of a stored ciphertext, for rotation reports. */
  keyIdOf(stored: string): string | undefined;
  currentKeyId: string;
}

export function createSecretBox(keys: readonly Buffer[]): SecretBox {
  if (keys.length === 0) throw new Error('at least one encryption key is required');
  const byId = new Map(keys.map((k) => [keyId(k), k] as const));
  const current = keys[0]!;
  const currentKeyId = keyId(current);
  return {
    currentKeyId,
    encrypt(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current, iv);
      const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [PREFIX, currentKeyId, iv.toString('base64url'), tag.toString('base64url'), ct.toString('base64url')].join(':');
    },
    decrypt(stored) {
      const parts = stored.split(':');
      if (parts.length !== 6 || `${parts[0]}:${parts[1]}` !== PREFIX) throw new Error('not an encrypted value');
      const [, , kid, iv, tag, ct] = parts as [string, string, string, string, string, string];
      const key = byId.get(kid);
      if (!key) throw new Error(`no encryption key with id ${kid} is configured`);
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
    },
    keyIdOf(stored) {
      const parts = stored.split(':');
      return parts.length === 6 ? parts[2] : undefined;
    },
  };
}

/** What a response may show of a key: its provider prefix and last four characters, if long enough. */
export function maskApiKey(key: string): string {
  if (key.length < 16) return '…';
  const prefix = /^[A-Za-z]{1,4}-/.exec(key)?.[0] ?? '';
  return `${prefix}…${key.slice(-4)}`;
}
