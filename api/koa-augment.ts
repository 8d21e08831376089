// What our middleware puts on Koa's request and state, typed once.
import type { Principal } from '../lib/auth';
import type { Logger } from '../lib/logger';

declare module 'koa' {
  interface Request {
    /** Parsed JSON body (middleware/json-body.ts); undefined when the request had none. */
    body?: unknown;
  }
  interface DefaultState {
    requestId?: string;
    log?: Logger;
    user?: Principal;
  }
}

export {};
