// A sliding-window counter: "at most `limit` events in the last `windowMs`". Used per socket for
// the message rate limit and for counting bad frames before closing with 1008.
export interface RateWindow {
  /** Records an event; false when it is over the limit (the event is still recorded). */
  hit(now?: number): boolean;
}

export function createRateWindow(limit: number, windowMs: number): RateWindow {
  const times: number[] = [];
  return {
    hit(now = Date.now()) {
      while (times.length > 0 && times[0]! <= now - windowMs) times.shift();
      times.push(now);
      // Bound memory for a client that floods: only the newest `limit + 1` matter.
      if (times.length > limit + 1) times.shift();
      return times.length <= limit;
    },
  };
}
