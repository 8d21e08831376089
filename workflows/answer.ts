// Answering one message (ARCHITECTURE.md, "The message path"): one local activity routes it and
// makes the first attempt at the chosen LLM config, so the usual message costs one workflow task.
// Built-ins and the router's own answer need no further I/O; a failed first attempt is retried
// and then handed to the next LLM config by priority, each a local activity with Temporal's
// retry policy. Deterministic: all I/O is in activities.
import { patched, sleep } from '@temporalio/workflow';
import {
  describeFailure,
  FUNCTION_CALLS_UNAVAILABLE_TEXT,
  missingArgumentsText,
  noLLMConfigAnsweredText,
  routingFailedReason,
  runBuiltin,
  type AnswerMessageOutput,
  type CachedConfig,
  type FirstAttempt,
  type IncomingMessage,
  type ResultFrame,
  type RoutingDecision,
  type ServerFrame,
  type StepInput,
} from '../contract';
import { fallbackDecision, llmAnswerOrder, routableView, routeWithoutRouter, routingCandidates } from '../routing';
import { rethrowCancellation, resultFrame, type Answer, type AnswerContext } from './answer-shared';
import { callContext, chatFailureOf, namedAnswerOrder, replyAddress } from './chat-answer';
import { answerWithDeviceTool } from './device-tools';
import { durationMs } from './durations';

type LLMDecision = Extract<RoutingDecision, { kind: 'llm_config' }>;
type FunctionDecision = Extract<RoutingDecision, { kind: 'function' }>;

/**
 * Function configs (MCP tools, webhooks) are offered to routing and run. Before this, routing
 * offered LLM configs only, so no recorded decision is a function's; the patch marks histories
 * whose fallback routing may choose one (`routeWithoutRouter`, where `fallbackDecision` was).
 */
export const FUNCTION_CALLS_PATCH = 'function-calls';

/** Where deltas of a message's answer go, when its socket asked for them and one is attached. */
function streamTarget(ctx: AnswerContext, message: IncomingMessage) {
  const relayAddress = replyAddress(ctx.session, message);
  return message.stream && relayAddress ? { stream: { relayAddress, messageId: message.id } } : {};
}

async function routeAndTry(ctx: AnswerContext, message: IncomingMessage): Promise<AnswerMessageOutput> {
  const { session, tuning } = ctx;
  const now = Date.now();
  try {
    return await ctx.acts.answer.answerMessage({
      userId: session.userId,
      message: {
        id: message.id,
        text: message.text,
        ...(message.stream ? { stream: true } : {}),
        ...(message.chat ? { chat: message.chat } : {}),
      },
      configs: routingCandidates(session.configs, session.settings).map(routableView),
      settings: session.settings,
      history: callContext(session, message).history,
      sessionId: session.sessionId,
      relayAddress: replyAddress(session, message),
      routerAttempts: tuning.routeMaxAttempts,
      retryInitialMs: durationMs(tuning.retryInitialInterval),
      callTimeoutMs: durationMs(tuning.llmTimeout),
      functionTimeoutMs: durationMs(tuning.functionTimeout),
      followUps: {
        llmMaxAttempts: tuning.llmMaxAttempts,
        functionMaxAttempts: tuning.functionMaxAttempts,
        maxConfigsPerMessage: tuning.maxConfigsPerMessage,
      },
      ...session.recordIfDue(now),
      ...(session.deviceId !== null ? { deviceTools: true } : {}),
    });
  } catch (err) {
    // The step itself failed after its retries (the database was unreachable, say): the fallback
    // rules still decide, and the provider calls below get their own attempts.
    rethrowCancellation(err);
    const reason = routingFailedReason(describeFailure(err));
    const routing = patched(FUNCTION_CALLS_PATCH)
      ? routeWithoutRouter(session.configs, session.settings, message.text, reason)
      : fallbackDecision(session.configs, session.settings, message.text, reason);
    return { routing, routingMs: Date.now() - now };
  }
}

