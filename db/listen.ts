// LISTEN on PostgreSQL channels with a connection of their own, reconnecting after a lost
// connection. Notifications sent while the listener was away are lost, so `onConnect` runs after
// every (re)connection: the caller looks up what it may have missed. The one listener of the
// code base: the relay (relay/index.ts) and the gateway's key revocations use it.
import pg from 'pg';
import type { Logger } from '../lib/logger';
import type { Database } from './index';

const RECONNECT_DELAY_MS = 1_000;

export interface Listener {
  close(): Promise<void>;
}

/** LISTENs on every channel of `handlers`, each notification to its channel's handler (one that throws is logged). */
export async function listenChannels(
  db: Database,
  handlers: Record<string, (payload: string) => void>,
  options: { logger: Logger; onConnect?: () => void },
): Promise<Listener> {
  const log = options.logger;
  const { host, port, database, username, password } = db.sequelize.config;
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const onNotification = (message: pg.Notification): void => {
    const handler = Object.hasOwn(handlers, message.channel) ? handlers[message.channel] : undefined;
    if (!handler) return;
    try {
      handler(message.payload ?? '');
    } catch (error) {
      log.warn({ err: error, channel: message.channel }, 'a notification handler failed');
    }
  };

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ host, port: Number(port), database, user: username, password: password ?? undefined });
    next.on('notification', onNotification);
    next.on('error', (error) => {
      log.warn({ err: error }, 'listener lost its connection; reconnecting');
      lost(next);
    });
    next.on('end', () => lost(next));
    await next.connect();
    for (const channel of Object.keys(handlers)) await next.query(`LISTEN "${channel}"`);
    if (closed) return void (await next.end());
    client = next;
    options.onConnect?.();
  };

  const reconnectLater = (): void => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      connect().catch((error: unknown) => {
        log.warn({ err: error }, 'listener could not reconnect; trying again');
        reconnectLater();
      });
    }, RECONNECT_DELAY_MS);
    retry.unref();
  };

  const lost = (which: pg.Client): void => {
    if (client !== which) return;
    client = undefined;
    which.removeAllListeners('notification');
    void which.end().catch(() => undefined);
    reconnectLater();
  };

  await connect();
  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const current = client;
      client = undefined;
      await current?.end().catch(() => undefined);
    },
  };
}
