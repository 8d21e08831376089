// Routes are declared through `route()`, which registers the handler and records what the
// OpenAPI document needs from the same zod schemas that validate the request.
import http from 'node:http';
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { z } from 'zod';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * The HTTP methods our routers know: every method Node's parser accepts (QUERY, PROPFIND, PURGE…
 * included), so a method a resource does not serve is a 405 with `Allow`, never the 501 that
 * @koa/router answers for a method outside its list (Schemathesis found QUERY doing that).
 */
export const KNOWN_METHODS: string[] = [...http.METHODS];

/**
 * An OpenAPI link from a successful answer to another operation (by its operationId): how a
 * client, a generator or a fuzzer's stateful phase chains a create to its read, update and delete.
 * `parameters` maps the target's parameters to runtime expressions (`$response.body#/data/id`).
 */
export interface RouteLink {
  operationId: string;
  parameters: Record<string, string>;
  description?: string;
}

export interface RouteDoc {
  summary: string;
  /** The operation's unique id in the document (what links name). */
  operationId?: string;
  /** Links from the successful answer, by name. */
  links?: Record<string, RouteLink>;
  tag: string;
  /** Routes without auth (health, metrics, the document itself). */
  public?: boolean;
  body?: z.ZodType;
  query?: z.ZodType;
  /** Request headers the route reads (an object schema: its keys are the header names). */
  headers?: z.ZodType;
  /** The answer is `response` itself and errors are OpenAI's shape, not the envelope (the /v1 routes). */
  bare?: boolean;
  /** Schema of `data` in a successful envelope (or of the whole answer, `bare` or `raw`); omitted for non-JSON responses. */
  response?: z.ZodType;
  /** Fields of a successful envelope besides code, message and data (a page's `next_cursor`). */
  envelope?: Record<string, z.ZodType>;
  /** The media type of a successful answer when it is not JSON (Prometheus text for /metrics). */
  produces?: string;
  successStatus?: number;
  /** Further success statuses with the same answer (202 while a device waits). */
  extraSuccess?: number[];
  /** The answer is `response` itself, not in the envelope (what xiaozhi devices read). */
  raw?: boolean;
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
