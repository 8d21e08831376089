// What a client may send over the socket (README, "WebSocket protocol"), parsed into typed frames or into an
// `error` frame that names the problem. Nothing here touches the socket or Temporal.
import { z } from 'zod';
import { hasSetting, sessionSettingsShape } from '../sessions/session.schemas';
import type { ServerFrame } from '../contract';
import { errorFrame } from '../lib/errors';

/** Client message ids make messages idempotent; they travel in signals and workflow history. */
export const MESSAGE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

const messageId = z.string().regex(MESSAGE_ID_PATTERN, 'must be 1-128 characters of A-Z a-z 0-9 . _ : -');

const frameSchemas = {
  message: z.object({
    type: z.literal('message'),
    id: messageId,
    text: z.string().refine((t) => t.trim().length > 0, 'must not be empty'),
  }),
  ack: z.object({ type: z.literal('ack'), id: messageId }),
  session_config: z
    .object({
      type: z.literal('session_config'),
      ...sessionSettingsShape,
      // Per socket, not a session setting: the gateway marks this socket's messages with it.
      stream: z.boolean().optional(),
    })
    .strict()
    .refine((frame) => hasSetting(frame) || frame.stream !== undefined, {
      message: 'set default_llm_id, enabled_functions or stream',
    }),
  ping: z.object({ type: z.literal('ping') }),
  close: z.object({ type: z.literal('close') }),
} as const;

export type ClientFrameType = keyof typeof frameSchemas;
export type ClientFrame = { [K in ClientFrameType]: z.infer<(typeof frameSchemas)[K]> }[ClientFrameType];

export type ErrorFrame = Extract<ServerFrame, { type: 'error' }>;

/** Error codes a client can act on; the same names appear in the README's protocol section. */
export const FrameErrorCode = {
  invalidJson: 'invalid_json',
  invalidFrame: 'invalid_frame',
  unknownType: 'unknown_type',
  frameTooLarge: 'frame_too_large',
  binaryNotSupported: 'binary_not_supported',
  rateLimited: 'rate_limited',
  unavailable: 'unavailable',
  sessionClosed: 'session_closed',
  sessionBusy: 'session_busy',
  tokenExpired: 'token_expired',
  keyRevoked: 'key_revoked',
} as const;

export type ParseResult = { ok: true; frame: ClientFrame } | { ok: false; error: ErrorFrame };

/** `field: problem; field: problem`, the WebSocket twin of the REST `errors` array. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const field = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys') return `unknown field(s): ${issue.keys.join(', ')}`;
      return field ? `${field}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/** Parse one text frame that is already known to be within the size limit. */
export function parseClientFrame(text: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: errorFrame(FrameErrorCode.invalidJson, 'Frame is not valid JSON') };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: errorFrame(FrameErrorCode.invalidFrame, 'Frame must be a JSON object') };
  }
  const record = value as Record<string, unknown>;
  // Echo the client's id on errors when it looks like one, so the client can match the answer.
  const id = typeof record.id === 'string' && MESSAGE_ID_PATTERN.test(record.id) ? record.id : undefined;
  const type = record.type;
  if (typeof type !== 'string') {
    return { ok: false, error: errorFrame(FrameErrorCode.invalidFrame, 'type: required string', id) };
  }
  if (!Object.hasOwn(frameSchemas, type)) {
    const known = Object.keys(frameSchemas).join(', ');
    return {
      ok: false,
      error: errorFrame(FrameErrorCode.unknownType, `Unknown frame type "${type.slice(0, 40)}"; expected one of ${known}`, id),
    };
  }
  const parsed = frameSchemas[type as ClientFrameType].safeParse(value);
  if (!parsed.success) {
    return { ok: false, error: errorFrame(FrameErrorCode.invalidFrame, describeIssues(parsed.error.issues), id) };
  }
  return { ok: true, frame: parsed.data };
}

export { errorFrame };
