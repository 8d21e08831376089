// How an OpenAI-compatible endpoint in front of the fake LLM is measured, the same way for every
// one of them (LiteLLM's proxy, Switchboard's /v1/chat/completions): added latency per call (the
// endpoint minus the same call straight to the fake provider, sequential, interleaved, so both
// see the same machine) and requests/s of concurrent clients, with the same clients straight at
// the fake provider as the floor of that.
import OpenAI from 'openai';
import { now, percentiles, type Percentiles } from './stats';

export interface EndpointOptions {
  calls: number;
  warmup: number;
  clients: number;
  requestsPerClient: number;
}

export interface EndpointRun {
  calls: number;
  proxy: Percentiles;
  direct: Percentiles;
  added: { p50: number; p99: number };
  clients: number;
  requests: number;
  errors: number;
  requestsPerSecond: number;
  /** The same clients straight at the fake LLM: the floor of requestsPerSecond. */
  directRequestsPerSecond: number;
  /** The first error of the load, if any (what a reader needs to see why). */
  firstError?: string;
}

/** A client and the model name it asks for. */
export interface Target {
  client: OpenAI;
  model: string;
}

async function ask(target: Target, text: string): Promise<number> {
  const t = now();
  const answer = await target.client.chat.completions.create({ model: target.model, messages: [{ role: 'user', content: text }] });
  if (!answer.choices[0]?.message.content) throw new Error('no answer');
  return now() - t;
}

/** `clients` concurrent loops of `requestsPerClient` calls each; requests/s and the count of answers and errors. */
async function concurrently(
  target: Target,
  options: EndpointOptions,
): Promise<{ perSecond: number; done: number; errors: number; firstError?: string }> {
  let errors = 0;
  let done = 0;
  let firstError: string | undefined;
  const t = now();
  await Promise.all(
    Array.from({ length: options.clients }, async (_, c) => {
      for (let i = 0; i < options.requestsPerClient; i++) {
        try {
          await ask(target, `client ${c} request ${i}`);
          done++;
        } catch (error) {
          errors++;
          firstError ??= (error as Error).message;
        }
      }
    }),
  );
  return { perSecond: done / ((now() - t) / 1000), done, errors, firstError };
}

export async function measureEndpoint(direct: Target, endpoint: Target, options: EndpointOptions): Promise<EndpointRun> {
  const proxyTimes: number[] = [];
  const directTimes: number[] = [];
  for (let i = -options.warmup; i < options.calls; i++) {
    const d = await ask(direct, `question ${i}`);
    const p = await ask(endpoint, `question ${i}`);
    if (i < 0) continue;
    directTimes.push(d);
    proxyTimes.push(p);
  }
  const directLoad = await concurrently(direct, options);
  const proxyLoad = await concurrently(endpoint, options);
  const proxy = percentiles(proxyTimes);
  const floor = percentiles(directTimes);
  return {
    calls: options.calls,
    proxy,
    direct: floor,
    added: { p50: proxy.p50 - floor.p50, p99: proxy.p99 - floor.p99 },
    clients: options.clients,
    requests: proxyLoad.done,
    errors: proxyLoad.errors,
    requestsPerSecond: proxyLoad.perSecond,
    directRequestsPerSecond: directLoad.perSecond,
    ...(proxyLoad.firstError ? { firstError: proxyLoad.firstError } : {}),
  };
}
