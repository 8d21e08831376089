// The caller's sessions for the REST API: the rows for lists, the live workflow (state and
// transcript queries) for one session, signals for changes. Every lookup is scoped by user, so
// another user's session answers 404 exactly like a missing one.
import { ConflictError, NotFoundError, ServiceUnavailableError, ValidationError } from '../lib/errors';
import type { UserSessionConfig } from '../db';
import type { AppContext, ConfigChangeNotifier, TemporalHandles } from '../app/context';
import {
  closeSignal,
  refreshConfigsSignal,
  stateQuery,
  transcriptQuery,
  updateSessionConfigSignal,
  type AuditPage,
  type CachedConfig,
  type SessionSettings,
  type SessionSummary,
  type TranscriptEntry,
} from '../contract';
import { parseOrThrow } from '../lib/validate';
import { literal, Op } from 'sequelize';
import { sessionAuditQuerySchema, sessionListQuerySchema, sessionSettingsUpdateSchema } from './session.schemas';
import { decodeAuditCursor, readAuditPage } from './session-audit';
import { WorkflowNotFoundError } from '@temporalio/client';
import {
  findUserSession,
  isUsersLlmConfig,
  isWorkflowGone,
  markGone,
  requireTemporal,
  sessionHandle,
  withTemporalDeadline,
} from './session-store';

export type { SessionSummary } from '../contract';

export interface SessionDetail extends SessionSummary {
  settings: SessionSettings;
  /** The session's cached configs: the summary routing uses (never a secret). */
  configs: CachedConfig[];
  transcript: TranscriptEntry[];
  /** Ids of messages received but not answered yet. */
  pending_ids: string[];
  /** Results not acknowledged by a client yet. */
  unacked_results: number;
  /** `workflow`: live from the workflow's queries; `database`: from the stored row (session ended or Temporal unreachable). */
  source: 'workflow' | 'database';
}

/** One page of the caller's sessions, newest first; `next_cursor` fetches the next page (null on the last). */
export interface SessionPage {
  sessions: SessionSummary[];
  next_cursor: string | null;
}

/** Creation time in microseconds since the epoch, exact (a JS Date would round to milliseconds). */
const CREATED_US = literal('(extract(epoch FROM created_at) * 1000000)::bigint');

