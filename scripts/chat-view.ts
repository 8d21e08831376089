// What `npm run chat` prints (scripts/chat.ts): one readable line per frame, a resumed session's
// earlier messages, and the frames of one message in the order of their meaning.
import type { PublicConfig, ServerFrame } from '../contract';

export const color = process.stdout.isTTY
  ? { dim: (s: string) => `\x1b[2m${s}\x1b[0m`, bold: (s: string) => `\x1b[1m${s}\x1b[0m`, red: (s: string) => `\x1b[31m${s}\x1b[0m` }
  : { dim: (s: string) => s, bold: (s: string) => s, red: (s: string) => s };

export function describeConfigs(configs: PublicConfig[]): string {
  if (configs.length === 0) return 'no configs yet (create some with the REST API)';
  return configs
    .map(
      (c) =>
        `${c.config_name} (${c.config_type === 'llm' ? (c.model_name ?? 'llm') : (c.function_name ?? 'function')}${c.is_active ? '' : ', off'})`,
    )
    .join(', ');
}

/** One readable line (or a few) per frame; an answer already streamed is not printed again. */
export function formatFrame(frame: ServerFrame, configNames: Map<number, string>, streamedText?: string): string {
  switch (frame.type) {
    case 'hello':
      return `${color.bold('connected')}: session ${frame.session_id} (${frame.resumed ? 'resumed' : 'new'}); configs: ${describeConfigs(frame.configs)}`;
    case 'accepted':
      return color.dim(`· accepted ${frame.id}`);
    case 'progress': {
      const target = frame.config_id !== undefined ? ` ${configNames.get(frame.config_id) ?? `config ${frame.config_id}`}` : '';
      return color.dim(`· ${frame.stage}${target}…`);
    }
    case 'function_call_result': {
      const via = [frame.config_name, frame.routed_by, `${frame.execute_time} ms`].filter(Boolean).join(' · ');
      const fallback = frame.fallback_from
        ? color.dim(`\n  (answered instead of ${frame.fallback_from.config_name}: ${frame.fallback_from.error})`)
        : '';
      if (frame.status === 'failed') return `${color.red(`[${via} · failed]`)} ${frame.error ?? 'failed'}${fallback}`;
      const text = streamedText === frame.result ? color.dim('(streamed above)') : frame.result;
      return `${color.bold(`[${via}]`)} ${text}${fallback}`;
    }
    case 'error':
      return color.red(`! ${frame.code}: ${frame.message}${frame.id ? ` (${frame.id})` : ''}`);
    case 'configs_updated':
      return color.dim(`· configs updated: ${describeConfigs(frame.configs)}`);
    case 'session_closed':
      return `${color.bold('session closed')}: ${frame.reason}`;
    case 'play_music':
      return `♪ playing ${frame.song}`;
    case 'delta':
      // Written as it comes by the streaming display (chat.ts), not as a line of its own.
      return frame.text;
    case 'pong':
      return color.dim('· pong');
  }
}

/** The fields of an audit entry (GET /api/v1/sessions/:id/audit) the transcript shows. */
export interface EarlierMessage {
  text: string | null;
  status: 'success' | 'failed' | 'in_progress' | 'unanswered';
  answer: string | null;
  error: string | null;
  executed_by: { config_name: string | null } | null;
}

/** A resumed session's earlier messages, the last `shown` of `total`, each with its answer. */
export function formatEarlier(entries: EarlierMessage[], total: number): string {
  if (entries.length === 0) return color.dim('(no earlier messages)');
  const lines = [color.dim(total > entries.length ? `earlier messages (the last ${entries.length} of ${total}):` : 'earlier messages:')];
  for (const entry of entries) {
    lines.push(`> ${entry.text ?? ''}`);
    const by = entry.executed_by?.config_name;
    if (entry.status === 'success') lines.push(`${color.bold(`[${by ?? 'answer'}]`)} ${entry.answer ?? color.dim('(not recorded)')}`);
    else if (entry.status === 'failed') lines.push(`${color.red(`[${by ? `${by} · ` : ''}failed]`)} ${entry.error ?? 'failed'}`);
    else lines.push(color.dim('(not answered yet; its answer follows once the session delivers it)'));
  }
  return lines.join('\n');
}

type MessageFrame = Extract<ServerFrame, { type: 'accepted' | 'progress' | 'delta' | 'function_call_result' }>;

/**
 * The gateway writes `accepted` once the session has recorded a message, and the worker's
 * `progress` (and a fast answer) reach the socket by another path, so they can arrive first.
 * Shown in the order of their meaning: a later frame of a message this client sent brings its
 * `accepted` first, and the real `accepted` arriving afterwards is not shown again.
 */
export class AcceptedFirst {
  /** Ids this client sent whose `accepted` is not shown yet (`sent`) or was shown early (`shown`). */
  private readonly state = new Map<string, 'sent' | 'shown'>();

  sent(id: string): void {
    this.state.set(id, 'sent');
  }

  /** The frames to show for `frame`, in order (none for an `accepted` already shown). */
  order<F extends ServerFrame>(frame: F): (F | MessageFrame)[] {
    if (frame.type === 'accepted') {
      const early = this.state.get(frame.id) === 'shown';
      this.state.delete(frame.id);
      return early ? [] : [frame];
    }
    if (
      (frame.type === 'progress' || frame.type === 'delta' || frame.type === 'function_call_result') &&
      this.state.get(frame.id) === 'sent'
    ) {
      this.state.set(frame.id, 'shown');
      return [{ type: 'accepted', id: frame.id }, frame];
    }
    // Refused before the session recorded it: no `accepted` will come.
    if (frame.type === 'error' && frame.id !== undefined && this.state.get(frame.id) === 'sent') this.state.delete(frame.id);
    return [frame];
  }
}