/** One more try at a config, as its own local activity with Temporal's retries. */
async function tryConfig(
  ctx: AnswerContext,
  message: IncomingMessage,
  config: CachedConfig,
  question: string,
  attempts: number,
  step: StepInput,
): Promise<FirstAttempt> {
  const { session } = ctx;
  const started = Date.now();
  try {
    const reply = await ctx.acts.retry(attempts).executeLLMConfig({
      userId: session.userId,
      configId: config.id,
      question,
      role: session.settings.role,
      ...callContext(session, message),
      ...streamTarget(ctx, message),
      step,
    });
    const completion = reply.completion ? { completion: reply.completion } : {};
    return { ok: true, answer: reply.answer, model: reply.model, ms: Date.now() - started, ...completion };
  } catch (err) {
    rethrowCancellation(err);
    const failure = message.chat ? { failure: chatFailureOf(err) } : {};
    return { ok: false, error: describeFailure(err), retryable: false, ms: Date.now() - started, ...failure };
  }
}

/** The chosen LLM config answers; if it fails for good, the next by priority does, up to the tuning's limit. */
async function answerWithLLM(
  ctx: AnswerContext,
  message: IncomingMessage,
  decision: LLMDecision,
  first: FirstAttempt | undefined,
): Promise<ResultFrame> {
  const { session, tuning } = ctx;
  const order =
    namedAnswerOrder(session.configs, message) ??
    llmAnswerOrder(session.configs, session.settings, decision.configId).slice(0, tuning.maxConfigsPerMessage);
  const failures: { config: CachedConfig; error: string; outcome: FirstAttempt }[] = [];
  let spentMs = 0;
  for (const config of order) {
    const step = (kind: StepInput['kind']): StepInput => ({ kind, configName: config.config_name, last: config === order.at(-1) });
    let outcome: FirstAttempt;
    if (first && config.id === decision.configId) {
      outcome = first;
      if (!outcome.ok && outcome.retryable && tuning.llmMaxAttempts > 1) {
        // Backoff before the second attempt, as Temporal's policy would wait after the first.
        await sleep(outcome.retryAfterMs ?? durationMs(tuning.retryInitialInterval));
        const retried = await tryConfig(ctx, message, config, decision.question, tuning.llmMaxAttempts - 1, step('retry'));
        outcome = retried.ok ? retried : { ...retried, ms: retried.ms + outcome.ms };
      }
    } else {
      const kind = config.id === decision.configId ? 'first_attempt' : 'fallback';
      outcome = await tryConfig(ctx, message, config, decision.question, tuning.llmMaxAttempts, step(kind));
    }
    spentMs += outcome.ms;
    if (outcome.ok) {
      const failed = failures[0];
      return resultFrame(message, {
        config_id: config.id,
        config_name: config.config_name,
        result: outcome.answer,
        execute_time: spentMs,
        status: 'success',
        routed_by: decision.routedBy,
        ...(failed ? { fallback_from: { config_id: failed.config.id, config_name: failed.config.config_name, error: failed.error } } : {}),
        ...(outcome.completion ? { completion: outcome.completion } : {}),
      });
    }
    failures.push({ config, error: outcome.error, outcome });
  }
  const last = failures.at(-1)?.outcome;
  const chosen = order.find((c) => c.id === decision.configId) ?? order[0];
  return resultFrame(message, {
    config_id: chosen?.id ?? decision.configId,
    config_name: chosen?.config_name ?? 'unknown',
    result: '',
    execute_time: spentMs,
    status: 'failed',
    routed_by: decision.routedBy,
    error: noLLMConfigAnsweredText(failures.map((f) => ({ configName: f.config.config_name, error: f.error }))),
    ...(last && !last.ok && last.failure ? { completion: { failure: last.failure } } : {}),
  });
}

