// Sessions: the user's sessions with status and last activity, each one's messages with the
// routing decision behind every answer, and a link to the session's workflow in the Temporal UI.
// An open session can be resumed (the chat attaches this tab to it) or closed (DELETE
// /sessions/:id); the page says how many are open of the most allowed.
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { RoutingDecision } from '../../../contract/session';
import {
  countOpenSessions,
  unlockCodec,
  type Api,
  type ConsoleSettings,
  type SessionDetail,
  type SessionStatus,
  type SessionSummary,
} from '../api';
import { formatTime, t } from '../i18n';
import { Notice } from '../ui';

function temporalLink(settings: ConsoleSettings, workflowId: string): string | null {
  if (!settings.temporal_ui_url) return null;
  return `${settings.temporal_ui_url}/namespaces/${encodeURIComponent(settings.temporal_namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

function statusLabel(status: SessionStatus): string {
  return status === 'active' ? t('statusActive') : status === 'closed' ? t('statusClosedSession') : t('statusExpired');
}

function TemporalLink(props: { settings: ConsoleSettings; workflowId: string }) {
  const href = temporalLink(props.settings, props.workflowId);
  if (!href) return <span class="help">{t('noTemporalUi')}</span>;
  return (
    <a href={href} target="_blank" rel="noopener noreferrer" class="external" data-testid="temporal-link">
      {t('openInTemporal')} ↗
    </a>
  );
}

/**
 * With payload encryption, the Temporal UI shows sessions decrypted only through the codec
 * endpoint. An auditor pastes a token with the codec scope; the API keeps it as an HttpOnly cookie
 * that the UI sends once its "include cross-origin credentials" setting is on.
 */
function CodecUnlock() {
  const [token, setToken] = useState('');
  const [state, setState] = useState<{ kind: 'idle' | 'done' } | { kind: 'failed'; message: string }>({ kind: 'idle' });
  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      await unlockCodec(token.trim());
      setState({ kind: 'done' });
      setToken('');
    } catch (caught) {
      setState({ kind: 'failed', message: (caught as Error).message });
    }
  };
  return (
    <form class="card codec-unlock" onSubmit={submit} data-testid="codec-unlock">
      <h2>{t('codecTitle')}</h2>
      <p class="help">{t('codecIntro')}</p>
      <label>
        {t('codecTokenLabel')}
        <input type="password" autocomplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit" class="primary" disabled={!token.trim()}>
        {t('codecUnlock')}
      </button>
      {state.kind === 'done' && <Notice kind="success">{t('codecUnlocked')}</Notice>}
      {state.kind === 'failed' && <Notice kind="error">{t('errorGeneric', { message: state.message })}</Notice>}
    </form>
  );
}

export function SessionsPage(props: { api: Api; settings: ConsoleSettings; sessionId?: string }) {
  return props.sessionId ? <SessionView {...props} sessionId={props.sessionId} /> : <SessionList {...props} />;
}

/** Resume (a link to the chat attached to the session) and Close, for an open session. */
function SessionActions(props: { session: SessionSummary; busy: boolean; onClose(): void }) {
  const { session } = props;
  if (session.status !== 'active') return null;
  return (
    <>
      <a
        class="button small"
        href={`#/chat/${encodeURIComponent(session.id)}`}
        aria-label={t('resumeSessionLabel', { id: session.id })}
        data-testid="resume-session"
      >
        {t('resumeSession')}
      </a>
      <button
        type="button"
        class="danger small"
        disabled={props.busy}
        onClick={props.onClose}
        aria-label={t('closeSessionLabel', { id: session.id })}
        data-testid="close-session"
      >
        {t('closeSession')}
      </button>
    </>
  );
}

/** DELETE /sessions/:id, then what the caller shows: the closed summary or the error's message. */
async function closeSession(api: Api, id: string): Promise<{ closed: SessionSummary } | { error: string }> {
  try {
    return { closed: await api.closeSession(id) };
  } catch (caught) {
    return { error: (caught as Error).message };
  }
}

