// The message path's one step (ARCHITECTURE.md): route the message and make the first attempt at
// the chosen LLM or function config (streaming an LLM's answer when the socket asked), telling the socket how far it got through the relay (best effort,
// outside history) and mirroring the session row's activity time on the side. Provider failures
// come back as data, so the workflow decides about retries and fallbacks without this step
// running again; only our own failures (the database, say) fail the step and are retried.
import { ApplicationFailure } from '@temporalio/common';
import {
  providerToolName,
  type AnswerMessageInput,
  type AnswerMessageOutput,
  type FirstAttempt,
  type RelayFrame,
  type RouteInput,
  type RoutingCandidate,
  type RoutingDecision,
  type StepRecord,
} from '../contract';
import { llmAnswerOrder, llmConfigToolName, routeWithoutRouter, ROUTING_BOUNDS, routingCandidates } from '../routing';
import type { ConfigExecutor } from '../execution';
import { buildRouterTools, offerDeviceTools } from '../llm/router';
import type { ActivityDeps } from './deps';
import { createDeviceToolSteps } from './device-tools';
import type { LLMSteps } from './llm';
import { withHeartbeat } from './heartbeat';
import { updateSessionRecord } from './session-record';
import { chatCallSpec, chatFailure } from './chat';

/** Margin under the step's own time limit, so a slow call ends as a clean timeout. */
const CALL_MARGIN_MS = 250;