/** A cursor names the last session of a page by (created_at in µs, id): the order's own key, so pages never skip or repeat. */
function encodeCursor(createdUs: string, id: number): string {
  return Buffer.from(`${createdUs}.${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdUs: bigint; id: number } {
  const match = /^(\d{1,19})\.(\d{1,10})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  const id = Number(match?.[2]);
  if (!match || !Number.isSafeInteger(id) || id > 2_147_483_647) {
    throw new ValidationError([{ field: 'cursor', message: 'is not a cursor this API returned (use next_cursor as given)' }]);
  }
  return { createdUs: BigInt(match[1]!), id };
}
/** Reading a page of history takes longer than a signal: up to a few runs of up to ~1 MiB each. */
const AUDIT_DEADLINE_MS = 30_000;
/** gRPC's NOT_FOUND status code. */
const GRPC_NOT_FOUND = 5;

/** The Temporal UI the audit trail links to: TEMPORAL_UI_URL, else the embedded dev server's UI. */
export function temporalUiBaseUrl(
  config: Pick<AppContext['config'], 'TEMPORAL_UI_URL' | 'embeddedTemporal' | 'PUBLIC_HOST' | 'TEMPORAL_UI_PORT'>,
): string | null {
  const base =
    config.TEMPORAL_UI_URL ?? (config.embeddedTemporal ? `http://${config.PUBLIC_HOST ?? '127.0.0.1'}:${config.TEMPORAL_UI_PORT}` : null);
  return base?.replace(/\/+$/, '') ?? null;
}

/** A config change must never hold up the API request for long; refreshing is best effort. */
const NOTIFY_TIMEOUT_MS = 3_000;
/** A workflow task retried this often will not read a close signal: such a session is terminated. */
const STUCK_TASK_ATTEMPTS = 2;
/** How long DELETE follows a closing session (a healthy one completes in milliseconds). */
const CLOSE_WAIT_MS = 3_000;
const CLOSE_POLL_MS = 200;

function iso(value: Date | number | null | undefined): string | null {
  return value === null || value === undefined ? null : new Date(value).toISOString();
}

function summaryOf(row: UserSessionConfig): SessionSummary {
  return {
    id: row.session_id,
    workflow_id: row.workflow_id,
    status: row.status,
    device_id: row.device_id ?? null,
    created_at: new Date(row.created_at).toISOString(),
    last_activity_at: iso(row.last_activity_at),
    expires_at: iso(row.expires_at),
  };
}

/** The row's view of a session: settings columns and the snapshot the workflow stored (no transcript). */
function detailFromRow(row: UserSessionConfig): SessionDetail {
  const data = row.session_data ?? {};
  return {
    ...summaryOf(row),
    settings: {
      default_llm_id: row.default_llm_id ?? null,
      enabled_functions: row.enabled_functions ?? null,
      role: typeof data.role === 'string' ? data.role : null,
    },
    configs: Array.isArray(data.configs) ? (data.configs as CachedConfig[]) : [],
    transcript: [],
    pending_ids: [],
    unacked_results: 0,
    source: 'database',
  };
}

export function createSessionService(ctx: AppContext) {
  const { UserSessionConfig } = ctx.db.models;
  const log = ctx.logger.child({ component: 'sessions' });

  async function requireRow(userId: string, sessionId: string): Promise<UserSessionConfig> {
    const row = await findUserSession(ctx.db, userId, sessionId);
    if (!row) throw new NotFoundError('Session');
    return row;
  }

  /** One signal to an active session; a finished workflow is a 409, an unreachable cluster a 503. */
  async function signalActive(row: UserSessionConfig, send: (temporal: TemporalHandles) => Promise<void>): Promise<void> {
    if (row.status !== 'active') throw new ConflictError(`Session is ${row.status}`, 'session_ended');
    const temporal = requireTemporal(ctx);
    try {
      await withTemporalDeadline(temporal, () => send(temporal));
    } catch (error) {
      if (isWorkflowGone(error)) {
        await markGone(row);
        throw new ConflictError('Session has ended', 'session_ended');
      }
      log.warn({ err: error, sessionId: row.session_id }, 'signal to a session failed');
      throw new ServiceUnavailableError('Sessions are unavailable right now; retry shortly');
    }
  }

  /**
   * After the close signal: a session whose workflow task keeps failing never reads it, so
   * "closed" would be untrue and its retries would go on. While the close is awaited (briefly),
   * a task seen failing (an attempt past the first) means the session is terminated instead.
   */
  async function closeOrTerminate(row: UserSessionConfig): Promise<void> {
    const temporal = ctx.temporal;
    if (!temporal) return;
    const handle = sessionHandle(temporal, row);
    const deadline = Date.now() + CLOSE_WAIT_MS;
    try {
      for (;;) {
        const description = await withTemporalDeadline(temporal, () => handle.describe());
        if (description.status.name !== 'RUNNING') return;
        const attempt = description.raw.pendingWorkflowTask?.attempt ?? 0;
        if (attempt >= STUCK_TASK_ATTEMPTS) {
          log.warn({ sessionId: row.session_id, attempt }, 'terminating a session whose workflow task keeps failing');
          await withTemporalDeadline(temporal, () =>
            handle.terminate(`closed through the API; its workflow task kept failing (attempt ${attempt})`),
          );
          await row.update({ status: 'closed', expires_at: null });
          return;
        }
        // Still answering a message (a long LLM call): it closes right after; nothing is stuck.
        if (Date.now() > deadline) return;
        await new Promise((resolve) => setTimeout(resolve, CLOSE_POLL_MS));
      }
    } catch (error) {
      log.warn({ err: error, sessionId: row.session_id }, 'could not follow a closing session');
    }
  }

  async function detail(row: UserSessionConfig): Promise<SessionDetail> {
    // Ended sessions are read from the row: querying a closed workflow would replay its history.
    if (row.status !== 'active' || !ctx.temporal) return detailFromRow(row);
    const temporal = ctx.temporal;
    const handle = sessionHandle(temporal, row);
    try {
      const [state, transcript] = await withTemporalDeadline(temporal, () =>
        Promise.all([handle.query(stateQuery), handle.query(transcriptQuery)]),
      );
      return {
        ...summaryOf(row),
        status: state.status,
        last_activity_at: iso(state.lastActivityAt),
        settings: state.settings,
        configs: state.configs,
        transcript,
        pending_ids: state.pendingIds,
        unacked_results: state.outbox.length,
        source: 'workflow',
      };
    } catch (error) {
      log.warn({ err: error, sessionId: row.session_id }, 'session queries failed; answering from the database row');
      return detailFromRow(row);
    }
  }

  return {
    async list(userId: string, rawQuery: unknown = {}): Promise<SessionPage> {
      const query = parseOrThrow(sessionListQuerySchema, rawQuery);
      const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
      // Both values are integers parsed above, so they are written into the SQL as numbers.
      const before = after
        ? literal(`(created_at, id) < (timestamptz 'epoch' + ${after.createdUs} * interval '1 microsecond', ${after.id})`)
        : undefined;
      const owner = query.status ? { user_id: userId, status: query.status } : { user_id: userId };
      const rows = await UserSessionConfig.findAll({
        attributes: { include: [[CREATED_US, 'created_us']] },
        where: before ? { ...owner, [Op.and]: [before] } : owner,
        order: [
          ['created_at', 'DESC'],
          ['id', 'DESC'],
        ],
        limit: query.limit + 1,
      });
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        sessions: page.map(summaryOf),
        next_cursor: rows.length > query.limit && last ? encodeCursor(String(last.get('created_us')), last.id) : null,
      };
    },

    async get(userId: string, sessionId: string): Promise<SessionDetail> {
      return detail(await requireRow(userId, sessionId));
    },

    /**
     * The session's audit trail, read from Temporal's history of every run (sessions/session-audit.ts),
     * a page at a time, oldest message first.
     */
    async audit(userId: string, sessionId: string, rawQuery: unknown = {}): Promise<AuditPage> {
      const query = parseOrThrow(sessionAuditQuerySchema, rawQuery);
      const cursor = query.cursor === undefined ? undefined : decodeAuditCursor(query.cursor);
      if (query.cursor !== undefined && !cursor) {
        throw new ValidationError([{ field: 'cursor', message: 'is not a cursor this API returned (use next_cursor as given)' }]);
      }
      const row = await requireRow(userId, sessionId);
      const temporal = requireTemporal(ctx);
      const location = { namespace: ctx.config.TEMPORAL_NAMESPACE, uiBaseUrl: temporalUiBaseUrl(ctx.config) };
      try {
        return await withTemporalDeadline(
          temporal,
          async () => {
            const firstRunId = cursor
              ? undefined
              : ((await sessionHandle(temporal, row).describe()).raw.workflowExecutionInfo?.firstRunId ?? undefined);
            const from = cursor ?? (firstRunId ? { runId: firstRunId, skip: 0 } : undefined);
            if (!from) throw new NotFoundError('Session history');
            return readAuditPage(temporal, location, row.workflow_id, from, query.limit);
          },
          AUDIT_DEADLINE_MS,
        );
      } catch (error) {
        if (error instanceof NotFoundError || error instanceof ValidationError) throw error;
        if (error instanceof WorkflowNotFoundError || (error as { code?: number }).code === GRPC_NOT_FOUND) {
          // Past the namespace's retention, or a cursor naming a run of another workflow.
          if (cursor) throw new ValidationError([{ field: 'cursor', message: 'names no run of this session' }]);
          throw new NotFoundError('Session history');
        }
        log.warn({ err: error, sessionId }, 'reading a session history failed');
        throw new ServiceUnavailableError('Session histories are unavailable right now; retry shortly');
      }
    },

    /** Forwarded to the workflow as a signal; the answer shows the session with the new settings applied. */
    async update(userId: string, sessionId: string, body: unknown): Promise<SessionDetail> {
      const input = parseOrThrow(sessionSettingsUpdateSchema, body);
      const row = await requireRow(userId, sessionId);
      if (typeof input.default_llm_id === 'number' && !(await isUsersLlmConfig(ctx.db, userId, input.default_llm_id))) {
        throw new ValidationError([{ field: 'default_llm_id', message: 'is not one of your LLM configs' }]);
      }
      await signalActive(row, (temporal) => sessionHandle(temporal, row).signal(updateSessionConfigSignal, input));
      const current = await detail(row);
      // The signal is recorded; the workflow may not have applied it yet when the query ran.
      return { ...current, settings: { ...current.settings, ...input } };
    },

    async close(userId: string, sessionId: string): Promise<SessionSummary> {
      const row = await requireRow(userId, sessionId);
      if (row.status !== 'active') return summaryOf(row);
      await signalActive(row, (temporal) => sessionHandle(temporal, row).signal(closeSignal, { reason: 'closed through the API' })).catch(
        (error: unknown) => {
          // Already over is what the caller wanted.
          if (!(error instanceof ConflictError)) throw error;
        },
      );
      await closeOrTerminate(row);
      return { ...summaryOf(row), status: 'closed' };
    },
  };
}

