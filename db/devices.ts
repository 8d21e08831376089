// xiaozhi devices in PostgreSQL (table xiaozhi_devices, migration 0006): provisioning, binding by
// activation code and the device token, as a few statements each atomic on its own. The API's
// device service (api/devices.service.ts) decides; this module only reads and writes.
//
// A device token is 32 random bytes; only its SHA-256 is stored, so the table never holds a token
// a reader could present. The gateway will find a socket's device, and its user, by that hash
// (`findDeviceByToken`); deleting the row (unbinding) makes the token worthless at once.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';

export interface DeviceRow {
  id: number;
  device_id: string;
  client_id: string;
  /** The owner; null while the device waits to be bound. */
  user_id: string | null;
  name: string;
  token_hash: string;
  /** The pending activation code (6 digits); null once bound (a code is used once). */
  activation_code: string | null;
  activation_challenge: string | null;
  activation_expires_at: Date | null;
  firmware_version: string | null;
  default_llm_id: number | null;
  enabled_functions: string[] | null;
  bound_at: Date | null;
  last_seen_at: Date | null;
  /** The socket that holds the device now (`<gateway instance>/<connection id>`, migration 0008); null while none does. */
  socket_address: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface DeviceIdentity {
  /** The Device-Id header: the device's MAC address, lowercase. */
  deviceId: string;
  /** The Client-Id header: a UUID, lowercase. */
  clientId: string;
}

/** The prefix of every device token, so a leaked one is recognisable. */
export const DEVICE_TOKEN_PREFIX = 'sbd_';

export function newDeviceToken(): string {
  return DEVICE_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashDeviceToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A fresh activation challenge (the device HMACs it with a key we never see). */
export function newChallenge(): string {
  return randomBytes(24).toString('base64url');
}

/** Pending activations that expired longer ago than this are deleted (until then /activate says "expired"). */
const EXPIRED_KEPT_MS = 60 * 60_000;
/** Expired pending rows removed at most per new activation (the cleanup rides on that rare path). */
const CLEANUP_BATCH = 100;
/** Codes drawn before giving up on finding a free one (with at most MAX_PENDING_ACTIVATIONS held of 10^6, never reached). */
const CODE_DRAWS = 20;

export class ActivationCapacityError extends Error {
  constructor(readonly limit: number) {
    super(`${limit} activations are pending`);
    this.name = 'ActivationCapacityError';
  }
}

export class DeviceLimitError extends Error {
  constructor(readonly limit: number) {
    super(`at most ${limit} devices per user`);
    this.name = 'DeviceLimitError';
  }
}

export function createDeviceStore(sequelize: Sequelize) {
  const select = <T extends object>(sql: string, bind: unknown[], transaction?: Transaction) =>
    sequelize.query<T>(sql, { bind, type: QueryTypes.SELECT, transaction });
  /** An UPDATE/INSERT … RETURNING *: its rows. */
  const returning = async (sql: string, bind: unknown[], transaction?: Transaction): Promise<DeviceRow[]> => {
    const [rows] = await sequelize.query(sql, { bind, transaction });
    return rows as DeviceRow[];
  };

  return {
    async findByIdentity({ deviceId, clientId }: DeviceIdentity): Promise<DeviceRow | undefined> {
      const rows = await select<DeviceRow>('SELECT * FROM xiaozhi_devices WHERE device_id = $1 AND client_id = $2', [deviceId, clientId]);
      return rows[0];
    },

    /** A new token for a known device (the old one stops working), and the time it was seen. */
    async reissueToken(id: number, tokenHash: string, firmwareVersion: string | null): Promise<DeviceRow | undefined> {
      const rows = await returning(
        `UPDATE xiaozhi_devices SET token_hash = $2, firmware_version = $3, last_seen_at = now(), updated_at = now()
         WHERE id = $1 RETURNING *`,
        [id, tokenHash, firmwareVersion],
      );
      return rows[0];
    },

    async touch(id: number): Promise<void> {
      await sequelize.query('UPDATE xiaozhi_devices SET last_seen_at = now() WHERE id = $1', { bind: [id] });
    },

    /**
     * A fresh activation (code, challenge, expiry, token) for an identity that is not bound: a new
     * row, or the expired one renewed. Activations are started one at a time (a global advisory
     * lock: a rare path), so the count of pending ones holds under concurrency and a drawn code is
     * checked free before it is taken. Refused with ActivationCapacityError at `maxPending`.
     */
    async startActivation(input: {
      identity: DeviceIdentity;
      tokenHash: string;
      name: string;
      firmwareVersion: string | null;
      ttlMs: number;
      maxPending: number;
    }): Promise<DeviceRow | undefined> {
      return sequelize.transaction(async (transaction) => {
        await sequelize.query("SELECT pg_advisory_xact_lock(hashtext('xiaozhi_activations'))", { transaction });
        await sequelize.query(
          `DELETE FROM xiaozhi_devices WHERE id IN (
             SELECT id FROM xiaozhi_devices WHERE user_id IS NULL AND activation_expires_at < now() - $1::double precision * interval '1 millisecond'
             LIMIT ${CLEANUP_BATCH})`,
          { bind: [EXPIRED_KEPT_MS], transaction },
        );
        const [{ pending }] = (await select<{ pending: string }>(
          'SELECT count(*) AS pending FROM xiaozhi_devices WHERE user_id IS NULL AND activation_expires_at > now()',
          [],
          transaction,
        )) as [{ pending: string }];
        if (Number(pending) >= input.maxPending) throw new ActivationCapacityError(input.maxPending);
        let code: string | undefined;
        for (let draw = 0; draw < CODE_DRAWS && code === undefined; draw++) {
          const candidate = String(randomInt(0, 1_000_000)).padStart(6, '0');
          const taken = await select('SELECT 1 FROM xiaozhi_devices WHERE activation_code = $1', [candidate], transaction);
          if (taken.length === 0) code = candidate;
        }
        if (code === undefined) throw new ActivationCapacityError(input.maxPending);
        const { identity } = input;
        const rows = await returning(
          `INSERT INTO xiaozhi_devices
             (device_id, client_id, name, token_hash, activation_code, activation_challenge, activation_expires_at, firmware_version, last_seen_at)
           VALUES ($1, $2, $3, $4, $5, $6, now() + $7::double precision * interval '1 millisecond', $8, now())
           ON CONFLICT (device_id, client_id) DO UPDATE SET
             token_hash = EXCLUDED.token_hash, activation_code = EXCLUDED.activation_code,
             activation_challenge = EXCLUDED.activation_challenge, activation_expires_at = EXCLUDED.activation_expires_at,
             firmware_version = EXCLUDED.firmware_version, last_seen_at = now(), updated_at = now()
           WHERE xiaozhi_devices.user_id IS NULL
           RETURNING *`,
          [identity.deviceId, identity.clientId, input.name, input.tokenHash, code, newChallenge(), input.ttlMs, input.firmwareVersion],
          transaction,
        );
        return rows[0];
      });
    },

    /**
     * Binds the device waiting with `code` to `userId`, once: the code is cleared in the same
     * statement, so two binds of one code cannot both succeed. The user's device count is checked
     * under a per-user lock first (DeviceLimitError at `maxDevices`). Undefined: no device waits
     * with that code, or its activation expired.
     */
    async bind(userId: string, code: string, maxDevices: number): Promise<DeviceRow | undefined> {
      return sequelize.transaction(async (transaction) => {
        await sequelize.query("SELECT pg_advisory_xact_lock(hashtext('user_devices'), hashtext($1))", { bind: [userId], transaction });
        const [{ owned }] = (await select<{ owned: string }>(
          'SELECT count(*) AS owned FROM xiaozhi_devices WHERE user_id = $1',
          [userId],
          transaction,
        )) as [{ owned: string }];
        if (Number(owned) >= maxDevices) throw new DeviceLimitError(maxDevices);
        const rows = await returning(
          `UPDATE xiaozhi_devices SET user_id = $1, activation_code = NULL, bound_at = now(), updated_at = now()
           WHERE activation_code = $2 AND user_id IS NULL AND activation_expires_at > now()
           RETURNING *`,
          [userId, code],
          transaction,
        );
        return rows[0];
      });
    },

    async listForUser(userId: string): Promise<DeviceRow[]> {
      return select<DeviceRow>('SELECT * FROM xiaozhi_devices WHERE user_id = $1 ORDER BY bound_at, id', [userId]);
    },

    async getForUser(userId: string, id: number): Promise<DeviceRow | undefined> {
      const rows = await select<DeviceRow>('SELECT * FROM xiaozhi_devices WHERE id = $1 AND user_id = $2', [id, userId]);
      return rows[0];
    },

    /** Sets the given fields (undefined: unchanged); undefined when the user has no such device. */
    async update(
      userId: string,
      id: number,
      changes: { name?: string; default_llm_id?: number | null; enabled_functions?: string[] | null },
    ): Promise<DeviceRow | undefined> {
      const rows = await returning(
        `UPDATE xiaozhi_devices SET
           name = CASE WHEN $3::boolean THEN $4::varchar ELSE name END,
           default_llm_id = CASE WHEN $5::boolean THEN $6::integer ELSE default_llm_id END,
           enabled_functions = CASE WHEN $7::boolean THEN $8::jsonb ELSE enabled_functions END,
           updated_at = now()
         WHERE id = $1 AND user_id = $2 RETURNING *`,
        [
          id,
          userId,
          changes.name !== undefined,
          changes.name ?? null,
          changes.default_llm_id !== undefined,
          changes.default_llm_id ?? null,
          changes.enabled_functions !== undefined,
          changes.enabled_functions == null ? null : JSON.stringify(changes.enabled_functions),
        ],
      );
      return rows[0];
    },

    /**
     * Unbinds: the row and its token hash are gone; the device provisions afresh, with a new code.
     * In the same statement every gateway is told (DEVICE_EVENTS_CHANNEL), so the device's open
     * socket closes at once wherever it is.
     */
    async remove(userId: string, id: number): Promise<DeviceRow | undefined> {
      const rows = await returning(
        `WITH gone AS (DELETE FROM xiaozhi_devices WHERE id = $1 AND user_id = $2 RETURNING *)
         SELECT gone.*, pg_notify('${DEVICE_EVENTS_CHANNEL}', 'unbound:' || gone.id) AS notified FROM gone`,
        [id, userId],
      );
      return rows[0];
    },
  };
}

export type DeviceStore = ReturnType<typeof createDeviceStore>;

/** The NOTIFY channel every gateway LISTENs on for device events (`unbound:<row id>`). */
export const DEVICE_EVENTS_CHANNEL = 'switchboard_devices';

/** A gateway refreshes its device sockets' `last_seen_at` this often... */
export const DEVICE_SOCKET_REFRESH_MS = 60_000;
/** ...and a socket address not refreshed for this long is a gateway that died: not online. */
export const DEVICE_ONLINE_FRESH_MS = 150_000;

/** Whether the device's socket is open: a gateway holds it and refreshed it lately. */
export function isDeviceOnline(row: Pick<DeviceRow, 'socket_address' | 'last_seen_at'>, now = Date.now()): boolean {
  return row.socket_address !== null && row.last_seen_at !== null && now - row.last_seen_at.getTime() < DEVICE_ONLINE_FRESH_MS;
}

/** What a gateway records of its device sockets (socket_address, migration 0008). */
export function createDeviceSocketStore(sequelize: Sequelize) {
  return {
    /** This socket holds the device now (a newer socket of the same device replaces an older one). */
    async opened(id: number, address: string): Promise<void> {
      await sequelize.query('UPDATE xiaozhi_devices SET socket_address = $2, last_seen_at = now() WHERE id = $1', { bind: [id, address] });
    },
    /** This socket closed: cleared only if no newer socket took the device over meanwhile. */
    async closed(id: number, address: string): Promise<void> {
      await sequelize.query(
        'UPDATE xiaozhi_devices SET socket_address = NULL, last_seen_at = now() WHERE id = $1 AND socket_address = $2',
        {
          bind: [id, address],
        },
      );
    },
    /** The devices whose sockets this gateway holds are still there (one statement a minute per gateway). */
    async refresh(ids: number[]): Promise<void> {
      if (ids.length === 0) return;
      await sequelize.query('UPDATE xiaozhi_devices SET last_seen_at = now() WHERE id = ANY($1::int[])', { bind: [ids] });
    },
    /** Unbound devices with an open socket, over every gateway (the MAX_UNBOUND_DEVICE_SOCKETS cap). */
    async countUnboundOnline(): Promise<number> {
      const rows = await sequelize.query<{ online: string }>(
        `SELECT count(*) AS online FROM xiaozhi_devices
         WHERE user_id IS NULL AND socket_address IS NOT NULL
           AND last_seen_at > now() - $1::double precision * interval '1 millisecond'`,
        { bind: [DEVICE_ONLINE_FRESH_MS], type: QueryTypes.SELECT },
      );
      return Number(rows[0]?.online ?? 0);
    },
  };
}

export type DeviceSocketStore = ReturnType<typeof createDeviceSocketStore>;

/**
 * The device a token belongs to, for the gateway's upgrade: a bound device (its user) or one still
 * waiting to be bound (user_id null). Undefined for a token that was reissued or whose device was unbound.
 */
export async function findDeviceByToken(sequelize: Sequelize, token: string): Promise<DeviceRow | undefined> {
  const rows = await sequelize.query<DeviceRow>('SELECT * FROM xiaozhi_devices WHERE token_hash = $1', {
    bind: [hashDeviceToken(token)],
    type: QueryTypes.SELECT,
  });
  return rows[0];
}
