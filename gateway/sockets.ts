// The open sockets of one gateway: found by connection id (the relay addresses them so), swept
// for overdue results and pinged for dead peers on timers, closed when the API key they were
// opened with is revoked, and drained on shutdown with 1012, so clients reconnect to another
// gateway and resume.
import { CloseCode, type ClientConnection } from './connection';

/** How long a shutdown lets clients answer the 1012 close frame before cutting them off. */
const SHUTDOWN_GRACE_MS = 3_000;
/** How often sockets check for results the relay did not bring (see SocketWriter.sweep). */
const SWEEP_INTERVAL_MS = 2_000;
/**
 * How long a revoked key id is remembered: longer than an upgrade takes from its key lookup to
 * `add`, so a socket whose key was revoked in between is refused too.
 */
const REVOKED_MEMORY_MS = 5 * 60_000;

export class Sockets {
  /** Shutting down: no new socket is accepted. */
  closing = false;
  private readonly open = new Map<string, ClientConnection>();
  /** `detach` signals still on their way; a shutdown waits for them. */
  private readonly detaches = new Set<Promise<void>>();
  /** API key ids revoked lately, and when (see REVOKED_MEMORY_MS). */
  private readonly revokedKeys = new Map<number, number>();
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

  /** Whether the API key (if any) this connection was opened with was revoked lately (after its upgrade looked it up, maybe). */
  isRevoked(connection: ClientConnection): boolean {
    return connection.apiKeyId !== undefined && this.revokedKeys.has(connection.apiKeyId);
  }

  /** An API key was revoked: every socket it opened here is closed (4003), and one still upgrading is refused. */
  revokeApiKey(id: number, now = Date.now()): void {
    for (const [key, at] of this.revokedKeys) if (now - at > REVOKED_MEMORY_MS) this.revokedKeys.delete(key);
    this.revokedKeys.set(id, now);
    for (const connection of this.open.values()) if (connection.apiKeyId === id) connection.revoke();
  }

  /** The API keys the open sockets were opened with. */
  apiKeyIds(): number[] {
    const ids = new Set<number>();
    for (const connection of this.open.values()) if (connection.apiKeyId !== undefined) ids.add(connection.apiKeyId);
    return [...ids];
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
