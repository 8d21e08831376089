// Drives one `POST /v1/chat/completions` request through a session workflow (issue 17): the
// request is a `message` signal, to the caller's session named by X-Session-Id or to a
// one-message session of its own (signal-with-start, closed once answered); its frames come back
// to this process as a relay address of its own (sessions/chat-relay.ts), with the workflow's
// outbox (`state` query) as the fallback, so a lost notification never loses the answer. Runs to
// the end whether or not the HTTP client stays: the answer is recorded (Idempotency-Key), the
// one-message session closed, the result acked.
import { createHash, randomBytes } from 'node:crypto';
import {
  ackSignal,
  closeSignal,
  messageSignal,
  relayAddressFor,
  sessionWorkflowId,
  stateQuery,
  transcriptQuery,
  type ChatRequestSpec,
  type IncomingMessage,
  type ResultFrame,
} from '../contract';
import { chatIdempotency, type ChatClaim, type RecordedChatAnswer } from '../db';
import { AppError, NotFoundError } from '../lib/errors';
import type { AppContext, TemporalHandles } from '../app/context';
import { createChatRelay, type ChatRelay, type ChatWaiter } from './chat-relay';
import { answerFor } from './chat-response';
import {
  findUserSession,
  isWorkflowGone,
  newSessionId,
  requireTemporal,
  SessionLimitError,
  sessionHandle,
  signalWithStartSession,
  startSession,
  withTemporalDeadline,
} from './session-store';

/** The outbox is read when no result has come this long after the signal; then less often, up to OUTBOX_POLL_MAX_MS apart. */
const OUTBOX_POLL_MS = 2_000;
const OUTBOX_POLL_MAX_MS = 10_000;
/** Each read of the outbox that finds nothing waits this much longer for the next (a query costs the worker a task). */
const OUTBOX_POLL_GROWTH = 1.5;
/** A claim whose message its session has not heard of this long after is sent again by a retry. */
const CLAIM_ORPHAN_MS = 15_000;
/** A retry waiting for the first request's answer looks at the recorded answer this often. */
const CLAIM_POLL_MS = 200;
/** Retry-After when the caller's open sessions (one-message sessions included) are at the cap. */
const SESSION_LIMIT_RETRY_S = 1;
/** The longest a request waits for its answer (every LLM call and fallback is bounded well under it). */
const ANSWER_TIMEOUT_MS = 10 * 60_000;

export interface ChatCompletionInput {
  userId: string;
  /** X-Session-Id: the caller's session; absent, a one-message session of the request's own. */
  sessionId: string | null;
  /** The last user message: what routing reads and the transcript shows. */
  text: string;
  spec: Omit<ChatRequestSpec, 'replyTo'>;
  stream: boolean;
  /** Idempotency-Key and the request it keys (its body and session header). */
  idempotency?: { key: string; request: { body: unknown; sessionId: string | null } };
}

export interface ChatDelta {
  text: string;
  offset: number;
}

/** One request under way: its ids, its deltas as they come, its answer. */
export interface ChatRun {
  sessionId: string;
  messageId: string;
  /** Deltas of a streamed answer (best effort; the answer is the durable one). */
  onDelta(listener: (delta: ChatDelta) => void): void;
  /** The result frame when this request answered; the recorded answer when an Idempotency-Key had one. */
  done: Promise<{ result: ResultFrame; answer: RecordedChatAnswer } | { recorded: RecordedChatAnswer }>;
}

export class IdempotencyMismatchError extends AppError {
  constructor() {
    super(422, 'idempotency_key_reused', 'This Idempotency-Key was used with a different request in the last 24 hours', {
      errors: [{ field: 'Idempotency-Key', message: 'was used with a different request' }],
    });
  }
}

/** What an Idempotency-Key is held to: the request's body and its X-Session-Id. */
export function idempotencyHash(request: { body: unknown; sessionId: string | null }): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('hex');
}

function newMessageId(): string {
  return `chatcmpl-${randomBytes(15).toString('base64url')}`;
}

