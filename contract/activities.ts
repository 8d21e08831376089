// The contract between the session workflow and its activities: inputs, outputs and the
// activity interface the workflow proxies. Types only, so nothing of the activities' Node code
// reaches the workflow bundle. `createActivities` (activities/) implements `SessionActivities`.
import type { DeviceTool } from './device-tools';
import type { ChatCompletionExtras, ChatFailure, ChatRequestSpec } from './openai-chat';
import type { CachedConfig, PublicConfig, RelayAddress, RoutingDecision, SessionSettings, SessionStatus, SessionTuning } from './session';

/** What routing needs to know of a config; the answer activity gets only this (history stays small). The rules are in routing/. */
export type RoutableConfig = Pick<
  PublicConfig,
  'id' | 'config_name' | 'config_type' | 'description' | 'model_name' | 'function_name' | 'is_active' | 'priority'
>;

/** A config as routing without a router LLM reads it: for functions, with the JSON Schema of their arguments when known. */
export type RoutingCandidate = RoutableConfig & { parameters?: Record<string, unknown> | null };

export interface LoadConfigsInput {
  userId: string;
}

/** What routing is given (the router LLM's prompt and tools, llm/router.ts). */
export interface RouteInput {
  userId: string;
  text: string;
  /** The configs the message may go to, as much of them as routing needs (functions with their argument schemas). */
  configs: RoutingCandidate[];
  settings: SessionSettings;
  /** The tools the session's device listed (contract/device-tools.ts), when it has a device. */
  deviceTools?: DeviceTool[];
}

export interface ChatTurn {
  question: string;
  answer: string;
}

export interface ExecuteLLMConfigInput {
  userId: string;
  configId: number;
  question: string;
  /** Set by `change_role`; sent as a system message after the config's own system prompt. */
  role: string | null;
  /** Recent exchanges of this session, oldest first, for conversational context. */
  history: ChatTurn[];
  /** Stream the answer as `delta` frames of this message to this socket (best effort, outside history). */
  stream?: { relayAddress: RelayAddress; messageId: string };
  /** Which step of the message this call is, recorded with its outcome (absent outside the message path). */
  step?: StepInput;
  /** A chat completion request: its context replaces `history` and `question`; its overrides and tools apply. */
  chat?: ChatCallSpec;
}

/** What a chat completion request changes in one LLM call (contract/openai-chat.ts). */
export type ChatCallSpec = Pick<ChatRequestSpec, 'messages' | 'temperature' | 'maxTokens' | 'stop' | 'tools' | 'toolChoice'>;

export interface ExecuteLLMConfigOutput {
  answer: string;
  /** The model that answered, as the provider reported it. */
  model: string;
  /** Finish reason, tool calls and usage (chat completion requests only). */
  completion?: ChatCompletionExtras;
  /** What the audit trail reads of this step (absent in histories recorded before step records). */
  step?: StepRecord;
}

/** The steps of one message: routing's pick tried first, that config again, another LLM config. */
export type StepKind = 'first_attempt' | 'retry' | 'fallback';

/** What the workflow tells a config call about the step it is; the call records it (StepRecord). */
export interface StepInput {
  kind: StepKind;
  configName: string;
  /** No further step follows when this one fails: the message fails. */
  last: boolean;
}

/**
 * One step of a message as history records it, in its local activity's result (or, when it
 * failed, in its failure's details), so the audit trail reads the config, the step and the
 * attempt instead of working them out.
 */
export interface StepRecord extends StepInput {
  configId: number;
  /** Temporal's attempt of this step's local activity that recorded it (1 for the first attempt). */
  attempt: number;
  outcome: 'success' | 'failed';
}

/** One call of a user's function config (an MCP tool or a webhook); the activity loads its secrets. */
export interface ExecuteFunctionInput {
  userId: string;
  configId: number;
  arguments: Record<string, unknown>;
  sessionId: string | null;
  /** Sent to a webhook as its idempotency key. */
  messageId: string;
  /** Which step of the message this call is, recorded with its outcome (absent outside the message path). */
  step?: StepInput;
}

