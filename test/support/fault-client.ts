// A client as the protocol asks it to behave, for the fault suites: sends messages with ids, acks
// every result, and after a break reconnects with its Session-Id (retrying while the gateway is
// away) and resends the ids that were never `accepted`. Everything it sees goes to a DeliveryLedger.
import type { ServerFrame } from '../../contract';
import type { DeliveryLedger } from './fault-report';
import { TestSocket } from './ws-client';

export class FaultClient {
  sessionId: string | undefined;
  socket: TestSocket | undefined;
  /** Sockets opened so far; the ledger tells them apart by number. */
  sockets = 0;
  private readonly texts = new Map<string, string>();
  /** Frames of every socket, for diagnostics. */
  readonly frames: { socket: number; frame: ServerFrame }[] = [];

  constructor(
    readonly name: string,
    private readonly token: string,
    private readonly ledger: DeliveryLedger,
    private readonly options: { ack?: boolean } = {},
  ) {}

  async connect(url: string): Promise<void> {
    const socket = await TestSocket.open(url, { token: this.token, deviceId: `dev-${this.name}`, sessionId: this.sessionId });
    const number = ++this.sockets;
    socket.ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as ServerFrame;
      this.frames.push({ socket: number, frame });
      if (frame.type === 'accepted') this.ledger.accepted(frame.id);
      if (frame.type === 'function_call_result') {
        this.ledger.result(number, {
          id: frame.id,
          status: frame.status,
          result: frame.result,
          ...(frame.error ? { error: frame.error } : {}),
        });
        if (this.options.ack !== false && socket.ws.readyState === socket.ws.OPEN) socket.send({ type: 'ack', id: frame.id });
      }
    });
    const hello = await socket.next('hello');
    this.sessionId = hello.session_id;
    this.socket = socket;
  }

  /** Keeps trying (the gateway may still be starting) until a socket is open, then resends what was never accepted. */
  async reconnect(url: string, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.connect(url);
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    for (const id of this.ledger.notAccepted()) {
      const text = this.texts.get(id);
      if (text !== undefined) this.socket!.send({ type: 'message', id, text });
    }
  }

  send(id: string, text: string): void {
    this.texts.set(id, text);
    this.ledger.sent(id);
    this.socket!.send({ type: 'message', id, text });
  }

  /** Resends ids the gateway answered `unavailable` for (it could not record them), as a client should. */
  resendRefused(): void {
    const refused = new Set(
      this.frames.flatMap(({ frame }) => (frame.type === 'error' && frame.id && frame.code === 'unavailable' ? [frame.id] : [])),
    );
    for (const id of refused) {
      if (!this.ledger.isAnswered(id)) this.socket?.send({ type: 'message', id, text: this.texts.get(id) ?? '' });
    }
  }

  ids(): string[] {
    return [...this.texts.keys()];
  }

  kill(): void {
    this.socket?.ws.terminate();
  }

  async close(): Promise<void> {
    await this.socket?.close().catch(() => undefined);
  }
}

/** Waits until every id of every client has a result (fails with what is missing after `timeoutMs`). */
export async function waitAnswered(ledger: DeliveryLedger, ids: readonly string[], timeoutMs: number, tick?: () => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (ids.some((id) => !ledger.isAnswered(id))) {
    if (Date.now() > deadline) return; // the suite reports and asserts `lost`
    tick?.();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