export function createChatCompletions(ctx: AppContext) {
  const store = chatIdempotency(ctx.db);
  let relay: Promise<ChatRelay> | undefined;
  const relayOf = () => (relay ??= createChatRelay(ctx.db, ctx.logger));
  const log = ctx.logger.child({ component: 'chat-completions' });

  async function findResult(temporal: TemporalHandles, workflowId: string, messageId: string): Promise<ResultFrame | undefined> {
    try {
      const state = await withTemporalDeadline(temporal, () => temporal.client.workflow.getHandle(workflowId).query(stateQuery));
      return state.outbox.find((frame) => frame.id === messageId);
    } catch (error) {
      log.debug({ err: error, workflowId }, 'reading the outbox failed; trying again');
      return undefined;
    }
  }

  /** Whether the workflow has the message: its result, or that it waits or was handled; `gone` when no such workflow runs or ran. */
  async function probe(
    temporal: TemporalHandles,
    workflowId: string,
    messageId: string,
  ): Promise<{ result?: ResultFrame; known: boolean } | 'gone' | 'unreachable'> {
    try {
      const handle = temporal.client.workflow.getHandle(workflowId);
      const state = await withTemporalDeadline(temporal, () => handle.query(stateQuery));
      const result = state.outbox.find((frame) => frame.id === messageId);
      if (result) return { result, known: true };
      if (state.pendingIds.includes(messageId)) return { known: true };
      const transcript = await withTemporalDeadline(temporal, () => handle.query(transcriptQuery));
      return { known: transcript.some((entry) => entry.id === messageId) };
    } catch (error) {
      if (isWorkflowGone(error)) return 'gone';
      log.debug({ err: error, workflowId }, 'reading the session failed; trying again');
      return 'unreachable';
    }
  }

  /** The message's result: from the relay, or from the outbox when the relay stays silent. */
  async function awaitResult(temporal: TemporalHandles, waiter: ChatWaiter, workflowId: string, messageId: string): Promise<ResultFrame> {
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    let wait = OUTBOX_POLL_MS;
    for (;;) {
      const relayed = await waiter.next(wait);
      if (relayed) return relayed;
      const found = await findResult(temporal, workflowId, messageId);
      if (found) return found;
      wait = Math.min(wait * OUTBOX_POLL_GROWTH, OUTBOX_POLL_MAX_MS);
      if (Date.now() > deadline) {
        return {
          type: 'function_call_result',
          id: messageId,
          config_id: 0,
          config_name: 'none',
          result: '',
          execute_time: 0,
          status: 'failed',
          error: 'no answer within the time limit',
          completion: { failure: { type: 'timeout' } },
        };
      }
    }
  }

  /** After the answer: the one-message session closes, a named session drops the result from its outbox. */
  async function settle(temporal: TemporalHandles, workflowId: string, messageId: string, oneMessage: boolean): Promise<void> {
    try {
      const handle = temporal.client.workflow.getHandle(workflowId);
      await withTemporalDeadline(temporal, () =>
        oneMessage ? handle.signal(closeSignal, { reason: 'request_answered' }) : handle.signal(ackSignal, { ids: [messageId] }),
      );
    } catch (error) {
      if (!isWorkflowGone(error)) log.warn({ err: error, workflowId }, 'could not close or ack after a chat completion');
    }
  }

  /**
   * A retry of a request with the same key: the recorded answer, or the first one's when it comes.
   * The first request's process may be gone: its answer is in the outbox all the same; and when
   * the session never heard of the message CLAIM_ORPHAN_MS after the claim (that process died
   * before its signal), this request sends it (the same body, the claimed ids; the workflow
   * answers an id once).
   */
  async function awaitClaim(
    temporal: TemporalHandles,
    userId: string,
    key: string,
    claim: ChatClaim,
    resend: () => Promise<void>,
  ): Promise<RecordedChatAnswer> {
    const workflowId = sessionWorkflowId(userId, claim.sessionId);
    const started = Date.now();
    const deadline = started + ANSWER_TIMEOUT_MS;
    let nextProbeAt = started + OUTBOX_POLL_MS;
    let resent = false;
    for (;;) {
      const current = await store.read(userId, key);
      if (current?.response) return current.response;
      if (Date.now() >= nextProbeAt) {
        nextProbeAt = Date.now() + OUTBOX_POLL_MS;
        const found = await probe(temporal, workflowId, claim.messageId);
        if (typeof found === 'object' && found.result) {
          const recorded = await store.record(userId, key, answerFor(found.result, claim.sessionId, Math.floor(Date.now() / 1000)));
          await settle(temporal, workflowId, claim.messageId, claim.oneMessage);
          return recorded;
        }
        const orphaned = found === 'gone' || (typeof found === 'object' && !found.known);
        if (orphaned && !resent && claim.ageMs + (Date.now() - started) >= CLAIM_ORPHAN_MS) {
          resent = true;
          log.warn(
            { workflowId, messageId: claim.messageId },
            'the first request with this Idempotency-Key never reached its session; sending it',
          );
          await resend().catch((error: unknown) => log.warn({ err: error, workflowId }, 'could not send the claimed request'));
        }
      }
      if (Date.now() > deadline)
        throw new AppError(504, 'timeout', 'The first request with this Idempotency-Key has not been answered yet');
      await new Promise((resolve) => setTimeout(resolve, CLAIM_POLL_MS));
    }
  }

  /** The request's message, as its signal carries it. */
  function messageOf(input: ChatCompletionInput, messageId: string, instanceId: string): IncomingMessage {
    return {
      id: messageId,
      text: input.text,
      receivedAt: Date.now(),
      ...(input.stream ? { stream: true } : {}),
      chat: { ...input.spec, replyTo: relayAddressFor(instanceId, messageId) },
    };
  }

  /** Sends a claimed request's message that never reached its session (see awaitClaim). */
  async function resendClaimed(temporal: TemporalHandles, input: ChatCompletionInput, claim: ChatClaim): Promise<void> {
    const message = messageOf(input, claim.messageId, (await relayOf()).instanceId);
    const row = await findUserSession(ctx.db, input.userId, claim.sessionId);
    if (!claim.oneMessage) {
      if (row) await withTemporalDeadline(temporal, () => sessionHandle(temporal, row).signal(messageSignal, message));
      return;
    }
    const first = { userId: input.userId, sessionId: claim.sessionId, deviceId: null, first: { message } };
    await (row ? signalWithStartSession(ctx, first) : startSession(ctx, first));
  }

  async function start(input: ChatCompletionInput): Promise<ChatRun> {
    const temporal = requireTemporal(ctx);
    const { userId } = input;
    const existing = input.sessionId === null ? null : await findUserSession(ctx.db, userId, input.sessionId);
    if (input.sessionId !== null && (!existing || existing.status !== 'active')) throw new NotFoundError('Session');
    const oneMessage = existing === null;
    const sessionId = existing?.session_id ?? newSessionId();
    const workflowId = existing?.workflow_id ?? sessionWorkflowId(userId, sessionId);
    const messageId = newMessageId();
    const idem = input.idempotency;
    if (idem) {
      const bodyHash = idempotencyHash(idem.request);
      const { claimed, claim } = await store.claim(userId, idem.key, { bodyHash, sessionId, messageId, oneMessage });
      if (!claimed) {
        if (claim.bodyHash !== bodyHash) throw new IdempotencyMismatchError();
        const recorded = claim.response ?? awaitClaim(temporal, userId, idem.key, claim, () => resendClaimed(temporal, input, claim));
        return {
          sessionId: claim.sessionId,
          messageId: claim.messageId,
          onDelta: () => undefined,
          done: Promise.resolve(recorded).then((answer) => ({ recorded: answer })),
        };
      }
    }

    const chatRelay = await relayOf();
    const waiter = chatRelay.wait(messageId);
    const message = messageOf(input, messageId, chatRelay.instanceId);
    try {
      if (existing) {
        await withTemporalDeadline(temporal, () => sessionHandle(temporal, existing).signal(messageSignal, message));
      } else {
        await startSession(ctx, { userId, sessionId, deviceId: null, first: { message } });
      }
    } catch (error) {
      waiter.close();
      if (idem) await store.release(userId, idem.key);
      if (existing && isWorkflowGone(error)) throw new NotFoundError('Session');
      // One-message sessions count against the session cap while they run: too many at once is a rate limit.
      if (error instanceof SessionLimitError) {
        throw new AppError(429, 'session_limit_reached', error.message, { headers: { 'Retry-After': String(SESSION_LIMIT_RETRY_S) } });
      }
      throw error;
    }
    const created = Math.floor(Date.now() / 1000);
    const done = (async () => {
      try {
        const result = await awaitResult(temporal, waiter, workflowId, messageId);
        let answer = answerFor(result, sessionId, created);
        if (idem) answer = await store.record(userId, idem.key, answer);
        await settle(temporal, workflowId, messageId, oneMessage);
        return { result, answer };
      } finally {
        waiter.close();
      }
    })();
    // Runs to the end even when the client has gone; a failure here is the request's (logged by its caller).
    done.catch(() => undefined);
    return { sessionId, messageId, onDelta: (listener) => waiter.onDelta(listener), done };
  }

  return {
    start,
    async close(): Promise<void> {
      if (relay) await (await relay).close();
    },
  };
}

export type ChatCompletions = ReturnType<typeof createChatCompletions>;
