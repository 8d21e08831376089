// What our middleware puts on Koa's request and state, typed once.
import type { Principal } from '../lib/auth';

declare module 'koa' {
  interface Request {
    /** Parsed JSON body (middleware/json-body.ts); undefined when the request had none. */
    body?: unknown;
  }
  interface DefaultState {
    requestId?: string;
    user?: Principal;
  }
}

export {};
