// WebSocket fuzzing: frames generated from a seeded PRNG (random JSON, frames shaped like ours
// with random fields, deep nesting, huge strings, binary frames, invalid UTF-8) against the real
// gateway and session worker. None may crash the gateway or fail a workflow task: every fuzzed
// socket still gets its real message answered (until the bad-frame limit closes it with 1008),
// the session's history has no failed workflow task, and a fresh socket is served afterwards.
import assert from 'node:assert/strict';
import { sessionWorkflowId } from '../contract';
import { fetchAllRuns } from './support/histories';
import { startStack, type TestStack } from './support/stack';
import { testTemporal } from './support/temporal';
import { TestSocket } from './support/ws-client';

const SEED = 20261128;
const ROUNDS = 24;
/** Under the gateway's limit of ten bad frames a minute, so the socket stays open for its real message. */
const FRAMES_PER_ROUND = 8;

/** mulberry32: small, fast and reproducible; the seed is printed so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fuzzer(random: () => number) {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const text = (max: number) =>
    Array.from({ length: int(max) }, () =>
      String.fromCodePoint(pick([0x41 + int(26), 0x4e00 + int(500), 0x1f600 + int(50), int(32), 0x22, 0x5c])),
    ).join('');
  const value = (depth: number): unknown => {
    switch (depth > 4 ? int(4) : int(7)) {
      case 0:
        return null;
      case 1:
        return random() < 0.5;
      case 2:
        return pick([0, -1, 1e308, -0.5, Number.MAX_SAFE_INTEGER + 2, 42]);
      case 3:
        return text(40);
      case 4:
        return Array.from({ length: int(5) }, () => value(depth + 1));
      default:
        return Object.fromEntries(Array.from({ length: int(5) }, () => [text(8), value(depth + 1)]));
    }
  };
  const types = ['message', 'ack', 'session_config', 'ping', 'close', 'hello', 'delta', '', 'MESSAGE', '__proto__'];
  return (): string | Buffer => {
    switch (int(8)) {
      case 0:
        return JSON.stringify(value(0));
      case 1: {
        // Shaped like ours, with wrong or extra fields (never a real `close`: that would end the session).
        const type = pick(types.filter((t) => t !== 'close'));
        const frame: Record<string, unknown> = { type, id: random() < 0.5 ? text(10) : value(2), text: value(1) };
        if (random() < 0.5) frame[text(6)] = value(1);
        if (type === 'session_config') Object.assign(frame, { default_llm_id: value(2), enabled_functions: value(2), stream: value(2) });
        return JSON.stringify(frame);
      }
      case 2:
        return '['.repeat(2000 + int(3000)) + ']'.repeat(int(2)) + (random() < 0.5 ? '' : '{"type":"message"}');
      case 3:
        return JSON.stringify({ type: 'message', id: 'huge', text: 'x'.repeat(70_000 + int(50_000)) });
      case 4:
        return Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256)));
      case 5:
        return `{"type":"message","id":"${text(5)}","text":${text(20)}`;
      case 6:
        return JSON.stringify({ type: 'message', id: `id-${int(1000)}`, text: '   ' });
      default:
        return text(200);
    }
  };
}

describe('WebSocket fuzzing', function () {
  this.timeout(300_000);
  let stack: TestStack;

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack?.close();
  });

  it(`survives ${ROUNDS} rounds of fuzzed frames (seed ${SEED}): every real message answered, no failed workflow task`, async () => {
    const next = fuzzer(prng(SEED));
    const user = await stack.newUser('fuzz');
    const first = await TestSocket.open(stack.url, { token: user.token, deviceId: 'fuzzer' });
    const sessionId = (await first.next('hello')).session_id;
    await first.close();
    let errorFrames = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const socket = await TestSocket.open(stack.url, { token: user.token, sessionId });
      await socket.next('hello');
      for (let i = 0; i < FRAMES_PER_ROUND; i++) socket.send(next());
      const id = `real-${round}`;
      socket.send({ type: 'message', id, text: `round ${round}` });
      const result = await socket.next('function_call_result', (f) => f.id === id, 60_000);
      assert.equal(result.status, 'success', `round ${round}`);
      socket.send({ type: 'ack', id });
      errorFrames += socket.received.filter((f) => f.type === 'error').length;
      await socket.close();
    }

    // Invalid UTF-8 in a text frame is a protocol error: that socket is closed (1007), nothing else is.
    const broken = await TestSocket.open(stack.url, { token: user.token, sessionId });
    await broken.next('hello');
    broken.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    assert.equal((await broken.closed).code, 1007);

    const history = await fetchAllRuns((await testTemporal()).client, sessionWorkflowId(user.userId, sessionId));
    const failedTasks = history.flatMap((run) => run.history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes);
    assert.equal(failedTasks.length, 0, 'no workflow task failed');
    assert.ok(errorFrames >= ROUNDS * 4, `bad frames were answered with error frames (${errorFrames})`);

    const fresh = await stack.newUser('after-fuzz');
    const socket = await TestSocket.open(stack.url, { token: fresh.token });
    await socket.next('hello');
    socket.send({ type: 'message', id: 'still-here', text: 'hello?' });
    assert.equal((await socket.next('function_call_result', (f) => f.id === 'still-here')).status, 'success');
    await socket.close();
    process.stdout.write(`      ws fuzz: ${ROUNDS * FRAMES_PER_ROUND} fuzzed frames, ${errorFrames} error frames, 0 crashes\n`);
  });
});
