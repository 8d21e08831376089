// Create and edit forms for LLM and function configs. The body is the API's canonical spelling;
// the API validates it, and each error it reports is shown next to its field (`parameters.x`
// next to parameters, `mcp_headers` next to the MCP token). Secrets are write-only: an empty
// field keeps what is stored.
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  ApiError,
  type Api,
  type ConfigBody,
  type FieldError,
  type LlmType,
  type McpTool,
  type PublicConfig,
  type SavedConfig,
} from '../api';
import { t, type MessageKey } from '../i18n';
import { Field, Notice } from '../ui';

type Kind = 'llm' | 'function_call';

interface Values {
  config_name: string;
  description: string;
  priority: string;
  is_active: boolean;
  llm_type: string;
  model_name: string;
  base_url: string;
  api_key: string;
  remove_api_key: boolean;
  temperature: string;
  max_tokens: string;
  system_prompt: string;
  function_name: string;
  parameters: string;
  target: 'mcp' | 'webhook';
  mcp_server_url: string;
  mcp_token: string;
  webhook_url: string;
  webhook_secret: string;
}

const EMPTY_SCHEMA = '{\n  "type": "object",\n  "properties": {}\n}';

function initialValues(existing?: PublicConfig): Values {
  const text = (value: string | number | null | undefined) => (value === null || value === undefined ? '' : String(value));
  return {
    config_name: text(existing?.config_name),
    description: text(existing?.description),
    priority: text(existing?.priority ?? 0),
    is_active: existing?.is_active ?? true,
    llm_type: existing?.llm_type ?? 'openai',
    model_name: text(existing?.model_name),
    base_url: text(existing?.base_url),
    api_key: '',
    remove_api_key: false,
    temperature: text(existing?.temperature),
    max_tokens: text(existing?.max_tokens),
    system_prompt: text(existing?.system_prompt),
    function_name: text(existing?.function_name),
    parameters: existing?.parameters ? JSON.stringify(existing.parameters, null, 2) : EMPTY_SCHEMA,
    target: existing?.webhook_url ? 'webhook' : 'mcp',
    mcp_server_url: text(existing?.mcp_server_url),
    mcp_token: '',
    webhook_url: text(existing?.webhook_url),
    webhook_secret: '',
  };
}

/** A number field as the API should see it: empty is null, a number is a number, anything else is sent as typed so the API names the problem. */
function numberOrText(value: string): number | string | null {
  const trimmed = value.trim();
  if (!trimmed) return null;
  const number = Number(trimmed);
  return Number.isFinite(number) ? number : trimmed;
}

/** Which form field shows an API error: its first path segment, with the few renamings the form makes. */
function formField(apiField: string): string {
  const head = apiField.split('.')[0] ?? apiField;
  if (head === 'name') return 'config_name';
  if (head === 'mcp_headers') return 'mcp_token';
  return head;
}

/** The form's fields, in the order the form shows them, with their labels (for the line beside Save). */
const FIELD_LABELS: Record<string, MessageKey> = {
  config_name: 'fieldConfigName',
  priority: 'fieldPriority',
  description: 'fieldDescription',
  llm_type: 'fieldLlmType',
  model_name: 'fieldModelName',
  base_url: 'fieldBaseUrl',
  api_key: 'fieldApiKey',
  temperature: 'fieldTemperature',
  max_tokens: 'fieldMaxTokens',
  system_prompt: 'fieldSystemPrompt',
  function_name: 'fieldFunctionName',
  mcp_server_url: 'fieldMcpServerUrl',
  mcp_token: 'fieldMcpToken',
  webhook_url: 'fieldWebhookUrl',
  webhook_secret: 'fieldWebhookSecret',
  parameters: 'fieldParameters',
  is_active: 'fieldActive',
};

const FORM_FIELDS = new Set<string>(Object.keys(FIELD_LABELS));

