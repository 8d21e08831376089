// Upgrade and attach: an upgrade request, from its first check to an open socket bound to its
// session. The checks (handshake.ts) run cheapest first; then the session is started
// (signal-with-start; the sessions layer enforces the per-user session limit) or resumed (`attach`)
// before the upgrade, so every failure is still a plain HTTP answer and no socket opens for it.
// Only then does the socket open and get its `hello`.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AppContext, TemporalHandles } from '../app/context';
import { attachSignal, relayAddressFor, sessionWorkflowId, type ServerFrame } from '../contract';
import { AUTH_FAILURE_PREFIX, createFailureLimiter, createRateLimitStore } from '../db';
import { loadPublicConfigs } from '../db/public-config';
import { clientAddress } from '../lib/address';
import { AppError, RateLimitedError, ServiceUnavailableError, UnauthorizedError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import {
  findUserSession,
  isUsersLlmConfig,
  isWorkflowGone,
  markGone,
  newSessionId,
  sessionHandle,
  startSession,
  withTemporalDeadline,
} from '../sessions/session-store';
import { ClientConnection, CloseCode, type ConnectionLimits } from './connection';
import {
  hostRefusal,
  type HostRules,
  isWebSocketUpgrade,
  originRefusal,
  readHandshake,
  rejectUpgrade,
  requestUrl,
  SessionEndedError,
  SessionNotFoundError,
  WS_PATH,
} from './handshake';
import { createDeviceUpgrades, DEVICE_WS_PATH, isDevicePath, type DeviceAttach } from './device-upgrade';
import type { DeviceMcpHook } from './connection';
import type { SocketProtocol } from './socket-protocol';
import type { Sockets } from './sockets';

export interface UpgradeOptions {
  ctx: AppContext;
  temporal: TemporalHandles;
  /** This gateway: its sockets' relay addresses name it. */
  instanceId: string;
  sockets: Sockets;
  protocol: SocketProtocol;
  limits: ConnectionLimits;
  hostRules: HostRules;
  logger: Logger;
  /** Device-side MCP on xiaozhi sockets (connection.ts, DeviceMcpHook). */
  deviceMcp?: DeviceMcpHook;
}

export interface Upgrades {
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Notification channels the gateway LISTENs on for its device sockets (unbinding). */
  channels: Record<string, (payload: string) => void>;
  close(): void;
}

/** Frames up to this size are read and answered with `frame_too_large`; beyond it ws drops the socket (1009). */
const HARD_FRAME_LIMIT_FACTOR = 16;

export function createUpgrades(options: UpgradeOptions): Upgrades {
  const { ctx, temporal, instanceId, sockets, limits, hostRules, logger: log } = options;
  const authFailures = createFailureLimiter({
    store: createRateLimitStore(ctx.db.sequelize),
    limit: ctx.config.AUTH_FAILURES_PER_MINUTE,
    prefix: AUTH_FAILURE_PREFIX,
    logger: log,
  });
  const devices = createDeviceUpgrades({ ctx, temporal, instanceId, sockets, limits, logger: log, mcp: options.deviceMcp });
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxFrameBytes * HARD_FRAME_LIMIT_FACTOR,
    perMessageDeflate: false,
  });

  async function greet(connection: ClientConnection, ws: WebSocket, resumed: boolean): Promise<void> {
    connection.bind(ws, () => sockets.release(connection));
    const hello: ServerFrame = {
      type: 'hello',
      session_id: connection.sessionId,
      resumed,
      // The configs as the REST API shows them (the workflow caches only their summary).
      configs: await loadPublicConfigs(ctx.db, { userId: connection.userId }),
    };
    connection.open(hello);
  }

  /** Start or resume the session before the upgrade, so every failure is still an HTTP answer. */
  async function attachSession(req: IncomingMessage, url: URL): Promise<{ connection: ClientConnection; resumed: boolean }> {
    const { principal, deviceId, sessionId: requested, stream } = await readHandshake(req, url, ctx.verifier);
    const existing = requested === null ? null : await findUserSession(ctx.db, principal.userId, requested);
    if (requested !== null && !existing) throw new SessionNotFoundError();
    if (existing && existing.status !== 'active') throw new SessionEndedError(existing.status);

    const sessionId = existing?.session_id ?? newSessionId();
    const connection = new ClientConnection({
      userId: principal.userId,
      sessionId,
      workflowId: existing?.workflow_id ?? sessionWorkflowId(principal.userId, sessionId),
      temporal,
      protocol: options.protocol,
      limits,
      logger: log,
      checkSettings: async (update) =>
        typeof update.default_llm_id === 'number' && !(await isUsersLlmConfig(ctx.db, principal.userId, update.default_llm_id))
          ? 'default_llm_id: is not one of your LLM configs'
          : null,
      loadConfigs: () => loadPublicConfigs(ctx.db, { userId: principal.userId }),
      tokenExpiresAt: principal.expiresAt,
      apiKeyId: principal.apiKeyId,
      stream,
    });
    // Registered before the workflow hears of it: relayed frames may come before the upgrade
    // completes (they wait for hello). From here on a revocation of its key closes it (sockets.ts);
    // one announced since the key was looked up refuses it now.
    sockets.add(connection);
    if (sockets.isRevoked(connection)) {
      sockets.remove(connection);
      throw new UnauthorizedError('Invalid or revoked API key');
    }
    const relayAddress = relayAddressFor(instanceId, connection.id);
    try {
      if (existing) {
        await withTemporalDeadline(temporal, () => sessionHandle(temporal, existing).signal(attachSignal, relayAddress));
      } else {
        await startSession(ctx, { userId: principal.userId, sessionId, deviceId, first: { relayAddress } });
      }
    } catch (error) {
      sockets.remove(connection);
      if (existing && isWorkflowGone(error)) {
        await markGone(existing);
        throw new SessionEndedError('closed');
      }
      throw error;
    }
    return { connection, resumed: existing !== null };
  }

  function handle(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (error) => log.debug({ err: error }, 'upgrade socket error'));
    const url = requestUrl(req);
    if (!url) return rejectUpgrade(socket, new AppError(400, 'bad_request', 'Malformed request URL'));
    if (sockets.closing) return rejectUpgrade(socket, new ServiceUnavailableError('Gateway is shutting down'));
    const misdirected = hostRefusal(req, hostRules);
    if (misdirected) return rejectUpgrade(socket, misdirected);
    const device = isDevicePath(url.pathname);
    if (url.pathname !== WS_PATH && !device) {
      return rejectUpgrade(socket, new AppError(404, 'not_found', `WebSocket paths are ${WS_PATH} and ${DEVICE_WS_PATH}`));
    }
    if (!isWebSocketUpgrade(req)) return rejectUpgrade(socket, new AppError(400, 'bad_request', 'Not a WebSocket upgrade'));
    const foreign = originRefusal(req, hostRules);
    if (foreign) return rejectUpgrade(socket, foreign);
    const address = clientAddress(req.headers['x-forwarded-for'], req.socket.remoteAddress, ctx.config.TRUST_PROXY_HOPS);
    const blocked = authFailures.blocked(address);
    if (blocked > 0) return rejectUpgrade(socket, new RateLimitedError(blocked));
    if (device) return void devices.attach(req, url).then((attached) => openDevice(attached, req, socket, head), refuse);
    void attachSession(req, url).then(({ connection, resumed }) => {
      if (socket.destroyed || !socket.writable || sockets.closing) {
        // The client left (or we are shutting down) while the workflow was attached: undo that.
        sockets.release(connection);
        if (!socket.destroyed) rejectUpgrade(socket, new ServiceUnavailableError('Gateway is shutting down'));
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        greet(connection, ws, resumed).catch((error: unknown) => {
          log.error({ err: error }, 'could not greet a new socket');
          connection.close(CloseCode.tryAgainLater, 'session unavailable');
        });
      });
    }, refuse);

    async function refuse(error: unknown): Promise<void> {
      if (error instanceof UnauthorizedError) {
        // Counted with the API's failures of the same address (one shared counter).
        const wait = await authFailures.failed(address);
        return rejectUpgrade(socket, wait > 0 ? new RateLimitedError(wait) : error);
      }
      if (error instanceof AppError) return rejectUpgrade(socket, error);
      log.warn({ err: error }, 'could not start or attach a session');
      rejectUpgrade(socket, new ServiceUnavailableError('Sessions are unavailable right now; retry shortly'));
    }
  }

  /** A device socket opens and waits for the device's hello (the xiaozhi protocol speaks second). */
  function openDevice(attached: DeviceAttach, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { connection } = attached;
    if (socket.destroyed || !socket.writable || sockets.closing) {
      sockets.release(connection);
      if (!socket.destroyed) rejectUpgrade(socket, new ServiceUnavailableError('Gateway is shutting down'));
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      connection.bind(ws, () => {
        attached.closed();
        sockets.release(connection);
      });
      attached.opened();
    });
  }

  return {
    handle,
    channels: devices.channels,
    close: () => {
      devices.close();
      wss.close();
    },
  };
}