export function createAnswerActivity(deps: ActivityDeps, llm: LLMSteps, executor: ConfigExecutor) {
  const { relay, logger } = deps;
  const device = createDeviceToolSteps(deps);

  /** The offered configs, functions with their argument schemas (the workflow caches no schemas). */
  async function candidates(input: AnswerMessageInput, timeoutMs: number): Promise<RoutingCandidate[]> {
    const functionIds = input.configs.filter((c) => c.config_type === 'function_call').map((c) => c.id);
    const schemas = await executor.functionSchemas(input.userId, functionIds, timeoutMs / 2);
    return input.configs
      .filter((c) => c.config_type === 'llm' || schemas.has(c.id))
      .map((c) => (c.config_type === 'llm' ? c : { ...c, parameters: schemas.get(c.id) ?? null }));
  }

  /** The tool names routing is given (functions by their mapped names), recorded in the step's result for the audit trail. */
  function offeredTools(routeInput: RouteInput): string[] {
    const { configs, settings } = routeInput;
    if (llm.routerConfigured) return buildRouterTools(routeInput).map((tool) => tool.function.name);
    return [
      ...routingCandidates(configs, settings).map((c) =>
        c.config_type === 'llm' ? llmConfigToolName(c.id) : providerToolName(c.function_name ?? c.config_name),
      ),
      ...offerDeviceTools(routeInput).map((t) => t.tool),
    ];
  }

  async function decide(
    input: AnswerMessageInput,
    timeoutMs: number,
    signal: AbortSignal,
    offered: (tools: string[], deviceTools: string[]) => void,
  ): Promise<RoutingDecision> {
    const named = input.message.chat?.config;
    // A chat completion request that names its config: nothing routes it.
    if (named)
      return { kind: 'llm_config', configId: named.id, tool: llmConfigToolName(named.id), question: input.message.text, routedBy: 'named' };
    const [configs, deviceTools] = await Promise.all([candidates(input, timeoutMs), device.load(input)]);
    const routeInput: RouteInput = { userId: input.userId, text: input.message.text, configs, settings: input.settings, deviceTools };
    offered(
      offeredTools(routeInput),
      offerDeviceTools(routeInput).map((t) => t.tool),
    );
    const decision = await route(input, routeInput, timeoutMs, signal);
    return decision.kind === 'device_tool' ? device.check(decision, deviceTools) : decision;
  }

  async function route(
    input: AnswerMessageInput,
    routeInput: RouteInput,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<RoutingDecision> {
    const { configs } = routeInput;
    const devices = offerDeviceTools(routeInput);
    if (!llm.routerConfigured)
      return routeWithoutRouter(configs, input.settings, input.message.text, 'no router LLM is configured', ROUTING_BOUNDS, devices);
    for (let attempt = 1; ; attempt++) {
      try {
        return await llm.askRouterOnce(routeInput, timeoutMs, signal);
      } catch (err) {
        const failure = err as ApplicationFailure;
        if (signal.aborted) throw err;
        if (failure.nonRetryable || attempt >= input.routerAttempts) {
          return routeWithoutRouter(
            configs,
            input.settings,
            input.message.text,
            `the router LLM failed: ${failure.message}`,
            ROUTING_BOUNDS,
            devices,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, input.retryInitialMs * 2 ** (attempt - 1)));
      }
    }
  }

  /** The chosen config's first attempt; a provider's or a function's failure is data, for the workflow to act on. */
  async function firstAttempt(
    input: AnswerMessageInput,
    routing: Extract<RoutingDecision, { kind: 'llm_config' | 'function' }>,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<FirstAttempt> {
    const started = performance.now();
    try {
      if (routing.kind === 'function') {
        const { result } = await executor.runFunction(
          {
            userId: input.userId,
            configId: routing.configId,
            arguments: routing.arguments,
            sessionId: input.sessionId ?? null,
            messageId: input.message.id,
          },
          { timeoutMs: Math.min(timeoutMs, input.functionTimeoutMs ?? timeoutMs), signal },
        );
        return { ok: true, answer: result, ms: Math.round(performance.now() - started) };
      }
      const { relayAddress } = input;
      const stream = input.message.stream && relayAddress ? { stream: { relayAddress, messageId: input.message.id } } : {};
      const reply = await llm.callConfig(
        {
          userId: input.userId,
          configId: routing.configId,
          question: routing.question,
          role: input.settings.role,
          history: input.history,
          ...(input.message.chat ? { chat: chatCallSpec(input.message.chat) } : {}),
          ...stream,
        },
        timeoutMs,
        signal,
      );
      const completion = reply.completion ? { completion: reply.completion } : {};
      return { ok: true, answer: reply.answer, model: reply.model, ms: Math.round(performance.now() - started), ...completion };
    } catch (err) {
      if (signal.aborted) throw err;
      const failure = err instanceof ApplicationFailure ? err : ApplicationFailure.create({ message: String(err) });
      const retryAfterMs = typeof failure.nextRetryDelay === 'number' ? failure.nextRetryDelay : undefined;
      return {
        ok: false,
        error: failure.message,
        retryable: !failure.nonRetryable,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        ms: Math.round(performance.now() - started),
        ...(input.message.chat ? { failure: chatFailure(failure) } : {}),
      };
    }
  }

  /** The first attempt's step record, for the audit trail; `last`: the workflow takes no further step if it failed (workflows/answer.ts). */
  function firstStep(
    input: AnswerMessageInput,
    routing: Extract<RoutingDecision, { kind: 'llm_config' | 'function' }>,
    outcome: FirstAttempt,
    limits: NonNullable<AnswerMessageInput['followUps']>,
  ): StepRecord {
    const fn = routing.kind === 'function';
    const retried = !outcome.ok && outcome.retryable && (fn ? limits.functionMaxAttempts : limits.llmMaxAttempts) > 1;
    const others =
      !fn &&
      !input.message.chat?.config &&
      llmAnswerOrder(input.configs, input.settings, routing.configId).slice(0, limits.maxConfigsPerMessage).length > 1;
    return {
      kind: 'first_attempt',
      configId: routing.configId,
      configName: input.configs.find((c) => c.id === routing.configId)?.config_name ?? (fn ? routing.functionName : 'unknown'),
      attempt: 1,
      outcome: outcome.ok ? 'success' : 'failed',
      last: !retried && !others,
    };
  }

  async function answerMessage(input: AnswerMessageInput): Promise<AnswerMessageOutput> {
    return withHeartbeat((signal) => answerWithin(input, signal));
  }

  async function answerWithin(input: AnswerMessageInput, signal: AbortSignal): Promise<AnswerMessageOutput> {
    const timeoutMs = Math.max(100, input.callTimeoutMs - CALL_MARGIN_MS);
    const progress = (frame: RelayFrame): void => {
      if (input.relayAddress) relay.publish(input.relayAddress, [frame]);
    };
    const record = input.record;
    const mirrored = record
      ? updateSessionRecord(deps.db, record).catch((error: unknown) => {
          logger.warn({ err: error, sessionId: record.sessionId }, 'updating the session row failed');
        })
      : undefined;
    progress({ type: 'progress', id: input.message.id, stage: 'routing' });
    const started = performance.now();
    let offered: string[] = [];
    let offeredDevice: string[] = [];
    const routing = await decide(input, timeoutMs, signal, (tools, deviceTools) => {
      offered = tools;
      offeredDevice = deviceTools;
    });
    const routingMs = Math.round(performance.now() - started);
    let attempt: FirstAttempt | undefined;
    if (routing.kind === 'llm_config' || (routing.kind === 'function' && !routing.missing?.length)) {
      progress({ type: 'progress', id: input.message.id, stage: 'executing', config_id: routing.configId });
      attempt = await firstAttempt(input, routing, timeoutMs, signal);
      if (input.followUps) attempt = { ...attempt, step: firstStep(input, routing, attempt, input.followUps) };
    } else if (routing.kind === 'builtin' || routing.kind === 'device_tool') {
      progress({ type: 'progress', id: input.message.id, stage: 'executing' });
    }
    await mirrored;
    return {
      messageId: input.message.id,
      offered,
      ...(offeredDevice.length ? { offeredDeviceTools: offeredDevice } : {}),
      routing,
      routingMs,
      ...(attempt ? { firstAttempt: attempt } : {}),
    };
  }

  return { answerMessage };
}
