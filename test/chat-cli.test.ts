// `npm run chat` (scripts/chat.ts) as a user runs it, against the real gateway, worker and API with
// the scripted provider: what it prints for a new session, how it says to come back, what a
// resumed session shows first, and the order of a message's frames.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { RunningRole } from '../app/context';
import { startApi } from '../api/server';
import { projectRoot } from '../lib/temporal-cli';
import type { ServerFrame } from '../contract';
import { AcceptedFirst } from '../scripts/chat-view';
import { appEnv } from './support/app-process';
import { startStack, type TestStack } from './support/stack';

interface ChatRun {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
}

/** Runs the chat script with `input` on its stdin (then closed), as `npm run chat -- …` does. */
function chat(args: string[], input: string): Promise<ChatRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/chat.ts', ...args], {
    cwd: projectRoot,
    env: appEnv({}),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(input);
  return new Promise((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr, lines: stdout.split('\n').filter(Boolean) })),
  );
}

function indexOf(run: ChatRun, pattern: RegExp): number {
  const index = run.lines.findIndex((line) => pattern.test(line));
  assert.notEqual(index, -1, `no line matches ${pattern} in:\n${run.stdout}\n${run.stderr}`);
  return index;
}

describe('npm run chat (scripts/chat.ts)', function () {
  this.timeout(120_000);
  let stack: TestStack;
  let api: RunningRole;
  let user: { userId: string; token: string; model: string };
  let args: string[];
  let sessionId: string;

  before(async function () {
    stack = await startStack();
    api = await startApi(stack.tc.ctx, { host: '127.0.0.1', port: 0 });
    user = await stack.newUser('chat');
    args = ['--token', user.token, '--url', stack.url, '--api', new URL(api.urls.base!).origin];
  });
  after(async function () {
    await api?.close();
    await stack?.close();
  });

  it('answers a new session, shows accepted before routing, and says how to resume it', async function () {
    const run = await chat(args, 'hello there\n');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const hello = /^connected: session (\S+) \(new\)/.exec(run.lines[indexOf(run, /^connected: session/)]!);
    assert.ok(hello, run.stdout);
    sessionId = hello[1]!;
    const accepted = indexOf(run, /^· accepted m-/);
    const progress = indexOf(run, /^· (routing|executing)/);
    // Streamed (the default): the answer as it is written, then its result without the text again.
    const answer = indexOf(run, new RegExp(`^… ${user.model}: \\[${user.model}\\] hello there$`));
    indexOf(run, /^\[.* ms\] \(streamed above\)$/);
    assert.ok(accepted < progress && progress < answer, run.stdout);
    assert.equal(run.lines.filter((line) => line.startsWith('· accepted')).length, 1, run.stdout);
    assert.equal(
      run.lines.at(-1),
      `session ${sessionId} stays open; resume it with: npm run chat -- --token <token> --session ${sessionId}`,
    );
  });

  it('resumed with --session, shows the earlier messages first and confirms /stream off', async function () {
    const run = await chat([...args, '--session', sessionId], '/stream off\nsecond question\n');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const earlier = indexOf(run, /^earlier messages:$/);
    const asked = indexOf(run, /^> hello there$/);
    assert.match(run.lines[asked + 1]!, new RegExp(`^\\[${user.model}\\] \\[${user.model}\\] hello there$`));
    const connected = indexOf(run, new RegExp(`^connected: session ${sessionId} \\(resumed\\)`));
    assert.ok(earlier < asked && asked < connected, run.stdout);
    indexOf(run, /^· streaming off: answers arrive whole$/);
    // Not streamed now: the result carries the text.
    indexOf(run, new RegExp(`^\\[${user.model} · .* ms\\] \\[${user.model}\\] second question$`));
    assert.doesNotMatch(run.stdout, /streamed above/);
  });

  it('/quit leaves and prints the session id that --session takes; /stream on is confirmed', async function () {
    const run = await chat([...args, '--session', sessionId], '/stream on\n/quit\n');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    // Both earlier messages, oldest first, before the socket opens.
    assert.ok(indexOf(run, /^> hello there$/) < indexOf(run, /^> second question$/), run.stdout);
    indexOf(run, /^· streaming on: answers appear as they are written$/);
    assert.equal(
      run.lines.at(-1),
      `session ${sessionId} stays open; resume it with: npm run chat -- --token <token> --session ${sessionId}`,
    );
  });
});

describe("npm run chat: the order of a message's frames", function () {
  // The race a test cannot provoke on demand (the worker's progress overtaking the gateway's
  // `accepted`), played to the ordering the script prints through.
  function shown(order: AcceptedFirst, frames: ServerFrame[]): string[] {
    return frames.flatMap((frame) => order.order(frame)).map((frame) => `${frame.type}${'stage' in frame ? ` ${frame.stage}` : ''}`);
  }

  it('shows accepted first when routing arrives before it, and not again after', function () {
    const order = new AcceptedFirst();
    order.sent('m-1');
    assert.deepEqual(
      shown(order, [
        { type: 'progress', id: 'm-1', stage: 'routing' },
        { type: 'accepted', id: 'm-1' },
        { type: 'progress', id: 'm-1', stage: 'executing', config_id: 1 },
      ]),
      ['accepted', 'progress routing', 'progress executing'],
    );
  });

  it('keeps frames that arrive in order as they are, and adds nothing for messages it did not send', function () {
    const order = new AcceptedFirst();
    order.sent('m-2');
    assert.deepEqual(
      shown(order, [
        { type: 'accepted', id: 'm-2' },
        { type: 'progress', id: 'm-2', stage: 'routing' },
        // A result redelivered on resume, sent by an earlier run of the script.
        { type: 'progress', id: 'm-old', stage: 'executing' },
      ]),
      ['accepted', 'progress routing', 'progress executing'],
    );
  });
});
