// Activity proxies of the session workflow, one per timeout/retry policy, declared where the
// policies can be read side by side; each exposes only the activities its callers call. Timeouts
// that tests shorten come from `SessionTuning`.
import { proxyLocalActivities, proxySinks, type RetryPolicy } from '@temporalio/workflow';
import type { RelaySinks, SessionActivities, SessionTuning } from '../contract';
import { durationMs } from './durations';

/** What each proxy may call: a proxy typed as the whole activity set would let a call pick up the wrong policy. */
type AnswerActivities = Pick<SessionActivities, 'answerMessage'>;
type LLMRetryActivities = Pick<SessionActivities, 'executeLLMConfig'>;
type FunctionRetryActivities = Pick<SessionActivities, 'executeFunction'>;
type BookkeepingActivities = Pick<SessionActivities, 'loadConfigs' | 'updateSessionRecord'>;

/** Beyond the LLM calls themselves: loading the config row and mirroring the session row. */
const STEP_MARGIN_MS = 5_000;

export function sessionActivities(t: SessionTuning) {
  const llmRetry: RetryPolicy = { initialInterval: t.retryInitialInterval, backoffCoefficient: 2, maximumInterval: '30 seconds' };
  const llmTimeoutMs = durationMs(t.llmTimeout);
  return {
    /**
     * The message path (workflows/answer.ts): routing plus the first provider attempt in one local
     * activity, run by the worker that holds the workflow: no server round trip and no extra
     * workflow task. Its own failures (the provider's are in its result) are retried here.
     */
    answer: proxyLocalActivities<AnswerActivities>({
      startToCloseTimeout: llmTimeoutMs * (t.routeMaxAttempts + 1) + STEP_MARGIN_MS,
      retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumAttempts: 3 },
    }),
    /** A config tried again or as a fallback: 429/5xx/timeouts retried with backoff, 4xx not (lib/call-failure.ts). */
    retry: (attempts: number) =>
      proxyLocalActivities<LLMRetryActivities>({
        startToCloseTimeout: t.llmTimeout,
        retry: { ...llmRetry, initialInterval: durationMs(t.retryInitialInterval) * 2, maximumAttempts: attempts },
      }),
    /** A function config (MCP tool, webhook) tried again: the same classification (lib/call-failure.ts), its own timeout. */
    functionRetry: (attempts: number) =>
      proxyLocalActivities<FunctionRetryActivities>({
        startToCloseTimeout: t.functionTimeout,
        retry: { ...llmRetry, initialInterval: durationMs(t.retryInitialInterval) * 2, maximumAttempts: attempts },
      }),
    /** Database bookkeeping: fast and idempotent, so local activities. */
    local: proxyLocalActivities<BookkeepingActivities>({
      startToCloseTimeout: '10 seconds',
      retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumAttempts: 5 },
    }),
  };
}

export type SessionProxies = ReturnType<typeof sessionActivities>;

/** Frames to the gateway that holds the socket, outside history (the worker's relay sink). */
export const { relay } = proxySinks<RelaySinks>();
