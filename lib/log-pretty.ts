// Log lines for a person at a terminal: `12:31:18.548 INFO  worker started  role=worker …`, one
// line per record (an error's stack indented below it), colours unless NO_COLOR is set. The
// records are pino's JSON lines, so redaction has already happened; anything else (a plain line,
// a record that does not parse) is passed through as it came. Machines get the JSON (LOG_FORMAT).
import type { DestinationStream } from 'pino';

export type LogFormat = 'json' | 'pretty';

const LEVELS: Record<number, { name: string; colour: number }> = {
  10: { name: 'TRACE', colour: 90 },
  20: { name: 'DEBUG', colour: 90 },
  30: { name: 'INFO ', colour: 32 },
  40: { name: 'WARN ', colour: 33 },
  50: { name: 'ERROR', colour: 31 },
  60: { name: 'FATAL', colour: 35 },
};
/** Fields every record has; shown in the line's own form, or not at all. */
const OMITTED = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname', 'err']);

function paint(text: string, colour: number, colours: boolean): string {
  return colours ? `\x1b[${colour}m${text}\x1b[0m` : text;
}

function value(field: unknown): string {
  if (typeof field === 'string') return /^[^\s"=]+$/.test(field) ? field : JSON.stringify(field);
  return JSON.stringify(field) ?? String(field);
}

function clock(time: unknown): string {
  const at = typeof time === 'string' || typeof time === 'number' ? new Date(time) : new Date();
  if (Number.isNaN(at.getTime())) return String(time);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  // Local time, as the person reading it has it on their clock.
  return `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}.${pad(at.getMilliseconds(), 3)}`;
}

/** One pino JSON line as a line (or, with an error, lines) for a terminal. */
export function formatLogLine(line: string, colours: boolean): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return line.endsWith('\n') ? line : line + '\n';
    record = parsed as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : line + '\n';
  }
  const level = LEVELS[Number(record.level)] ?? { name: String(record.level).toUpperCase().padEnd(5), colour: 0 };
  const fields = Object.entries(record)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, field]) => `${key}=${value(field)}`)
    .join(' ');
  const err = record.err as { message?: unknown; stack?: unknown } | undefined;
  const message = record.msg ?? err?.message;
  const head = [
    paint(clock(record.time), 90, colours),
    paint(level.name, level.colour, colours),
    ...(message ? [String(message)] : []),
  ].join(' ');
  let out = fields ? `${head}${message ? '  ' : ''}${paint(fields, 90, colours)}\n` : `${head}\n`;
  if (err) {
    const detail = typeof err.stack === 'string' ? err.stack : value(err);
    out += detail.replace(/^/gm, '    ') + '\n';
  }
  return out;
}

/** A pino destination that writes formatted lines to `out` (stdout); writes to a TTY are synchronous. */
export function prettyDestination(out: NodeJS.WriteStream = process.stdout): DestinationStream {
  const colours = Boolean(out.isTTY) && !process.env.NO_COLOR;
  return { write: (line: string) => void out.write(formatLogLine(line.trimEnd(), colours)) };
}

/** LOG_FORMAT as given; unset: pretty on a terminal, JSON otherwise (a pipe, a file, a collector). */
export function logDestination(format: LogFormat | undefined, out: NodeJS.WriteStream = process.stdout): DestinationStream | undefined {
  return (format ?? (out.isTTY ? 'pretty' : 'json')) === 'pretty' ? prettyDestination(out) : undefined;
}
