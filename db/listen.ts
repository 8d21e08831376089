// LISTEN on one PostgreSQL channel with a connection of its own, reconnecting after a lost
// connection. Notifications sent while the listener was away are lost, so `onConnect` runs after
// every (re)connection: the caller looks up what it may have missed. (The relay, relay/index.ts,
// keeps its own listener: it also registers the gateways of its process.)
import pg from 'pg';
import type { Logger } from '../lib/logger';
import type { Database } from './index';

const RECONNECT_DELAY_MS = 1_000;

export interface Listener {
  close(): Promise<void>;
}

export async function listenChannel(
  db: Database,
  channel: string,
  onPayload: (payload: string) => void,
  options: { logger: Logger; onConnect?: () => void },
): Promise<Listener> {
  const log = options.logger.child({ component: 'listen', channel });
  const { host, port, database, username, password } = db.sequelize.config;
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const onNotification = (message: pg.Notification): void => {
    if (message.channel === channel && message.payload !== undefined) onPayload(message.payload);
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
    await next.query(`LISTEN "${channel}"`);
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
