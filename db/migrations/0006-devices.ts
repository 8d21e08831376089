// xiaozhi devices (issue 16): one row per device identity (Device-Id, its MAC, plus Client-Id), from
// its first provisioning call on. Unbound (user_id NULL) it holds a pending activation: a 6-digit
// code, unique while held, its challenge and expiry. Binding sets user_id and clears the code (single
// use); unbinding deletes the row. The device token is stored as its SHA-256 only (token_hash, unique):
// the gateway finds the device, and so the user, by the token a socket presents.
import type { QueryInterface } from 'sequelize';

export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.sequelize.query(`
    CREATE TABLE xiaozhi_devices (
      id serial PRIMARY KEY,
      device_id varchar(17) NOT NULL,
      client_id varchar(36) NOT NULL,
      user_id varchar(255),
      name varchar(64) NOT NULL,
      token_hash char(64) NOT NULL,
      activation_code char(6),
      activation_challenge varchar(64),
      activation_expires_at timestamptz,
      firmware_version varchar(64),
      default_llm_id integer,
      enabled_functions jsonb,
      bound_at timestamptz,
      last_seen_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
  await qi.sequelize.query('CREATE UNIQUE INDEX xiaozhi_devices_identity ON xiaozhi_devices (device_id, client_id)');
  await qi.sequelize.query('CREATE UNIQUE INDEX xiaozhi_devices_token ON xiaozhi_devices (token_hash)');
  await qi.sequelize.query(
    'CREATE UNIQUE INDEX xiaozhi_devices_code ON xiaozhi_devices (activation_code) WHERE activation_code IS NOT NULL',
  );
  await qi.sequelize.query('CREATE INDEX xiaozhi_devices_user ON xiaozhi_devices (user_id, id) WHERE user_id IS NOT NULL');
  await qi.sequelize.query('CREATE INDEX xiaozhi_devices_pending ON xiaozhi_devices (activation_expires_at) WHERE user_id IS NULL');
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.sequelize.query('DROP TABLE IF EXISTS xiaozhi_devices');
}
