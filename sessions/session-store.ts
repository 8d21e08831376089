// What the gateway and the sessions API share about a session: its row in user_session_configs
// (always looked up together with the user, so another user's id is simply "not found"), and the
// Temporal calls that start it or reach its workflow.
import { randomBytes } from 'node:crypto';
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import type { Database, UserSessionConfig } from '../db';
import { AppError, ServiceUnavailableError } from '../lib/errors';
import type { AppContext, TemporalHandles } from '../app/context';
import {
  attachSignal,
  deviceIdSearchAttribute,
  messageSignal,
  SESSION_WORKFLOW_TYPE,
  sessionWorkflowId,
  userIdSearchAttribute,
  type IncomingMessage,
  type RelayAddress,
  type SessionWorkflowInput,
} from '../contract';

/** Session ids are ours (random, URL-safe); this also bounds what a client may send to resume. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/** Signals and queries are answered in milliseconds; a bound keeps a sick cluster from hanging a request. */
const TEMPORAL_CALL_TIMEOUT_MS = 10_000;

type SessionWorkflowFn = (input: SessionWorkflowInput) => Promise<unknown>;

export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * The one session of a bound xiaozhi device (row id of xiaozhi_devices, never reused): stable, so
 * every reconnect, on any gateway, resumes the same workflow. Random session ids (22 characters of
 * base64url) never take this form.
 */
export function deviceSessionId(deviceRowId: number): string {
  return `device-${deviceRowId}`;
}

export function requireTemporal(ctx: Pick<AppContext, 'temporal'>): TemporalHandles {
  if (!ctx.temporal) throw new ServiceUnavailableError('Sessions need Temporal, which this process is not connected to');
  return ctx.temporal;
}

/** The user's own session row, or null (for a missing id and for another user's id alike). */
export async function findUserSession(db: Database, userId: string, sessionId: string): Promise<UserSessionConfig | null> {
  if (!SESSION_ID_PATTERN.test(sessionId)) return null;
  return db.models.UserSessionConfig.findOne({ where: { user_id: userId, session_id: sessionId } });
}

export function sessionHandle(temporal: TemporalHandles, row: Pick<UserSessionConfig, 'workflow_id'>): WorkflowHandle {
  return temporal.client.workflow.getHandle(row.workflow_id);
}

/** Runs one Temporal call with a deadline, so an unreachable cluster fails fast instead of hanging. */
export function withTemporalDeadline<T>(temporal: TemporalHandles, fn: () => Promise<T>, ms = TEMPORAL_CALL_TIMEOUT_MS): Promise<T> {
  return temporal.connection.withDeadline(Date.now() + ms, fn);
}

/** The workflow has completed (closed, expired, terminated): signals to it fail with this. */
export function isWorkflowGone(error: unknown): boolean {
  return error instanceof WorkflowNotFoundError;
}

/** The user already has as many open sessions as allowed; close one (or resume it) first. */
export class SessionLimitError extends AppError {
  constructor(limit: number) {
    super(409, 'session_limit_reached', `You already have ${limit} open sessions, the most allowed; resume or close one first`);
  }
}

export interface StartSessionInput {
  userId: string;
  /** From newSessionId(); the caller needs it before the workflow exists. */
  sessionId: string;
  deviceId: string | null;
  /** The socket that opens the session, sent in `attach`; or the one message of a chat completion request's session. */
  first: { relayAddress: RelayAddress } | { message: IncomingMessage };
  /** Idle time before the session expires (default SESSION_IDLE_TTL; device sessions: DEVICE_SESSION_IDLE_TTL). */
  idleTtlMs?: number;
}

/**
 * A brand-new session: the row first (so the workflow's bookkeeping finds it), then
 * signal-with-start carrying `attach`. If Temporal refuses, the row is removed again.
 *
 * Each open session is a running workflow kept for SESSION_IDLE_TTL, so a user may hold only
 * MAX_SESSIONS_PER_USER (SessionLimitError). The count and the insert run in one transaction under
 * a per-user advisory lock, so concurrent opens, on any number of gateways, cannot all pass the
 * count before any row exists. (The two-key lock form: its keys never meet the one-key locks the
 * config cap takes.)
 */
