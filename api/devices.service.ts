// xiaozhi devices: provisioning (the OTA call a device makes at boot, and its activation polls) and
// the caller's devices (bind by code, list, rename and configure, unbind). The device socket is
// /xiaozhi/v1/ on the gateway (gateway/device-upgrade.ts).
//
// Guessing codes: six digits are a million codes, so wrong codes are limited per user
// (DEVICE_BIND_FAILURES_PER_MINUTE, and DEVICE_BIND_FAILURES_PER_DAY so patience does not add up)
// and per client address (DEVICE_BIND_FAILURES_PER_ADDRESS),
// counted in the shared rate-limit table like failed authentications; pending activations are
// capped overall (MAX_PENDING_ACTIVATIONS) and new codes per address (DEVICE_ACTIVATIONS_PER_ADDRESS).
import type { z } from 'zod';
import type { AppConfig } from '../config';
import type { PublicDevice } from '../contract/devices';
import {
  ActivationCapacityError,
  createDeviceStore,
  createFailureLimiter,
  createSharedLimiter,
  DeviceLimitError,
  hashDeviceToken,
  isDeviceOnline,
  newDeviceToken,
  type Database,
  type DeviceIdentity,
  type DeviceRow,
  type RateLimitStore,
} from '../db';
import { urlHost } from '../lib/address';
import { AppError, ConflictError, NotFoundError, RateLimitedError, ValidationError, type FieldError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { parseOrThrow } from '../lib/validate';
import { deviceSessionId, isUsersLlmConfig } from '../sessions/session-store';
import {
  activateBodySchema,
  bindBodySchema,
  DEVICE_NAME_MAX,
  deviceUpdateSchema,
  MAC_PATTERN,
  otaBodySchema,
  type otaReplySchema,
  UUID_PATTERN,
} from './devices.schemas';

/** How long an activation code is good for. */
export const ACTIVATION_TTL_MS = 10 * 60_000;
/** The path of the device socket on the gateway (DESIGN.md section 7). */
export const DEVICE_SOCKET_PATH = '/xiaozhi/v1/';
const DEFAULT_NAME = 'xiaozhi device';

export type OtaReply = z.infer<typeof otaReplySchema>;

export type DeviceConfig = Pick<
  AppConfig,
  | 'GATEWAY_PUBLIC_URL'
  | 'PUBLIC_HOST'
  | 'HOST'
  | 'GATEWAY_PORT'
  | 'MAX_DEVICES_PER_USER'
  | 'MAX_PENDING_ACTIVATIONS'
  | 'DEVICE_BIND_FAILURES_PER_MINUTE'
  | 'DEVICE_BIND_FAILURES_PER_DAY'
  | 'DEVICE_BIND_FAILURES_PER_ADDRESS'
  | 'DEVICE_ACTIVATIONS_PER_ADDRESS'
>;

/**
 * The device socket's URL as devices reach it, from configuration only (never a request's Host):
 * GATEWAY_PUBLIC_URL with its `/ws` path replaced, else PUBLIC_HOST (or HOST) and GATEWAY_PORT.
 */
export function deviceSocketUrl(config: Pick<DeviceConfig, 'GATEWAY_PUBLIC_URL' | 'PUBLIC_HOST' | 'HOST' | 'GATEWAY_PORT'>): string {
  if (config.GATEWAY_PUBLIC_URL) {
    const url = new URL(config.GATEWAY_PUBLIC_URL);
    url.pathname = url.pathname.replace(/\/ws\/?$/, '').replace(/\/+$/, '') + DEVICE_SOCKET_PATH;
    url.search = '';
    url.hash = '';
    return url.toString();
  }
  const host = config.PUBLIC_HOST ?? config.HOST;
  return `ws://${urlHost(host)}:${config.GATEWAY_PORT}${DEVICE_SOCKET_PATH}`;
}

/** The device headers, checked: a 400 naming each missing or malformed one. */
export function deviceIdentity(get: (header: string) => string): DeviceIdentity {
  const deviceId = get('Device-Id').trim();
  const clientId = get('Client-Id').trim();
  const errors: FieldError[] = [];
  if (!MAC_PATTERN.test(deviceId)) {
    errors.push({ field: 'Device-Id', message: deviceId ? 'must be a MAC address like aa:bb:cc:dd:ee:ff' : 'required' });
  }
  if (!UUID_PATTERN.test(clientId)) errors.push({ field: 'Client-Id', message: clientId ? 'must be a UUID' : 'required' });
  if (errors.length) throw new ValidationError(errors);
  return { deviceId: deviceId.toLowerCase(), clientId: clientId.toLowerCase() };
}

/** A string field a device reported, made safe to store and show: no control characters, cut to `max`. */
function reported(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return undefined;
  // eslint-disable-next-line no-control-regex -- stripping control characters is the point
  const clean = value.replace(/[\x00-\x1f\x7f]/g, '').trim();
  return clean ? clean.slice(0, max) : undefined;
}

function toPublicDevice(row: DeviceRow): PublicDevice {
  return {
    id: row.id,
    device_id: row.device_id,
    client_id: row.client_id,
    name: row.name,
    bound_at: (row.bound_at ?? row.created_at).toISOString(),
    last_seen_at: row.last_seen_at?.toISOString() ?? null,
    online: isDeviceOnline(row),
    firmware_version: row.firmware_version,
    default_llm_id: row.default_llm_id,
    enabled_functions: row.enabled_functions,
  };
}

function parseDeviceId(raw: string): number {
  const id = Number(raw);
  if (!/^\d{1,10}$/.test(raw) || !Number.isSafeInteger(id) || id > 2_147_483_647) throw new NotFoundError('Device');
  return id;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** What the device service asks of a device's session: closed on unbinding, its settings changed with the device's. */
export interface DeviceSessions {
  close(userId: string, sessionId: string): Promise<void>;
  applySettings(
    userId: string,
    sessionId: string,
    settings: { default_llm_id?: number | null; enabled_functions?: string[] | null },
  ): Promise<void>;
}

export function createDeviceService(deps: {
  db: Database;
  config: DeviceConfig;
  rateLimits: RateLimitStore;
  logger: Logger;
  /** The device's session (absent where the API runs without Temporal); a device that never connected has none. */
  sessions?: DeviceSessions;
}) {
  const { config } = deps;
  const store = createDeviceStore(deps.db.sequelize);
  const limiter = { store: deps.rateLimits, logger: deps.logger };
  const userFailures = createFailureLimiter({ ...limiter, limit: config.DEVICE_BIND_FAILURES_PER_MINUTE, prefix: 'device-bind-user:' });
  const userDailyFailures = createFailureLimiter({
    ...limiter,
    limit: config.DEVICE_BIND_FAILURES_PER_DAY,
    windowMs: DAY_MS,
    prefix: 'device-bind-user-day:',
  });
  const addressFailures = createFailureLimiter({
    ...limiter,
    limit: config.DEVICE_BIND_FAILURES_PER_ADDRESS,
    prefix: 'device-bind-address:',
  });
  const newCodes = createSharedLimiter({ ...limiter, limit: config.DEVICE_ACTIVATIONS_PER_ADDRESS, prefix: 'device-activation-address:' });
  const socketUrl = deviceSocketUrl(config);

  function reply(row: DeviceRow, token: string, version: string): OtaReply {
    const answer: OtaReply = {
      server_time: { timestamp: Date.now(), timezone_offset: 0 - new Date().getTimezoneOffset() },
      firmware: { version, url: '' },
      websocket: { url: socketUrl, token },
    };
    if (row.user_id === null && row.activation_code && row.activation_challenge) {
      answer.activation = {
        code: row.activation_code,
        message: `Switchboard: bind this device with the code ${row.activation_code}`,
        challenge: row.activation_challenge,
      };
    }
    return answer;
  }

  async function requireDevice(userId: string, rawId: string): Promise<DeviceRow> {
    const row = await store.getForUser(userId, parseDeviceId(rawId));
    if (!row) throw new NotFoundError('Device');
    return row;
  }

  return {
    /**
     * POST /xiaozhi/ota/: a new token for the device every time (the previous one stops working),
     * and while no user has bound it, its activation: the pending one while it lasts, else a new code.
     */
    async provision(get: (header: string) => string, body: unknown, address: string): Promise<OtaReply> {
      const identity = deviceIdentity(get);
      const info = parseOrThrow(otaBodySchema, body ?? {});
      const version = reported(info.application?.version, 64) ?? '';
      const token = newDeviceToken();
      const tokenHash = hashDeviceToken(token);
      const known = await store.findByIdentity(identity);
      const pending = known?.activation_expires_at && known.activation_expires_at.getTime() > Date.now();
      if (known && (known.user_id !== null || pending)) {
        const row = await store.reissueToken(known.id, tokenHash, version || null);
        // Unbound at this very moment: the rare race with DELETE; the next call provisions afresh.
        if (!row) throw new ConflictError('The device changed while provisioning; try again');
        return reply(row, token, version);
      }
      const wait = await newCodes.take(address);
      if (wait > 0) throw new RateLimitedError(wait);
      try {
        const row = await store.startActivation({
          identity,
          tokenHash,
          name: reported(info.board?.name, DEVICE_NAME_MAX) ?? reported(info.board?.type, DEVICE_NAME_MAX) ?? DEFAULT_NAME,
          firmwareVersion: version || null,
          ttlMs: ACTIVATION_TTL_MS,
          maxPending: config.MAX_PENDING_ACTIVATIONS,
        });
        if (!row) throw new ConflictError('The device was bound while provisioning; try again');
        return reply(row, token, version);
      } catch (error) {
        if (error instanceof ActivationCapacityError) {
          throw new AppError(503, 'activations_full', 'Too many devices are waiting to be bound; try again later', {
            headers: { 'Retry-After': '60' },
          });
        }
        throw error;
      }
    },

    /**
     * POST /xiaozhi/ota/activate: the device's poll, matched by its headers and (when sent) the
     * challenge. `activated` once bound; `pending` (202) while the code waits; 404/410 otherwise.
     */
    async activate(get: (header: string) => string, body: unknown): Promise<'activated' | 'pending'> {
      const identity = deviceIdentity(get);
      const { challenge } = parseOrThrow(activateBodySchema, body ?? {});
      const row = await store.findByIdentity(identity);
      if (!row || (challenge !== undefined && challenge !== row.activation_challenge)) {
        throw new AppError(404, 'activation_not_found', 'No activation of this device with this challenge; call the OTA URL again');
      }
      await store.touch(row.id);
      if (row.user_id !== null) return 'activated';
      if (!row.activation_expires_at || row.activation_expires_at.getTime() <= Date.now()) {
        throw new AppError(410, 'activation_expired', 'The activation code expired; call the OTA URL again for a new one');
      }
      return 'pending';
    },

    /** POST /api/v1/devices/bind: the device waiting with this code becomes the caller's. */
    async bind(userId: string, body: unknown, address: string): Promise<PublicDevice> {
      const { code } = parseOrThrow(bindBodySchema, body);
      const blocked = Math.max(userFailures.blocked(userId), userDailyFailures.blocked(userId), addressFailures.blocked(address));
      if (blocked > 0) throw new RateLimitedError(blocked);
      let row: DeviceRow | undefined;
      try {
        row = await store.bind(userId, code, config.MAX_DEVICES_PER_USER);
      } catch (error) {
        if (error instanceof DeviceLimitError) {
          throw new ConflictError(`You have ${error.limit} devices, the most allowed; unbind one first`, 'device_limit_reached');
        }
        throw error;
      }
      if (row) return toPublicDevice(row);
      const waits = await Promise.all([userFailures.failed(userId), userDailyFailures.failed(userId), addressFailures.failed(address)]);
      const wait = Math.max(...waits);
      if (wait > 0) throw new RateLimitedError(wait);
      throw new ValidationError([{ field: 'code', message: 'no device is waiting with this code, or it expired' }]);
    },

    async list(userId: string): Promise<PublicDevice[]> {
      return (await store.listForUser(userId)).map(toPublicDevice);
    },

    async update(userId: string, rawId: string, body: unknown): Promise<PublicDevice> {
      const input = parseOrThrow(deviceUpdateSchema, body);
      await requireDevice(userId, rawId);
      if (typeof input.default_llm_id === 'number' && !(await isUsersLlmConfig(deps.db, userId, input.default_llm_id))) {
        throw new ValidationError([{ field: 'default_llm_id', message: 'is not one of your LLM configs' }]);
      }
      const row = await store.update(userId, parseDeviceId(rawId), input);
      if (!row) throw new NotFoundError('Device');
      const { default_llm_id, enabled_functions } = input;
      if (default_llm_id !== undefined || enabled_functions !== undefined) {
        // A running session takes them now (a socket that connects later gets them anyway).
        await deps.sessions
          ?.applySettings(userId, deviceSessionId(row.id), { default_llm_id, enabled_functions })
          .catch((error: unknown) => {
            deps.logger.warn(
              { err: error, deviceRowId: row.id },
              'could not apply device settings to its session; it gets them on its next connection',
            );
          });
      }
      return toPublicDevice(row);
    },

    /**
     * Unbinds: the row and its token go (every gateway is told in the same statement and closes the
     * device's socket); its session is closed; the device's next OTA call gets a new code.
     */
    async remove(userId: string, rawId: string): Promise<PublicDevice> {
      const row = await store.remove(userId, parseDeviceId(rawId));
      if (!row) throw new NotFoundError('Device');
      await deps.sessions?.close(userId, deviceSessionId(row.id)).catch((error: unknown) => {
        // The device is unbound either way; its session then ends by DEVICE_SESSION_IDLE_TTL.
        deps.logger.warn({ err: error, deviceRowId: row.id }, 'could not close the session of an unbound device');
      });
      return { ...toPublicDevice(row), online: false };
    },
  };
}

export type DeviceService = ReturnType<typeof createDeviceService>;
