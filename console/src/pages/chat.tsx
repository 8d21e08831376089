// Chat over the session socket: each answer shows which config answered, how it was routed, any
// fallback and its reason, and the execution time; streamed text appears as it arrives. After a
// network drop the socket reconnects to the same session, and results that arrived meanwhile
// show up (the session keeps them until acknowledged). The session id stays in this tab
// (sessionStorage is per tab), so a reload resumes it too, with its earlier messages; a session
// that has ended meanwhile is replaced by a new one. #/chat/<id> (the Sessions page's Resume)
// attaches this tab to that session. When the user already has as many open sessions as allowed,
// the page says so and where to close some, instead of retrying.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ResultFrame, ServerFrame } from '../../../contract/session';
import { ApiError, countOpenSessions, type Api, type ConsoleSettings, type PublicConfig, type SessionDetail } from '../api';
import { t, type MessageKey } from '../i18n';
import { SessionSocket, type SessionCheck, type SocketStatus } from '../session-socket';
import { Notice, newId } from '../ui';

const SESSION_KEY = 'switchboard.session';
const STREAM_KEY = 'switchboard.stream';
const DEVICE_KEY = 'switchboard.device';

type Stage = 'sending' | 'accepted' | 'routing' | 'executing' | 'streaming' | 'done';

interface Exchange {
  id: string;
  text: string | null;
  stage: Stage;
  streamed: string;
  result?: ResultFrame;
  error?: string;
  music?: string;
}

const STAGE_KEYS: Record<Exclude<Stage, 'done'>, MessageKey> = {
  sending: 'stageSending',
  accepted: 'stageAccepted',
  routing: 'stageRouting',
  executing: 'stageExecuting',
  streaming: 'stageStreaming',
};

const ROUTED_KEYS: Record<string, MessageKey> = {
  router_llm: 'routedRouterLlm',
  similarity: 'routedSimilarity',
  fallback: 'routedFallback',
};

