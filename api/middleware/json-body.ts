// Reads a JSON body with a size cap: a malformed body is a 400, an oversized one a 413, and
// the cap holds even when Content-Length lies (the stream is counted).
import type { Context, Next } from 'koa';
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from '../../lib/errors';

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

async function readLimited(ctx: Context, limit: number): Promise<string> {
  const declared = Number(ctx.get('Content-Length') || '0');
  if (declared > limit) throw new PayloadTooLargeError(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) {
      ctx.req.unpipe();
      ctx.req.resume(); // drain the rest so the connection can answer
      throw new PayloadTooLargeError(limit);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function jsonBody(limit: number) {
  async function readBody(ctx: Context, next: Next): Promise<void> {
    if (!ctx.is('application/json', '+json')) throw new UnsupportedMediaTypeError();
    const text = await readLimited(ctx, limit);
    try {
      ctx.request.body = text.trim() === '' ? undefined : JSON.parse(text);
    } catch (error) {
      throw new BadRequestError(`Malformed JSON: ${(error as Error).message}`, 'invalid_json');
    }
    await next();
  }
  // Reads (GET, HEAD…) go straight on, without a promise of their own.
  return function jsonBodyMiddleware(ctx: Context, next: Next): Promise<void> {
    if (!METHODS_WITH_BODY.has(ctx.method)) return next();
    const hasBody = ctx.request.length !== undefined ? ctx.request.length > 0 : ctx.get('Transfer-Encoding') !== '';
    return hasBody ? readBody(ctx, next) : next();
  };
}