export function ConfigForm(props: { api: Api; kind: Kind; existing?: PublicConfig; onDone(saved: SavedConfig): void }) {
  const { api, kind, existing } = props;
  const [values, setValues] = useState<Values>(() => initialValues(existing));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [llmTypes, setLlmTypes] = useState<LlmType[]>([]);
  const formRef = useRef<HTMLFormElement>(null);

  // A refused Save takes the user to the first field it names (focus scrolls it into view); the
  // line beside the Save button says what happened, so a long form never hides the answer.
  useEffect(() => {
    const first = formRef.current?.querySelector<HTMLElement>('.field.has-error input, .field.has-error textarea, .field.has-error select');
    first?.focus();
  }, [errors]);

  useEffect(() => {
    if (kind === 'llm') api.llmTypes().then(setLlmTypes, () => setLlmTypes([]));
  }, [api, kind]);

  const set =
    <K extends keyof Values>(key: K) =>
    (value: Values[K]) =>
      setValues((current) => ({ ...current, [key]: value }));
  const onText = (key: keyof Values) => (event: Event) => set(key)((event.currentTarget as HTMLInputElement).value as never);

  function body(): ConfigBody | undefined {
    const common: ConfigBody = {
      config_name: values.config_name,
      description: values.description.trim() ? values.description : kind === 'llm' ? null : '',
      priority: numberOrText(values.priority) ?? 0,
      is_active: values.is_active,
    };
    if (kind === 'llm') {
      const llm: ConfigBody = {
        ...common,
        config_type: 'llm',
        llm_type: values.llm_type,
        model_name: values.model_name,
        base_url: values.base_url.trim() || null,
        temperature: numberOrText(values.temperature),
        max_tokens: numberOrText(values.max_tokens),
        system_prompt: values.system_prompt.trim() ? values.system_prompt : null,
      };
      if (values.api_key) llm.api_key = values.api_key;
      else if (values.remove_api_key) llm.api_key = null;
      return llm;
    }
    let parameters: unknown;
    try {
      parameters = JSON.parse(values.parameters);
    } catch (caught) {
      setErrors({ parameters: t('invalidJson', { message: (caught as Error).message }) });
      return undefined;
    }
    const fn: ConfigBody = {
      ...common,
      config_type: 'function_call',
      function_name: values.function_name,
      parameters,
      mcp_server_url: values.target === 'mcp' ? values.mcp_server_url.trim() || null : null,
      webhook_url: values.target === 'webhook' ? values.webhook_url.trim() || null : null,
    };
    if (values.target === 'mcp' && values.mcp_token) fn.mcp_headers = { Authorization: `Bearer ${values.mcp_token}` };
    if (values.target === 'webhook' && values.webhook_secret) fn.webhook_secret = values.webhook_secret;
    return fn;
  }

  function showErrors(fieldErrors: FieldError[], message: string) {
    const byField: Record<string, string> = {};
    const rest: string[] = [];
    for (const error of fieldErrors) {
      const field = formField(error.field);
      if (FORM_FIELDS.has(field)) byField[field] = byField[field] ? `${byField[field]}; ${error.message}` : error.message;
      else rest.push(`${error.field}: ${error.message}`);
    }
    setErrors(byField);
    setGeneral(fieldErrors.length ? rest : [message]);
  }

  async function submit(event: Event) {
    event.preventDefault();
    setErrors({});
    setGeneral([]);
    const payload = body();
    if (!payload) return;
    setBusy(true);
    try {
      const saved = existing ? await api.replaceConfig(existing.id, payload) : await api.createConfig(payload);
      props.onDone(saved);
    } catch (caught) {
      if (caught instanceof ApiError) showErrors(caught.fieldErrors, caught.message);
      else setGeneral([(caught as Error).message]);
    } finally {
      setBusy(false);
    }
  }

  const title = existing ? t('formEdit', { name: existing.config_name }) : kind === 'llm' ? t('formNewLlm') : t('formNewFunction');
  const id = (name: string) => `cfg-${name}`;
  const err = (name: string) => errors[name];

  return (
    <form class="card config-form" onSubmit={submit} noValidate data-testid="config-form" ref={formRef}>
      <h1>{title}</h1>
      <div class="grid">
        <Field id={id('config_name')} label={t('fieldConfigName')} error={err('config_name')}>
          <input id={id('config_name')} value={values.config_name} onInput={onText('config_name')} required />
        </Field>
        <Field id={id('priority')} label={t('fieldPriority')} help={t('fieldPriorityHelp')} error={err('priority')}>
          <input id={id('priority')} type="number" step="1" value={values.priority} onInput={onText('priority')} />
        </Field>
      </div>
      <Field
        id={id('description')}
        label={t('fieldDescription')}
        help={kind === 'function_call' ? t('fieldDescriptionHelp') : undefined}
        error={err('description')}
      >
        <textarea id={id('description')} rows={2} value={values.description} onInput={onText('description')} />
      </Field>
      {kind === 'llm' ? (
        <>
          <div class="grid">
            <Field id={id('llm_type')} label={t('fieldLlmType')} error={err('llm_type')}>
              <select id={id('llm_type')} value={values.llm_type} onChange={onText('llm_type')}>
                {(llmTypes.length ? llmTypes : [{ type: values.llm_type, label: values.llm_type, default_base_url: null }]).map((type) => (
                  <option key={type.type} value={type.type}>
                    {type.label}
                  </option>
                ))}
              </select>
            </Field>
            <Field id={id('model_name')} label={t('fieldModelName')} error={err('model_name')}>
              <input id={id('model_name')} value={values.model_name} onInput={onText('model_name')} required />
            </Field>
          </div>
          <Field
            id={id('base_url')}
            label={t('fieldBaseUrl')}
            help={llmTypes.find((type) => type.type === values.llm_type)?.default_base_url ?? t('fieldBaseUrlHelp')}
            error={err('base_url')}
          >
            <input id={id('base_url')} type="url" value={values.base_url} onInput={onText('base_url')} placeholder="https://…/v1" />
          </Field>
          <Field
            id={id('api_key')}
            label={t('fieldApiKey')}
            help={existing?.has_api_key ? t('fieldApiKeyStored', { hint: existing.api_key_hint ?? '…' }) : t('fieldApiKeyNone')}
            error={err('api_key')}
          >
            <input id={id('api_key')} type="password" autocomplete="off" value={values.api_key} onInput={onText('api_key')} />
            {existing?.has_api_key && (
              <label class="inline">
                <input
                  type="checkbox"
                  checked={values.remove_api_key}
                  onChange={(e) => set('remove_api_key')(e.currentTarget.checked)}
                  disabled={values.api_key !== ''}
                />{' '}
                {t('fieldRemoveApiKey')}
              </label>
            )}
          </Field>
          <div class="grid">
            <Field id={id('temperature')} label={t('fieldTemperature')} error={err('temperature')}>
              <input
                id={id('temperature')}
                inputMode="decimal"
                value={values.temperature}
                onInput={onText('temperature')}
                placeholder="0.7"
              />
            </Field>
            <Field id={id('max_tokens')} label={t('fieldMaxTokens')} error={err('max_tokens')}>
              <input
                id={id('max_tokens')}
                inputMode="numeric"
                value={values.max_tokens}
                onInput={onText('max_tokens')}
                placeholder="1000"
              />
            </Field>
          </div>
          <Field id={id('system_prompt')} label={t('fieldSystemPrompt')} error={err('system_prompt')}>
            <textarea id={id('system_prompt')} rows={3} value={values.system_prompt} onInput={onText('system_prompt')} />
          </Field>
        </>
      ) : (
        <>
          <Field id={id('function_name')} label={t('fieldFunctionName')} error={err('function_name')}>
            <input id={id('function_name')} value={values.function_name} onInput={onText('function_name')} placeholder="get_weather" />
          </Field>
          <fieldset class="field">
            <legend>{t('fieldTarget')}</legend>
            <label class="inline">
              <input type="radio" name="target" checked={values.target === 'mcp'} onChange={() => set('target')('mcp')} /> {t('targetMcp')}
            </label>
            <label class="inline">
              <input type="radio" name="target" checked={values.target === 'webhook'} onChange={() => set('target')('webhook')} />{' '}
              {t('targetWebhook')}
            </label>
          </fieldset>
          {values.target === 'mcp' ? (
            <>
              <Field id={id('mcp_server_url')} label={t('fieldMcpServerUrl')} error={err('mcp_server_url')}>
                <input
                  id={id('mcp_server_url')}
                  type="url"
                  value={values.mcp_server_url}
                  onInput={onText('mcp_server_url')}
                  placeholder="https://mcp.example.com/mcp"
                />
              </Field>
              <Field
                id={id('mcp_token')}
                label={t('fieldMcpToken')}
                help={
                  existing?.mcp_header_names.length
                    ? t('fieldMcpTokenStored', { names: existing.mcp_header_names.join(', ') })
                    : t('fieldMcpTokenHelp')
                }
                error={err('mcp_token')}
              >
                <input id={id('mcp_token')} type="password" autocomplete="off" value={values.mcp_token} onInput={onText('mcp_token')} />
              </Field>
              <ToolPicker
                api={api}
                existing={existing?.mcp_server_url ? existing : undefined}
                url={values.mcp_server_url}
                token={values.mcp_token}
                onPick={(tool) =>
                  setValues((current) => ({
                    ...current,
                    function_name: tool.name,
                    description: current.description.trim() ? current.description : (tool.description ?? ''),
                    parameters: JSON.stringify(tool.input_schema, null, 2),
                  }))
                }
              />
            </>
          ) : (
            <>
              <Field id={id('webhook_url')} label={t('fieldWebhookUrl')} error={err('webhook_url')}>
                <input
                  id={id('webhook_url')}
                  type="url"
                  value={values.webhook_url}
                  onInput={onText('webhook_url')}
                  placeholder="https://hooks.example.com/…"
                />
              </Field>
              <Field
                id={id('webhook_secret')}
                label={t('fieldWebhookSecret')}
                help={existing?.has_webhook_secret ? t('fieldWebhookSecretStored') : t('fieldWebhookSecretHelp')}
                error={err('webhook_secret')}
              >
                <input
                  id={id('webhook_secret')}
                  type="password"
                  autocomplete="off"
                  value={values.webhook_secret}
                  onInput={onText('webhook_secret')}
                />
              </Field>
            </>
          )}
          <Field id={id('parameters')} label={t('fieldParameters')} error={err('parameters')}>
            <textarea
              id={id('parameters')}
              class="code"
              rows={8}
              value={values.parameters}
              onInput={onText('parameters')}
              spellcheck={false}
            />
          </Field>
        </>
      )}
      <label class="inline">
        <input type="checkbox" checked={values.is_active} onChange={(e) => set('is_active')(e.currentTarget.checked)} /> {t('fieldActive')}
      </label>
      <div class="actions">
        <button type="submit" disabled={busy}>
          {busy ? t('saving') : t('save')}
        </button>
        <a class="button secondary" href="#/configs">
          {t('cancel')}
        </a>
      </div>
      {(general.length > 0 || Object.keys(errors).length > 0) && (
        <p class="field-error save-error" role="alert" data-testid="save-error">
          {[
            general.length ? t('formNotSaved', { message: general.join(' · ') }) : '',
            Object.keys(errors).length
              ? t('formFieldErrors', {
                  fields: Object.keys(FIELD_LABELS)
                    .filter((name) => errors[name])
                    .map((name) => t(FIELD_LABELS[name]!))
                    .join(', '),
                })
              : '',
          ]
            .filter(Boolean)
            .join(' ')}
        </p>
      )}
    </form>
  );
}