/** A function config runs: the first attempt's outcome, retried when it may be; no other config stands in for it. */
async function answerWithFunction(
  ctx: AnswerContext,
  message: IncomingMessage,
  decision: FunctionDecision,
  first: FirstAttempt | undefined,
): Promise<ResultFrame> {
  const { session, tuning } = ctx;
  const config = session.configs.find((c) => c.id === decision.configId);
  const frame = (outcome: Omit<ResultFrame, 'type' | 'id' | 'config_id' | 'config_name' | 'routed_by'>) =>
    resultFrame(message, {
      config_id: decision.configId,
      config_name: config?.config_name ?? decision.functionName,
      routed_by: decision.routedBy,
      ...outcome,
    });
  if (decision.missing?.length) {
    return frame({ result: '', execute_time: 0, status: 'failed', error: missingArgumentsText(decision.functionName, decision.missing) });
  }
  let outcome = first;
  if (!outcome || (!outcome.ok && outcome.retryable && tuning.functionMaxAttempts > 1)) {
    const spent = outcome?.ms ?? 0;
    // Backoff before the second attempt, as Temporal's policy would wait after the first.
    if (outcome && !outcome.ok) await sleep(outcome.retryAfterMs ?? durationMs(tuning.retryInitialInterval));
    const attempts = outcome ? tuning.functionMaxAttempts - 1 : tuning.functionMaxAttempts;
    const started = Date.now();
    try {
      const { result } = await ctx.acts.functionRetry(attempts).executeFunction({
        userId: session.userId,
        configId: decision.configId,
        arguments: decision.arguments,
        sessionId: session.sessionId,
        messageId: message.id,
        step: { kind: outcome ? 'retry' : 'first_attempt', configName: config?.config_name ?? decision.functionName, last: true },
      });
      outcome = { ok: true, answer: result, ms: spent + Date.now() - started };
    } catch (err) {
      rethrowCancellation(err);
      outcome = { ok: false, error: describeFailure(err), retryable: false, ms: spent + Date.now() - started };
    }
  }
  return outcome.ok
    ? frame({ result: outcome.answer, execute_time: outcome.ms, status: 'success' })
    : frame({ result: '', execute_time: outcome.ms, status: 'failed', error: outcome.error });
}

/** Route and execute one message. Progress frames are the activity's, outside history. */
export async function answer(ctx: AnswerContext, message: IncomingMessage): Promise<Answer> {
  const { routing, routingMs, firstAttempt } = await routeAndTry(ctx, message);
  const routed_by = routing.routedBy;
  const failed = (config_id: number, config_name: string, error: string): Answer => ({
    routing,
    result: resultFrame(message, { config_id, config_name, result: '', execute_time: 0, status: 'failed', routed_by, error }),
    extraFrames: [],
  });
  switch (routing.kind) {
    case 'direct_answer':
      // The router's own answer: its execution was the routing call.
      return {
        routing,
        result: resultFrame(message, {
          config_id: 0,
          config_name: 'direct_answer',
          result: routing.answer,
          execute_time: routingMs,
          status: 'success',
          routed_by,
        }),
        extraFrames: [],
      };
    case 'llm_config':
      return { routing, result: await answerWithLLM(ctx, message, routing, firstAttempt), extraFrames: [] };
    case 'builtin': {
      try {
        const out = runBuiltin({ name: routing.name, arguments: routing.arguments }, new Date(Date.now()));
        const extraFrames: ServerFrame[] =
          out.effect?.kind === 'play_music' ? [{ type: 'play_music', id: message.id, song: out.effect.song }] : [];
        const result = resultFrame(message, {
          config_id: 0,
          config_name: routing.name,
          result: out.result,
          execute_time: 0,
          status: 'success',
          routed_by,
        });
        return { routing, result, extraFrames, effect: out.effect };
      } catch (err) {
        return failed(0, routing.name, describeFailure(err));
      }
    }
    case 'function':
      // Recorded decisions are never a function's before the patch (FUNCTION_CALLS_PATCH).
      if (!patched(FUNCTION_CALLS_PATCH)) return failed(routing.configId, routing.functionName, FUNCTION_CALLS_UNAVAILABLE_TEXT);
      return { routing, result: await answerWithFunction(ctx, message, routing, firstAttempt), extraFrames: [] };
    case 'device_tool':
      return { routing, result: await answerWithDeviceTool(ctx, message, routing), extraFrames: [] };
    case 'none':
      return failed(0, 'none', routing.reason);
  }
}
