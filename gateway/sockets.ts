// The open sockets of one gateway: found by connection id (the relay addresses them so), swept
// for overdue results and pinged for dead peers on timers, and drained on shutdown with 1012, so
// clients reconnect to another gateway and resume.
import { CloseCode, type ClientConnection } from './connection';

/** How long a shutdown lets clients answer the 1012 close frame before cutting them off. */
const SHUTDOWN_GRACE_MS = 3_000;
/** How often sockets check for results the relay did not bring (see SocketWriter.sweep). */
const SWEEP_INTERVAL_MS = 2_000;

export class Sockets {
  /** Shutting down: no new socket is accepted. */
  closing = false;
  private readonly open = new Map<string, ClientConnection>();
  /** `detach` signals still on their way; a shutdown waits for them. */
  private readonly detaches = new Set<Promise<void>>();
  private readonly sweep: NodeJS.Timeout;
  private readonly heartbeat: NodeJS.Timeout | undefined;

  /** `heartbeatMs`: the protocol-level ping interval that finds dead peers; 0 turns it off. */
  constructor(heartbeatMs: number) {
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const connection of this.open.values()) connection.sweep(now);
    }, SWEEP_INTERVAL_MS).unref();
    this.heartbeat =
      heartbeatMs > 0
        ? setInterval(() => {
            for (const connection of this.open.values()) connection.heartbeat();
          }, heartbeatMs).unref()
        : undefined;
  }

  get(connectionId: string): ClientConnection | undefined {
    return this.open.get(connectionId);
  }

  /** Registered before the workflow hears of it: relayed frames may come before the upgrade completes (they wait for hello). */
  add(connection: ClientConnection): void {
    this.open.set(connection.id, connection);
  }

  /** The workflow never heard of this socket: forget it. */
  remove(connection: ClientConnection): void {
    this.open.delete(connection.id);
  }

  /** The socket has gone (or never opened after its session was attached): forget it and detach it. */
  release(connection: ClientConnection): void {
    this.open.delete(connection.id);
    connection.markClosed();
    const detached = connection.detach();
    if (!detached) return;
    const done = detached.finally(() => this.detaches.delete(done));
    this.detaches.add(done);
  }

  /** After the relay was away: every socket looks up the results it still awaits. */
  resync(): void {
    for (const connection of this.open.values()) connection.resync();
  }

  /** No new sockets, no more timers. */
  stopAccepting(): void {
    this.closing = true;
    clearInterval(this.heartbeat);
    clearInterval(this.sweep);
  }

  /** 1012 (service restart) to every socket: the client reconnects, to another gateway, with its Session-Id. */
  async drain(): Promise<void> {
    for (const connection of this.open.values()) connection.close(CloseCode.serviceRestart, 'gateway restarting; reconnect and resume');
    await waitUntil(() => this.open.size === 0, SHUTDOWN_GRACE_MS);
    for (const connection of this.open.values()) connection.terminate();
    await waitUntil(() => this.open.size === 0, SHUTDOWN_GRACE_MS);
    await Promise.allSettled([...this.detaches]);
  }
}

/** Polls a condition (socket close events are asynchronous) until it holds or the time is up. */
async function waitUntil(condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}
