// Switchboard's own OpenAI-compatible endpoint, `POST /v1/chat/completions`, measured as the
// LiteLLM peer is (openai-peer.ts): the openai SDK with a user API key (`sb-…`) asking for a named
// LLM config (`model: "<config_name>"`: one provider call, no router) in front of the same fake
// provider, against the same calls made straight to it. Each request is a durable message: a
// one-message session workflow, started and closed by the request. An API role and a worker in
// the bench process, on the run's Temporal dev server and PostgreSQL.
import OpenAI from 'openai';
import type { RunningRole } from '../app/context';
import { startApi } from '../api/server';
import { createApiKey } from '../db';
import { startWorker } from '../worker';
import { createTestContext, insertLLMConfig, uniqueId } from '../test/support/context';
import type { FakeLLM } from '../test/support/fake-llm';
import { registerApiKey } from '../test/support/secret-scan';
import { testTemporal } from '../test/support/temporal';
import packageJson from '../package.json';
import { BENCH_ENV } from './messages';
import type { PeerResult } from './litellm';
import { measureEndpoint, type EndpointOptions } from './openai-peer';

export const CHAT_COMPLETIONS_NAME = 'Switchboard /v1/chat/completions';

/** Many one-message sessions of one user at once: no per-user session cap in the way of the load. */
const CHAT_ENV: Record<string, string> = { ...BENCH_ENV, MAX_SESSIONS_PER_USER: '1000000' };

export async function measureChatCompletions(llm: FakeLLM, options: EndpointOptions, log: (line: string) => void): Promise<PeerResult> {
  const tc = await createTestContext({ env: CHAT_ENV });
  const roles: RunningRole[] = [];
  try {
    roles.push(await startWorker(tc.ctx, { connection: (await testTemporal()).nativeConnection }));
    const api = await startApi(tc.ctx, { host: '127.0.0.1', port: 0 });
    roles.push(api);
    const userId = uniqueId('bench-chat');
    const model = uniqueId('bench-chat-model');
    const configName = 'bench-model';
    await insertLLMConfig(tc.ctx, userId, { name: configName, model, baseUrl: llm.baseUrl, apiKey: 'sk-bench-anything' });
    const { key } = await createApiKey(tc.ctx.db, userId, { name: 'bench', expiresAt: null });
    // Under mocha (test/bench-chat.test.ts) the key and its hash join the run's secret scan.
    registerApiKey(key);
    log(`chat completions: ${api.urls.base}/v1 with an API key, model "${configName}"`);
    const direct = new OpenAI({ baseURL: llm.baseUrl, apiKey: 'sk-bench-anything', maxRetries: 0 });
    const endpoint = new OpenAI({ baseURL: `${api.urls.base}/v1`, apiKey: key, maxRetries: 0, timeout: 60_000 });
    const run = await measureEndpoint({ client: direct, model }, { client: endpoint, model: configName }, options);
    return { name: CHAT_COMPLETIONS_NAME, version: packageJson.version, ...run };
  } catch (error) {
    return { name: CHAT_COMPLETIONS_NAME, error: (error as Error).message };
  } finally {
    for (const role of roles.reverse()) await role.close().catch(() => undefined);
    await tc.close();
  }
}