export interface ExecuteFunctionOutput {
  result: string;
  /** What the audit trail reads of this step (absent in histories recorded before step records). */
  step?: StepRecord;
}

/**
 * One message's whole happy path in one local activity: route it (the router LLM when one is
 * configured, else the fallback rules), then make the first attempt at the chosen LLM config.
 * Retries and fallbacks after a failed first attempt are the workflow's (ARCHITECTURE.md).
 */
export interface AnswerMessageInput {
  userId: string;
  message: { id: string; text: string; stream?: boolean; chat?: ChatRequestSpec };
  /** The session's active LLM configs and enabled function configs, as much of them as routing needs. */
  configs: RoutableConfig[];
  settings: SessionSettings;
  history: ChatTurn[];
  sessionId?: string;
  /** Where `progress` frames go, best effort and outside history; null when no socket is attached. */
  relayAddress: RelayAddress | null;
  /** Router LLM attempts before the fallback rules decide, and the first backoff between them. */
  routerAttempts: number;
  retryInitialMs: number;
  /** Time limit of each LLM call (router, provider). */
  callTimeoutMs: number;
  /** Time limit of a function call (MCP tool, webhook), when one is chosen. */
  functionTimeoutMs?: number;
  /** The session row's activity times, mirrored as part of the same step (at most once a minute). */
  record?: SessionRecordUpdate;
  /** The session has a device: the tools it listed on its socket are offered too (read by the step, cached nowhere). */
  deviceTools?: boolean;
  /**
   * The workflow's limits after a failed first attempt (SessionTuning), so the first attempt's
   * step record says whether another step follows (`last`).
   */
  followUps?: Pick<SessionTuning, 'llmMaxAttempts' | 'functionMaxAttempts' | 'maxConfigsPerMessage'>;
}

/** The first attempt's outcome; `step` records which config it was (absent in histories recorded before step records). */
export type FirstAttempt = (
  | { ok: true; answer: string; model?: string; ms: number; completion?: ChatCompletionExtras }
  | { ok: false; error: string; retryable: boolean; retryAfterMs?: number; ms: number; failure?: ChatFailure }
) & { step?: StepRecord };

export interface AnswerMessageOutput {
  /** The message this step answered (absent in histories recorded before the audit trail). */
  messageId?: string;
  /**
   * The tools routing was given: `use_ai_config_<id>` per LLM config, a function config's
   * function name, the enabled built-ins when a router LLM decides (absent in older histories,
   * where the audit trail derives them from the cached configs and settings).
   */
  offered?: string[];
  /** Which of `offered` are the device's tools (their mapped names), for the audit trail. */
  offeredDeviceTools?: string[];
  routing: RoutingDecision;
  routingMs: number;
  /** Set when routing chose an LLM or a function config: how its first attempt went. */
  firstAttempt?: FirstAttempt;
}

export interface SessionRecordUpdate {
  userId: string;
  sessionId: string;
  workflowId: string;
  deviceId: string | null;
  status?: SessionStatus;
  /** Epoch ms. */
  lastActivityAt?: number;
  /** Epoch ms; null when the session has ended. */
  expiresAt?: number | null;
  settings?: SessionSettings;
  /** Snapshot of the cached configs (no secrets) and the role. */
  sessionData?: { configs: CachedConfig[] | PublicConfig[]; role: string | null };
}

export interface SessionActivities {
  /** The cache of a session: a summary of each of the user's configs. */
  loadConfigs(input: LoadConfigsInput): Promise<CachedConfig[]>;
  answerMessage(input: AnswerMessageInput): Promise<AnswerMessageOutput>;
  /** A config tried again or as a fallback (a local activity). */
  executeLLMConfig(input: ExecuteLLMConfigInput): Promise<ExecuteLLMConfigOutput>;
  executeFunction(input: ExecuteFunctionInput): Promise<ExecuteFunctionOutput>;
  updateSessionRecord(input: SessionRecordUpdate): Promise<void>;
}
