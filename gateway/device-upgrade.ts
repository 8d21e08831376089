// The device socket, /xiaozhi/v1/ (issue 16): a xiaozhi device's upgrade, from its token to an
// open socket on the xiaozhi protocol (xiaozhi-protocol.ts). Checked before the upgrade, so every
// refusal is a plain HTTP answer: the device token (Authorization: Bearer, or `?authorization=` /
// `?token=` / `?access_token=` as some clients send it), looked up by its hash; Device-Id and
// Client-Id (headers or query parameters) must be the device's own; Protocol-Version 1 to 3.
//
// A bound device has one durable session (`deviceSessionId`: stable, so every reconnect, on any
// gateway, resumes it), started with DEVICE_SESSION_IDLE_TTL and the device's DeviceId search
// attribute, and given the device's settings (default LLM, enabled functions) on every connect.
// An unbound device (provisioned, its code not yet bound) gets a socket with no session: every
// question is answered with its activation code (MAX_UNBOUND_DEVICE_SOCKETS over all gateways).
//
// While a device's socket is open its row names it (socket_address) and `last_seen_at` is kept
// fresh, so GET /api/v1/devices shows it online. Unbinding notifies every gateway
// (DEVICE_EVENTS_CHANNEL), and the one holding the socket closes it at once.
import type { IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AppContext, TemporalHandles } from '../app/context';
import { attachSignal, relayAddressFor, sessionWorkflowId, updateSessionConfigSignal } from '../contract';
import { createDeviceSocketStore, DEVICE_EVENTS_CHANNEL, DEVICE_SOCKET_REFRESH_MS, findDeviceByToken, type DeviceRow } from '../db';
import { loadPublicConfigs } from '../db/public-config';
import { AppError, BadRequestError, UnauthorizedError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import {
  deviceSessionId,
  findUserSession,
  isUsersLlmConfig,
  isWorkflowGone,
  markGone,
  sessionHandle,
  startSession,
  withTemporalDeadline,
} from '../sessions/session-store';
import { ClientConnection, type ConnectionLimits, type DeviceMcpHook } from './connection';
import type { Sockets } from './sockets';
import { XiaozhiProtocol } from './xiaozhi-protocol';

/** The device socket's path (the OTA reply's websocket.url names it); also answered without the trailing slash. */
export const DEVICE_WS_PATH = '/xiaozhi/v1/';

export function isDevicePath(pathname: string): boolean {
  return pathname === DEVICE_WS_PATH || pathname === DEVICE_WS_PATH.slice(0, -1);
}

/** Private-use close code: the device was unbound; its token no longer works. */
export const DEVICE_UNBOUND_CLOSE = 4003;

export interface DeviceUpgradeOptions {
  ctx: AppContext;
  temporal: TemporalHandles;
  instanceId: string;
  sockets: Sockets;
  limits: ConnectionLimits;
  logger: Logger;
  /** Device-side MCP, for every bound device's socket (connection.ts, DeviceMcpHook). */
  mcp?: DeviceMcpHook;
}

export interface DeviceAttach {
  connection: ClientConnection;
  /** The socket is open: record it (online) until it closes. */
  opened(): void;
  /** The socket closed (or never opened). */
  closed(): void;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function headerOrQuery(req: IncomingMessage, url: URL, header: string, params: string[]): string | undefined {
  const fromHeader = single(req.headers[header])?.trim();
  if (fromHeader) return fromHeader;
  for (const param of params) {
    const value = url.searchParams.get(param)?.trim();
    if (value) return value;
  }
  return undefined;
}

/** The device token: `Bearer <token>` (header or `?authorization=`), or a bare `?token=` / `?access_token=`. */
function deviceToken(req: IncomingMessage, url: URL): string | undefined {
  const raw = headerOrQuery(req, url, 'authorization', ['authorization', 'token', 'access_token']);
  if (raw === undefined) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(raw);
  return match ? match[1] : /^\S+$/.test(raw) ? raw : undefined;
}

/** The device the upgrade is for: a known token, presented by the device it was issued to. */
async function readDeviceHandshake(ctx: AppContext, req: IncomingMessage, url: URL): Promise<DeviceRow> {
  const token = deviceToken(req, url);
  if (!token) throw new UnauthorizedError('Missing device token (Authorization: Bearer <token> from the OTA reply)');
  const version = headerOrQuery(req, url, 'protocol-version', ['protocol-version', 'protocol_version']);
  if (version !== undefined && !/^[123]$/.test(version))
    throw new BadRequestError('Protocol-Version must be 1, 2 or 3', 'invalid_protocol_version');
  const deviceId = headerOrQuery(req, url, 'device-id', ['device-id', 'device_id'])?.toLowerCase();
  const clientId = headerOrQuery(req, url, 'client-id', ['client-id', 'client_id'])?.toLowerCase();
  if (!deviceId || !clientId)
    throw new BadRequestError('Device-Id and Client-Id are required (headers or query parameters)', 'missing_device_headers');
  // A token longer than any we issue is not looked up (hashing unbounded input costs).
  const row = token.length <= 128 ? await findDeviceByToken(ctx.db.sequelize, token) : undefined;
  // One answer for an unknown token and for another device's: nothing leaks.
  if (!row || row.device_id !== deviceId || row.client_id !== clientId) {
    throw new UnauthorizedError('Unknown or revoked device token; call the OTA URL again for a new one');
  }
  return row;
}

/** What an unbound device hears, whatever it asks. */
export function activationSpeech(row: Pick<DeviceRow, 'activation_code' | 'activation_expires_at'>, now = Date.now()): string {
  if (!row.activation_code || !row.activation_expires_at || row.activation_expires_at.getTime() <= now) {
    return 'This device is not bound to a Switchboard account and its activation code has expired. Restart the device for a new code.';
  }
  const spaced = row.activation_code.split('').join(' ');
  return `This device is not bound yet. In Switchboard, open Devices and bind it with the code ${spaced}.`;
}

export function createDeviceUpgrades(options: DeviceUpgradeOptions) {
  const { ctx, temporal, instanceId, sockets, limits, logger: log } = options;
  const store = createDeviceSocketStore(ctx.db.sequelize);
  /** Open device sockets of this gateway: connection id → device row id. */
  const open = new Map<string, { rowId: number; connection: ClientConnection }>();
  const refresh = setInterval(() => {
    const ids = [...new Set([...open.values()].map((entry) => entry.rowId))];
    store.refresh(ids).catch((error: unknown) => log.warn({ err: error }, 'could not refresh device sockets'));
  }, DEVICE_SOCKET_REFRESH_MS).unref();

  function tracked(row: DeviceRow, connection: ClientConnection): DeviceAttach {
    const address = `${instanceId}/${connection.id}`;
    // In order: a socket that closes at once must not leave its address behind.
    let recorded = Promise.resolve();
    return {
      connection,
      opened() {
        open.set(connection.id, { rowId: row.id, connection });
        recorded = store.opened(row.id, address).catch((error: unknown) => log.warn({ err: error }, 'could not record a device socket'));
      },
      closed() {
        if (!open.delete(connection.id)) return;
        recorded = recorded
          .then(() => store.closed(row.id, address))
          .catch((error: unknown) => log.warn({ err: error }, 'could not record a device socket closing'));
      },
    };
  }

  async function attachUnbound(row: DeviceRow): Promise<DeviceAttach> {
    const online = await store.countUnboundOnline();
    if (online >= ctx.config.MAX_UNBOUND_DEVICE_SOCKETS) {
      throw new AppError(503, 'unbound_devices_full', 'Too many unbound devices are connected; bind this one first or try again later', {
        headers: { 'Retry-After': '60' },
      });
    }
    const speech = activationSpeech(row);
    const sessionId = `unbound-${randomBytes(8).toString('base64url')}`;
    const connection = new ClientConnection({
      userId: '',
      sessionId,
      workflowId: '',
      temporal,
      protocol: new XiaozhiProtocol({ sessionId }),
      limits,
      logger: log,
      checkSettings: () => Promise.resolve('an unbound device has no session'),
      loadConfigs: () => Promise.resolve([]),
      tokenExpiresAt: Number.POSITIVE_INFINITY,
      stream: false,
      localAnswer: () => speech,
    });
    sockets.add(connection);
    return tracked(row, connection);
  }

  async function attachBound(row: DeviceRow & { user_id: string }): Promise<DeviceAttach> {
    const userId = row.user_id;
    const sessionId = deviceSessionId(row.id);
    const existing = await findUserSession(ctx.db, userId, sessionId);
    const connection = new ClientConnection({
      userId,
      sessionId,
      workflowId: existing?.workflow_id ?? sessionWorkflowId(userId, sessionId),
      temporal,
      protocol: new XiaozhiProtocol({ sessionId }),
      limits,
      logger: log,
      checkSettings: async (update) =>
        typeof update.default_llm_id === 'number' && !(await isUsersLlmConfig(ctx.db, userId, update.default_llm_id))
          ? 'default_llm_id: is not one of your LLM configs'
          : null,
      loadConfigs: () => loadPublicConfigs(ctx.db, { userId }),
      tokenExpiresAt: Number.POSITIVE_INFINITY,
      // Sentences are spoken as the provider streams them.
      stream: true,
      mcp: options.mcp,
    });
    sockets.add(connection);
    const relayAddress = relayAddressFor(instanceId, connection.id);
    try {
      let attached = false;
      if (existing?.status === 'active') {
        try {
          await withTemporalDeadline(temporal, () => sessionHandle(temporal, existing).signal(attachSignal, relayAddress));
          attached = true;
        } catch (error) {
          if (!isWorkflowGone(error)) throw error;
          await markGone(existing);
        }
      }
      if (!attached) {
        await startSession(ctx, {
          userId,
          sessionId,
          deviceId: row.device_id,
          first: { relayAddress },
          idleTtlMs: ctx.config.DEVICE_SESSION_IDLE_TTL,
        });
      }
    } catch (error) {
      sockets.remove(connection);
      throw error;
    }
    // The device's settings (PATCH /api/v1/devices/:id), applied on every connect; best effort
    // (the session keeps the ones it had, and the next connect tries again).
    await withTemporalDeadline(temporal, () =>
      temporal.client.workflow
        .getHandle(connection.workflowId)
        .signal(updateSessionConfigSignal, { default_llm_id: row.default_llm_id, enabled_functions: row.enabled_functions }),
    ).catch((error: unknown) => log.warn({ err: error, sessionId }, 'could not give a device session its settings'));
    return tracked(row, connection);
  }

  return {
    async attach(req: IncomingMessage, url: URL): Promise<DeviceAttach> {
      const row = await readDeviceHandshake(ctx, req, url);
      const { user_id: userId } = row;
      return userId === null ? attachUnbound(row) : attachBound({ ...row, user_id: userId });
    },

    /** LISTENed notifications (DEVICE_EVENTS_CHANNEL): an unbound device's socket closes at once. */
    channels: {
      [DEVICE_EVENTS_CHANNEL]: (payload: string) => {
        const match = /^unbound:(\d+)$/.exec(payload);
        if (!match) return;
        const rowId = Number(match[1]);
        for (const entry of open.values()) {
          if (entry.rowId === rowId) entry.connection.close(DEVICE_UNBOUND_CLOSE, 'device unbound');
        }
      },
    },

    /** After the sockets drained (each recorded its own close). */
    close(): void {
      clearInterval(refresh);
    },
  };
}

export type DeviceUpgrades = ReturnType<typeof createDeviceUpgrades>;
