// API keys: create one (a name, an optional expiry) and see the key this once with a copy hint,
// list them (prefix, created, last used, expiry; never the key), revoke one after confirming.
import { useState } from 'preact/hooks';
import { ApiError, type Api, type CreatedApiKey } from '../api';
import { formatTime, t } from '../i18n';
import { ConfirmButton, Field, Notice, PageNotices, useListing } from '../ui';

export function ApiKeysPage(props: { api: Api }) {
  const { api } = props;
  const { items: keys, error, notice, setNotice, reload, act } = useListing(api, (a) => a.listApiKeys());
  const [shown, setShown] = useState<CreatedApiKey | null>(null);

  return (
    <section>
      <div class="page-head">
        <h1>{t('apiKeysTitle')}</h1>
      </div>
      <p class="help">{t('apiKeysIntro')}</p>
      {shown && (
        <div class="card secret" role="alert" data-testid="api-key-shown">
          <h2>{t('apiKeyShownTitle', { name: shown.name })}</h2>
          <p>{t('apiKeyShownOnce')}</p>
          <code class="secret-value" data-testid="api-key-value">
            {shown.key}
          </code>
          <button type="button" onClick={() => setShown(null)}>
            {t('webhookSecretDone')}
          </button>
        </div>
      )}
      <CreateKey
        api={api}
        onCreated={(created) => {
          setShown(created);
          setNotice(null);
          void reload();
        }}
      />
      <PageNotices notice={notice} error={error} onCloseNotice={() => setNotice(null)} />
      {keys === null ? (
        <p>{t('loading')}</p>
      ) : keys.length === 0 ? (
        <p class="empty">{t('noApiKeys')}</p>
      ) : (
        <ul class="config-list api-key-list" data-testid="api-key-list">
          <li class="config-row head" aria-hidden="true">
            <span>{t('colName')}</span>
            <span>{t('colKeyPrefix')}</span>
            <span>{t('colCreated')}</span>
            <span>{t('colLastUsed')}</span>
            <span>{t('colExpires')}</span>
            <span />
          </li>
          {keys.map((key) => (
            <li key={key.id} class="config-row" data-api-key={key.name}>
              <span class="name">
                <strong>{key.name}</strong>
              </span>
              <span>
                <code data-testid="api-key-prefix">{key.prefix}…</code>
              </span>
              <span>{formatTime(key.created_at)}</span>
              <span>{key.last_used_at ? formatTime(key.last_used_at) : t('never')}</span>
              <span>{key.expires_at ? formatTime(key.expires_at) : t('never')}</span>
              <span class="row-actions">
                <ConfirmButton
                  label={t('revoke')}
                  question={t('confirmRevoke', { name: key.name })}
                  onConfirm={() => void act(() => api.revokeApiKey(key.id), t('apiKeyRevoked', { name: key.name }))}
                />
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** The create form: the API's field errors beside their fields, worded as the API sent them. */
function CreateKey(props: { api: Api; onCreated(created: CreatedApiKey): void }) {
  const [name, setName] = useState('');
  const [expires, setExpires] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      // A datetime-local value is the browser's local time; the API takes an instant.
      const expiresAt = expires ? new Date(expires) : null;
      const body = { name, ...(expiresAt ? { expires_at: Number.isNaN(expiresAt.getTime()) ? expires : expiresAt.toISOString() } : {}) };
      props.onCreated(await props.api.createApiKey(body));
      setName('');
      setExpires('');
    } catch (caught) {
      const fields = caught instanceof ApiError ? caught.fieldErrors : [];
      setErrors(Object.fromEntries(fields.map((f) => [f.field, f.message])));
      if (!fields.length) setGeneral(t('errorGeneric', { message: (caught as Error).message }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="card" onSubmit={submit} noValidate data-testid="api-key-form">
      <h2>{t('newApiKey')}</h2>
      <div class="grid">
        <Field id="key-name" label={t('fieldKeyName')} help={t('fieldKeyNameHelp')} error={errors.name}>
          <input id="key-name" value={name} maxLength={200} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </Field>
        <Field id="key-expires" label={t('fieldKeyExpires')} help={t('fieldKeyExpiresHelp')} error={errors.expires_at}>
          <input id="key-expires" type="datetime-local" value={expires} onInput={(e) => setExpires((e.target as HTMLInputElement).value)} />
        </Field>
      </div>
      {general && <Notice kind="error">{general}</Notice>}
      <button type="submit" class="primary" disabled={busy}>
        {busy ? t('saving') : t('createApiKey')}
      </button>
    </form>
  );
}
