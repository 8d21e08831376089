// The console's shell: settings from the server, sign-in (the token lives in sessionStorage only),
// navigation by URL hash, and the pages.
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, createApi, devSignIn, loadSettings, tokenSubject, type ConsoleSettings } from './api';
import { t, type MessageKey } from './i18n';
import { ApiKeysPage } from './pages/api-keys';
import { ChatPage } from './pages/chat';
import { ConfigsPage } from './pages/configs';
import { DevicesPage } from './pages/devices';
import { SessionsPage } from './pages/sessions';
import { Notice } from './ui';

const TOKEN_KEY = 'switchboard.token';
/** The navigation's pages and their labels, in order. */
const NAV_LABELS = {
  configs: 'navConfigs',
  chat: 'navChat',
  sessions: 'navSessions',
  'api-keys': 'navApiKeys',
  devices: 'navDevices',
} as const satisfies Record<string, MessageKey>;

function currentRoute(): string[] {
  return location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
}

function useHashRoute(): string[] {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}

export function App() {
  const [settings, setSettings] = useState<ConsoleSettings | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(TOKEN_KEY));
  const [notice, setNotice] = useState<string | null>(null);
  const route = useHashRoute();

  const fetchSettings = useCallback(() => {
    setLoadError(null);
    loadSettings().then(setSettings, (error: Error) => setLoadError(error.message));
  }, []);
  useEffect(fetchSettings, [fetchSettings]);

  const signOut = useCallback((message?: string) => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
    setNotice(message ?? null);
  }, []);
  const signIn = useCallback((value: string) => {
    sessionStorage.setItem(TOKEN_KEY, value);
    setNotice(null);
    setToken(value);
    if (!location.hash) location.hash = '#/configs';
  }, []);
  const api = useMemo(() => (token ? createApi(token, () => signOut(t('sessionExpired'))) : null), [token, signOut]);

  if (!settings) {
    return (
      <main class="page narrow">
        {loadError ? (
          <Notice kind="error">
            {t('networkError', { message: loadError })}{' '}
            <button type="button" class="link" onClick={fetchSettings}>
              {t('retry')}
            </button>
          </Notice>
        ) : (
          <p>{t('loading')}</p>
        )}
      </main>
    );
  }
  if (!token || !api) return <SignIn settings={settings} notice={notice} onSignedIn={signIn} />;

  const [page = 'configs', ...rest] = route;
  const user = tokenSubject(token) ?? '?';
  return (
    <div class="shell">
      <header class="topbar">
        <strong class="brand">{t('appName')}</strong>
        <nav>
          {(Object.keys(NAV_LABELS) as (keyof typeof NAV_LABELS)[]).map((name) => (
            <a key={name} href={`#/${name}`} class={page === name ? 'active' : ''} aria-current={page === name ? 'page' : undefined}>
              {t(NAV_LABELS[name])}
            </a>
          ))}
        </nav>
        <span class="who" title={t('signedInAs', { user })} data-testid="signed-in-user">
          {user}
        </span>
        <button type="button" class="secondary small" onClick={() => signOut()}>
          {t('signOut')}
        </button>
      </header>
      <main class="page">
        {page === 'chat' ? (
          <ChatPage
            api={api}
            settings={settings}
            token={token}
            user={user}
            resumeId={rest[0]}
            onUnauthorized={() => signOut(t('sessionExpired'))}
          />
        ) : page === 'sessions' ? (
          <SessionsPage api={api} settings={settings} sessionId={rest[0]} />
        ) : page === 'devices' ? (
          <DevicesPage api={api} />
        ) : page === 'api-keys' ? (
          <ApiKeysPage api={api} />
        ) : (
          <ConfigsPage api={api} route={rest} />
        )}
      </main>
    </div>
  );
}

function SignIn(props: { settings: ConsoleSettings; notice: string | null; onSignedIn(token: string): void }) {
  const [token, setToken] = useState('');
  const [user, setUser] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function withToken(value: string) {
    setBusy(true);
    setError(null);
    try {
      // A cheap authenticated call tells whether the server takes this token.
      await createApi(value, () => undefined).llmTypes();
      props.onSignedIn(value);
    } catch (caught) {
      setError(t('signInFailed', { message: (caught as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  async function asUser(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const minted = await devSignIn(user.trim());
      props.onSignedIn(minted.token);
    } catch (caught) {
      const fieldError = caught instanceof ApiError ? caught.fieldErrors.find((e) => e.field === 'user')?.message : undefined;
      setError(fieldError ? `${t('userLabel')}: ${fieldError}` : t('errorGeneric', { message: (caught as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="page narrow sign-in">
      <h1>{t('appName')}</h1>
      {props.notice && <Notice kind="error">{props.notice}</Notice>}
      {error && <Notice kind="error">{error}</Notice>}
      {props.settings.dev_sign_in && (
        <form class="card" onSubmit={asUser} data-testid="dev-sign-in">
          <h2>{t('devSignInTitle')}</h2>
          <p class="help">{t('devSignInIntro')}</p>
          <label for="dev-user">{t('userLabel')}</label>
          <input id="dev-user" name="user" autocomplete="username" value={user} onInput={(e) => setUser(e.currentTarget.value)} required />
          <button type="submit" disabled={busy || !user.trim()}>
            {t('devSignInButton')}
          </button>
        </form>
      )}
      <form
        class="card"
        onSubmit={(event) => {
          event.preventDefault();
          void withToken(token.trim());
        }}
      >
        <h2>{t('signInTitle')}</h2>
        <p class="help">{t('signInIntro')}</p>
        <label for="token">{t('tokenLabel')}</label>
        <textarea id="token" name="token" rows={3} value={token} onInput={(e) => setToken(e.currentTarget.value)} spellcheck={false} />
        <button type="submit" disabled={busy || !token.trim()}>
          {t('signInButton')}
        </button>
      </form>
    </main>
  );
}