export type SessionService = ReturnType<typeof createSessionService>;

/**
 * Told by the config API after any change to a user's configs: every active session of that user
 * reloads its cache and tells its client (`configs_updated`). Best effort: failures are logged,
 * never thrown into the API request that changed the config.
 */
export function createConfigChangeNotifier(ctx: AppContext): ConfigChangeNotifier {
  const log = ctx.logger.child({ component: 'config-change-notifier' });
  return {
    async configsChanged(userId) {
      const temporal = ctx.temporal;
      if (!temporal) return;
      try {
        const rows = await ctx.db.models.UserSessionConfig.findAll({ where: { user_id: userId, status: 'active' } });
        const results = await Promise.allSettled(
          rows.map((row) =>
            withTemporalDeadline(temporal, () => sessionHandle(temporal, row).signal(refreshConfigsSignal), NOTIFY_TIMEOUT_MS),
          ),
        );
        await Promise.all(
          results.map(async (result, i) => {
            if (result.status === 'fulfilled') return;
            const row = rows[i]!;
            if (isWorkflowGone(result.reason)) return markGone(row);
            log.warn({ err: result.reason, sessionId: row.session_id }, 'could not tell a session to refresh its configs');
          }),
        );
      } catch (error) {
        log.warn({ err: error, userId }, 'could not notify sessions of a config change');
      }
    },
  };
}
