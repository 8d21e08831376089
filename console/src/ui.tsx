// Small building blocks shared by the pages: a labelled field with its help and its error, a
// notice line, a page's list with its error and notice, and a button that acts after a yes. Field
// errors are shown next to their field, worded exactly as the API sent them.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { Api } from './api';
import { t } from './i18n';

export function Field(props: { id: string; label: string; help?: string; error?: string; children: ComponentChildren }) {
  return (
    <div class={props.error ? 'field has-error' : 'field'} data-field={props.id}>
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.help && <p class="help">{props.help}</p>}
      {props.error && (
        <p class="field-error" id={`${props.id}-error`} role="alert">
          {props.error}
        </p>
      )}
    </div>
  );
}

export function Notice(props: { kind?: 'info' | 'error' | 'success'; children: ComponentChildren; onClose?: () => void }) {
  return (
    <div class={`notice notice-${props.kind ?? 'info'}`} role={props.kind === 'error' ? 'alert' : 'status'}>
      <span>{props.children}</span>
      {props.onClose && (
        <button type="button" class="link" onClick={props.onClose} aria-label="×">
          ×
        </button>
      )}
    </div>
  );
}

/** A message id the server accepts (A-Z a-z 0-9 . _ : -), unique enough for one browser. */
export function newId(prefix: string): string {
  const random = crypto.getRandomValues(new Uint32Array(2));
  return `${prefix}-${Date.now().toString(36)}-${random[0]!.toString(36)}${random[1]!.toString(36)}`;
}

/**
 * A page's list read from the API, the page's error and its notice. `act` runs a change, shows
 * `success` (or clears the notice) or the error, and reads the list again either way.
 */
export function useListing<T>(api: Api, load: (api: Api) => Promise<T[]>) {
  const [items, setItems] = useState<T[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  // `load` only reads through `api`, so a new arrow on each render needs no new reload.
  const reload = useCallback(async () => {
    try {
      setItems(await load(api));
      setError(null);
    } catch (caught) {
      setError(t('errorGeneric', { message: (caught as Error).message }));
    }
  }, [api]);
  useEffect(() => {
    void reload();
  }, [reload]);

  async function act(action: () => Promise<unknown>, success?: string): Promise<void> {
    try {
      await action();
      setNotice(success ?? null);
      setError(null);
    } catch (caught) {
      setError(t('errorGeneric', { message: (caught as Error).message }));
    }
    await reload();
  }

  return { items, error, notice, setNotice, reload, act };
}

/** A page's notice (closable) and error, above its list. */
export function PageNotices(props: { notice: string | null; error: string | null; onCloseNotice(): void }) {
  return (
    <>
      {props.notice && (
        <Notice kind="success" onClose={props.onCloseNotice}>
          {props.notice}
        </Notice>
      )}
      {props.error && <Notice kind="error">{props.error}</Notice>}
    </>
  );
}

/** A destructive row action: `label` asks `question` beside it first, and `onConfirm` runs on yes. */
export function ConfirmButton(props: { label: string; question: string; onConfirm(): void }) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" class="danger small" onClick={() => setAsking(true)}>
        {props.label}
      </button>
    );
  }
  return (
    <span class="confirm" role="alert">
      {props.question}
      <button
        type="button"
        class="danger small"
        onClick={() => {
          setAsking(false);
          props.onConfirm();
        }}
      >
        {t('yes')}
      </button>
      <button type="button" class="secondary small" onClick={() => setAsking(false)}>
        {t('no')}
      </button>
    </span>
  );
}
