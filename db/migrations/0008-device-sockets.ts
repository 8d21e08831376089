// The device socket (issue 16, /xiaozhi/v1/ on the gateway): which socket holds a device now
// (`socket_address`, `<gateway instance>/<connection id>`; null while none does). A gateway sets
// it when the socket opens, clears it when the socket closes (only if it still names that
// socket), and refreshes `last_seen_at` of its open device sockets every minute, so a gateway
// that died without clearing it stops counting as online after DEVICE_ONLINE_FRESH_MS.
import type { QueryInterface } from 'sequelize';

export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.sequelize.query('ALTER TABLE xiaozhi_devices ADD COLUMN socket_address varchar(128)');
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.sequelize.query('ALTER TABLE xiaozhi_devices DROP COLUMN IF EXISTS socket_address');
}
