// Whether an error means "the database cannot be reached right now" (it is stopped, restarting or
// out of connections) rather than a fault of the request or of the code: the API answers such
// errors 503 `unavailable`, which clients retry, instead of a 500.
import { ConnectionError } from 'sequelize';

/** SQLSTATEs of a server that is shutting down, starting up, or refusing connections for now. */
const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006']);
const CONNECTION_LOST =
  /Connection terminated|connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|the database system is (shutting down|starting up)/i;

export function isDatabaseUnavailable(error: unknown): boolean {
  if (error instanceof ConnectionError) return true; // refused, timed out, no connection from the pool
  if (!(error instanceof Error)) return false;
  // A query on a connection that broke: Sequelize wraps the driver's error as `parent`.
  const parent = (error as Error & { parent?: unknown }).parent;
  const cause = parent instanceof Error ? parent : error;
  const code = (cause as Error & { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  return (error.name.startsWith('Sequelize') || cause !== error) && CONNECTION_LOST.test(cause.message);
}
