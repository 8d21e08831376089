// The whole message path in this process for socket-level suites: a test context (the run's
// database, the shared Temporal dev server), the scripted OpenAI-compatible provider, the real
// session worker and the real gateway on an ephemeral port.
import type { RunningRole } from '../../app/context';
import { startGateway } from '../../gateway';
import { startWorker } from '../../worker';
import { createTestContext, insertLLMConfig, uniqueId, type TestContext } from './context';
import { startFakeLLM, type FakeLLM } from './fake-llm';
import { testTemporal } from './temporal';

export interface TestStack {
  tc: TestContext;
  llm: FakeLLM;
  /** The gateway's ws:// URL. */
  url: string;
  /** A new user with one LLM config the fake provider answers (echo), and a token. */
  newUser(prefix?: string): Promise<{ userId: string; token: string; model: string }>;
  close(): Promise<void>;
}

export async function startStack(env: Record<string, string> = {}): Promise<TestStack> {
  const tc = await createTestContext({ env: { EGRESS_ALLOW: '127.0.0.0/8', ...env } });
  const llm = await startFakeLLM();
  const roles: RunningRole[] = [];
  try {
    roles.push(await startWorker(tc.ctx, { connection: (await testTemporal()).nativeConnection }));
    const gateway = await startGateway(tc.ctx, { host: '127.0.0.1', port: 0 });
    roles.push(gateway);
    return {
      tc,
      llm,
      url: gateway.urls.websocket!,
      async newUser(prefix = 'user') {
        const userId = uniqueId(prefix);
        const model = uniqueId('echo');
        await insertLLMConfig(tc.ctx, userId, { model, baseUrl: llm.baseUrl });
        return { userId, token: await tc.token(userId), model };
      },
      async close() {
        for (const role of roles.reverse()) await role.close();
        await llm.close();
        await tc.close();
      },
    };
  } catch (error) {
    for (const role of roles.reverse()) await role.close();
    await llm.close();
    await tc.close();
    throw error;
  }
}