function deviceId(): string {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = newId('browser');
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

/** The exchange a frame is about, created for results of messages sent before this page opened. */
function upsert(list: Exchange[], id: string, change: (exchange: Exchange) => Exchange): Exchange[] {
  const index = list.findIndex((e) => e.id === id);
  if (index === -1) return [...list, change({ id, text: null, stage: 'accepted', streamed: '' })];
  const next = [...list];
  next[index] = change(list[index]!);
  return next;
}

/** The session's earlier messages (from GET /sessions/:id) before what this page already shows. */
function withTranscript(list: Exchange[], transcript: SessionDetail['transcript']): Exchange[] {
  const shown = new Map(list.map((exchange) => [exchange.id, exchange]));
  const earlier = transcript.map((entry): Exchange => {
    const current = shown.get(entry.id);
    if (current) return current.text === null ? { ...current, text: entry.text } : current;
    return { id: entry.id, text: entry.text, stage: entry.result ? 'done' : 'accepted', streamed: '', result: entry.result ?? undefined };
  });
  const known = new Set(transcript.map((entry) => entry.id));
  return [...earlier, ...list.filter((exchange) => !known.has(exchange.id))];
}

export function ChatPage(props: {
  api: Api;
  settings: ConsoleSettings;
  token: string;
  user: string;
  /** From #/chat/<id>: attach this tab to that session. */
  resumeId?: string;
  onUnauthorized(): void;
}) {
  const { api, settings, token, user, resumeId } = props;
  const [exchanges, setExchanges] = useState<Exchange[]>([]);
  const [status, setStatus] = useState<{ status: SocketStatus; attempt: number }>({ status: 'connecting', attempt: 0 });
  const [sessionId, setSessionId] = useState<string | null>(() => sessionStorage.getItem(SESSION_KEY));
  const [configs, setConfigs] = useState<PublicConfig[] | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [stream, setStream] = useState(() => sessionStorage.getItem(STREAM_KEY) !== 'false');
  const [text, setText] = useState('');
  const [generation, setGeneration] = useState(0);
  const socketRef = useRef<SessionSocket | null>(null);
  const listRef = useRef<HTMLOListElement>(null);
  const onUnauthorized = useRef(props.onUnauthorized);
  onUnauthorized.current = props.onUnauthorized;

  // #/chat/<id>: this tab's session becomes <id>; the address goes back to #/chat, so a reload
  // resumes through sessionStorage like any other.
  useEffect(() => {
    if (!resumeId) return;
    if (sessionStorage.getItem(SESSION_KEY) !== resumeId) {
      sessionStorage.setItem(SESSION_KEY, resumeId);
      setSessionId(resumeId);
      setExchanges([]);
      setNotice(null);
    }
    location.replace('#/chat');
  }, [resumeId]);

  useEffect(() => {
    if (resumeId) return;
    let live = true;
    const onFrame = (frame: ServerFrame) => {
      switch (frame.type) {
        case 'hello':
          sessionStorage.setItem(SESSION_KEY, frame.session_id);
          setSessionId(frame.session_id);
          setConfigs(frame.configs);
          if (frame.resumed) {
            setNotice(t('resumed', { id: frame.session_id }));
            // Earlier messages, so a resumed session reads as it was left.
            api.getSession(frame.session_id).then(
              (session) => {
                if (live) setExchanges((list) => withTranscript(list, session.transcript));
              },
              () => undefined,
            );
          }
          break;
        case 'configs_updated':
          setConfigs(frame.configs);
          break;
        case 'accepted':
          setExchanges((list) => upsert(list, frame.id, (e) => (e.stage === 'sending' ? { ...e, stage: 'accepted' } : e)));
          break;
        case 'progress':
          setExchanges((list) =>
            upsert(list, frame.id, (e) => (e.stage === 'done' || e.stage === 'streaming' ? e : { ...e, stage: frame.stage })),
          );
          break;
        case 'delta':
          // offset 0 starts the answer again (a retry, a fallback): replace what was shown.
          setExchanges((list) =>
            upsert(list, frame.id, (e) =>
              e.stage === 'done' ? e : { ...e, stage: 'streaming', streamed: e.streamed.slice(0, frame.offset) + frame.text },
            ),
          );
          break;
        case 'function_call_result':
          setExchanges((list) => upsert(list, frame.id, (e) => ({ ...e, stage: 'done', result: frame })));
          break;
        case 'play_music':
          setExchanges((list) => upsert(list, frame.id, (e) => ({ ...e, music: frame.song })));
          break;
        case 'error':
          if (frame.id)
            setExchanges((list) => upsert(list, frame.id!, (e) => ({ ...e, stage: 'done', error: `${frame.code}: ${frame.message}` })));
          else setNotice(`${frame.code}: ${frame.message}`);
          break;
        case 'session_closed':
          sessionStorage.removeItem(SESSION_KEY);
          setNotice(t('sessionClosedReason', { reason: frame.reason }));
          break;
        default:
          break;
      }
    };
    const checkSession = async (id: string): Promise<SessionCheck> => {
      try {
        const session = await api.getSession(id);
        return session.status === 'active' ? 'active' : 'gone';
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return 'unauthorized';
        if (error instanceof ApiError && error.status === 404) return 'gone';
        return 'unknown';
      }
    };
    const checkNewSession = async (): Promise<SessionCheck> => {
      try {
        const open = await countOpenSessions(api, settings.max_sessions_per_user);
        return open >= settings.max_sessions_per_user ? 'limit' : 'unknown';
      } catch (error) {
        return error instanceof ApiError && error.status === 401 ? 'unauthorized' : 'unknown';
      }
    };
    const socket = new SessionSocket({
      url: settings.websocket_url,
      token,
      deviceId: deviceId(),
      sessionId: sessionStorage.getItem(SESSION_KEY) ?? undefined,
      stream: sessionStorage.getItem(STREAM_KEY) !== 'false',
      onFrame,
      onStatus: (next, attempt) => setStatus({ status: next, attempt }),
      checkSession,
      checkNewSession,
      onSessionReplaced: () => {
        sessionStorage.removeItem(SESSION_KEY);
        setNotice(t('sessionReplaced'));
      },
      onUnauthorized: () => onUnauthorized.current(),
    });
    socketRef.current = socket;
    socket.start();
    return () => {
      live = false;
      socket.dispose();
      socketRef.current = null;
    };
  }, [api, settings.websocket_url, settings.max_sessions_per_user, token, generation, resumeId]);

  useEffect(() => {
    listRef.current?.lastElementChild?.scrollIntoView({ block: 'end' });
  }, [exchanges]);

  function send(event: Event) {
    event.preventDefault();
    const question = text.trim();
    if (!question || !socketRef.current) return;
    const id = newId('m');
    setExchanges((list) => [...list, { id, text: question, stage: 'sending', streamed: '' }]);
    socketRef.current.send(id, question);
    setText('');
  }

  function newSession() {
    sessionStorage.removeItem(SESSION_KEY);
    setSessionId(null);
    setExchanges([]);
    setNotice(null);
    setGeneration((g) => g + 1);
  }

  const statusText =
    status.status === 'open'
      ? t('statusOpen')
      : status.status === 'reconnecting'
        ? t('statusReconnecting', { n: Math.max(1, status.attempt) })
        : status.status === 'closed'
          ? t('statusClosed')
          : status.status === 'refused'
            ? t('statusRefused')
            : t('statusConnecting');
  const stopped = status.status === 'closed' || status.status === 'refused';
  const activeConfigs = configs?.filter((c) => c.is_active) ?? [];

  return (
    <section class="chat">
      <div class="page-head">
        <h1>{t('chatTitle')}</h1>
        <div class="actions">
          <label class="inline">
            <input
              type="checkbox"
              checked={stream}
              onChange={(e) => {
                const on = e.currentTarget.checked;
                setStream(on);
                sessionStorage.setItem(STREAM_KEY, String(on));
                socketRef.current?.setStream(on);
              }}
            />{' '}
            {t('chatStream')}
          </label>
          <button type="button" class="secondary small" onClick={newSession}>
            {t('chatNewSession')}
          </button>
          <button type="button" class="secondary small" onClick={() => socketRef.current?.end()} disabled={status.status !== 'open'}>
            {t('chatEndSession')}
          </button>
        </div>
      </div>
      <p class={`connection ${status.status}`} data-testid="connection" data-status={status.status} role="status">
        <span class="dot" aria-hidden="true" /> {statusText}
        {sessionId && (
          <>
            {' · '}
            <a href={`#/sessions/${encodeURIComponent(sessionId)}`} data-testid="session-link">
              {t('sessionLabel', { id: sessionId })}
            </a>
          </>
        )}
      </p>
      {notice && (
        <Notice onClose={() => setNotice(null)}>
          <span data-testid="chat-notice">{notice}</span>
        </Notice>
      )}
      {status.status === 'refused' && (
        <Notice kind="error">
          <span data-testid="session-limit">
            {t('sessionLimitReached', { n: settings.max_sessions_per_user })} <a href="#/sessions">{t('sessionLimitWhatToDo')}</a>{' '}
            <button type="button" class="link" onClick={() => setGeneration((g) => g + 1)}>
              {t('retry')}
            </button>
          </span>
        </Notice>
      )}
      {configs && activeConfigs.length === 0 && <Notice kind="error">{t('chatNoConfigs')}</Notice>}
      <ol class="messages" ref={listRef} data-testid="messages">
        {exchanges.length === 0 && <li class="empty">{t('chatEmpty')}</li>}
        {exchanges.map((exchange) => (
          <ExchangeView key={exchange.id} exchange={exchange} />
        ))}
      </ol>
      <form class="composer" onSubmit={send}>
        <label for="chat-input" class="visually-hidden">
          {t('chatPlaceholder')}
        </label>
        <input
          id="chat-input"
          value={text}
          placeholder={t('chatPlaceholder')}
          autocomplete="off"
          onInput={(e) => setText(e.currentTarget.value)}
          disabled={stopped}
        />
        <button type="submit" disabled={!text.trim() || stopped}>
          {t('chatSend')}
        </button>
      </form>
      <p class="help">{t('signedInAs', { user })}</p>
    </section>
  );
}

function ExchangeView({ exchange }: { exchange: Exchange }) {
  const { result } = exchange;
  const answerText = result ? (result.status === 'success' ? result.result : (result.error ?? result.result)) : exchange.streamed;
  return (
    <li class="exchange" data-id={exchange.id} data-stage={exchange.stage}>
      <p class="question">{exchange.text ?? <em>{t('earlierMessage')}</em>}</p>
      <div class={`answer ${result?.status ?? ''}`} data-testid="answer">
        {answerText && <p class="answer-text">{answerText}</p>}
        {exchange.music && <p class="music">{t('playMusic', { song: exchange.music })}</p>}
        {exchange.error && <p class="field-error">{exchange.error}</p>}
        {exchange.stage !== 'done' && (
          <p class="stage">
            <span class="spinner" aria-hidden="true" /> {t(STAGE_KEYS[exchange.stage])}
          </p>
        )}
        {result && (
          <p class="meta" data-testid="answer-meta">
            <span class="by">
              {t('answeredBy')} <strong data-testid="answered-by">{result.config_id === 0 ? t('directAnswer') : result.config_name}</strong>
            </span>
            {result.routed_by && (
              <span class="badge" data-testid="routed-by" data-value={result.routed_by}>
                {t('routedBy', { how: ROUTED_KEYS[result.routed_by] ? t(ROUTED_KEYS[result.routed_by]!) : result.routed_by })}
              </span>
            )}
            <span data-testid="execute-time">{t('ms', { n: result.execute_time })}</span>
            {result.fallback_from && (
              <span class="fallback" data-testid="fallback">
                {t('fallbackFrom', { name: result.fallback_from.config_name, error: result.fallback_from.error })}
              </span>
            )}
          </p>
        )}
      </div>
    </li>
  );
}
