// LLM steps: routing a message (the router LLM, the operator's own endpoint) and executing a
// user's LLM config (execution/, which decrypts keys and applies the egress policy).
import type { ExecuteLLMConfigInput, ExecuteLLMConfigOutput, RelayAddress, RouteInput, RoutingDecision } from '../contract';
import type { ConfigExecutor } from '../execution';
import { createLLMClient, requestTimeoutMs } from '../llm/client';
import { toActivityFailure } from '../llm/errors';
import { askRouter } from '../llm/router';
import type { ActivityDeps } from './deps';
import { withHeartbeat } from './heartbeat';
import { recordedStep } from './step-record';

export function createLLMActivities({ config, relay }: ActivityDeps, executor: ConfigExecutor) {
  const routerConfigured = Boolean(config.ROUTER_LLM_BASE_URL && config.ROUTER_LLM_MODEL);

  /** One router call. The router LLM is the operator's own endpoint (ROUTER_LLM_*), so no per-user egress check applies. */
  async function askRouterOnce(input: RouteInput, timeoutMs: number, signal?: AbortSignal): Promise<RoutingDecision> {
    const { ROUTER_LLM_BASE_URL: baseURL, ROUTER_LLM_MODEL: model, ROUTER_LLM_API_KEY: apiKey } = config;
    try {
      const client = createLLMClient({ baseURL: baseURL!, apiKey: apiKey ?? null, timeoutMs, gapMs: config.UPSTREAM_GAP_TIMEOUT });
      return await askRouter(client, model!, input, signal);
    } catch (err) {
      throw toActivityFailure(err, 'router LLM', [apiKey]);
    }
  }

  /** Streams a message's answer to its socket as `delta` frames (best effort, through the relay). */
  function deltasTo(relayAddress: RelayAddress, messageId: string, configId: number) {
    return (text: string, offset: number) =>
      relay.publish(relayAddress, [{ type: 'delta', id: messageId, text, offset, config_id: configId }]);
  }

  /** One call of a user's LLM config, streamed when the input names a socket. */
  function callConfig(input: ExecuteLLMConfigInput, timeoutMs: number, signal?: AbortSignal): Promise<ExecuteLLMConfigOutput> {
    const { stream, ...call } = input;
    return executor.runLLMConfig(call, {
      timeoutMs,
      ...(signal ? { signal } : {}),
      ...(stream ? { onDelta: deltasTo(stream.relayAddress, stream.messageId, input.configId) } : {}),
    });
  }

  /** A config tried again or as a fallback (workflows/answer.ts), as a local activity. */
  async function executeLLMConfig(input: ExecuteLLMConfigInput): Promise<ExecuteLLMConfigOutput> {
    const { step, ...call } = input;
    return recordedStep(input.configId, step, () => withHeartbeat((signal) => callConfig(call, requestTimeoutMs(), signal)));
  }

  return { routerConfigured, askRouterOnce, callConfig, executeLLMConfig };
}

export type LLMSteps = ReturnType<typeof createLLMActivities>;
