// `npm run chat -- --user alice`: a terminal client for the WebSocket gateway, the quickest way to
// try the service. Typed lines become messages, results are printed and acknowledged, `/quit`
// leaves (the session stays resumable with --session). Works with piped stdin too: after the
// input ends it waits for every answer, then exits.
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { loadConfigOrExit, mintLocalToken, runCli, UsageError } from '../runtime/cli';
import { urlHost } from '../lib/address';
import type { PublicConfig, ServerFrame } from '../contract';

const USAGE = `usage: npm run chat -- (--user <id> | --token <jwt>) [--url ws://127.0.0.1:8081/ws] [--session <id>] [--device <id>] [--no-stream]
  lines you type are questions; /quit leaves (resume later with --session), /end closes the session, /stream on|off, /ping, /help`;

const HELP = '/quit leave (the session stays resumable)  /end close the session  /stream on|off  /ping  /help';

/** After piped input ends, how long to wait for outstanding answers before giving up. */
const DRAIN_TIMEOUT_MS = 120_000;

const color = process.stdout.isTTY
  ? { dim: (s: string) => `\x1b[2m${s}\x1b[0m`, bold: (s: string) => `\x1b[1m${s}\x1b[0m`, red: (s: string) => `\x1b[31m${s}\x1b[0m` }
  : { dim: (s: string) => s, bold: (s: string) => s, red: (s: string) => s };

function print(line: string): void {
  process.stdout.write(line + '\n');
}

function describeConfigs(configs: PublicConfig[]): string {
  if (configs.length === 0) return 'no configs yet (create some with the REST API)';
  return configs
    .map(
      (c) =>
        `${c.config_name} (${c.config_type === 'llm' ? (c.model_name ?? 'llm') : (c.function_name ?? 'function')}${c.is_active ? '' : ', off'})`,
    )
    .join(', ');
}

/** One readable line (or a few) per frame; an answer already streamed is not printed again. */
function formatFrame(frame: ServerFrame, configNames: Map<number, string>, streamedText?: string): string {
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
      // Written as it comes by the streaming display (main), not as a line of its own.
      return frame.text;
    case 'pong':
      return color.dim('· pong');
  }
}

async function tokenFor(values: { user?: string; token?: string }): Promise<string> {
  if (values.token) return values.token;
  if (!values.user) throw new UsageError('--user or --token is required');
  return mintLocalToken(values.user);
}

function defaultUrl(): string {
  const { config } = loadConfigOrExit();
  const host = config.PUBLIC_HOST ?? urlHost(config.HOST);
  return `ws://${host}:${config.GATEWAY_PORT}/ws`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      user: { type: 'string', short: 'u' },
      token: { type: 'string', short: 't' },
      url: { type: 'string' },
      session: { type: 'string', short: 's' },
      device: { type: 'string', short: 'd', default: 'cli' },
      'no-stream': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    print(USAGE);
    return;
  }
  const token = await tokenFor(values);
  const url = values.url ?? defaultUrl();
  const headers: Record<string, string> = { Authorization: `Bearer ${token}`, 'Device-Id': values.device };
  if (values.session) headers['Session-Id'] = values.session;
  headers.Stream = values['no-stream'] ? 'false' : 'true';

  const ws = new WebSocket(url, { headers });
  const configNames = new Map<number, string>();
  const outstanding = new Set<string>();
  const queued: string[] = [];
  let ready = false;
  let inputEnded = false;
  let sessionId = values.session;

  const send = (frame: Record<string, unknown>): void => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  };
  const finishIfDrained = (): void => {
    if (inputEnded && ready && outstanding.size === 0) ws.close(1000, 'bye');
  };
  const handleLine = (raw: string): void => {
    const line = raw.trim();
    if (!line) return;
    if (!ready) {
      queued.push(line);
      return;
    }
    if (line === '/quit') return ws.close(1000, 'bye');
    if (line === '/end') return send({ type: 'close' });
    if (line === '/ping') return send({ type: 'ping' });
    if (line === '/help') return print(HELP);
    if (line === '/stream on' || line === '/stream off') return send({ type: 'session_config', stream: line === '/stream on' });
    const id = `m-${randomUUID()}`;
    outstanding.add(id);
    send({ type: 'message', id, text: line });
  };

  /** Streamed text is written as it comes, on its own line; offset 0 again (a retry) starts a fresh line. */
  const streaming = {
    id: undefined as string | undefined,
    /** What was shown of each answer, so its result does not print it twice. */
    shown: new Map<string, string>(),
    show(frame: Extract<ServerFrame, { type: 'delta' }>): void {
      if (frame.id !== this.id || frame.offset === 0) {
        this.end();
        this.id = frame.id;
        process.stdout.write(color.dim(`… ${configNames.get(frame.config_id) ?? `config ${frame.config_id}`}: `));
      }
      if (frame.offset === 0) this.shown.set(frame.id, '');
      this.shown.set(frame.id, (this.shown.get(frame.id) ?? '') + frame.text);
      process.stdout.write(frame.text);
    },
    take(id: string): string | undefined {
      const text = this.shown.get(id);
      this.shown.delete(id);
      return text;
    },
    end(): void {
      if (this.id !== undefined) process.stdout.write('\n');
      this.id = undefined;
    },
  };

  const done = new Promise<void>((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let message = Buffer.concat(chunks).toString('utf8');
        try {
          message = (JSON.parse(message) as { message?: string }).message ?? message;
        } catch {
          // not JSON: print as is
        }
        reject(new Error(`gateway refused the connection: ${res.statusCode} ${message}`));
      });
    });
    ws.on('error', (error) => reject(new Error(`cannot reach ${url}: ${error.message}`)));
    ws.on('close', (code, reason) => {
      if (sessionId && code !== 1000) print(color.dim(`resume with: npm run chat -- --session ${sessionId}`));
      if (code === 1000 || code === 1005) resolve();
      else reject(new Error(`connection closed: ${code} ${reason.toString()}`));
    });
  });

  ws.on('message', (data) => {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(data.toString()) as ServerFrame;
    } catch {
      return print(color.red(`! unreadable frame: ${data.toString().slice(0, 200)}`));
    }
    if (frame.type === 'hello' || frame.type === 'configs_updated') {
      for (const c of frame.configs) configNames.set(c.id, c.config_name);
    }
    if (frame.type === 'delta') return streaming.show(frame);
    streaming.end();
    const streamedText = frame.type === 'function_call_result' ? streaming.take(frame.id) : undefined;
    print(formatFrame(frame, configNames, streamedText));
    if (frame.type === 'hello') {
      sessionId = frame.session_id;
      ready = true;
      for (const line of queued.splice(0)) handleLine(line);
      finishIfDrained();
    } else if (frame.type === 'function_call_result') {
      send({ type: 'ack', id: frame.id });
      outstanding.delete(frame.id);
      finishIfDrained();
    } else if (frame.type === 'error' && frame.id) {
      // A refused message gets no result (after `unavailable`, type it again to resend).
      outstanding.delete(frame.id);
      finishIfDrained();
    }
  });

  const rl = createInterface({ input: process.stdin, terminal: false });
  rl.on('line', handleLine);
  rl.on('close', () => {
    inputEnded = true;
    finishIfDrained();
    setTimeout(() => {
      print(color.red(`! gave up waiting for ${outstanding.size} answer(s)`));
      ws.close(1000, 'bye');
    }, DRAIN_TIMEOUT_MS).unref();
  });
  if (process.stdin.isTTY) print(color.dim(HELP));

  try {
    await done;
  } finally {
    rl.close();
  }
}

runCli(main, USAGE);
