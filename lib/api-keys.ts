// User API keys (`sb-…`, what OpenAI clients hold): how one is made, recognised and hashed. The
// table and its queries are db/api-keys.ts's; the verifier that accepts keys is lib/auth.ts's.
import { createHash, randomBytes } from 'node:crypto';

/** Every key starts with this, so a key is told from a JWT (which never does) before any lookup. */
export const API_KEY_PREFIX = 'sb-';
/** Random bytes per key: 256 bits, so a key cannot be guessed and its plain SHA-256 is a safe store. */
const API_KEY_BYTES = 32;
/** Characters of the key (after `sb-`) kept for display: 48 of its 256 bits, enough to tell keys apart. */
const DISPLAY_CHARACTERS = 8;

export function isApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX);
}

/** A new key (`sb-` and 43 base64url characters); shown to its owner once, never stored. */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(API_KEY_BYTES).toString('base64url');
}

/**
 * What is stored and looked up: the key's SHA-256, hex. A plain fast hash is right here (unlike
 * for passwords): a key is 256 random bits, so no dictionary or brute force over the hash can
 * find it, and a slow hash (bcrypt, scrypt) would only cost CPU on every authenticated request.
 * An exact lookup by hash also needs no per-row salt.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The non-secret start of a key that lists show (`sb-AbCd1234`), so its owner can tell which key is which. */
export function apiKeyDisplayPrefix(key: string): string {
  return key.slice(0, API_KEY_PREFIX.length + DISPLAY_CHARACTERS);
}
