// The WebSocket gateway (ARCHITECTURE.md): authenticates before the upgrade, binds each socket to
// a session workflow (signal-with-start for a new session, `attach` to resume), turns client
// frames into signals, and takes the workflow's frames from the relay (in process, or PostgreSQL
// NOTIFY on its own channel). A Temporal client only: no worker runs here. Several gateways share
// one cluster.
//
// Its parts: upgrade.ts (upgrade and attach; the checks in handshake.ts; device sockets in
// device-upgrade.ts), servers.ts (the HTTP server, health), sockets.ts (the open sockets, timers,
// shutdown), connection.ts (one socket), socket-writer.ts (frames to the client, in order),
// signal-pump.ts (frames to the workflow), and socket-protocol.ts (the wire format: the JSON frames
// of /ws, protocol.ts, and the xiaozhi device protocol of /xiaozhi/v1/, xiaozhi-protocol.ts).
import { randomBytes } from 'node:crypto';
import type { AppContext, RunningRole } from '../app/context';
import { API_KEY_REVOKED_CHANNEL, liveApiKeyIds } from '../db';
import { listenChannels } from '../db/listen';
import type { Logger } from '../lib/logger';
import { subscribeRelay, type RelayDelivery } from '../relay';
import { requireTemporal } from '../sessions/session-store';
import type { ConnectionLimits, DeviceMcpHook } from './connection';
import type { HostRules } from './handshake';
import { listen, type GatewayServer } from './servers';
import { jsonProtocol } from './socket-protocol';
import { Sockets } from './sockets';
import { DeviceTools, visionUrl } from './device-tools';
import { createUpgrades } from './upgrade';

export interface GatewayOptions {
  host: string;
  port: number;
  /** Names this gateway in its sockets' relay addresses (gateway-<id>) and its relay channel; random per process unless given. */
  instanceId?: string;
  /** Protocol-level ping interval that finds dead peers; 0 turns it off. */
  heartbeatMs?: number;
  /** Device-side MCP on xiaozhi sockets (/xiaozhi/v1/): see DeviceMcpHook in connection.ts. */
  deviceMcp?: DeviceMcpHook;
}

const BAD_FRAMES_PER_MINUTE = 10;
/** A xiaozhi device streams about 1,000 Opus frames (60 ms each) a minute while it listens; three times that is the budget. */
export const AUDIO_FRAMES_PER_MINUTE = 3_000;

/**
 * Sockets opened with an API key are closed when it is revoked, on whichever API replica: the
 * revocation is announced on API_KEY_REVOKED_CHANNEL (db/api-keys.ts). After every (re)connection
 * of the listener (announcements made while it was away are lost), the keys of the open sockets are
 * looked up, and those no longer there are closed too.
 */
function closeOnRevocation(ctx: AppContext, sockets: Sockets, log: Logger) {
  const recheck = async (): Promise<void> => {
    const ids = sockets.apiKeyIds();
    const live = await liveApiKeyIds(ctx.db, ids);
    for (const id of ids) if (!live.has(id)) sockets.revokeApiKey(id);
  };
  return listenChannels(
    ctx.db,
    {
      [API_KEY_REVOKED_CHANNEL]: (payload) => {
        const id = Number(payload);
        if (Number.isInteger(id)) sockets.revokeApiKey(id);
      },
    },
    {
      logger: log.child({ component: 'listen', channel: API_KEY_REVOKED_CHANNEL }),
      onConnect: () => void recheck().catch((error: unknown) => log.warn({ err: error }, 'could not check the API keys of open sockets')),
    },
  );
}

export async function startGateway(ctx: AppContext, options: GatewayOptions): Promise<RunningRole> {
  const temporal = requireTemporal(ctx);
  const instanceId = options.instanceId ?? randomBytes(6).toString('hex');
  const log = ctx.logger.child({ role: 'gateway', instanceId });
  const limits: ConnectionLimits = {
    maxFrameBytes: ctx.config.WS_MAX_FRAME_BYTES,
    messagesPerMinute: ctx.config.WS_MESSAGES_PER_MINUTE,
    badFramesPerMinute: BAD_FRAMES_PER_MINUTE,
    audioFramesPerMinute: AUDIO_FRAMES_PER_MINUTE,
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

  const sockets = new Sockets(options.heartbeatMs ?? 30_000);
  // Device-side MCP on xiaozhi sockets (gateway/device-tools.ts): it lists each device's tools, and
  // the relay's device tool calls go to it; every other frame goes to the socket.
  const deviceTools = new DeviceTools({
    db: ctx.db,
    client: temporal.client,
    instanceId,
    logger: log,
    vision: { url: visionUrl(ctx.config), token: 'unsupported' },
  });
  const upgrades = createUpgrades({
    ctx,
    temporal,
    instanceId,
    sockets,
    protocol: jsonProtocol,
    limits,
    hostRules,
    logger: log,
    deviceMcp: options.deviceMcp ?? deviceTools,
  });
  let relay;
  try {
    const relayed = (connectionId: string, delivery: RelayDelivery): void => {
      const rest = deviceTools.take(connectionId, delivery);
      if (rest) sockets.get(connectionId)?.relayed(rest);
    };
    relay = await subscribeRelay(ctx.db, instanceId, relayed, {
      logger: log,
      onResync: () => sockets.resync(),
      channels: upgrades.channels,
    });
  } catch (error) {
    upgrades.close();
    throw error;
  }
  const revocations = await closeOnRevocation(ctx, sockets, log).catch(async (error: unknown) => {
    upgrades.close();
    await relay.close();
    throw error;
  });

  let server: GatewayServer;
  try {
    server = await listen({
      host: options.host,
      port: options.port,
      instanceId,
      hostRules,
      isClosing: () => sockets.closing,
      onUpgrade: upgrades.handle,
    });
  } catch (error) {
    sockets.stopAccepting();
    upgrades.close();
    await Promise.all([relay.close(), revocations.close()]);
    throw error;
  }
  log.info({ url: server.url }, 'gateway listening');

  return {
    name: 'gateway',
    urls: { websocket: server.url },
    async close() {
      if (sockets.closing) return;
      sockets.stopAccepting();
      await server.close(async () => {
        await sockets.drain();
        upgrades.close();
      });
      await Promise.all([relay.close(), revocations.close()]);
      log.info('gateway stopped');
    },
  };
}
