// The xiaozhi device protocol (README, "Connecting xiaozhi devices"; issue 16), the second
// implementation of socket-protocol.ts: what an ESP32 or an SDK sends on /xiaozhi/v1/ becomes the
// operations every socket carries out, and the session's frames become what a device speaks.
//
// In: `hello` (answered with our hello: transport, session_id, audio_params), `listen` with state
// `detect` and text (a question: a `message` with an id made here), `abort` (stop speaking),
// `mcp` (handed to the connection's MCP hook), Opus audio (binary, dropped unread). Other text
// frames (`listen` start/stop, older firmware's `iot`) are read and ignored.
//
// Out, per answer: `stt {text}` (the question, when this socket asked it), `llm {emotion, text:
// <emoji>}`, `tts start`, one `tts sentence_start {text}` per sentence, `tts stop`. Sentences
// stream: `delta` frames are cut into sentences as they come, so the device speaks before the
// provider has finished. A device cannot take back words: when the deltas start again (a retry, a
// fallback, another worker after a crash: `offset` 0 again) the sentences already sent stand and
// nothing more is spoken from deltas until the result (the one durable answer) arrives. If it
// begins with what was spoken, the rest of it follows; if not, the spoken part is closed with
// `tts stop` and the recorded answer follows whole (`llm`, `tts start`, its sentences, `tts stop`).
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { ResultFrame, ServerFrame } from '../contract';
import { describeIssues, errorFrame, FrameErrorCode, type ErrorFrame } from './protocol';
import type { DeviceFeatures, ProtocolParse, SocketProtocol } from './socket-protocol';

/** What our hello tells the device about the audio it would get (the SDK fails without it). */
export const SERVER_AUDIO_PARAMS = { format: 'opus', sample_rate: 24000, channels: 1, frame_duration: 60 } as const;

/** The face the firmware shows while it speaks an answer (`llm` frames carry only the mood). */
const EMOTION = { emotion: 'neutral', text: '😶' } as const;

/** A sentence longer than this is cut (at a space when there is one): a device speaks it in pieces anyway. */
const MAX_SENTENCE_CHARS = 200;
/** Questions (for `stt`) and answers in progress remembered per socket; the oldest go first. */
const REMEMBERED = 200;

const helloSchema = z.object({
  type: z.literal('hello'),
  version: z.number().int().min(1).max(100).optional(),
  transport: z.literal('websocket').optional(),
  features: z.object({ mcp: z.boolean().optional() }).loose().optional(),
  audio_params: z
    .object({
      format: z.string().max(16).optional(),
      sample_rate: z.number().int().positive().optional(),
      channels: z.number().int().min(1).max(8).optional(),
      frame_duration: z.number().int().positive().optional(),
    })
    .loose()
    .optional(),
});

