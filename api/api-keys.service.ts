// User API keys (`sb-…`) under /api/v1/api-keys: create (the key shown this once), list, revoke.
// The request schemas here validate and document; the table is db/api-keys.ts's.
import { z } from 'zod';
import type { ApiKeySummary, CreatedApiKey } from '../contract';
import { createApiKey, deleteApiKey, listApiKeys, type Database } from '../db';
import { NotFoundError, ValidationError } from '../lib/errors';
import { parseOrThrow } from '../lib/validate';

export const API_KEY_NAME_MAX = 100;

export const apiKeyCreateSchema = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(API_KEY_NAME_MAX, `at most ${API_KEY_NAME_MAX} characters`),
  expires_at: z.iso
    .datetime({ offset: true, message: 'must be an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z' })
    .nullable()
    .optional()
    .meta({ description: 'When the key stops working (in the future); omitted or null: never' }),
});

export const apiKeySummarySchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    prefix: z.string().meta({ description: 'The start of the key (sb-…), to tell keys apart; not a secret' }),
    created_at: z.string(),
    last_used_at: z.string().nullable().meta({ description: 'Updated at most once a minute' }),
    expires_at: z.string().nullable(),
  })
  .meta({ id: 'ApiKey' });

export const createdApiKeySchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    key: z.string().meta({ description: 'The key itself (sb-…): shown in this response only, stored as a hash; keep it now' }),
    prefix: z.string(),
    created_at: z.string(),
    expires_at: z.string().nullable(),
  })
  .meta({ id: 'CreatedApiKey' });

// Compile-time guards: the documented shapes are exactly what db/api-keys.ts returns.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _sameSummary: Same<z.infer<typeof apiKeySummarySchema>, ApiKeySummary> = true;
const _sameCreated: Same<z.infer<typeof createdApiKeySchema>, CreatedApiKey> = true;

/** A key id from the path; anything that is not one is the same 404 as another user's key. */
function parseKeyId(raw: string): number {
  const id = Number(raw);
  if (!/^\d{1,10}$/.test(raw) || id > 2_147_483_647) throw new NotFoundError('API key');
  return id;
}

export function createApiKeyService(deps: { db: Database; now?: () => number }) {
  const now = deps.now ?? Date.now;
  return {
    list: (userId: string): Promise<ApiKeySummary[]> => listApiKeys(deps.db, userId),

    async create(userId: string, raw: unknown): Promise<CreatedApiKey> {
      const input = parseOrThrow(apiKeyCreateSchema, raw ?? {});
      const expiresAt = input.expires_at ? new Date(input.expires_at) : null;
      // Written so that an unparsable instant (NaN) is refused too.
      if (expiresAt && !(expiresAt.getTime() > now())) {
        throw new ValidationError([{ field: 'expires_at', message: 'must be in the future' }]);
      }
      return createApiKey(deps.db, userId, { name: input.name, expiresAt });
    },

    async revoke(userId: string, rawId: string): Promise<void> {
      if (!(await deleteApiKey(deps.db, userId, parseKeyId(rawId)))) throw new NotFoundError('API key');
    },
  };
}

export type ApiKeyService = ReturnType<typeof createApiKeyService>;
