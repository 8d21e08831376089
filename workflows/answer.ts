// Answering one message (ARCHITECTURE.md, "The message path"): one local activity routes it and
// makes the first attempt at the chosen LLM config, so the usual message costs one workflow task.
// Built-ins and the router's own answer need no further I/O; a failed first attempt is retried
// and then handed to the next LLM config by priority, each a local activity with Temporal's
// retry policy. Deterministic: all I/O is in activities.
import { sleep } from '@temporalio/workflow';
import {
  activeLLMConfigs,
  fallbackDecision,
  llmAnswerOrder,
  routableView,
  runBuiltin,
  type AnswerMessageOutput,
  type CachedConfig,
  type FirstAttempt,
  type IncomingMessage,
  type ResultFrame,
  type RoutingDecision,
  type ServerFrame,
} from '../contract';
import { describeFailure, rethrowCancellation, resultFrame, type Answer, type AnswerContext } from './answer-shared';
import { durationMs } from './durations';

type LLMDecision = Extract<RoutingDecision, { kind: 'llm_config' }>;

async function routeAndTry(ctx: AnswerContext, message: IncomingMessage): Promise<AnswerMessageOutput> {
  const { session, tuning } = ctx;
  const now = Date.now();
  try {
    return await ctx.acts.answer.answerMessage({
      userId: session.userId,
      message: { id: message.id, text: message.text },
      configs: activeLLMConfigs(session.configs).map(routableView),
      settings: session.settings,
      history: session.recentTurns(),
      progressTo: session.attached,
      routerAttempts: tuning.routeMaxAttempts,
      retryInitialMs: durationMs(tuning.retryInitialInterval),
      callTimeoutMs: durationMs(tuning.llmTimeout),
      ...session.recordIfDue(now),
    });
  } catch (err) {
    // The step itself failed after its retries (the database was unreachable, say): the fallback
    // rules still decide, and the provider calls below get their own attempts.
    rethrowCancellation(err);
    const routing = fallbackDecision(session.configs, session.settings, message.text, `routing failed: ${describeFailure(err)}`);
    return { routing, routingMs: Date.now() - now };
  }
}

/** One more try at a config, as its own local activity with Temporal's retries. */
async function tryConfig(ctx: AnswerContext, config: CachedConfig, question: string, attempts: number): Promise<FirstAttempt> {
  const { session } = ctx;
  const started = Date.now();
  try {
    const reply = await ctx.acts.retry(attempts).executeLLMConfig({
      userId: session.userId,
      configId: config.id,
      question,
      role: session.settings.role,
      history: session.recentTurns(),
    });
    return { ok: true, answer: reply.answer, model: reply.model, ms: Date.now() - started };
  } catch (err) {
    rethrowCancellation(err);
    return { ok: false, error: describeFailure(err), retryable: false, ms: Date.now() - started };
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
  const order = llmAnswerOrder(session.configs, session.settings, decision.configId).slice(0, tuning.maxConfigsPerMessage);
  const failures: { config: CachedConfig; error: string }[] = [];
  let spentMs = 0;
  for (const config of order) {
    let outcome: FirstAttempt;
    if (first && config.id === decision.configId) {
      outcome = first;
      if (!outcome.ok && outcome.retryable && tuning.llmMaxAttempts > 1) {
        // Backoff before the second attempt, as Temporal's policy would wait after the first.
        await sleep(outcome.retryAfterMs ?? durationMs(tuning.retryInitialInterval));
        const retried = await tryConfig(ctx, config, decision.question, tuning.llmMaxAttempts - 1);
        outcome = retried.ok ? retried : { ...retried, ms: retried.ms + outcome.ms };
      }
    } else {
      outcome = await tryConfig(ctx, config, decision.question, tuning.llmMaxAttempts);
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
      });
    }
    failures.push({ config, error: outcome.error });
  }
  const chosen = order.find((c) => c.id === decision.configId) ?? order[0];
  return resultFrame(message, {
    config_id: chosen?.id ?? decision.configId,
    config_name: chosen?.config_name ?? 'unknown',
    result: '',
    execute_time: spentMs,
    status: 'failed',
    routed_by: decision.routedBy,
    error: failures.length
      ? `No LLM config could answer: ${failures.map((f) => `${f.config.config_name}: ${f.error}`).join('; ')}`
      : 'No active LLM config could answer',
  });
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
      // Not offered to the router yet (llm/router.ts); answered plainly should one be chosen anyway.
      return failed(
        routing.configId,
        routing.functionName,
        `Function "${routing.functionName}" cannot be executed yet: MCP and webhook execution is not available in this version`,
      );
    case 'none':
      return failed(0, 'none', routing.reason);
  }
}
