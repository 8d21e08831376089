// The WebSocket gateway (ARCHITECTURE.md): authenticates before the upgrade, binds each socket to
// a session workflow (signal-with-start for a new session, `attach` to resume), turns client
// frames into signals, and takes the workflow's frames from the relay (in process, or PostgreSQL
// NOTIFY on its own channel). A Temporal client only: no worker runs here. Several gateways share
// one cluster.
import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { loadPublicConfigs } from '../db/public-config';
import { AppError, errorBody, RateLimitedError, ServiceUnavailableError, UnauthorizedError } from '../lib/errors';
import { AUTH_FAILURE_PREFIX, createFailureLimiter, createRateLimitStore } from '../db';
import type { AppContext, RunningRole } from '../app/context';
import {
  findUserSession,
  isUsersLlmConfig,
  isWorkflowGone,
  markGone,
  newSessionId,
  requireTemporal,
  sessionHandle,
  startSession,
  withTemporalDeadline,
} from '../sessions/session-store';
import { attachSignal, detachSignal, gatewayTaskQueue, sessionWorkflowId, type ServerFrame } from '../contract';
import { subscribeRelay, type RelaySubscription } from '../relay';
import { clientAddress, urlHost } from '../lib/address';
import { ClientConnection, CloseCode, type ConnectionLimits } from './connection';
import {
  hostRefusal,
  type HostRules,
  isWebSocketUpgrade,
  originRefusal,
  readHandshake,
  rejectUpgrade,
  SessionEndedError,
  SessionNotFoundError,
  WS_PATH,
} from './handshake';

export interface GatewayOptions {
  host: string;
  port: number;
  /** Names this gateway in `attach` (gateway-<id>) and its relay channel; random per process unless given. */
  instanceId?: string;
  /** Protocol-level ping interval that finds dead peers; 0 turns it off. */
  heartbeatMs?: number;
}

const BAD_FRAMES_PER_MINUTE = 10;
/** Frames up to this size are read and answered with `frame_too_large`; beyond it ws drops the socket (1009). */
const HARD_FRAME_LIMIT_FACTOR = 16;
/** How long close() lets clients answer the 1012 close frame before cutting them off. */
const SHUTDOWN_GRACE_MS = 3_000;
/** How often sockets check for results the relay did not bring (see ClientConnection.sweep). */
const SWEEP_INTERVAL_MS = 2_000;

