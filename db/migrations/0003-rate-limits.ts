// Shared rate-limit counters (every API replica counts in the same table) and an index for paging
// a user's sessions newest first.
//
// The counters table is UNLOGGED: its rows are worth a minute at most, so it skips the WAL (a
// write per counter update that no one needs), and a crash that empties it only starts the
// current windows afresh. Unlogged tables are not copied to streaming replicas either, which is
// right for them (a replica never takes these writes).
import type { QueryInterface } from 'sequelize';

export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.sequelize.query(`
    CREATE UNLOGGED TABLE rate_limit_counters (
      key text NOT NULL,
      window_start bigint NOT NULL,
      count integer NOT NULL,
      PRIMARY KEY (key, window_start)
    )`);
  await qi.sequelize.query('CREATE INDEX rate_limit_counters_window ON rate_limit_counters (window_start)');
  await qi.sequelize.query('CREATE INDEX user_session_configs_user_newest ON user_session_configs (user_id, created_at DESC, id DESC)');
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.sequelize.query('DROP INDEX IF EXISTS user_session_configs_user_newest');
  await qi.sequelize.query('DROP TABLE IF EXISTS rate_limit_counters');
}
