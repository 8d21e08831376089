// The message path under test: a gateway and a worker in the bench process (startGateway,
// startWorker) on the run's Temporal dev server and PostgreSQL, with the scripted fake LLM as
// provider and, in the `router` variant, as router LLM. Clients speak the documented WebSocket
// protocol through TestSocket: message → accepted → function_call_result (same id) → ack.
import OpenAI from 'openai';
import type { RunningRole } from '../app/context';
import { startGateway } from '../gateway';
import { startWorker } from '../worker';
import { createTestContext, insertLLMConfig, uniqueId, type TestContext } from '../test/support/context';
import type { FakeBehaviour, FakeLLM, FakeRequest } from '../test/support/fake-llm';
import { testTemporal } from '../test/support/temporal';
import { TestSocket } from '../test/support/ws-client';
import type { Floor, FloorLoop } from './floor';
import { inBatches, now, sleep } from './stats';

export type Variant = 'router' | 'noRouter';

/** Limits that would otherwise throttle a load test from one machine. */
export const BENCH_ENV: Record<string, string> = {
  EGRESS_ALLOW: '127.0.0.0/8',
  RATE_LIMIT_PER_MINUTE: '1000000000',
  WS_MESSAGES_PER_MINUTE: '1000000000',
};

const API_KEY = 'sk-bench-0123456789abcdef';

export interface MessageStack {
  variant: Variant;
  tc: TestContext;
  llm: FakeLLM;
  wsUrl: string;
  /** The router LLM's model name at the fake LLM (router variant only). */
  routerModel: string | undefined;
  close(): Promise<void>;
}

