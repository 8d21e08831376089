// The chat_idempotency table (migration 0007-chat-idempotency): `Idempotency-Key`s of
// `POST /v1/chat/completions`, per user, for IDEMPOTENCY_TTL_MS. Fixed SQL. The first request
// with a key claims it (its session and message); later ones read the claim and wait for, or
// get, the recorded answer. Expired rows are removed when their key is claimed again, and by
// the sweep on each claim of the same user.
import { QueryTypes } from 'sequelize';
import type { Database } from './index';

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60_000;

/** What a request with a key recorded: the HTTP answer, whole (not the transcript's shortened copy). */
export interface RecordedChatAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

export interface ChatClaim {
  bodyHash: string;
  sessionId: string;
  messageId: string;
  oneMessage: boolean;
  response: RecordedChatAnswer | null;
  /** How long ago the key was claimed. */
  ageMs: number;
}

interface ClaimRow {
  body_hash: string;
  session_id: string;
  message_id: string;
  one_message: boolean;
  response: RecordedChatAnswer | null;
  age_ms: number;
}

const toClaim = (row: ClaimRow): ChatClaim => ({
  bodyHash: row.body_hash,
  sessionId: row.session_id,
  messageId: row.message_id,
  oneMessage: row.one_message,
  response: row.response,
  ageMs: Number(row.age_ms),
});

const CLAIM_COLUMNS =
  'body_hash, session_id, message_id, one_message, response, (EXTRACT(EPOCH FROM now() - created_at) * 1000)::float8 AS age_ms';

export function chatIdempotency(db: Database) {
  const { sequelize } = db;
  const ttl = `${IDEMPOTENCY_TTL_MS / 1000} seconds`;
  return {
    /** Claims `key` for this request (`claimed: true`), or returns the claim that holds it. */
    async claim(
      userId: string,
      key: string,
      claim: Omit<ChatClaim, 'response' | 'ageMs'>,
    ): Promise<{ claimed: boolean; claim: ChatClaim }> {
      await sequelize.query(`DELETE FROM chat_idempotency WHERE user_id = :userId AND created_at < now() - interval '${ttl}'`, {
        replacements: { userId },
      });
      const inserted = await sequelize.query<ClaimRow>(
        `INSERT INTO chat_idempotency (user_id, idempotency_key, body_hash, session_id, message_id, one_message)
         VALUES (:userId, :key, :bodyHash, :sessionId, :messageId, :oneMessage)
         ON CONFLICT (user_id, idempotency_key) DO NOTHING
         RETURNING ${CLAIM_COLUMNS}`,
        { replacements: { userId, key, ...claim }, type: QueryTypes.SELECT },
      );
      if (inserted[0]) return { claimed: true, claim: toClaim(inserted[0]) };
      const existing = await this.read(userId, key);
      // Gone between the insert and the read (expired and swept): claim it again.
      return existing ? { claimed: false, claim: existing } : this.claim(userId, key, claim);
    },

    async read(userId: string, key: string): Promise<ChatClaim | null> {
      const [row] = await sequelize.query<ClaimRow>(
        `SELECT ${CLAIM_COLUMNS} FROM chat_idempotency
         WHERE user_id = :userId AND idempotency_key = :key AND created_at >= now() - interval '${ttl}'`,
        { replacements: { userId, key }, type: QueryTypes.SELECT },
      );
      return row ? toClaim(row) : null;
    },

    /** Records the answer once; the first recorded one stays (returned). */
    async record(userId: string, key: string, response: RecordedChatAnswer): Promise<RecordedChatAnswer> {
      const [row] = await sequelize.query<{ response: RecordedChatAnswer }>(
        `UPDATE chat_idempotency SET response = COALESCE(response, CAST(:response AS jsonb)), completed_at = COALESCE(completed_at, now())
         WHERE user_id = :userId AND idempotency_key = :key RETURNING response`,
        { replacements: { userId, key, response: JSON.stringify(response) }, type: QueryTypes.SELECT },
      );
      return row?.response ?? response;
    },

    /** A claim whose message never reached the session (the signal failed): the key is free again. */
    async release(userId: string, key: string): Promise<void> {
      await sequelize.query('DELETE FROM chat_idempotency WHERE user_id = :userId AND idempotency_key = :key AND response IS NULL', {
        replacements: { userId, key },
      });
    },
  };
}

export type ChatIdempotency = ReturnType<typeof chatIdempotency>;
