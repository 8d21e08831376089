// The api_keys table (migration 0005-api-keys): a user's API keys, stored as SHA-256 hashes with a
// display prefix (lib/api-keys.ts), and the lookup that authenticates a request with one. Fixed
// SQL, like db/public-config.ts. Nothing here caches: a deleted (revoked) key fails its next lookup.
import { QueryTypes } from 'sequelize';
import { apiKeyDisplayPrefix, generateApiKey, hashApiKey } from '../lib/api-keys';
import type { Principal } from '../lib/auth';
import { ConflictError, UnauthorizedError } from '../lib/errors';
import type { ApiKeySummary, CreatedApiKey } from '../contract';
import type { Database } from './index';

/** The most keys a user may hold at once (409 `api_key_limit_reached` beyond). */
export const MAX_API_KEYS_PER_USER = 20;
/** `last_used_at` is written at most this often per key, so a busy key costs no write per request. */
export const LAST_USED_RESOLUTION_MS = 60_000;

interface SummaryRow {
  id: number;
  name: string;
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date | null;
}

const iso = (value: Date | null): string | null => (value === null ? null : new Date(value).toISOString());

function toSummary(row: SummaryRow): ApiKeySummary {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    created_at: new Date(row.created_at).toISOString(),
    last_used_at: iso(row.last_used_at),
    expires_at: iso(row.expires_at),
  };
}

const SUMMARY_COLUMNS = 'id, name, prefix, created_at, last_used_at, expires_at';

export async function listApiKeys(db: Database, userId: string): Promise<ApiKeySummary[]> {
  const rows = await db.sequelize.query<SummaryRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM api_keys WHERE user_id = :userId ORDER BY created_at DESC, id DESC`,
    { replacements: { userId }, type: QueryTypes.SELECT },
  );
  return rows.map(toSummary);
}

/** A new key for the user; the cap holds under concurrent creates (one transaction under a per-user lock). */
export async function createApiKey(db: Database, userId: string, input: { name: string; expiresAt: Date | null }): Promise<CreatedApiKey> {
  const key = generateApiKey();
  const row = await db.sequelize.transaction(async (transaction) => {
    await db.sequelize.query("SELECT pg_advisory_xact_lock(hashtext('api_keys:' || :userId))", { replacements: { userId }, transaction });
    const [counted] = await db.sequelize.query<{ count: string }>('SELECT count(*) AS count FROM api_keys WHERE user_id = :userId', {
      replacements: { userId },
      type: QueryTypes.SELECT,
      transaction,
    });
    if (Number(counted?.count ?? 0) >= MAX_API_KEYS_PER_USER) {
      throw new ConflictError(`A user may have at most ${MAX_API_KEYS_PER_USER} API keys; revoke one first`, 'api_key_limit_reached');
    }
    const [inserted] = await db.sequelize.query<SummaryRow>(
      `INSERT INTO api_keys (user_id, name, key_hash, prefix, expires_at)
       VALUES ($userId, $name, $keyHash, $prefix, $expiresAt) RETURNING ${SUMMARY_COLUMNS}`,
      {
        // Bound, not inlined: a traced SQL log line never carries the hash.
        bind: { userId, name: input.name, keyHash: hashApiKey(key), prefix: apiKeyDisplayPrefix(key), expiresAt: input.expiresAt },
        type: QueryTypes.SELECT,
        transaction,
      },
    );
    return inserted!;
  });
  const summary = toSummary(row);
  return {
    id: summary.id,
    name: summary.name,
    key,
    prefix: summary.prefix,
    created_at: summary.created_at,
    expires_at: summary.expires_at,
  };
}

/**
 * Where a revocation is announced (the key's id), so every gateway closes the sockets the key
 * opened (gateway/index.ts LISTENs). Requests need no announcement: keys are never cached.
 */
export const API_KEY_REVOKED_CHANNEL = 'switchboard_api_key_revoked';

/**
 * Revokes (deletes) one of the user's keys; false when the user has no key with that id. The
 * notification is sent in the same transaction, so it goes out when the delete commits and never
 * for a delete that did not.
 */
export async function deleteApiKey(db: Database, userId: string, id: number): Promise<boolean> {
  return db.sequelize.transaction(async (transaction) => {
    const deleted = await db.sequelize.query<{ id: number }>('DELETE FROM api_keys WHERE id = :id AND user_id = :userId RETURNING id', {
      replacements: { id, userId },
      type: QueryTypes.SELECT,
      transaction,
    });
    if (deleted.length === 0) return false;
    await db.sequelize.query('SELECT pg_notify(:channel, :payload)', {
      replacements: { channel: API_KEY_REVOKED_CHANNEL, payload: String(id) },
      transaction,
    });
    return true;
  });
}

/** Of these key ids, the ones that still authenticate (not revoked, not expired): a gateway's check after its listener was away. */
export async function liveApiKeyIds(db: Database, ids: readonly number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const rows = await db.sequelize.query<{ id: number }>(
    'SELECT id FROM api_keys WHERE id = ANY($ids::int[]) AND (expires_at IS NULL OR expires_at > now())',
    { bind: { ids: [...ids] }, type: QueryTypes.SELECT },
  );
  return new Set(rows.map((row) => row.id));
}

/**
 * Authenticates a request with a key: one lookup by hash per request (no cache, so revocation is
 * immediate everywhere), and `last_used_at` written when it is older than LAST_USED_RESOLUTION_MS
 * (the same condition in SQL, so replicas racing on one key write once).
 */
export function createApiKeyAuthenticator(db: Database, now: () => number = Date.now): (key: string) => Promise<Principal> {
  return async function authenticateApiKey(key) {
    const [row] = await db.sequelize.query<{ id: number; user_id: string; expires_at: Date | null; last_used_at: Date | null }>(
      'SELECT id, user_id, expires_at, last_used_at FROM api_keys WHERE key_hash = $keyHash',
      // Bound, not inlined: a traced SQL log line never carries the hash.
      { bind: { keyHash: hashApiKey(key) }, type: QueryTypes.SELECT },
    );
    if (!row) throw new UnauthorizedError('Invalid or revoked API key');
    const expiresAt = row.expires_at === null ? Number.POSITIVE_INFINITY : new Date(row.expires_at).getTime();
    if (expiresAt <= now()) throw new UnauthorizedError('API key expired');
    if (row.last_used_at === null || now() - new Date(row.last_used_at).getTime() >= LAST_USED_RESOLUTION_MS) {
      await db.sequelize.query(
        `UPDATE api_keys SET last_used_at = now()
         WHERE id = :id AND (last_used_at IS NULL OR last_used_at <= now() - make_interval(secs => :seconds))`,
        { replacements: { id: row.id, seconds: LAST_USED_RESOLUTION_MS / 1000 } },
      );
    }
    return { userId: row.user_id, expiresAt, scopes: [], apiKeyId: row.id };
  };
}
