// A chat completion as Server-Sent Events (`stream: true`): `chat.completion.chunk`s from the same
// `delta` frames a socket gets, then the rest of the durable answer, the finish chunk, the usage
// chunk (`stream_options.include_usage`) with the `switchboard` object on the last chunk, and
// `data: [DONE]`. Chunks sent cannot be taken back: a retry, a fallback or another worker that
// starts the answer again (offset 0) continues the stream while its text extends what the client
// has, and otherwise the stream ends with an error chunk (`stream_restarted`); the client then
// asks again with its Idempotency-Key for the recorded answer (docs/openai.md). Headers go out with
// the first chunk, so a request that fails before any text is an ordinary HTTP error.
import type { ServerResponse } from 'node:http';
import type { RecordedChatAnswer } from '../db';
import type { ChatCompletionBody, OpenAiFailure } from '../sessions/chat-response';
import { failureBody } from '../sessions/chat-response';

export class CompletionStream {
  /** Text the client has. */
  private sent = '';
  /** The current attempt's text as its deltas came (an attempt restarts at offset 0). */
  private attempt = '';
  private diverged = false;
  private headWritten = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly meta: { id: string; created: number; model: string; headers: Record<string, string>; includeUsage: boolean },
  ) {}

  private get open(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  private head(): void {
    if (this.headWritten) return;
    this.headWritten = true;
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
      ...this.meta.headers,
    });
  }

  private write(data: unknown): void {
    if (!this.open) return;
    this.head();
    this.res.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  private chunk(delta: Record<string, unknown>, finish: string | null, model = this.meta.model, extra: Record<string, unknown> = {}) {
    this.write({
      id: this.meta.id,
      object: 'chat.completion.chunk',
      created: this.meta.created,
      model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
      ...extra,
    });
  }

  private text(piece: string): void {
    if (!piece) return;
    this.chunk(this.sent === '' ? { role: 'assistant', content: piece } : { content: piece }, null);
    this.sent += piece;
  }

  /** A delta frame: sent on when it extends what the client has. */
  delta(delta: { text: string; offset: number }): void {
    if (this.diverged) return;
    if (delta.offset === 0) this.attempt = delta.text;
    else if (delta.offset === this.attempt.length) this.attempt += delta.text;
    else return; // a piece missed (best effort): the answer at the end fills the gap
    if (this.attempt.startsWith(this.sent)) this.text(this.attempt.slice(this.sent.length));
    else if (!this.sent.startsWith(this.attempt)) this.diverged = true;
  }

  /** The durable answer: the rest of its text, tool calls, finish, usage and the switchboard object, or a failure. */
  finish(answer: RecordedChatAnswer): void {
    if (answer.status !== 200) return this.fail(answer);
    const body = answer.body as ChatCompletionBody;
    const choice = body.choices[0];
    const content = choice?.message.content ?? '';
    if (!content.startsWith(this.sent)) {
      return this.error({
        status: 502,
        type: 'api_error',
        code: 'stream_restarted',
        message:
          'The answer was started again (a retry, a fallback or another worker) and differs from the text already streamed; ask again with the same Idempotency-Key for the recorded answer',
      });
    }
    this.text(content.slice(this.sent.length));
    if (choice?.message.tool_calls?.length) {
      const calls = choice.message.tool_calls.map((call, index) => ({ index, ...call }));
      this.chunk(this.sent === '' ? { role: 'assistant', tool_calls: calls } : { tool_calls: calls }, null, body.model);
    }
    const last = { switchboard: body.switchboard };
    const finishReason = choice?.finish_reason ?? 'stop';
    if (this.meta.includeUsage) {
      this.chunk({}, finishReason, body.model);
      this.write({
        id: this.meta.id,
        object: 'chat.completion.chunk',
        created: this.meta.created,
        model: body.model,
        choices: [],
        usage: body.usage ?? null,
        ...last,
      });
    } else {
      this.chunk({}, finishReason, body.model, last);
    }
    this.done();
  }

  /** A failure: an HTTP error while nothing was sent, else an error chunk. */
  fail(answer: RecordedChatAnswer): void {
    if (!this.headWritten && this.open) {
      this.res.writeHead(answer.status, { 'Content-Type': 'application/json; charset=utf-8', ...answer.headers });
      this.res.end(JSON.stringify(answer.body));
      return;
    }
    this.write(answer.body);
    if (this.open) this.res.end();
  }

  error(failure: OpenAiFailure): void {
    this.fail({ status: failure.status, body: failureBody(failure), headers: this.meta.headers });
  }

  private done(): void {
    if (!this.open) return;
    this.res.end('data: [DONE]\n\n');
  }
}
