// Device tools (issue 16): the tools a device's socket listed over MCP, per session (the gateway
// writes them after each `tools/list`, the answer activity reads them as it reads function
// schemas), and one row per device tool call, claimed by the gateway before it sends `tools/call`
// (INSERT … ON CONFLICT DO NOTHING): a call asked for again (a step run again after a worker
// crash) finds the claim and is never sent twice. A call's row keeps its outcome, so a repeated
// ask gets the device's answer again. Rows older than a day are pruned as calls are claimed.
import type { QueryInterface } from 'sequelize';

export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.sequelize.query(`
    CREATE TABLE device_tools (
      user_id varchar(255) NOT NULL,
      session_id varchar(128) NOT NULL,
      tools jsonb NOT NULL,
      listed_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, session_id)
    )`);
  await qi.sequelize.query(`
    CREATE TABLE device_tool_calls (
      call_id varchar(300) PRIMARY KEY,
      user_id varchar(255) NOT NULL,
      name varchar(128) NOT NULL,
      gateway varchar(64) NOT NULL,
      claimed_at timestamptz NOT NULL DEFAULT now(),
      status varchar(8),
      result text,
      error text
    )`);
  await qi.sequelize.query('CREATE INDEX device_tool_calls_claimed ON device_tool_calls (claimed_at)');
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.sequelize.query('DROP TABLE IF EXISTS device_tool_calls');
  await qi.sequelize.query('DROP TABLE IF EXISTS device_tools');
}
