// The relay: the fast way back from a session's worker to the gateway that holds its socket,
// outside Temporal's history (ARCHITECTURE.md, "The message path"). Best effort by design: the
// workflow's outbox and the client's `ack` are the guarantee; the relay only makes the usual
// case cost nothing. A gateway in the same process is called directly; any other is reached with
// PostgreSQL NOTIFY on a channel per gateway instance. A frame batch too large for a
// notification (8,000 bytes) travels as a hint, and the gateway reads the outbox itself.
import { createHash } from 'node:crypto';
import { gatewayInstanceOf, type RelayAddress, type RelayFrame } from '../contract';
import type { Database } from '../db';
import { listenChannels } from '../db/listen';
import type { Logger } from '../lib/logger';

/** What a gateway receives for one of its sockets. */
export type RelayDelivery = { frames: RelayFrame[] } | { fetchOutbox: true };

export type RelayHandler = (connectionId: string, delivery: RelayDelivery) => void;

export interface FrameRelay {
  publish(relayAddress: RelayAddress, frames: RelayFrame[]): void;
}

/** PostgreSQL refuses notification payloads of 8,000 bytes or more. */
const NOTIFY_PAYLOAD_LIMIT = 7_900;

/** Gateways of this process, by instance id. */
const localGateways = new Map<string, RelayHandler>();

/** A NOTIFY channel name per gateway instance (identifiers are at most 63 bytes). */
export function relayChannel(instanceId: string): string {
  const safe = /^[A-Za-z0-9_-]{1,40}$/.test(instanceId) ? instanceId : createHash('sha256').update(instanceId).digest('hex').slice(0, 40);
  return `switchboard_gw_${safe}`;
}

interface WireMessage {
  c: string;
  f?: RelayFrame[];
  fetch?: true;
}

export function createRelay(db: Database, logger: Logger, options: { preferLocal?: boolean } = {}): FrameRelay {
  const preferLocal = options.preferLocal ?? true;
  const log = logger.child({ component: 'relay' });
  /** The last notification under way per socket (instance and connection id), while one is. */
  const inFlight = new Map<string, Promise<void>>();
  return {
    publish(relayAddress, frames) {
      const instance = gatewayInstanceOf(relayAddress);
      const local = preferLocal ? localGateways.get(instance) : undefined;
      if (local) {
        try {
          local(relayAddress.connectionId, { frames });
        } catch (error) {
          log.warn({ err: error }, 'a local gateway failed to take frames');
        }
        return;
      }
      let payload = JSON.stringify({ c: relayAddress.connectionId, f: frames } satisfies WireMessage);
      if (Buffer.byteLength(payload) > NOTIFY_PAYLOAD_LIMIT)
        payload = JSON.stringify({ c: relayAddress.connectionId, fetch: true } satisfies WireMessage);
      const channel = relayChannel(instance);
      const key = `${instance}\u0000${relayAddress.connectionId}`;
      // Not awaited: the caller is a workflow sink or an activity that must never wait on delivery.
      // Chained per socket: two notifications sent on two pooled connections at once can arrive in
      // either order (progress `executing` before `routing`), so each waits for the previous one.
      const sent = (inFlight.get(key) ?? Promise.resolve())
        .then(() => db.sequelize.query('SELECT pg_notify(:channel, :payload)', { replacements: { channel, payload } }))
        .then(
          () => undefined,
          (error: unknown) => log.debug({ err: error }, 'relay notification failed; the outbox still holds the results'),
        );
      inFlight.set(key, sent);
      void sent.then(() => {
        if (inFlight.get(key) === sent) inFlight.delete(key);
      });
    },
  };
}

export interface RelaySubscription {
  close(): Promise<void>;
}

/**
 * A gateway's end: registered for its own process and LISTENing on its channel, reconnecting
 * after a lost connection. `onResync` runs after every (re)connection: notifications sent while
 * the listener was away are lost, so the gateway reads the outboxes it still waits on.
 */
export async function subscribeRelay(
  db: Database,
  instanceId: string,
  handler: RelayHandler,
  options: {
    logger: Logger;
    onResync?: () => void;
    /** Other channels this gateway LISTENs on through the same connection (device events: db/devices.ts), with their handlers. */
    channels?: Record<string, (payload: string) => void>;
  },
): Promise<RelaySubscription> {
  const log = options.logger.child({ component: 'relay', instanceId });
  const channel = relayChannel(instanceId);
  localGateways.set(instanceId, handler);
  const onRelayed = (payload: string): void => {
    if (!payload) return;
    let wire: WireMessage;
    try {
      wire = JSON.parse(payload) as WireMessage;
    } catch {
      return log.warn('ignoring a malformed relay notification');
    }
    handler(wire.c, wire.fetch ? { fetchOutbox: true } : { frames: wire.f ?? [] });
  };
  const listener = await listenChannels(db, { [channel]: onRelayed, ...options.channels }, { logger: log, onConnect: options.onResync });
  return {
    async close() {
      if (localGateways.get(instanceId) === handler) localGateways.delete(instanceId);
      await listener.close();
    },
  };
}
