// A smoke run of the bench's POST /v1/chat/completions row (bench/chat-completions.ts): the openai
// SDK with an API key, a named config in front of the fake provider, a few calls one at a time
// and a few concurrent clients. Every figure is there and finite, every request answered. Timings
// are never asserted on: machines are noisy.
import assert from 'node:assert/strict';
import { measureChatCompletions } from '../bench/chat-completions';
import type { PeerRun } from '../bench/litellm';
import { startFakeLLM, type FakeLLM } from './support/fake-llm';

describe('bench: the /v1/chat/completions row (smoke run)', function () {
  this.timeout(180_000);
  let llm: FakeLLM;
  before(async () => {
    llm = await startFakeLLM();
  });
  after(async () => {
    await llm?.close();
  });

  it('measures added latency against direct calls and requests/s of concurrent clients, every request answered', async () => {
    const log: string[] = [];
    const options = { calls: 4, warmup: 1, clients: 4, requestsPerClient: 2 };
    const result = await measureChatCompletions(llm, options, (line) => log.push(line));
    assert.ok(!('error' in result), `not measured: ${'error' in result ? result.error : ''}`);
    const run = result as PeerRun;
    assert.equal(run.name, 'Switchboard /v1/chat/completions');
    assert.equal(run.proxy.n, options.calls);
    assert.equal(run.direct.n, options.calls);
    assert.equal(run.errors, 0, run.firstError);
    assert.equal(run.requests, options.clients * options.requestsPerClient);
    for (const value of [run.proxy.p50, run.proxy.p99, run.direct.p50, run.requestsPerSecond, run.directRequestsPerSecond]) {
      assert.ok(Number.isFinite(value) && value > 0, String(value));
    }
    assert.ok(Number.isFinite(run.added.p50) && Number.isFinite(run.added.p99));
    assert.match(log.join('\n'), /with an API key/);
  });
});