/**
 * The MCP server's tools, listed from what the form holds: the stored config's server with its
 * stored headers (GET /ai-configs/:id/tools) while its URL and token are untouched, else the URL
 * and token as typed (POST /mcp/tools), so a new config's tools are listed before its first Save.
 * Picking one fills the real name, the description and the schema.
 */
function ToolPicker(props: { api: Api; existing?: PublicConfig; url: string; token: string; onPick(tool: McpTool): void }) {
  const [tools, setTools] = useState<McpTool[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const { existing } = props;

  async function load() {
    const url = props.url.trim();
    setError(null);
    if (!url) {
      setTools(null);
      setError(t('pickToolNeedsUrl'));
      return;
    }
    setBusy(true);
    try {
      const stored = existing && existing.mcp_server_url === url && !props.token;
      const headers = props.token ? { Authorization: `Bearer ${props.token}` } : undefined;
      setTools(stored ? await props.api.listTools(existing.id) : await props.api.listServerTools(url, headers));
    } catch (caught) {
      setTools(null);
      const fields = caught instanceof ApiError ? caught.fieldErrors : [];
      setError(fields.length ? fields.map((f) => `${f.field}: ${f.message}`).join('; ') : (caught as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="field tool-picker" data-testid="tool-picker">
      <span class="label">{t('pickTool')}</span>
      <button type="button" class="secondary small" onClick={() => void load()} disabled={busy}>
        {t('loadTools')}
      </button>
      {error && <Notice kind="error">{error}</Notice>}
      {tools && (
        <>
          <p class="help">{t('toolsLoaded', { n: tools.length })}</p>
          <ul class="tools">
            {tools.map((tool) => (
              <li key={tool.name}>
                <span>
                  <code>{tool.name}</code>
                  {tool.tool_name !== tool.name && <span class="help"> ({t('toolOfferedAs', { name: tool.tool_name })})</span>}{' '}
                  {tool.description}
                </span>
                <button type="button" class="small" onClick={() => props.onPick(tool)} aria-label={`${t('chooseTool')}: ${tool.name}`}>
                  {t('chooseTool')}
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