export async function startGateway(ctx: AppContext, options: GatewayOptions): Promise<RunningRole> {
  const temporal = requireTemporal(ctx);
  const instanceId = options.instanceId ?? randomBytes(6).toString('hex');
  const log = ctx.logger.child({ role: 'gateway', instanceId });
  const authFailures = createFailureLimiter({
    store: createRateLimitStore(ctx.db.sequelize),
    limit: ctx.config.AUTH_FAILURES_PER_MINUTE,
    prefix: AUTH_FAILURE_PREFIX,
    logger: log,
  });
  const limits: ConnectionLimits = {
    maxFrameBytes: ctx.config.WS_MAX_FRAME_BYTES,
    messagesPerMinute: ctx.config.WS_MESSAGES_PER_MINUTE,
    badFramesPerMinute: BAD_FRAMES_PER_MINUTE,
  };

  const hostRules: HostRules = {
    served: ctx.config.servedHosts,
    trustProxy: ctx.config.TRUST_PROXY_HOPS > 0,
    origins: {
      served: ctx.config.servedHosts,
      origins: ctx.config.ALLOWED_ORIGINS,
      consolePort: ctx.config.API_PORT,
      publicHost: ctx.config.publicHostname,
    },
  };

  const connections = new Map<string, ClientConnection>();
  const detaches = new Set<Promise<void>>();
  let closing = false;

  const relaySubscription: RelaySubscription = await subscribeRelay(
    ctx.db,
    instanceId,
    (connectionId, delivery) => connections.get(connectionId)?.relayed(delivery),
    {
      logger: log,
      onResync: () => {
        for (const connection of connections.values()) connection.resync();
      },
    },
  );

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxFrameBytes * HARD_FRAME_LIMIT_FACTOR,
    perMessageDeflate: false,
  });

  function detach(connection: ClientConnection): void {
    if (connection.sessionEnded) return;
    const acks = connection.takeAcks();
    const done = withTemporalDeadline(temporal, () =>
      temporal.client.workflow
        .getHandle(connection.workflowId)
        .signal(detachSignal, { connectionId: connection.id, ...(acks.length ? { acks } : {}) }),
    )
      .catch((error: unknown) => {
        // Best effort: a later attach replaces the address anyway, and the relay drops frames for
        // a gone socket, so a lost detach costs nothing but wasted notifications.
        log.debug({ err: error, sessionId: connection.sessionId }, 'detach signal failed');
      })
      .finally(() => detaches.delete(done));
    detaches.add(done);
  }

  async function bindSocket(connection: ClientConnection, ws: WebSocket, resumed: boolean): Promise<void> {
    connection.bind(ws);
    ws.on('message', (data, isBinary) => connection.receive(data, isBinary));
    ws.on('pong', () => {
      connection.alive = true;
    });
    ws.on('error', (error) => log.debug({ err: error, connectionId: connection.id }, 'socket error'));
    ws.on('close', () => {
      connections.delete(connection.id);
      connection.markClosed();
      detach(connection);
    });
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
      limits,
      logger: log,
      checkSettings: async (update) =>
        typeof update.default_llm_id === 'number' && !(await isUsersLlmConfig(ctx.db, principal.userId, update.default_llm_id))
          ? 'default_llm_id: is not one of your LLM configs'
          : null,
      loadConfigs: () => loadPublicConfigs(ctx.db, { userId: principal.userId }),
      tokenExpiresAt: principal.expiresAt,
      stream,
    });
    // Registered before the workflow hears of it: relayed frames may come before the upgrade
    // completes (they wait for hello).
    connections.set(connection.id, connection);
    const attach = { taskQueue: gatewayTaskQueue(instanceId), connectionId: connection.id };
    try {
      if (existing) {
        await withTemporalDeadline(temporal, () => sessionHandle(temporal, existing).signal(attachSignal, attach));
      } else {
        await startSession(ctx, { userId: principal.userId, sessionId, deviceId, attach });
      }
    } catch (error) {
      connections.delete(connection.id);
      if (existing && isWorkflowGone(error)) {
        await markGone(existing);
        throw new SessionEndedError('closed');
      }
      throw error;
    }
    return { connection, resumed: existing !== null };
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (error) => log.debug({ err: error }, 'upgrade socket error'));
    const url = requestUrl(req);
    if (!url) return rejectUpgrade(socket, new AppError(400, 'bad_request', 'Malformed request URL'));
    if (closing) return rejectUpgrade(socket, new ServiceUnavailableError('Gateway is shutting down'));
    const misdirected = hostRefusal(req, hostRules);
    if (misdirected) return rejectUpgrade(socket, misdirected);
    if (url.pathname !== WS_PATH) return rejectUpgrade(socket, new AppError(404, 'not_found', `WebSocket path is ${WS_PATH}`));
    if (!isWebSocketUpgrade(req)) return rejectUpgrade(socket, new AppError(400, 'bad_request', 'Not a WebSocket upgrade'));
    const foreign = originRefusal(req, hostRules);
    if (foreign) return rejectUpgrade(socket, foreign);
    const address = clientAddress(req.headers['x-forwarded-for'], req.socket.remoteAddress, ctx.config.TRUST_PROXY_HOPS);
    const blocked = authFailures.blocked(address);
    if (blocked > 0) return rejectUpgrade(socket, new RateLimitedError(blocked));
    void attachSession(req, url).then(
      ({ connection, resumed }) => {
        if (socket.destroyed || !socket.writable || closing) {
          // The client left (or we are shutting down) while the workflow was attached: undo that.
          connections.delete(connection.id);
          connection.markClosed();
          detach(connection);
          if (!socket.destroyed) rejectUpgrade(socket, new ServiceUnavailableError('Gateway is shutting down'));
          return;
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          bindSocket(connection, ws, resumed).catch((error: unknown) => {
            log.error({ err: error }, 'could not greet a new socket');
            connection.close(CloseCode.tryAgainLater, 'session unavailable');
          });
        });
      },
      async (error: unknown) => {
        if (error instanceof UnauthorizedError) {
          // Counted with the API's failures of the same address (one shared counter).
          const wait = await authFailures.failed(address);
          return rejectUpgrade(socket, wait > 0 ? new RateLimitedError(wait) : error);
        }
        if (error instanceof AppError) return rejectUpgrade(socket, error);
        log.warn({ err: error }, 'could not start or attach a session');
        rejectUpgrade(socket, new ServiceUnavailableError('Sessions are unavailable right now; retry shortly'));
      },
    );
  }

  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = requestUrl(req)?.pathname;
    const misdirected = hostRefusal(req, hostRules);
    const [status, body] = misdirected
      ? [misdirected.status, errorBody(misdirected)]
      : path === '/healthz'
        ? [closing ? 503 : 200, { code: closing ? 503 : 200, message: closing ? 'closing' : 'ok', data: { instance: instanceId } }]
        : path === WS_PATH
          ? [426, errorBody(new AppError(426, 'upgrade_required', 'Connect with a WebSocket upgrade'))]
          : [404, errorBody(new AppError(404, 'not_found', 'Not found'))];
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
  });
  server.on('upgrade', handleUpgrade);

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const connection of connections.values()) connection.sweep(now);
  }, SWEEP_INTERVAL_MS).unref();

  const heartbeatMs = options.heartbeatMs ?? 30_000;
  const heartbeat =
    heartbeatMs > 0
      ? setInterval(() => {
          for (const connection of connections.values()) connection.heartbeat();
        }, heartbeatMs).unref()
      : undefined;

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    clearInterval(heartbeat);
    clearInterval(sweep);
    await relaySubscription.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const wsUrl = `ws://${urlHost(address.address)}:${address.port}${WS_PATH}`;
  log.info({ url: wsUrl }, 'gateway listening');

  return {
    name: 'gateway',
    urls: { websocket: wsUrl },
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(heartbeat);
      clearInterval(sweep);
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      const open = [...connections.values()];
      // 1012 (service restart): the client reconnects, to another gateway, with its Session-Id.
      for (const connection of open) connection.close(CloseCode.serviceRestart, 'gateway restarting; reconnect and resume');
      await waitUntil(() => connections.size === 0, SHUTDOWN_GRACE_MS);
      for (const connection of connections.values()) connection.terminate();
      await waitUntil(() => connections.size === 0, SHUTDOWN_GRACE_MS);
      await Promise.allSettled([...detaches]);
      wss.close();
      server.closeAllConnections();
      await serverClosed;
      await relaySubscription.close();
      log.info('gateway stopped');
    },
  };
}

/** The request target as a URL; undefined when it cannot be parsed (never a throw inside an event handler). */
function requestUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? '/', 'http://gateway.invalid');
  } catch {
    return undefined;
  }
}

/** Polls a condition (socket close events are asynchronous) until it holds or the time is up. */
async function waitUntil(condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}