/** Sentence ends: Chinese and Latin punctuation, and line breaks. A Latin `.` ends one only before a space (not "3.14"). */
const SENTENCE_END = /[。！？；!?;…\n]+["'”’）)」』]*|\.+["'”’)]*(?=\s)/g;

/**
 * Complete sentences at the start of `text` and where they end; what follows is not yet a
 * sentence (unless `final`: then it is the last one). Whitespace-only pieces are dropped.
 */
export function splitSentences(text: string, final: boolean): { sentences: string[]; consumed: number } {
  const sentences: string[] = [];
  let start = 0;
  const push = (end: number): void => {
    const sentence = text.slice(start, end).trim();
    if (sentence) sentences.push(sentence);
    start = end;
  };
  for (const match of text.matchAll(SENTENCE_END)) {
    const end = match.index + match[0].length;
    while (end - start > MAX_SENTENCE_CHARS) push(cutPoint(text, start));
    push(end);
  }
  while (text.length - start > MAX_SENTENCE_CHARS) push(cutPoint(text, start));
  if (final) push(text.length);
  return { sentences, consumed: start };
}

/** Where to cut an overlong sentence starting at `start`: the last space within the limit, else the limit. */
function cutPoint(text: string, start: number): number {
  const space = text.lastIndexOf(' ', start + MAX_SENTENCE_CHARS);
  return space > start ? space + 1 : start + MAX_SENTENCE_CHARS;
}

/** One answer being spoken on this socket. */
interface Answer {
  /** The answer's text as the deltas brought it, from offset 0. */
  streamed: string;
  /** How much of `streamed` has been spoken as sentences. */
  consumed: number;
  /** `llm` and `tts start` are out. */
  started: boolean;
  /** The deltas started again or skipped: nothing more is spoken from them, the result decides. */
  restarted: boolean;
  /** The device said `abort`: nothing more of this answer is sent. */
  aborted: boolean;
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.set(key, value);
  if (map.size > REMEMBERED) map.delete(map.keys().next().value!);
}

export interface XiaozhiProtocolOptions {
  /** The session id the device is told in hello and in every frame. */
  sessionId: string;
}

/** One device socket's protocol: stateful (hello, the answers being spoken), so one per connection. */
export class XiaozhiProtocol implements SocketProtocol {
  readonly greetsFirst = false;
  readonly acksOnWrite = true;
  /** Set by the device's hello. */
  features: DeviceFeatures | undefined;
  private readonly sessionId: string;
  private readonly questions = new Map<string, string>();
  private readonly answers = new Map<string, Answer>();

  constructor(options: XiaozhiProtocolOptions) {
    this.sessionId = options.sessionId;
  }

  get helloReceived(): boolean {
    return this.features !== undefined;
  }

  parse(data: Buffer, isBinary: boolean): ProtocolParse {
    if (isBinary) return { ok: true, frame: { type: 'audio' } };
    let value: unknown;
    try {
      value = JSON.parse(data.toString('utf8'));
    } catch {
      return { ok: false, error: errorFrame(FrameErrorCode.invalidJson, 'Frame is not valid JSON') };
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { ok: false, error: errorFrame(FrameErrorCode.invalidFrame, 'Frame must be a JSON object') };
    }
    const record = value as Record<string, unknown>;
    if (record.type === 'hello') return this.parseHello(record);
    if (!this.helloReceived) {
      return { ok: false, error: errorFrame(FrameErrorCode.invalidFrame, 'Send hello first: {"type":"hello","transport":"websocket",…}') };
    }
    switch (record.type) {
      case 'listen':
        if (record.state !== 'detect') return { ok: true, frame: { type: 'ignore' } };
        if (typeof record.text !== 'string' || record.text.trim() === '') {
          return { ok: false, error: errorFrame(FrameErrorCode.invalidFrame, 'text: a detect frame needs the question as text') };
        }
        return { ok: true, frame: { type: 'message', id: this.newQuestion(record.text), text: record.text } };
      case 'abort':
        return { ok: true, frame: { type: 'abort' } };
      case 'mcp':
        if (!('payload' in record)) return { ok: false, error: errorFrame(FrameErrorCode.invalidFrame, 'payload: required') };
        return { ok: true, frame: { type: 'mcp', payload: record.payload } };
      default:
        if (typeof record.type !== 'string') return { ok: false, error: errorFrame(FrameErrorCode.invalidFrame, 'type: required string') };
        // listen start/stop, iot descriptors of older firmware, anything newer: read and ignored.
        return { ok: true, frame: { type: 'ignore' } };
    }
  }

  private parseHello(record: Record<string, unknown>): ProtocolParse {
    const parsed = helloSchema.safeParse(record);
    if (!parsed.success) {
      return { ok: false, error: errorFrame(FrameErrorCode.invalidFrame, `Bad hello: ${describeIssues(parsed.error.issues)}`) };
    }
    this.features = { mcp: parsed.data.features?.mcp === true };
    return { ok: true, frame: { type: 'device_hello', features: this.features } };
  }

  /** The id of a device's question (devices send none): unique, and a valid message id. */
  private newQuestion(text: string): string {
    const id = `xz-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    remember(this.questions, id, text);
    return id;
  }

  /** The frames that stop what is being spoken, and the answers that must not be spoken any more. */
  abort(): string[] {
    for (const [id, answer] of this.answers) if (!answer.aborted) this.answers.set(id, { ...answer, aborted: true });
    for (const id of this.questions.keys()) if (!this.answers.has(id)) remember(this.answers, id, { ...newAnswer(), aborted: true });
    return [this.frame({ type: 'tts', state: 'stop' })];
  }

  render(frame: ServerFrame): string[] {
    switch (frame.type) {
      case 'hello':
        return [this.frame({ type: 'hello', transport: 'websocket', audio_params: SERVER_AUDIO_PARAMS })];
      case 'accepted': {
        const question = this.questions.get(frame.id);
        return question === undefined ? [] : [this.frame({ type: 'stt', text: question })];
      }
      case 'delta':
        return this.delta(frame.id, frame.offset, frame.text);
      case 'function_call_result':
        return this.result(frame);
      case 'error':
        return this.error(frame);
      default:
        // progress, configs_updated, session_closed, play_music, pong: nothing a device shows.
        return [];
    }
  }

  private frame(body: Record<string, unknown>): string {
    return JSON.stringify({ ...body, session_id: this.sessionId });
  }

  private answer(id: string): Answer {
    let answer = this.answers.get(id);
    if (!answer) remember(this.answers, id, (answer = newAnswer()));
    return answer;
  }

  private speak(answer: Answer, sentences: string[]): string[] {
    if (sentences.length === 0) return [];
    const out: string[] = [];
    if (!answer.started) {
      answer.started = true;
      out.push(this.frame({ type: 'llm', ...EMOTION }), this.frame({ type: 'tts', state: 'start' }));
    }
    for (const text of sentences) out.push(this.frame({ type: 'tts', state: 'sentence_start', text }));
    return out;
  }

  private delta(id: string, offset: number, text: string): string[] {
    const answer = this.answer(id);
    if (answer.aborted || answer.restarted) return [];
    if (offset !== answer.streamed.length) {
      // Started again (offset 0) or a piece lost on the way: what was spoken stands, the result decides the rest.
      if (offset > answer.streamed.length || offset === 0) answer.restarted = true;
      if (offset > answer.streamed.length || offset === 0 || offset + text.length <= answer.streamed.length) return [];
      text = text.slice(answer.streamed.length - offset);
    }
    answer.streamed += text;
    const { sentences, consumed } = splitSentences(answer.streamed.slice(answer.consumed), false);
    answer.consumed += consumed;
    return this.speak(answer, sentences);
  }

  private result(frame: ResultFrame): string[] {
    const answer = this.answer(frame.id);
    this.answers.delete(frame.id);
    this.questions.delete(frame.id);
    if (answer.aborted) return [];
    const text = frame.status === 'success' ? frame.result : frame.result || frame.error || 'Sorry, that failed.';
    const spoken = answer.streamed.slice(0, answer.consumed);
    const out: string[] = [];
    let rest = text;
    if (answer.consumed > 0 && !text.startsWith(spoken)) {
      // What was said stands; the recorded answer follows whole.
      out.push(this.frame({ type: 'tts', state: 'stop' }));
      answer.started = false;
    } else {
      rest = text.slice(answer.consumed);
    }
    const { sentences } = splitSentences(rest, true);
    out.push(...this.speak(answer, sentences.length > 0 || answer.started ? sentences : ['…']));
    out.push(this.frame({ type: 'tts', state: 'stop' }));
    return out;
  }

  /** An error frame as is (SDKs read it); one about a question is also spoken, since the device waits for an answer. */
  private error(frame: ErrorFrame): string[] {
    const out = [this.frame({ ...frame })];
    if (frame.id !== undefined && this.questions.has(frame.id)) {
      this.questions.delete(frame.id);
      out.push(...this.speak(newAnswer(), [frame.message]), this.frame({ type: 'tts', state: 'stop' }));
    }
    return out;
  }
}

function newAnswer(): Answer {
  return { streamed: '', consumed: 0, started: false, restarted: false, aborted: false };
}
