// Read coalescing for hot keys. Callers asking for the same key share a read that has not been
// sent yet: a new read is sent at the end of the event-loop turn it was asked in (setImmediate,
// after the turn's I/O callbacks), so every request parsed in one turn shares one query. Never
// the running one, whose snapshot may predate a write the caller has already seen acknowledged:
// every caller gets a result read after it asked, exactly as without coalescing. A hot key has at
// most MAX_IN_FLIGHT reads running; while it has that many, the callers wait together for the
// next, sent as soon as one ends. A caller's wait is thus about one round trip (not the rest of a
// running read plus the next), and the database sees at most one read per key per turn.

export type Coalesce<T> = (key: string, read: () => Promise<T>) => Promise<T>;

/** Reads of one key running at once, at most (each on a pooled connection of its own). */
export const MAX_IN_FLIGHT = 4;

export function createCoalescer<T>(): Coalesce<T> {
  interface Pending {
    promise: Promise<T>;
    resolve: (value: T) => void;
    reject: (reason: unknown) => void;
    read: () => Promise<T>;
    scheduled: boolean;
  }
  interface Key {
    running: number;
    pending?: Pending;
  }
  const keys = new Map<string, Key>();

  function send(key: string, state: Key): void {
    const pending = state.pending!;
    state.pending = undefined;
    state.running += 1;
    const settled = (): void => {
      state.running -= 1;
      // Callers waiting for a free slot: their read goes now.
      if (state.pending && !state.pending.scheduled) send(key, state);
      else if (state.running === 0 && !state.pending && keys.get(key) === state) keys.delete(key);
    };
    let reading: Promise<T>;
    try {
      reading = pending.read();
    } catch (error) {
      reading = Promise.reject(error);
    }
    reading.then(
      (value) => {
        pending.resolve(value);
        settled();
      },
      (error: unknown) => {
        pending.reject(error);
        settled();
      },
    );
  }

  return (key, read) => {
    let state = keys.get(key);
    if (!state) {
      state = { running: 0 };
      keys.set(key, state);
    }
    if (state.pending) return state.pending.promise;
    let resolve!: (value: T) => void;
    let reject!: (reason: unknown) => void;
    const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
    const pending: Pending = { promise, resolve, reject, read, scheduled: state.running < MAX_IN_FLIGHT };
    state.pending = pending;
    if (pending.scheduled) {
      const ready = state;
      setImmediate(() => {
        pending.scheduled = false;
        if (ready.pending === pending) send(key, ready);
      });
    }
    return promise;
  };
}