function SessionList(props: { api: Api; settings: ConsoleSettings }) {
  const { api, settings } = props;
  const [sessions, setSessions] = useState<SessionSummary[] | null>(null);
  const [open, setOpen] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [closing, setClosing] = useState<string | null>(null);
  const max = settings.max_sessions_per_user;
  const reload = useCallback(async () => {
    try {
      const [list, count] = await Promise.all([api.listSessions(), countOpenSessions(api, max)]);
      setSessions(list);
      setOpen(count);
    } catch (caught) {
      setError((caught as Error).message);
    }
  }, [api, max]);
  useEffect(() => {
    void reload();
  }, [reload]);

  async function close(id: string) {
    setClosing(id);
    setError(null);
    setNotice(null);
    const outcome = await closeSession(api, id);
    if ('closed' in outcome) setNotice(t('sessionClosedDone', { id }));
    else setError(outcome.error);
    await reload();
    setClosing(null);
  }

  return (
    <section>
      <div class="page-head">
        <h1>{t('sessionsTitle')}</h1>
      </div>
      {error && <Notice kind="error">{t('errorGeneric', { message: error })}</Notice>}
      {notice && (
        <Notice kind="success" onClose={() => setNotice(null)}>
          <span data-testid="sessions-notice">{notice}</span>
        </Notice>
      )}
      {open !== null && (
        <p class={open >= max ? 'open-count full' : 'open-count'} data-testid="open-count" data-open={open}>
          {t('openSessionsCount', { n: open, max })} {open >= max && <strong>{t('openSessionsFull')}</strong>}
        </p>
      )}
      {settings.payload_encryption && <CodecUnlock />}
      {sessions === null ? (
        !error && <p>{t('loading')}</p>
      ) : sessions.length === 0 ? (
        <p class="empty">{t('noSessions')}</p>
      ) : (
        <ul class="session-list" data-testid="session-list">
          <li class="session-row head" aria-hidden="true">
            <span>{t('colSession')}</span>
            <span>{t('colStatus')}</span>
            <span>{t('colDevice')}</span>
            <span>{t('colLastActivity')}</span>
            <span />
          </li>
          {sessions.map((session) => (
            <li key={session.id} class="session-row" data-session={session.id}>
              <a href={`#/sessions/${encodeURIComponent(session.id)}`} class="mono">
                {session.id}
              </a>
              <span>
                <span class={`badge status-${session.status}`}>{statusLabel(session.status)}</span>
              </span>
              <span class="mono small">{session.device_id ?? '—'}</span>
              <span class="when">{formatTime(session.last_activity_at)}</span>
              <span class="row-actions">
                <SessionActions session={session} busy={closing === session.id} onClose={() => void close(session.id)} />
                <TemporalLink settings={settings} workflowId={session.workflow_id} />
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function describeDecision(decision: RoutingDecision): string {
  switch (decision.kind) {
    case 'llm_config':
      return t('decisionLlm', { id: decision.configId, tool: decision.tool });
    case 'function':
      return t('decisionFunction', { name: decision.functionName });
    case 'builtin':
      return t('decisionBuiltin', { name: decision.name });
    case 'device_tool':
      return t('decisionDeviceTool', { name: decision.name });
    case 'direct_answer':
      return t('decisionDirect');
    case 'none':
      return t('decisionNone', { reason: decision.reason });
  }
}

function SessionView(props: { api: Api; settings: ConsoleSettings; sessionId: string }) {
  const [session, setSession] = useState<SessionDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [closing, setClosing] = useState(false);
  const load = useCallback(
    () => props.api.getSession(props.sessionId).then(setSession, (caught: Error) => setError(caught.message)),
    [props.api, props.sessionId],
  );
  useEffect(() => {
    void load();
  }, [load]);

  async function close() {
    setClosing(true);
    setError(null);
    const outcome = await closeSession(props.api, props.sessionId);
    if ('error' in outcome) setError(outcome.error);
    await load();
    setClosing(false);
  }

  return (
    <section data-testid="session-detail">
      <p>
        <a href="#/sessions">← {t('backToSessions')}</a>
      </p>
      <div class="page-head">
        <h1 class="mono">{t('sessionLabel', { id: props.sessionId })}</h1>
      </div>
      {error && <Notice kind="error">{t('errorGeneric', { message: error })}</Notice>}
      {!session ? (
        !error && <p>{t('loading')}</p>
      ) : (
        <>
          <p>
            <span class={`badge status-${session.status}`}>{statusLabel(session.status)}</span> · {t('colLastActivity')}:{' '}
            {formatTime(session.last_activity_at)} · <TemporalLink settings={props.settings} workflowId={session.workflow_id} />
          </p>
          <div class="actions">
            <SessionActions session={session} busy={closing} onClose={() => void close()} />
          </div>
          <p class="help">{t('detailSource', { source: session.source, n: session.unacked_results })}</p>
          <h2>{t('transcript')}</h2>
          {session.transcript.length === 0 ? (
            <p class="empty">{t('noMessages')}</p>
          ) : (
            <ol class="transcript" data-testid="transcript">
              {session.transcript.map((entry) => (
                <li key={entry.id} class="card">
                  <p class="question">{entry.text}</p>
                  <dl>
                    <dt>{t('routing')}</dt>
                    <dd data-testid="routing">
                      {entry.routing ? (
                        <>
                          {describeDecision(entry.routing)} <span class="badge">{entry.routing.routedBy}</span>
                          {'reason' in entry.routing && entry.routing.reason && <small> {entry.routing.reason}</small>}
                        </>
                      ) : (
                        '—'
                      )}
                    </dd>
                    <dt>{t('result')}</dt>
                    <dd>
                      {entry.result ? (
                        <>
                          <strong>{entry.result.config_name}</strong> · {entry.result.status} · {t('ms', { n: entry.result.execute_time })}
                          {entry.result.fallback_from && (
                            <>
                              {' '}
                              ·{' '}
                              {t('fallbackFrom', { name: entry.result.fallback_from.config_name, error: entry.result.fallback_from.error })}
                            </>
                          )}
                          <pre>{entry.result.status === 'success' ? entry.result.result : (entry.result.error ?? entry.result.result)}</pre>
                        </>
                      ) : (
                        <em>{t('pending')}</em>
                      )}
                    </dd>
                  </dl>
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </section>
  );
}
