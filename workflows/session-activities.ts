// Activity proxies of the session workflow, one per timeout/retry policy, declared where the
// policies can be read side by side. Timeouts that tests shorten come from `SessionTuning`.
import { proxyActivities, proxyLocalActivities, type RetryPolicy } from '@temporalio/workflow';
import type { GatewayActivities, SessionActivities } from '../contract';
import type { SessionTuning } from '../contract';

export function sessionActivities(t: SessionTuning) {
  const llmRetry: RetryPolicy = { initialInterval: t.retryInitialInterval, backoffCoefficient: 2, maximumInterval: '30 seconds' };
  return {
    /** Router LLM: a few quick attempts, then the workflow's fallback routing answers instead. */
    router: proxyActivities<SessionActivities>({
      startToCloseTimeout: t.llmTimeout,
      heartbeatTimeout: '10 seconds',
      retry: { ...llmRetry, maximumAttempts: t.routeMaxAttempts },
    }),
    /** Provider calls: 429/5xx/timeouts retried with backoff; 4xx are non-retryable (llm/errors.ts). */
    llm: proxyActivities<SessionActivities>({
      startToCloseTimeout: t.llmTimeout,
      heartbeatTimeout: '10 seconds',
      retry: { ...llmRetry, maximumAttempts: t.llmMaxAttempts },
    }),
    /**
     * Database bookkeeping and built-ins: fast and idempotent, so they run as local activities in
     * the worker that holds the workflow — no server round trip and no extra workflow task per
     * call, which is most of a message's overhead. Their results are still recorded in history.
     */
    local: proxyLocalActivities<SessionActivities>({
      startToCloseTimeout: '10 seconds',
      retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumAttempts: 5 },
    }),
  };
}

export type SessionProxies = ReturnType<typeof sessionActivities>;

/** `deliver` runs on the task queue of the gateway that holds the socket. */
export function gatewayActivities(taskQueue: string) {
  return {
    /** Results: bounded retry; if the gateway stays unreachable the result waits in the outbox. */
    results: proxyActivities<GatewayActivities>({
      taskQueue,
      startToCloseTimeout: '5 seconds',
      scheduleToCloseTimeout: '15 seconds',
      retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumAttempts: 3 },
    }),
    /** Progress frames are best effort: one short attempt, never worth delaying an answer. */
    progress: proxyActivities<GatewayActivities>({
      taskQueue,
      startToCloseTimeout: '3 seconds',
      scheduleToCloseTimeout: '3 seconds',
      retry: { maximumAttempts: 1 },
    }),
  };
}
