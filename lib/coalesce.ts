// Read coalescing for hot keys: callers asking for the same key while a read of it runs share
// the *next* read, started when the running one ends; never the running one, whose snapshot may
// predate a write the caller has already seen acknowledged. Every caller still gets a result read
// after it asked, exactly as without coalescing, and a hot key has at most one read in flight
// plus one waiting, however many callers there are.

export type Coalesce<T> = (key: string, read: () => Promise<T>) => Promise<T>;

export function createCoalescer<T>(): Coalesce<T> {
  interface Entry {
    running: Promise<T>;
    next?: Promise<T>;
  }
  const entries = new Map<string, Entry>();
  const ignore = () => undefined;

  function start(key: string, read: () => Promise<T>): Promise<T> {
    const entry: Entry = { running: read() };
    entries.set(key, entry);
    const settled = () => {
      // With callers waiting, the next read takes this entry's place; else the key is idle.
      if (!entry.next && entries.get(key) === entry) entries.delete(key);
    };
    entry.running.then(settled, settled);
    return entry.running;
  }

  return (key, read) => {
    const entry = entries.get(key);
    if (!entry) return start(key, read);
    return (entry.next ??= entry.running.then(ignore, ignore).then(() => start(key, read)));
  };
}
