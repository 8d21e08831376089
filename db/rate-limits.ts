// Fixed-window counters shared by every API replica (table rate_limit_counters, migration 0003).
// One statement adds to a counter and reads the total, atomically, whoever else adds at once.
import { QueryTypes, type Sequelize } from 'sequelize';

export interface RateLimitStore {
  /** Adds `amount` to the counter of `key` in the window starting at `windowStart` (epoch ms); the new total. */
  add(key: string, windowStart: number, amount: number): Promise<number>;
  /** Removes the counters of keys starting with `prefix` whose windows started before `windowStart`. */
  prune(windowStart: number, prefix: string): Promise<void>;
}

const ADD = `
  INSERT INTO rate_limit_counters (key, window_start, count) VALUES ($1, $2, $3)
  ON CONFLICT (key, window_start) DO UPDATE SET count = rate_limit_counters.count + EXCLUDED.count
  RETURNING count`;

export function createRateLimitStore(sequelize: Sequelize): RateLimitStore {
  return {
    async add(key, windowStart, amount) {
      const rows = await sequelize.query<{ count: number }>(ADD, { bind: [key, windowStart, amount], type: QueryTypes.SELECT });
      return Number(rows[0]?.count ?? amount);
    },
    async prune(windowStart, prefix) {
      // Each limiter prunes its own keys: windows of different lengths share the table.
      await sequelize.query('DELETE FROM rate_limit_counters WHERE left(key, length($2)) = $2 AND window_start < $1', {
        bind: [windowStart, prefix],
      });
    },
  };
}