export async function startSession(ctx: AppContext, input: StartSessionInput): Promise<UserSessionConfig> {
  requireTemporal(ctx);
  const { sessionId } = input;
  const workflowId = sessionWorkflowId(input.userId, sessionId);
  const now = Date.now();
  const { UserSessionConfig: Sessions } = ctx.db.models;
  const limit = ctx.config.MAX_SESSIONS_PER_USER;
  const idleTtlMs = input.idleTtlMs ?? ctx.config.SESSION_IDLE_TTL;
  let reused = false;
  const row = await ctx.db.sequelize.transaction(async (transaction) => {
    await ctx.db.sequelize.query("SELECT pg_advisory_xact_lock(hashtext('user_sessions'), hashtext(:userId))", {
      replacements: { userId: input.userId },
      transaction,
    });
    const open = await Sessions.count({ where: { user_id: input.userId, status: 'active' }, transaction });
    if (open >= limit) throw new SessionLimitError(limit);
    const values = {
      user_id: input.userId,
      session_id: sessionId,
      workflow_id: workflowId,
      device_id: input.deviceId,
      status: 'active' as const,
      expires_at: new Date(now + idleTtlMs),
      last_activity_at: new Date(now),
    };
    // A device's session id is stable: after its session ended (expired, closed) the row starts again.
    const ended = await Sessions.findOne({ where: { user_id: input.userId, session_id: sessionId }, transaction });
    if (ended) {
      reused = true;
      return ended.update(values, { transaction });
    }
    return Sessions.create(values, { transaction });
  });
  try {
    await signalWithStartSession(ctx, input);
  } catch (error) {
    await (reused ? row.update({ status: 'closed', expires_at: null }) : row.destroy()).catch((cleanupError: unknown) => {
      ctx.logger.warn({ err: cleanupError, sessionId }, 'could not remove the row of a session that failed to start');
    });
    throw error;
  }
  return row;
}

/**
 * Signal-with-start of a session whose row exists: starts its workflow with `attach` or its first
 * message, or signals it when it runs already (a chat completion retry taking over a request whose
 * API process died before its signal).
 */
export async function signalWithStartSession(ctx: AppContext, input: StartSessionInput): Promise<void> {
  const temporal = requireTemporal(ctx);
  const { sessionId } = input;
  const workflowId = sessionWorkflowId(input.userId, sessionId);
  const workflowInput: SessionWorkflowInput = {
    userId: input.userId,
    sessionId,
    deviceId: input.deviceId,
    idleTtlMs: input.idleTtlMs ?? ctx.config.SESSION_IDLE_TTL,
  };
  const options = {
    workflowId,
    taskQueue: ctx.config.TEMPORAL_TASK_QUEUE,
    args: [workflowInput] as [SessionWorkflowInput],
    typedSearchAttributes: [
      { key: userIdSearchAttribute, value: input.userId },
      ...(input.deviceId ? [{ key: deviceIdSearchAttribute, value: input.deviceId }] : []),
    ],
  };
  const first = input.first;
  await withTemporalDeadline(temporal, () =>
    'message' in first
      ? temporal.client.workflow.signalWithStart<SessionWorkflowFn, [IncomingMessage]>(SESSION_WORKFLOW_TYPE, {
          ...options,
          signal: messageSignal,
          signalArgs: [first.message],
        })
      : temporal.client.workflow.signalWithStart<SessionWorkflowFn, [RelayAddress]>(SESSION_WORKFLOW_TYPE, {
          ...options,
          signal: attachSignal,
          signalArgs: [first.relayAddress],
        }),
  );
}

/** A row still says active but its workflow is gone (terminated by an operator, say): record that. */
export async function markGone(row: UserSessionConfig): Promise<void> {
  if (row.status === 'active') await row.update({ status: 'closed' });
}

/** A session's default LLM must be one of the user's own LLM configs (active or not). */
export async function isUsersLlmConfig(db: Database, userId: string, configId: number): Promise<boolean> {
  const count = await db.models.UserAIConfig.count({ where: { id: configId, user_id: userId, config_type: 'llm' } });
  return count > 0;
}
