// Long LLM calls heartbeat while they wait, so a worker that dies mid-call is noticed after the
// heartbeat timeout rather than the whole StartToClose timeout, and cancellation reaches the call.
import { Context } from '@temporalio/activity';

export async function withHeartbeat<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const every = ctx.info.heartbeatTimeoutMs ? Math.max(200, ctx.info.heartbeatTimeoutMs / 3) : undefined;
  const timer = every ? setInterval(() => ctx.heartbeat(), every) : undefined;
  try {
    return await fn(ctx.cancellationSignal);
  } finally {
    if (timer) clearInterval(timer);
  }
}
