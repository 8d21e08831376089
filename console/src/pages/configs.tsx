// Configs: the list (type, model or function, priority, active), create and edit forms for LLM and
// function configs, reorder, toggle, delete with confirmation, and a test run of any config.
import { useState } from 'preact/hooks';
import type { Api, PublicConfig, TrialResult } from '../api';
import { t } from '../i18n';
import { ConfirmButton, Field, Notice, PageNotices, useListing } from '../ui';
import { ConfigForm } from './config-form';

export function ConfigsPage(props: { api: Api; route: string[] }) {
  const { api, route } = props;
  const { items: configs, error, notice, setNotice, reload, act } = useListing(api, (a) => a.listConfigs());
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const [testing, setTesting] = useState<number | null>(null);

  // #/configs/new/llm, #/configs/new/function, #/configs/<id>/edit
  const [first, second] = route;
  if (first === 'new' && (second === 'llm' || second === 'function')) {
    return (
      <ConfigForm
        api={api}
        kind={second === 'llm' ? 'llm' : 'function_call'}
        onDone={(saved) => {
          setNotice(t('saved', { name: saved.config_name }));
          if (saved.webhook_secret) setSecret({ name: saved.config_name, secret: saved.webhook_secret });
          // The form lists an MCP server's tools before the first Save (POST /mcp/tools): back to the list.
          location.hash = '#/configs';
          void reload();
        }}
      />
    );
  }
  if (first && second === 'edit') {
    const existing = configs?.find((c) => String(c.id) === first);
    if (!configs) return <p>{t('loading')}</p>;
    if (!existing) return <Notice kind="error">{t('errorGeneric', { message: 'not found' })}</Notice>;
    return (
      <>
        {notice && <Notice kind="success">{notice}</Notice>}
        <ConfigForm
          key={existing.id}
          api={api}
          kind={existing.config_type}
          existing={existing}
          onDone={(saved) => {
            setNotice(t('saved', { name: saved.config_name }));
            if (saved.webhook_secret) setSecret({ name: saved.config_name, secret: saved.webhook_secret });
            location.hash = '#/configs';
            void reload();
          }}
        />
      </>
    );
  }

  return (
    <section>
      <div class="page-head">
        <h1>{t('configsTitle')}</h1>
        <div class="actions">
          <a class="button" href="#/configs/new/llm">
            {t('newLlm')}
          </a>
          <a class="button secondary" href="#/configs/new/function">
            {t('newFunction')}
          </a>
        </div>
      </div>
      {secret && (
        <div class="card secret" role="alert" data-testid="webhook-secret">
          <h2>{t('webhookSecretTitle')}</h2>
          <p>{t('webhookSecretOnce')}</p>
          <code class="secret-value">{secret.secret}</code>
          <button type="button" onClick={() => setSecret(null)}>
            {t('webhookSecretDone')}
          </button>
        </div>
      )}
      <PageNotices notice={notice} error={error} onCloseNotice={() => setNotice(null)} />
      {configs === null ? (
        <p>{t('loading')}</p>
      ) : configs.length === 0 ? (
        <p class="empty">{t('noConfigs')}</p>
      ) : (
        <ul class="config-list" data-testid="config-list">
          <li class="config-row head" aria-hidden="true">
            <span>{t('colName')}</span>
            <span>{t('colType')}</span>
            <span>{t('colTarget')}</span>
            <span>{t('colPriority')}</span>
            <span>{t('colActive')}</span>
            <span />
          </li>
          {configs.map((config, index) => (
            <li key={config.id} class={config.is_active ? 'config-row' : 'config-row inactive'} data-config={config.config_name}>
              <span class="name">
                <strong>{config.config_name}</strong>
                {config.description && <small title={config.description}>{config.description}</small>}
              </span>
              <span>
                <span class={`badge ${config.config_type === 'llm' ? 'llm' : 'fn'}`}>
                  {config.config_type === 'llm' ? t('typeLlm') : t('typeFunction')}
                </span>
              </span>
              <span class="target">
                {config.config_type === 'llm'
                  ? `${config.llm_type ?? ''} · ${config.model_name ?? ''}`
                  : `${config.function_name ?? ''} (${config.mcp_server_url ? t('viaMcp') : t('viaWebhook')})`}
              </span>
              <span class="priority">
                <span data-testid="priority">{config.priority}</span>
                <button
                  type="button"
                  class="icon"
                  title={t('moveUp')}
                  aria-label={`${t('moveUp')}: ${config.config_name}`}
                  disabled={index === 0}
                  onClick={() => void act(() => api.setPriority(config.id, configs[index - 1]!.priority + 1))}
                >
                  ↑
                </button>
                <button
                  type="button"
                  class="icon"
                  title={t('moveDown')}
                  aria-label={`${t('moveDown')}: ${config.config_name}`}
                  disabled={index === configs.length - 1}
                  onClick={() => void act(() => api.setPriority(config.id, configs[index + 1]!.priority - 1))}
                >
                  ↓
                </button>
              </span>
              <span>
                <label class="switch">
                  <input
                    type="checkbox"
                    checked={config.is_active}
                    aria-label={`${t('colActive')}: ${config.config_name}`}
                    onChange={(e) => void act(() => api.toggleConfig(config.id, e.currentTarget.checked))}
                  />
                  <span>{config.is_active ? t('yes') : t('no')}</span>
                </label>
              </span>
              <span class="row-actions">
                <button type="button" class="secondary small" onClick={() => setTesting(testing === config.id ? null : config.id)}>
                  {t('test')}
                </button>
                <a class="button secondary small" href={`#/configs/${config.id}/edit`}>
                  {t('edit')}
                </a>
                <ConfirmButton
                  label={t('delete')}
                  question={t('confirmDelete', { name: config.config_name })}
                  onConfirm={() => void act(() => api.deleteConfig(config.id), t('deleted', { name: config.config_name }))}
                />
              </span>
              {testing === config.id && <TestPanel api={api} config={config} onClose={() => setTesting(null)} />}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** `{ "city": "" }` for a schema with a `city` property: a start for the arguments of a test run. */
function argumentSkeleton(schema: Record<string, unknown> | null): string {
  const properties = (schema?.properties ?? {}) as Record<string, { type?: string }>;
  const skeleton: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(properties)) {
    skeleton[name] = property.type === 'number' || property.type === 'integer' ? 0 : property.type === 'boolean' ? false : '';
  }
  return JSON.stringify(skeleton, null, 2);
}

function TestPanel(props: { api: Api; config: PublicConfig; onClose(): void }) {
  const { config } = props;
  const isLlm = config.config_type === 'llm';
  const [text, setText] = useState('');
  const [args, setArgs] = useState(() => argumentSkeleton(config.parameters));
  const [result, setResult] = useState<TrialResult | null>(null);
  const [error, setError] = useState<{ field?: string; message: string } | null>(null);
  const [busy, setBusy] = useState(false);

  async function run(event: Event) {
    event.preventDefault();
    setError(null);
    setResult(null);
    let body: { text?: string; arguments?: Record<string, unknown> };
    if (isLlm) {
      body = text.trim() ? { text } : {};
    } else {
      try {
        body = { arguments: JSON.parse(args || '{}') as Record<string, unknown> };
      } catch (caught) {
        setError({ field: 'arguments', message: t('invalidJson', { message: (caught as Error).message }) });
        return;
      }
    }
    setBusy(true);
    try {
      setResult(await props.api.testConfig(config.id, body));
    } catch (caught) {
      const fieldError = (caught as { fieldErrors?: { field: string; message: string }[] }).fieldErrors?.[0];
      setError(
        fieldError
          ? { field: fieldError.field, message: `${fieldError.field}: ${fieldError.message}` }
          : { message: (caught as Error).message },
      );
    } finally {
      setBusy(false);
    }
  }

  const inputId = `test-${config.id}`;
  return (
    <form class="card test-panel" onSubmit={run} data-testid="test-panel">
      <h3>{t('testTitle', { name: config.config_name })}</h3>
      {isLlm ? (
        <Field id={inputId} label={t('testPrompt')}>
          <input id={inputId} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </Field>
      ) : (
        <Field id={inputId} label={t('testArguments')} error={error?.field?.startsWith('arguments') ? error.message : undefined}>
          <textarea id={inputId} rows={4} class="code" value={args} onInput={(e) => setArgs(e.currentTarget.value)} spellcheck={false} />
        </Field>
      )}
      {error && !error.field?.startsWith('arguments') && <Notice kind="error">{error.message}</Notice>}
      <div class="actions">
        <button type="submit" disabled={busy}>
          {busy ? t('testRunning') : t('testRun')}
        </button>
        <button type="button" class="secondary" onClick={props.onClose}>
          {t('close')}
        </button>
      </div>
      {result && (
        <div class={`trial trial-${result.status}`} data-testid="test-result" role="status">
          <p>
            <span class={`badge ${result.status}`}>{result.status === 'success' ? t('testSuccess') : t('testFailed')}</span>{' '}
            <span data-testid="test-time">{t('ms', { n: result.execute_time })}</span>
            {result.model && <> · {t('testModel', { model: result.model })}</>}
            {result.error_type && <> · {result.error_type}</>}
          </p>
          <pre>{result.status === 'success' ? result.result : (result.error ?? result.result)}</pre>
        </div>
      )}
    </form>
  );
}
