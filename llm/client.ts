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

/**
 * A provider's response body is read whole; beyond this it is refused rather than held in memory
 * (the answer kept is cut at 64 KiB anyway). A chat answer is never near it.
 */
export const MAX_LLM_RESPONSE_BYTES = 8 * 1024 * 1024;

/** The provider answered with a body over MAX_LLM_RESPONSE_BYTES: not retried, the next config answers. */
export class ResponseTooLargeError extends Error {
  constructor(bytes?: number) {
    super(`the response is larger than ${MAX_LLM_RESPONSE_BYTES / 1024 / 1024} MiB${bytes ? ` (${bytes} bytes)` : ''}`);
    this.name = 'ResponseTooLargeError';
  }
}

type Fetch = NonNullable<OpenAIOptions['fetch']>;

/** Refuses a body over the cap: by its Content-Length at once, else while it is read. */
function cappedFetch(inner: Fetch): Fetch {
  return async (input, init) => {
    const response = await inner(input, init);
    const declared = Number(response.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > MAX_LLM_RESPONSE_BYTES) {
      await response.body?.cancel().catch(() => undefined);
      throw new ResponseTooLargeError(declared);
    }
    if (!response.body) return response;
    let seen = 0;
    const counted = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength;
          if (seen > MAX_LLM_RESPONSE_BYTES) controller.error(new ResponseTooLargeError());
          else controller.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

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
    fetch: cappedFetch(
      options.egressAllow ? (policedFetch('base_url', options.egressAllow) as unknown as Fetch) : (globalThis.fetch as Fetch),
    ),
  });
}
