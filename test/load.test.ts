// Load: 1,000 concurrent sockets (50 users with 20 sessions each, the per-user cap) on this
// machine, each sending at a steady rate for a bounded time, through the real gateway and session
// worker on the Temporal dev server. Checks what must hold under load: no socket dropped by the
// server, every accepted message answered once; a user over the message rate gets `rate_limited`
// error frames, not a disconnect; a client flooding invalid frames is closed with 1008 and nobody
// else notices. Latencies are printed, never asserted (these machines are noisy).
import assert from 'node:assert/strict';
import { startStack, type TestStack } from './support/stack';
import { TestSocket } from './support/ws-client';

const USERS = 50;
const SESSIONS_PER_USER = 20;
const MESSAGES_PER_SOCKET = 3;
/** Each socket sends one message every this many ms (staggered): about 67 messages a second in all, under what one machine answers, so latency measures the path rather than a queue. */
const SEND_INTERVAL_MS = 15_000;
const CONNECT_CONCURRENCY = 25;

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0;
}

async function inBatches<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(work))));
  return out;
}

describe('load: 1,000 concurrent sockets', function () {
  this.timeout(600_000);
  let stack: TestStack;

  before(async function () {
    stack = await startStack({ WS_MESSAGES_PER_MINUTE: '30' });
  });

  after(async function () {
    await stack?.close();
  });

  it('holds every socket, answers every accepted message once, limits by frames, and closes only the flooder', async function () {
    const { url } = stack;
    const users = await Promise.all(Array.from({ length: USERS }, () => stack.newUser('load')));
    const startedAt = Date.now();
    const sockets = await inBatches(
      users.flatMap((u) => Array.from({ length: SESSIONS_PER_USER }, (_, i) => ({ ...u, device: `d-${i}` }))),
      CONNECT_CONCURRENCY,
      async (u) => {
        const socket = await TestSocket.open(url, { token: u.token, deviceId: u.device });
        await socket.next('hello', () => true, 120_000);
        return socket;
      },
    );
    const connectSeconds = (Date.now() - startedAt) / 1000;
    let serverClosed = 0;
    for (const socket of sockets) void socket.closed.then(({ code }) => code !== 1000 && code !== 1005 && (serverClosed += 1));

    // The flooder: its own user, invalid frames until the gateway closes it.
    const flooder = await TestSocket.open(url, { token: (await stack.newUser('flooder')).token });
    await flooder.next('hello');
    for (let i = 0; i < 20; i++) flooder.send(`{not json ${i}`);
    assert.equal((await flooder.closed).code, 1008);

    // A burst over the per-minute message rate on one socket: the surplus is refused with frames.
    const burst = sockets[0]!;
    const burstIds = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
    for (const id of burstIds) burst.send({ type: 'message', id, text: `burst ${id}` });
    const burstOutcomes = await Promise.all(
      burstIds.map((id) =>
        Promise.race([
          burst.next('accepted', (f) => f.id === id, 120_000).then(() => 'accepted' as const),
          burst.next('error', (f) => f.id === id, 120_000).then((f) => f.code),
        ]),
      ),
    );
    const limited = burstOutcomes.filter((o) => o === 'rate_limited').length;
    assert.ok(limited >= 10, `the surplus gets rate_limited frames: ${JSON.stringify(burstOutcomes)}`);

    // Steady traffic: every other socket sends MESSAGES_PER_SOCKET messages, one per interval, staggered.
    const traffic = sockets.slice(1);
    const latencies: number[] = [];
    let accepted = 0;
    let answered = 0;
    let refused = 0;
    const sendStarted = Date.now();
    await Promise.all(
      traffic.map(async (socket, index) => {
        await new Promise((r) => setTimeout(r, Math.floor((index / traffic.length) * SEND_INTERVAL_MS)));
        for (let m = 0; m < MESSAGES_PER_SOCKET; m++) {
          const id = `m-${index}-${m}`;
          const sent = Date.now();
          socket.send({ type: 'message', id, text: `load ${id}` });
          const outcome = await Promise.race([
            socket.next('accepted', (f) => f.id === id, 300_000).then(() => 'accepted' as const),
            socket.next('error', (f) => f.id === id, 300_000).then(() => 'refused' as const),
          ]);
          if (outcome === 'refused') {
            refused += 1;
          } else {
            accepted += 1;
            await socket.next('function_call_result', (f) => f.id === id, 300_000);
            answered += 1;
            latencies.push(Date.now() - sent);
            socket.send({ type: 'ack', id });
          }
          if (m < MESSAGES_PER_SOCKET - 1) await new Promise((r) => setTimeout(r, SEND_INTERVAL_MS));
        }
      }),
    );
    const sendSeconds = (Date.now() - sendStarted) / 1000;
    const duplicated = traffic.reduce((sum, socket) => {
      const ids = socket.received.flatMap((f) => (f.type === 'function_call_result' ? [f.id] : []));
      return sum + ids.length - new Set(ids).size;
    }, 0);
    latencies.sort((a, b) => a - b);
    const sent = traffic.length * MESSAGES_PER_SOCKET;
    process.stdout.write(
      `      load: ${sockets.length} sockets connected in ${connectSeconds.toFixed(1)} s; ` +
        `sent ${sent}, accepted ${accepted}, answered ${answered}, refused ${refused}, duplicated ${duplicated}, lost ${accepted - answered} ` +
        `in ${sendSeconds.toFixed(1)} s; latency p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms; ` +
        `burst of 40: ${limited} rate_limited\n`,
    );

    assert.equal(serverClosed, 0, 'no socket was closed by the server');
    assert.equal(answered, accepted, 'every accepted message was answered');
    assert.equal(duplicated, 0, 'no result came twice on a socket');
    assert.equal(refused, 0, 'steady traffic stays within the limits');

    // Close every session so its workflow ends instead of idling on the shared server.
    await inBatches(sockets, 50, async (socket) => {
      socket.send({ type: 'close' });
      await socket.next('session_closed', () => true, 120_000);
      await socket.closed;
    });
  });
});
