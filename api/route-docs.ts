// Routes are declared through `route()`, which registers the handler and records what the
// OpenAPI document needs from the same zod schemas that validate the request.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { z } from 'zod';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * The HTTP methods our routers know: a known method a resource does not serve is a 405 with
 * `Allow` (TRACE and CONNECT included, which @koa/router would otherwise call unimplemented, 501).
 */
export const KNOWN_METHODS = ['HEAD', 'OPTIONS', 'GET', 'PUT', 'PATCH', 'POST', 'DELETE', 'TRACE', 'CONNECT'];

export interface RouteDoc {
  summary: string;
  tag: string;
  /** Routes without auth (health, metrics, the document itself). */
  public?: boolean;
  body?: z.ZodType;
  query?: z.ZodType;
  /** Schema of `data` in a successful envelope; omitted for non-JSON responses. */
  response?: z.ZodType;
  /** The media type of a successful answer when it is not JSON (Prometheus text for /metrics). */
  produces?: string;
  successStatus?: number;
  /** Error statuses this route can answer besides 401/429/500. */
  errors?: number[];
}

export class RouteDocs {
  private readonly docs = new Map<string, RouteDoc>();

  add(method: HttpMethod, fullPath: string, doc: RouteDoc): void {
    this.docs.set(`${method.toUpperCase()} ${fullPath}`, doc);
  }

  get(method: string, fullPath: string): RouteDoc | undefined {
    return this.docs.get(`${method.toUpperCase()} ${fullPath}`);
  }
}

export function route(
  router: Router,
  docs: RouteDocs,
  method: HttpMethod,
  path: string,
  doc: RouteDoc,
  handler: (ctx: Context) => Promise<void> | void,
): void {
  const prefix = (router as unknown as { opts: { prefix?: string } }).opts.prefix ?? '';
  docs.add(method, prefix + path, doc);
  router[method](path, handler);
}