function lastUserMessage(request: FakeRequest): string {
  return [...request.body.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
}

/** The router's reply: hand the question to the user's (only) LLM config, as a real router would. */
function routeToUsersConfig(request: FakeRequest): FakeBehaviour {
  const tool = request.body.tools?.find((t) => t.function.name.startsWith('use_ai_config_'));
  return tool ? { toolCall: tool.function.name, arguments: { question: lastUserMessage(request) } } : { reply: 'no config was offered' };
}

/** A router model at the fake LLM that hands each message to the user's config, and the env that points a worker at it. */
export function scriptRouter(llm: FakeLLM): { routerModel: string; env: Record<string, string> } {
  const routerModel = uniqueId('bench-router');
  llm.otherwise(routerModel, routeToUsersConfig);
  return { routerModel, env: { ROUTER_LLM_BASE_URL: llm.baseUrl, ROUTER_LLM_MODEL: routerModel, ROUTER_LLM_API_KEY: API_KEY } };
}

export async function startMessageStack(llm: FakeLLM, variant: Variant): Promise<MessageStack> {
  const router = variant === 'router' ? scriptRouter(llm) : undefined;
  const routerModel = router?.routerModel;
  const routerEnv: Record<string, string> = router?.env ?? {};
  const tc = await createTestContext({ env: { ...BENCH_ENV, ...routerEnv } });
  const roles: RunningRole[] = [];
  try {
    roles.push(await startWorker(tc.ctx, { connection: (await testTemporal()).nativeConnection }));
    const gateway = await startGateway(tc.ctx, { host: '127.0.0.1', port: 0 });
    roles.push(gateway);
    const wsUrl = gateway.urls.websocket;
    if (!wsUrl) throw new Error('the gateway reported no WebSocket URL');
    return {
      variant,
      tc,
      llm,
      wsUrl,
      routerModel,
      async close() {
        for (const role of roles.reverse()) await role.close();
        await tc.close();
      },
    };
  } catch (error) {
    for (const role of roles.reverse()) await role.close().catch(() => undefined);
    await tc.close();
    throw error;
  }
}

export type OutcomeStatus = 'answered' | 'failed' | 'lost';

export interface Outcome {
  status: OutcomeStatus;
  /** Socket send → function_call_result frame (or → giving up, when lost). */
  ms: number;
  error?: string;
}

/** One user with one LLM config and one open socket. */
export class BenchSession {
  private constructor(
    readonly socket: TestSocket,
    readonly userId: string,
    readonly sessionId: string,
    readonly model: string,
    readonly configId: number,
  ) {}

  static async open(stack: Pick<MessageStack, 'tc' | 'llm' | 'wsUrl'>): Promise<BenchSession> {
    const userId = uniqueId('bench');
    const model = uniqueId('bench-llm');
    const config = await insertLLMConfig(stack.tc.ctx, userId, { model, baseUrl: stack.llm.baseUrl, apiKey: API_KEY });
    const socket = await TestSocket.open(stack.wsUrl, { token: await stack.tc.token(userId), deviceId: 'bench' });
    const hello = await socket.next('hello');
    return new BenchSession(socket, userId, hello.session_id, model, config.id);
  }

  /** Sends one message, waits for its result and acks it. */
  async ask(id: string, text: string, timeoutMs: number): Promise<Outcome> {
    const t = now();
    this.socket.send({ type: 'message', id, text });
    let result;
    try {
      result = await this.socket.next('function_call_result', (f) => f.id === id, timeoutMs);
    } catch {
      const errors = this.socket.received.filter((f) => f.type === 'error');
      return { status: 'lost', ms: now() - t, error: errors.length ? JSON.stringify(errors.at(-1)) : `no result within ${timeoutMs} ms` };
    }
    const elapsed = now() - t;
    this.socket.send({ type: 'ack', id });
    return result.status === 'success'
      ? { status: 'answered', ms: elapsed }
      : { status: 'failed', ms: elapsed, error: result.error ?? result.status };
  }

  /** How many function_call_result frames arrived for `id` (more than one is a duplicate). */
  results(id: string): number {
    return this.socket.received.filter((f) => f.type === 'function_call_result' && f.id === id).length;
  }

  close(): Promise<void> {
    return this.socket.close();
  }
}

export interface Counts {
  sent: number;
  answered: number;
  failed: number;
  lost: number;
  duplicated: number;
}

export function emptyCounts(): Counts {
  return { sent: 0, answered: 0, failed: 0, lost: 0, duplicated: 0 };
}

export function count(counts: Counts, outcome: Outcome, errors: string[]): void {
  counts.sent++;
  counts[outcome.status]++;
  if (outcome.error && errors.length < 5) errors.push(outcome.error);
}

/** Duplicated results, counted after a short grace period so late duplicates are seen too. */
export async function countDuplicates(sent: { session: BenchSession; id: string }[]): Promise<number> {
  await sleep(500);
  return sent.reduce((sum, { session, id }) => sum + Math.max(0, session.results(id) - 1), 0);
}

// ---------------------------------------------------------------------------------------------
// The same LLM calls, made directly with the openai SDK against the same fake LLM.

const ROUTER_SYSTEM_PROMPT =
  'You route a user message to the best tool. Tools named use_ai_config_<id> hand the question to one of the ' +
  "user's AI models; pick the one whose description fits the question best and pass the question on. Use a " +
  'built-in function only when the user asks for what it does. If the message is small talk, answer directly.';

type Tool = OpenAI.Chat.Completions.ChatCompletionFunctionTool;

function routerTools(configId: number, model: string): Tool[] {
  const tool = (name: string, description: string, properties: Record<string, unknown>): Tool => ({
    type: 'function',
    function: { name, description, parameters: { type: 'object', properties } },
  });
  return [
    tool(`use_ai_config_${configId}`, `Answers questions with ${model} (model ${model})`, {
      question: { type: 'string', description: "The user's question" },
    }),
    tool('get_time', 'The current date and time in a time zone', { timezone: { type: 'string' } }),
    tool('play_music', 'Plays a song on the user device', { song: { type: 'string' } }),
    tool('change_role', 'Changes the role the assistant plays', { role: { type: 'string' } }),
    tool('end_session', 'Ends the conversation', {}),
  ];
}

/** The LLM calls one message costs, made directly: router call (router variant) + execution call. */
export function directCaller(stack: MessageStack, session: BenchSession): (text: string) => Promise<void> {
  const client = new OpenAI({ baseURL: stack.llm.baseUrl, apiKey: API_KEY, maxRetries: 0 });
  const tools = routerTools(session.configId, session.model);
  const routerModel = stack.routerModel;
  return async (text) => {
    let question = text;
    if (routerModel) {
      const routed = await client.chat.completions.create({
        model: routerModel,
        messages: [
          { role: 'system', content: ROUTER_SYSTEM_PROMPT },
          { role: 'user', content: text },
        ],
        tools,
        tool_choice: 'auto',
      });
      const call = routed.choices[0]?.message.tool_calls?.find((c) => c.type === 'function');
      if (!call) throw new Error('the fake router made no tool call');
      question = (JSON.parse(call.function.arguments) as { question?: string }).question ?? text;
    }
    const answer = await client.chat.completions.create({ model: session.model, messages: [{ role: 'user', content: question }] });
    if (!answer.choices[0]?.message.content) throw new Error('the fake LLM gave no answer');
  };
}

// ---------------------------------------------------------------------------------------------
// Goal 1: latency of one message at a time, interleaved with the direct calls and the floor.

export interface LatencyRun {
  variant: Variant;
  ours: number[];
  direct: number[];
  floor: number[];
  counts: Counts;
  errors: string[];
  /** The last timed message, for the per-step breakdown. */
  sample: { userId: string; sessionId: string; messageId: string; ms: number };
}

/** Messages sent one after another on one socket: the timed ones after `warmup` untimed ones. */
export interface SequenceOptions {
  messages: number;
  warmup: number;
  timeoutMs: number;
}

export async function measureLatency(stack: MessageStack, floor: Floor, options: SequenceOptions): Promise<LatencyRun> {
  const session = await BenchSession.open(stack);
  const direct = directCaller(stack, session);
  const loop: FloorLoop = await floor.loop();
  const run: LatencyRun = {
    variant: stack.variant,
    ours: [],
    direct: [],
    floor: [],
    counts: emptyCounts(),
    errors: [],
    sample: { userId: session.userId, sessionId: session.sessionId, messageId: '', ms: NaN },
  };
  const sent: { session: BenchSession; id: string }[] = [];
  try {
    for (let i = -options.warmup; i < options.messages; i++) {
      const text = `question ${i} for the ${stack.variant} bench`;
      // Interleaved, so drift on a noisy machine hits all three series alike.
      const t = now();
      await direct(text);
      const directMs = now() - t;
      const id = uniqueId(`lat-${i}`);
      const outcome = await session.ask(id, text, options.timeoutMs);
      sent.push({ session, id });
      count(run.counts, outcome, run.errors);
      if (outcome.status === 'lost') break; // the socket is in trouble; the rest would only wait out their timeouts
      const floorMs = await loop.ping();
      if (i < 0) continue;
      run.direct.push(directMs);
      run.floor.push(floorMs);
      if (outcome.status === 'answered') {
        run.ours.push(outcome.ms);
        run.sample = { ...run.sample, messageId: id, ms: outcome.ms };
      }
    }
    run.counts.duplicated = await countDuplicates(sent);
  } finally {
    await session.close();
  }
  return run;
}

// ---------------------------------------------------------------------------------------------
// Goal 2: throughput of many sessions sending back to back, against many floor loops.

export interface ThroughputRun {
  sessions: number;
  perSession: number;
  ours: { seconds: number; perSecond: number; latencies: number[]; counts: Counts; errors: string[] };
  floor: { seconds: number; perSecond: number; latencies: number[]; updates: number };
}

export async function measureThroughput(
  stack: Pick<MessageStack, 'tc' | 'llm' | 'wsUrl'>,
  floor: Floor,
  options: { sessions: number; perSession: number; timeoutMs: number },
): Promise<ThroughputRun> {
  const lanes = Array.from({ length: options.sessions }, (_, i) => i);

  // The floor: one loop of back-to-back updates per workflow, all at once.
  const loops = await inBatches(lanes, 20, () => floor.loop());
  const floorLatencies: number[] = [];
  let t = now();
  await Promise.all(
    loops.map(async (loop) => {
      for (let i = 0; i < options.perSession; i++) floorLatencies.push(await loop.ping());
    }),
  );
  const floorSeconds = (now() - t) / 1000;

  // Switchboard: one socket per session, each sending back to back (send, await result, ack, next).
  const sessions = await inBatches(lanes, 10, () => BenchSession.open(stack));
  const counts = emptyCounts();
  const errors: string[] = [];
  const sent: { session: BenchSession; id: string }[] = [];
  const latencies: number[] = [];
  try {
    // One untimed message each first: every session's workflow is running and cached.
    await Promise.all(
      sessions.map(async (session) => {
        const id = uniqueId('warm');
        sent.push({ session, id });
        count(counts, await session.ask(id, 'warm up', options.timeoutMs), errors);
      }),
    );
    t = now();
    await Promise.all(
      sessions.map(async (session, s) => {
        for (let i = 0; i < options.perSession; i++) {
          const id = uniqueId(`tp-${s}-${i}`);
          sent.push({ session, id });
          const outcome = await session.ask(id, `message ${i} of session ${s}`, options.timeoutMs);
          count(counts, outcome, errors);
          if (outcome.status === 'answered') latencies.push(outcome.ms);
          if (outcome.status === 'lost') break; // this socket is in trouble; the rest are counted as never sent
        }
      }),
    );
    const seconds = (now() - t) / 1000;
    counts.duplicated = await countDuplicates(sent);
    return {
      sessions: options.sessions,
      perSession: options.perSession,
      ours: { seconds, perSecond: latencies.length / seconds, latencies, counts, errors },
      floor: {
        seconds: floorSeconds,
        perSecond: floorLatencies.length / floorSeconds,
        latencies: floorLatencies,
        updates: floorLatencies.length,
      },
    };
  } finally {
    await Promise.all(sessions.map((session) => session.close()));
  }
}

// ---------------------------------------------------------------------------------------------
// Goal 1b: a long session, one socket sending back to back across continue-as-new boundaries.

export interface LongSessionRun {
  variant: Variant;
  /** The session's number of the first timed message (1-based; the ones before were warm-up). */
  firstIndex: number;
  /** Socket send → result of each timed message, in the order sent (NaN for one that failed). */
  ours: number[];
  /** The message ids, in the same order. */
  ids: string[];
  /** As many direct LLM calls and bare update round trips, each measured in a loop of its own after the messages. */
  direct: number[];
  floor: number[];
  counts: Counts;
  errors: string[];
  session: { userId: string; sessionId: string };
}

/**
 * One socket, `warmup` + `messages` messages back to back (send, result, ack, next: nothing in
 * between, so the message after an answer arrives while the workflow may be continuing as new).
 * The direct calls and the floor are measured after, not interleaved, so they leave no gap.
 */
export async function measureLongSession(stack: MessageStack, floor: Floor, options: SequenceOptions): Promise<LongSessionRun> {
  const session = await BenchSession.open(stack);
  const run: LongSessionRun = {
    variant: stack.variant,
    firstIndex: options.warmup + 1,
    ours: [],
    ids: [],
    direct: [],
    floor: [],
    counts: emptyCounts(),
    errors: [],
    session: { userId: session.userId, sessionId: session.sessionId },
  };
  const sent: { session: BenchSession; id: string }[] = [];
  try {
    for (let n = 1; n <= options.warmup + options.messages; n++) {
      const id = uniqueId(`long-${n}`);
      const outcome = await session.ask(id, `message ${n} of a long session`, options.timeoutMs);
      sent.push({ session, id });
      count(run.counts, outcome, run.errors);
      if (outcome.status === 'lost') break; // the socket is in trouble; the rest would only wait out their timeouts
      if (n < run.firstIndex) continue;
      run.ours.push(outcome.status === 'answered' ? outcome.ms : NaN);
      run.ids.push(id);
    }
    run.counts.duplicated = await countDuplicates(sent);
  } finally {
    await session.close();
  }
  const direct = directCaller(stack, session);
  for (let i = 0; i < options.messages; i++) {
    const t = now();
    await direct(`question ${i} for the direct calls`);
    run.direct.push(now() - t);
  }
  const loop = await floor.loop();
  for (let i = 0; i < options.messages; i++) run.floor.push(await loop.ping());
  return run;
}
