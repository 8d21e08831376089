// Rate limiters that hold across replicas (API and gateway): fixed windows (a minute unless said) counted in
// PostgreSQL (db/rate-limits.ts), so N replicas still give a user the limit once, not N times.
//
// The hot path stays in memory. A replica reserves an allowance of a key's window at once (one
// INSERT … ON CONFLICT DO UPDATE … RETURNING per allowance) and spends it locally; an allowance is
// `limit / 20` requests, at most 1,000 (one database round trip per 30 requests at the default 600
// a minute) and a single request for small limits, where it must be exact. When half of an
// allowance is spent the next one is reserved in the background, so a busy user's requests do not
// wait for the database. A replica never admits more than it reserved, so all replicas together
// never exceed the limit; they may refuse a little early (by at most the allowances other replicas
// hold unspent, 5–8 % of the limit each). Once the database says a window is used up, the replica
// answers 429 from memory until the window ends.
//
// Failed authentication is limited per client address the same way, counted one by one (failures
// are the rare path): beyond the limit the address gets 429 with Retry-After, and the replica that
// knows it refuses that address before verifying any token until the window ends.
import type { Logger } from '../lib/logger';
import type { RateLimitStore } from './rate-limits';

const MINUTE_MS = 60_000;

/** The counter prefix of failed authentications: the API and the gateway count an address's failures together. */
export const AUTH_FAILURE_PREFIX = 'auth-fail:';
const MAX_ALLOWANCE = 1_000;
/** Allowances at least this large are topped up ahead of need, so a busy key never waits for the database. */
const PREFETCH_FROM = 4;
/** Local state is a cache of the database's counts; past this many keys it is simply dropped. */
const MAX_LOCAL_KEYS = 100_000;

interface Slot {
  window: number;
  /** Requests reserved in the database and not spent yet. */
  remaining: number;
  /** The database said the window's limit is reached. */
  exhausted: boolean;
  pending?: Promise<void>;
}

export interface LimiterOptions {
  store: RateLimitStore;
  /** Requests per window. */
  limit: number;
  /** The window's length; a minute unless given. */
  windowMs?: number;
  /** Prefix of the counter keys, so limits of different kinds never share a counter. */
  prefix: string;
  logger?: Logger;
  now?: () => number;
}

function secondsLeft(window: number, windowMs: number, t: number): number {
  return Math.max(1, Math.ceil((window + windowMs - t) / 1000));
}

/** Per-window local state, dropped wholesale when a new window starts; the caller prunes the database then. */
function createSlots(now: () => number, windowMs: number, onNewWindow: (window: number) => void) {
  let currentWindow = 0;
  const slots = new Map<string, Slot>();
  return {
    get(key: string): { slot: Slot; t: number } {
      const t = now();
      const window = t - (t % windowMs);
      if (window !== currentWindow) {
        slots.clear();
        currentWindow = window;
        onNewWindow(window);
      }
      let slot = slots.get(key);
      if (!slot) {
        if (slots.size >= MAX_LOCAL_KEYS) slots.clear();
        slot = { window, remaining: 0, exhausted: false };
        slots.set(key, slot);
      }
      return { slot, t };
    },
  };
}

function pruner(store: RateLimitStore, prefix: string, windowMs: number, logger: Logger | undefined) {
  return (window: number) => {
    // Counters of the window before the previous one are no longer read by anyone.
    store.prune(window - windowMs, prefix).catch((error: unknown) => logger?.warn({ err: error }, 'could not prune rate-limit counters'));
  };
}

/** Takes one request from a key's shared budget: 0 when allowed, else the seconds until the window ends. */
export function createSharedLimiter(options: LimiterOptions) {
  const { store, limit, prefix, logger } = options;
  const now = options.now ?? Date.now;
  const windowMs = options.windowMs ?? MINUTE_MS;
  const allowance = Math.max(1, Math.min(MAX_ALLOWANCE, Math.floor(limit / 20)));
  const prefetch = allowance >= PREFETCH_FROM;
  const half = Math.floor(allowance / 2);
  const slots = createSlots(now, windowMs, pruner(store, prefix, windowMs, logger));

  async function reserve(key: string, slot: Slot): Promise<void> {
    try {
      const total = await store.add(prefix + key, slot.window, allowance);
      const granted = Math.max(0, Math.min(allowance, limit - (total - allowance)));
      slot.remaining += granted;
      if (granted < allowance) slot.exhausted = true;
    } catch (error) {
      // The database is the API's own dependency: when it fails, the request fails on its own;
      // the limiter lets this allowance through rather than turn an outage into 429s.
      logger?.warn({ err: error }, 'rate-limit counter unavailable; allowing');
      slot.remaining += allowance;
    }
  }

  async function takeSlowly(key: string, slot: Slot): Promise<number> {
    while (slot.remaining <= 0 && !slot.exhausted) {
      slot.pending ??= reserve(key, slot).finally(() => (slot.pending = undefined));
      await slot.pending;
    }
    if (slot.remaining > 0) {
      slot.remaining -= 1;
      return 0;
    }
    return secondsLeft(slot.window, windowMs, now());
  }

  return {
    /** A number when memory can answer (the common case); a promise when an allowance must be reserved. */
    take(key: string): number | Promise<number> {
      const { slot, t } = slots.get(key);
      if (slot.remaining > 0) {
        slot.remaining -= 1;
        // Half spent: the next allowance is reserved now, off the request's path.
        if (prefetch && slot.remaining === half && !slot.exhausted && !slot.pending) {
          slot.pending = reserve(key, slot).finally(() => (slot.pending = undefined));
        }
        return 0;
      }
      if (slot.exhausted) return secondsLeft(slot.window, windowMs, t);
      return takeSlowly(key, slot);
    },
  };
}

/** Failed authentication per client address, counted in the shared table one failure at a time. */
export function createFailureLimiter(options: LimiterOptions) {
  const { store, limit, prefix, logger } = options;
  const now = options.now ?? Date.now;
  const windowMs = options.windowMs ?? MINUTE_MS;
  const slots = createSlots(now, windowMs, pruner(store, prefix, windowMs, logger));
  return {
    /** Seconds the address must wait before it may try again; 0 when it may (as far as this replica knows). */
    blocked(address: string): number {
      const { slot, t } = slots.get(address);
      return slot.exhausted ? secondsLeft(slot.window, windowMs, t) : 0;
    },
    /** Records a failure; the seconds to wait when it was one too many, else 0. */
    async failed(address: string): Promise<number> {
      const { slot } = slots.get(address);
      let total: number;
      try {
        total = await store.add(prefix + address, slot.window, 1);
      } catch (error) {
        logger?.warn({ err: error }, 'failed-authentication counter unavailable');
        return 0;
      }
      if (total >= limit) slot.exhausted = true;
      return total > limit ? secondsLeft(slot.window, windowMs, now()) : 0;
    },
  };
}

export type SharedLimiter = ReturnType<typeof createSharedLimiter>;
export type FailureLimiter = ReturnType<typeof createFailureLimiter>;
