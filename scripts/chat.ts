// `npm run chat -- --user alice`: a terminal client for the WebSocket gateway, the quickest way to
// try the service. Typed lines become messages, results are printed and acknowledged, `/quit`
// leaves and prints how to come back (`--session <id>`, which first shows the earlier messages
// from the REST audit trail). Works with piped stdin too: after the input ends it waits for
// every answer, then exits.
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { loadConfigOrExit, mintLocalToken, runCli, UsageError } from '../runtime/cli';
import { urlHost } from '../lib/address';
import type { ServerFrame } from '../contract';
import { AcceptedFirst, color, formatEarlier, formatFrame, type EarlierMessage } from './chat-view';

const USAGE = `usage: npm run chat -- (--user <id> | --token <jwt>) [--url ws://127.0.0.1:8081/ws] [--api http://127.0.0.1:8080] [--session <id>] [--device <id>] [--no-stream]
  lines you type are questions; /quit leaves (resume later with --session), /end closes the session, /stream on|off, /ping, /help
  --api is where the earlier messages of a resumed session are read (default: API_PORT on the gateway's host)`;

const HELP = '/quit leave (the session stays resumable)  /end close the session  /stream on|off  /ping  /help';

/** After piped input ends, how long to wait for outstanding answers before giving up. */
const DRAIN_TIMEOUT_MS = 120_000;
/** A resumed session shows this many of its latest messages. */
const EARLIER_SHOWN = 20;
/** Audit pages read at most (100 messages each) for them. */
const EARLIER_PAGES = 20;

function print(line: string): void {
  process.stdout.write(line + '\n');
}

async function tokenFor(values: { user?: string; token?: string }): Promise<string> {
  if (values.token) return values.token;
  if (!values.user) throw new UsageError('--user or --token is required');
  return mintLocalToken(values.user);
}

function defaultUrls(): { url: string; api: string } {
  const { config } = loadConfigOrExit();
  const host = config.PUBLIC_HOST ?? urlHost(config.HOST);
  return { url: `ws://${host}:${config.GATEWAY_PORT}/ws`, api: `http://${host}:${config.API_PORT}` };
}

/**
 * A resumed session's latest messages with their answers, from the audit trail (it reads every
 * run of the session). Best effort: the chat goes on without them, saying why.
 */
async function showEarlierMessages(api: string, token: string, sessionId: string): Promise<void> {
  const entries: EarlierMessage[] = [];
  let cursor: string | undefined;
  try {
    for (let page = 0; page < EARLIER_PAGES; page++) {
      const url = new URL(`/api/v1/sessions/${encodeURIComponent(sessionId)}/audit`, api);
      url.searchParams.set('limit', '100');
      if (cursor) url.searchParams.set('cursor', cursor);
      const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) });
      // Not this user's session (or none): the gateway says so when it refuses the resume.
      if (response.status === 404) return;
      const body = (await response.json()) as { message?: string; data?: EarlierMessage[]; next_cursor?: string | null };
      if (!response.ok || !Array.isArray(body.data)) throw new Error(`${response.status} ${body.message ?? ''}`.trim());
      entries.push(...body.data);
      cursor = body.next_cursor ?? undefined;
      if (!cursor) break;
    }
  } catch (error) {
    print(color.dim(`(earlier messages not shown: ${(error as Error).message} from ${api})`));
    return;
  }
  print(formatEarlier(entries.slice(-EARLIER_SHOWN), entries.length));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      user: { type: 'string', short: 'u' },
      token: { type: 'string', short: 't' },
      url: { type: 'string' },
      api: { type: 'string' },
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
  const defaults = values.url && values.api ? undefined : defaultUrls();
  const url = values.url ?? defaults!.url;
  const api = values.api ?? defaults!.api;
  if (values.session) await showEarlierMessages(api, token, values.session);
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
  let sessionEnded = false;
  const order = new AcceptedFirst();
  const who = values.user ? `--user ${values.user}` : '--token <token>';

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
    if (line === '/stream on' || line === '/stream off') {
      const stream = line === '/stream on';
      send({ type: 'session_config', stream });
      // Per socket and not answered by the gateway: said here, once sent.
      return print(color.dim(stream ? '· streaming on: answers appear as they are written' : '· streaming off: answers arrive whole'));
    }
    const id = `m-${randomUUID()}`;
    outstanding.add(id);
    order.sent(id);
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
      if (ready && sessionId && !sessionEnded)
        print(`session ${sessionId} stays open; resume it with: npm run chat -- ${who} --session ${sessionId}`);
      if (code === 1000 || code === 1005) resolve();
      else reject(new Error(`connection closed: ${code} ${reason.toString()}`));
    });
  });

  const show = (frame: ServerFrame): void => {
    if (frame.type === 'delta') return streaming.show(frame);
    streaming.end();
    const streamedText = frame.type === 'function_call_result' ? streaming.take(frame.id) : undefined;
    print(formatFrame(frame, configNames, streamedText));
  };

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
    for (const shown of order.order(frame)) show(shown);
    if (frame.type === 'session_closed') sessionEnded = true;
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
