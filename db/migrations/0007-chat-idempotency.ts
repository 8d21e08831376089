// Idempotency keys of `POST /v1/chat/completions` (issue 17): per user, for 24 hours. A row is
// claimed before the request's message is signalled (naming its session and message), and holds
// the recorded answer once there is one, so a retry on any API process gets that answer and never
// a second provider call. A distinct name, so a migration of another feature numbered alike merges.
import type { QueryInterface } from 'sequelize';

export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.sequelize.query(`
    CREATE TABLE chat_idempotency (
      user_id varchar(255) NOT NULL,
      idempotency_key varchar(255) NOT NULL,
      body_hash char(64) NOT NULL,
      session_id varchar(128) NOT NULL,
      message_id varchar(64) NOT NULL,
      one_message boolean NOT NULL,
      response jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      completed_at timestamptz,
      PRIMARY KEY (user_id, idempotency_key)
    )`);
  await qi.sequelize.query('CREATE INDEX chat_idempotency_created ON chat_idempotency (created_at)');
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.sequelize.query('DROP TABLE IF EXISTS chat_idempotency');
}
