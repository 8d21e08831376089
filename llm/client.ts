// One way to build an OpenAI-compatible client: SDK retries off (Temporal retries the activity)
// and a request timeout a little under the activity's own, so a slow provider surfaces as a
// clean, retryable timeout error instead of the attempt being killed from outside. The SDK's
// timeout stops counting once headers arrive, so the body is bounded by boundedFetch
// (lib/egress-fetch.ts): the same total deadline, a gap timeout between pieces and a byte cap.
import type { BlockList } from 'node:net';
import OpenAI, { type ClientOptions as OpenAIOptions } from 'openai';
import { boundedFetch, DEFAULT_GAP_MS, policedFetch, type PolicedFetch } from '../lib/egress-fetch';
import { activityInfo } from '@temporalio/activity';

/** Room left between the SDK timeout and the activity's StartToClose timeout. */
const TIMEOUT_MARGIN_MS = 250;
const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * A provider's response body is read whole; beyond this it is refused rather than held in memory
 * (the answer kept is cut at 64 KiB anyway). A chat answer is never near it.
 */
export const MAX_LLM_RESPONSE_BYTES = 8 * 1024 * 1024;

type Fetch = NonNullable<OpenAIOptions['fetch']>;

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
  /** The whole call, the body included (the SDK's own timeout stops counting at the headers). */
  timeoutMs: number;
  /** Longest silence between two pieces of the body (UPSTREAM_GAP_TIMEOUT). */
  gapMs?: number;
  /** User-supplied endpoints: connect only to addresses the egress policy allows. */
  egressAllow?: BlockList;
}): OpenAI {
  const inner: PolicedFetch = options.egressAllow ? policedFetch('base_url', options.egressAllow) : (globalThis.fetch as PolicedFetch);
  const bounded = boundedFetch(inner, {
    what: 'the response',
    maxBytes: MAX_LLM_RESPONSE_BYTES,
    gapMs: options.gapMs ?? DEFAULT_GAP_MS,
    totalMs: options.timeoutMs,
  });
  return new OpenAI({
    baseURL: options.baseURL,
    apiKey: options.apiKey ?? NO_KEY,
    maxRetries: 0,
    timeout: options.timeoutMs,
    fetch: bounded as unknown as Fetch,
  });
}
