// FROZEN: the message path of sessions recorded before `message-path-v2` (ARCHITECTURE.md,
// "Upgrades"). Its commands (a remote route activity, remote provider calls, progress and results
// through the gateway's `deliver` activity) must stay exactly as they were so those sessions
// replay; change nothing here but types. New messages take workflows/answer.ts.
import type { IncomingMessage, PublicConfig, ResultFrame, RoutingDecision, ServerFrame } from '../../contract';
import { activeLLMConfigs, fallbackDecision, llmAnswerOrder, routableView } from '../../contract';
import { describeFailure, rethrowCancellation, type Answer, type AnswerContext } from '../answer-shared';

type LegacyContext = AnswerContext & {
  /** Best-effort progress frame to the attached socket, through the `deliver` activity. */
  progress(frame: ServerFrame): Promise<void>;
};

async function route(ctx: LegacyContext, message: IncomingMessage): Promise<RoutingDecision> {
  const { session } = ctx;
  try {
    const configs = activeLLMConfigs(session.configs).map(routableView);
    return await ctx.acts.router.route({ userId: session.userId, text: message.text, configs, settings: session.settings });
  } catch (err) {
    rethrowCancellation(err);
    return fallbackDecision(session.configs, session.settings, message.text, `the router LLM failed: ${describeFailure(err)}`);
  }
}

function frame(message: IncomingMessage, fields: Omit<ResultFrame, 'type' | 'id'>): ResultFrame {
  return { type: 'function_call_result', id: message.id, ...fields };
}

/** The chosen LLM config answers; if it fails for good, the next by priority does, up to the tuning's limit. */
async function answerWithLLM(
  ctx: LegacyContext,
  message: IncomingMessage,
  decision: Extract<RoutingDecision, { kind: 'llm_config' }>,
  started: number,
): Promise<ResultFrame> {
  const { session, tuning } = ctx;
  const order = llmAnswerOrder(session.configs, session.settings, decision.configId).slice(0, tuning.maxConfigsPerMessage);
  const failures: { config: Pick<PublicConfig, 'id' | 'config_name'>; error: string }[] = [];
  for (const config of order) {
    try {
      const reply = await ctx.acts.llm.executeLLMConfig({
        userId: session.userId,
        configId: config.id,
        question: decision.question,
        role: session.settings.role,
        history: session.recentTurns(),
      });
      const first = failures[0];
      return frame(message, {
        config_id: config.id,
        config_name: config.config_name,
        result: reply.answer,
        execute_time: Date.now() - started,
        status: 'success',
        routed_by: decision.routedBy,
        ...(first ? { fallback_from: { config_id: first.config.id, config_name: first.config.config_name, error: first.error } } : {}),
      });
    } catch (err) {
      rethrowCancellation(err);
      failures.push({ config, error: describeFailure(err) });
    }
  }
  const chosen = order.find((c) => c.id === decision.configId) ?? order[0];
  return frame(message, {
    config_id: chosen?.id ?? decision.configId,
    config_name: chosen?.config_name ?? 'unknown',
    result: '',
    execute_time: Date.now() - started,
    status: 'failed',
    routed_by: decision.routedBy,
    error: failures.length
      ? `No LLM config could answer: ${failures.map((f) => `${f.config.config_name}: ${f.error}`).join('; ')}`
      : 'No active LLM config could answer',
  });
}

async function execute(
  ctx: LegacyContext,
  message: IncomingMessage,
  decision: RoutingDecision,
  started: number,
  routingMs: number,
): Promise<Omit<Answer, 'routing'>> {
  const routed_by = decision.routedBy;
  switch (decision.kind) {
    case 'direct_answer':
      // The router's own answer: its execution was the routing call.
      return {
        result: frame(message, {
          config_id: 0,
          config_name: 'direct_answer',
          result: decision.answer,
          execute_time: routingMs,
          status: 'success',
          routed_by,
        }),
        extraFrames: [],
      };
    case 'llm_config':
      return { result: await answerWithLLM(ctx, message, decision, started), extraFrames: [] };
    case 'builtin': {
      try {
        const out = await ctx.acts.local.executeStandardFunction({ name: decision.name, arguments: decision.arguments });
        const extraFrames: ServerFrame[] =
          out.effect?.kind === 'play_music' ? [{ type: 'play_music', id: message.id, song: out.effect.song }] : [];
        const result = frame(message, {
          config_id: 0,
          config_name: decision.name,
          result: out.result,
          execute_time: Date.now() - started,
          status: 'success',
          routed_by,
        });
        return { result, extraFrames, effect: out.effect };
      } catch (err) {
        rethrowCancellation(err);
        const error = describeFailure(err);
        return {
          result: frame(message, {
            config_id: 0,
            config_name: decision.name,
            result: '',
            execute_time: Date.now() - started,
            status: 'failed',
            routed_by,
            error,
          }),
          extraFrames: [],
        };
      }
    }
    case 'function': {
      // Not offered to the router yet (llm/router.ts); answered plainly should one be chosen anyway.
      const name = decision.functionName;
      const error = `Function "${name}" cannot be executed yet: MCP and webhook execution is not available in this version`;
      return {
        result: frame(message, {
          config_id: decision.configId,
          config_name: name,
          result: '',
          execute_time: 0,
          status: 'failed',
          routed_by,
          error,
        }),
        extraFrames: [],
      };
    }
    case 'none':
      return {
        result: frame(message, {
          config_id: 0,
          config_name: 'none',
          result: '',
          execute_time: 0,
          status: 'failed',
          routed_by,
          error: decision.reason,
        }),
        extraFrames: [],
      };
  }
}

/** The `executing` progress frame, for decisions that still have work to do. */
function executingFrame(message: IncomingMessage, decision: RoutingDecision): ServerFrame | undefined {
  switch (decision.kind) {
    case 'llm_config':
      return { type: 'progress', id: message.id, stage: 'executing', config_id: decision.configId };
    case 'builtin':
      return { type: 'progress', id: message.id, stage: 'executing' };
    default:
      return undefined;
  }
}

/** Route and execute one message; progress frames travel alongside, never delaying the work. */
export async function answerV1(ctx: LegacyContext, message: IncomingMessage): Promise<Answer> {
  const routeStarted = Date.now();
  const [routing] = await Promise.all([route(ctx, message), ctx.progress({ type: 'progress', id: message.id, stage: 'routing' })]);
  const started = Date.now();
  const executing = executingFrame(message, routing);
  const [outcome] = await Promise.all([
    execute(ctx, message, routing, started, started - routeStarted),
    executing ? ctx.progress(executing) : undefined,
  ]);
  return { routing, ...outcome };
}
