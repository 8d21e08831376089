// Small building blocks shared by the pages: a labelled field with its help and its error, and
// a notice line. Field errors are shown next to their field, worded exactly as the API sent them.
import type { ComponentChildren } from 'preact';

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
