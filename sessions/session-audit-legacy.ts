// LEGACY reading of the audit trail (sessions/session-audit.ts), for histories recorded before the
// step results recorded their config, step and attempt. Delete it with the last such history.
import {
  BUILTIN_FUNCTIONS,
  providerToolName,
  type CachedConfig,
  type FirstAttempt,
  type RoutingDecision,
  type SessionSettings,
  type SessionTuning,
  type StepRecord,
} from '../contract';
import { enabledBuiltins, llmAnswerOrder, llmConfigToolName, routingCandidates } from '../routing';

/** A step of a message: recorded, or (LEGACY) planned as the workflow would have taken it. */
export type Step = Pick<StepRecord, 'configId' | 'configName' | 'kind'> & Partial<Pick<StepRecord, 'attempt' | 'last'>>;

/**
 * LEGACY: histories recorded before the step results recorded their config, step and attempt
 * (and before `answerMessage` recorded what it offered). What they lack is worked out as the
 * workflow chose it (workflows/answer.ts): from the cached configs, settings and tuning at that
 * point of history and the same pure rules (contract/routing.ts). New histories never need it.
 */
export class LegacyHistory {
  constructor(
    private readonly configs: CachedConfig[],
    private readonly settings: SessionSettings,
    private readonly tuning: SessionTuning,
  ) {}

  /** What routing was offered, as the workflow computed it for `answerMessage`. */
  offered(routing: RoutingDecision): string[] {
    const candidates = routingCandidates(this.configs, this.settings);
    const tools = candidates.map((c) =>
      c.config_type === 'llm' ? llmConfigToolName(c.id) : providerToolName(c.function_name ?? c.config_name),
    );
    const noRouter = 'reason' in routing && typeof routing.reason === 'string' && routing.reason.startsWith('no router LLM');
    if (noRouter || routing.routedBy !== 'router_llm') return tools;
    const taken = new Set(tools);
    return [...tools, ...enabledBuiltins(this.settings, BUILTIN_FUNCTIONS).filter((name) => !taken.has(name))];
  }

  /** The first attempt's step, and the steps the workflow took after it (workflows/answer.ts). */
  plan(
    routing: Extract<RoutingDecision, { kind: 'function' | 'llm_config' }>,
    first: FirstAttempt | undefined,
  ): { first?: Step; rest: Step[] } {
    const name = (id: number) => this.configs.find((c) => c.id === id)?.config_name ?? null;
    const rest: Step[] = [];
    const retry = (max: number) => first !== undefined && !first.ok && first.retryable && max > 1;
    if (routing.kind === 'function') {
      const step: Step = { configId: routing.configId, configName: name(routing.configId) ?? routing.functionName, kind: 'first_attempt' };
      if (!first || retry(this.tuning.functionMaxAttempts)) rest.push({ ...step, kind: first ? 'retry' : 'first_attempt' });
      return { first: step, rest };
    }
    let step: Step | undefined;
    const order = llmAnswerOrder(this.configs, this.settings, routing.configId).slice(0, this.tuning.maxConfigsPerMessage);
    for (const config of order) {
      const planned: Step = { configId: config.id, configName: config.config_name, kind: 'first_attempt' };
      if (first && config.id === routing.configId) {
        step = planned;
        if (first.ok) break;
        if (retry(this.tuning.llmMaxAttempts)) rest.push({ ...planned, kind: 'retry' });
      } else {
        rest.push({ ...planned, kind: config.id === routing.configId ? 'first_attempt' : 'fallback' });
      }
    }
    return { ...(step ? { first: step } : {}), rest };
  }
}
