// This API process as a relay endpoint (relay/index.ts), the way a gateway is one: chat completion
// requests' messages name it (`relayAddressFor(instanceId, messageId)`), and their frames come
// here directly when the worker shares the process, else by NOTIFY on its own channel. A waiter
// per request gets its deltas and its result; a hint (a batch too large for a notification) or a
// reconnection of the listener wakes the waiters to read the outbox instead.
import { randomBytes } from 'node:crypto';
import type { ResultFrame } from '../contract';
import type { Database } from '../db';
import type { Logger } from '../lib/logger';
import { subscribeRelay, type RelayDelivery } from '../relay';

export interface ChatWaiter {
  /** The result when it arrives within `ms`; undefined when it did not, or when the outbox should be read now. */
  next(ms: number): Promise<ResultFrame | undefined>;
  onDelta(listener: (delta: { text: string; offset: number }) => void): void;
  close(): void;
}

export interface ChatRelay {
  /** The relay instance this process answers as (`api-<random>`). */
  instanceId: string;
  wait(messageId: string): ChatWaiter;
  close(): Promise<void>;
}

class Waiter implements ChatWaiter {
  private result: ResultFrame | undefined;
  private wake: (() => void) | undefined;
  private readonly listeners: ((delta: { text: string; offset: number }) => void)[] = [];

  constructor(
    readonly messageId: string,
    private readonly onClose: () => void,
  ) {}

  deliver(delivery: RelayDelivery): void {
    if ('fetchOutbox' in delivery) return this.poke();
    for (const frame of delivery.frames) {
      if (frame.type === 'delta' && frame.id === this.messageId) {
        for (const listener of this.listeners) listener({ text: frame.text, offset: frame.offset });
      } else if (frame.type === 'function_call_result' && frame.id === this.messageId) {
        this.result ??= frame;
        this.poke();
      }
    }
  }

  poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async next(ms: number): Promise<ResultFrame | undefined> {
    if (this.result) return this.result;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    return this.result;
  }

  onDelta(listener: (delta: { text: string; offset: number }) => void): void {
    this.listeners.push(listener);
  }

  close(): void {
    this.listeners.length = 0;
    this.onClose();
  }
}

export async function createChatRelay(db: Database, logger: Logger): Promise<ChatRelay> {
  const instanceId = `api-${randomBytes(9).toString('base64url')}`;
  const waiters = new Map<string, Waiter>();
  const subscription = await subscribeRelay(db, instanceId, (connectionId, delivery) => waiters.get(connectionId)?.deliver(delivery), {
    logger,
    // Notifications sent while the listener was away are lost: every waiter reads its outbox.
    onResync: () => {
      for (const waiter of waiters.values()) waiter.poke();
    },
  });
  return {
    instanceId,
    wait(messageId) {
      const waiter = new Waiter(messageId, () => {
        if (waiters.get(messageId) === waiter) waiters.delete(messageId);
      });
      waiters.set(messageId, waiter);
      return waiter;
    },
    close: () => subscription.close(),
  };
}
