// One way to build an OpenAI-compatible client: SDK retries off (Temporal retries the activity)
// and a request timeout a little under the activity's own, so a slow provider surfaces as a
// clean, retryable timeout error instead of the attempt being killed from outside.
import type { BlockList } from 'node:net';
import OpenAI, { type ClientOptions as OpenAIOptions } from 'openai';
import { policedFetch } from '../lib/egress-fetch';
import { activityInfo } from '@temporalio/activity';

/** Room left between the SDK timeout and the activity's StartToClose timeout. */
const TIMEOUT_MARGIN_MS = 250;
const DEFAULT_TIMEOUT_MS = 60_000;

/** Sent when a config has no key (a local Ollama); the SDK insists on some value. */
const NO_KEY = 'no-key';

export function requestTimeoutMs(fallback = DEFAULT_TIMEOUT_MS): number {
  let startToClose: number | undefined;
  try {
    startToClose = activityInfo().startToCloseTimeoutMs;
  } catch {
    // Not inside an activity (a script or test): the fallback applies.
  }
  if (!startToClose) return fallback;
  return Math.max(100, Math.min(fallback, startToClose - Math.min(TIMEOUT_MARGIN_MS, startToClose / 10)));
}

export function createLLMClient(options: {
  baseURL: string;
  apiKey: string | null;
  timeoutMs: number;
  /** User-supplied endpoints: connect only to addresses the egress policy allows. */
  egressAllow?: BlockList;
}): OpenAI {
  return new OpenAI({
    baseURL: options.baseURL,
    apiKey: options.apiKey ?? NO_KEY,
    maxRetries: 0,
    timeout: options.timeoutMs,
    ...(options.egressAllow ? { fetch: policedFetch('base_url', options.egressAllow) as unknown as OpenAIOptions['fetch'] } : {}),
  });
}
