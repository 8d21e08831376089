// The contract between the session workflow and everyone who talks to it (gateway, API, tests):
// signal, query and search-attribute definitions declared once, the frame types the workflow
// produces and the relay that carries them back outside history. No Node imports: this module
// is bundled into the workflow sandbox.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType, type Duration } from '@temporalio/common';
import type { DeviceToolCallFrame } from './device-tools';
import type { ChatCompletionExtras, ChatRequestSpec } from './openai-chat';

// ---------------------------------------------------------------------------------------------
// Identifiers

export const SESSION_WORKFLOW_TYPE = 'sessionWorkflow';

export function sessionWorkflowId(userId: string, sessionId: string): string {
  return `session-${userId}-${sessionId}`;
}

const GATEWAY_PREFIX = 'gateway-';

/** The relay address of socket `connectionId` on gateway `instanceId`, as `attach` sends it. */
export function relayAddressFor(instanceId: string, connectionId: string): RelayAddress {
  return { taskQueue: `${GATEWAY_PREFIX}${instanceId}`, connectionId };
}

/** The gateway instance a relay address names (the relay's channel is its). */
export function gatewayInstanceOf(relayAddress: RelayAddress): string {
  const gateway = relayAddress.taskQueue;
  return gateway.startsWith(GATEWAY_PREFIX) ? gateway.slice(GATEWAY_PREFIX.length) : gateway;
}

/** Search attributes an auditor filters by in the Temporal UI (`UserId = "alice"`). */
export const userIdSearchAttribute = defineSearchAttributeKey('UserId', SearchAttributeType.KEYWORD);
export const deviceIdSearchAttribute = defineSearchAttributeKey('DeviceId', SearchAttributeType.KEYWORD);
/**
 * `active`, `closed` or `expired`, upserted by the workflow when the status changes (sessions
 * started before the `session-status-search-attribute` patch have it only once they end), so an
 * auditor finds open sessions: `UserId = "alice" AND SessionStatus = "active"`.
 */
export const sessionStatusSearchAttribute = defineSearchAttributeKey('SessionStatus', SearchAttributeType.KEYWORD);
/** Every search attribute the session workflow sets: registered for the dev server, the tests and the compose cluster. */
export const sessionSearchAttributes = [userIdSearchAttribute, deviceIdSearchAttribute, sessionStatusSearchAttribute];

// ---------------------------------------------------------------------------------------------
// Data the workflow holds (never a secret)

/** A config as the workflow and clients see it: the REST view, so no API key, only `has_api_key`. */
export interface PublicConfig {
  id: number;
  config_name: string;
  config_type: 'llm' | 'function_call';
  description: string | null;
  llm_type: string | null;
  model_name: string | null;
  base_url: string | null;
  has_api_key: boolean;
  api_key_hint: string | null;
  max_tokens: number | null;
  temperature: number | null;
  system_prompt: string | null;
  function_name: string | null;
  /** The name LLM providers are offered for `function_name` (contract/tool-names.ts); null for LLM configs. */
  tool_name: string | null;
  parameters: Record<string, unknown> | null;
  mcp_server_url: string | null;
  webhook_url: string | null;
  /** Whether webhook calls are signed; the secret itself is shown once, when it is made. */
  has_webhook_secret: boolean;
  /** Names of the headers sent to the MCP server; their values (a bearer token) are never shown. */
  mcp_header_names: string[];
  is_active: boolean;
  priority: number;
  created_at: string;
  updated_at: string;
}

/**
 * What a session caches of a config: what routing and fallback ordering need, nothing more, so
 * the cache stays far under Temporal's payload limits whatever a user stores (200 configs with
 * 32,000-character system prompts are allowed). The description is cut to CACHED_DESCRIPTION_CHARS.
 */
export type CachedConfig = Pick<
  PublicConfig,
  'id' | 'config_name' | 'config_type' | 'description' | 'llm_type' | 'model_name' | 'function_name' | 'is_active' | 'priority'
>;

export const CACHED_DESCRIPTION_CHARS = 500;

export function toCachedConfig(config: CachedConfig): CachedConfig {
  const { id, config_name, config_type, description, llm_type, model_name, function_name, is_active, priority } = config;
  const cut =
    description !== null && description.length > CACHED_DESCRIPTION_CHARS ? description.slice(0, CACHED_DESCRIPTION_CHARS) : description;
  return { id, config_name, config_type, description: cut, llm_type, model_name, function_name, is_active, priority };
}

export interface SessionSettings {
  default_llm_id: number | null;
  enabled_functions: string[] | null;
  /** Set by the built-in `change_role`; prepended as the system prompt of LLM executions. */
  role: string | null;
}

export interface SessionWorkflowInput {
  userId: string;
  sessionId: string;
  deviceId: string | null;
  /** Idle time after which the session expires, in ms (SESSION_IDLE_TTL). */
  idleTtlMs: number;
  /** Carried over continue-as-new; absent on a brand-new session. */
  carried?: CarriedState;
  /** Overrides of the timeouts and limits below (tests use short ones); production leaves it out. */
  tuning?: Partial<SessionTuning>;
}

/** Timeouts and limits of a session; `DEFAULT_SESSION_TUNING` below. */
export interface SessionTuning {
  /** StartToClose of one LLM call (router or provider), e.g. '60 seconds'. */
  llmTimeout: Duration;
  /** Attempts per LLM config before the next config answers. */
  llmMaxAttempts: number;
  /** Attempts of the router LLM before the fallback routing takes over. */
  routeMaxAttempts: number;
  /** First retry delay; doubles per attempt. */
  retryInitialInterval: Duration;
  /** How many LLM configs may try one message (the chosen one and its fallbacks). */
  maxConfigsPerMessage: number;
  /** Messages handled before the workflow continues as new (also when the server suggests it). */
  continueAsNewAfter: number;
  /** StartToClose of one function call (MCP tool or webhook). */
  functionTimeout: Duration;
  /** Attempts per function call; only timeouts, 5xx, 429 and connection errors are tried again. */
  functionMaxAttempts: number;
  /** How long a device tool call waits for the device's answer (DEVICE_TOOL_TIMEOUT); never tried again. */
  deviceToolTimeout: Duration;
}

/** A session's timeouts and limits unless its input overrides them (the audit trail reads them too). */
export const DEFAULT_SESSION_TUNING: SessionTuning = {
  llmTimeout: '60 seconds',
  llmMaxAttempts: 3,
  routeMaxAttempts: 2,
  retryInitialInterval: '1 second',
  maxConfigsPerMessage: 3,
  continueAsNewAfter: 100,
  functionTimeout: '30 seconds',
  functionMaxAttempts: 3,
  deviceToolTimeout: '30 seconds',
};

export interface CarriedState {
  settings: SessionSettings;
  configs: CachedConfig[];
  pending: IncomingMessage[];
  outbox: ResultFrame[];
  handledIds: string[];
  /** The relay address of the socket attached now (this JSON name is recorded in carried state). */
  attached: RelayAddress | null;
  transcript: TranscriptEntry[];
  /** Messages handled by all earlier runs of this session. */
  handledCount?: number;
  /**
   * Frames of the last answer, which the run that continued as new held back: the new run hands
   * them to the relay first (see `SessionRunner.continueAsNew`).
   */
  unsent?: RelayFrame[];
}

// ---------------------------------------------------------------------------------------------
// Signals and queries

export interface IncomingMessage {
  id: string;
  text: string;
  /** Epoch ms when the gateway received the frame. */
  receivedAt: number;
  /** Results the client acked since the last signal, carried along so an ack costs no workflow task of its own. */
  acks?: string[];
  /** The socket asked for streamed answers: `delta` frames while an LLM answers (outside history). */
  stream?: boolean;
  /** A `POST /v1/chat/completions` request: its context, overrides, named config and tools (contract/openai-chat.ts). */
  chat?: ChatRequestSpec;
}

/**
 * A relay address: where a session's frames go, the gateway instance that holds its socket and
 * the socket there (ARCHITECTURE.md, "The message path"). `attach` sets the session's, `detach`
 * clears it, and the relay reaches the gateway by it. Its JSON is recorded in `attach` signals and
 * carried state, so its fields keep their names: make one with `relayAddressFor`, read the gateway
 * with `gatewayInstanceOf`.
 */
export interface RelayAddress {
  /** The gateway instance, `gateway-<instance id>` (named from when each gateway polled a task queue of its own). */
  taskQueue: string;
  /** The socket on that gateway; a later attach from another socket replaces it. */
  connectionId: string;
}

/** A change of the session's settings (the `session_config` frame, `PATCH /sessions/:id`); null clears one. */
export interface SessionSettingsUpdate {
  default_llm_id?: number | null;
  enabled_functions?: string[] | null;
}

/**
 * Text of messages waiting to be answered that a session holds. The gateway refuses a message
 * beyond it with an `error` frame (`session_busy`) before it reaches history; the workflow, which
 * may hear of messages from elsewhere, answers one beyond it `failed` with the same code.
 */
export const MAX_PENDING_MESSAGE_BYTES = 512 * 1024;

export const messageSignal = defineSignal<[IncomingMessage]>('message');
/** One ack (`id`, as recorded before acks were batched) or several (`ids`). */
export interface AckInput {
  id?: string;
  ids?: string[];
}

export interface DetachInput {
  connectionId: string;
  /** Acks the gateway still held when the socket closed. */
  acks?: string[];
}

export const ackSignal = defineSignal<[AckInput]>('ack');
export const attachSignal = defineSignal<[RelayAddress]>('attach');
export const detachSignal = defineSignal<[DetachInput]>('detach');
export const refreshConfigsSignal = defineSignal<[]>('refreshConfigs');
export const updateSessionConfigSignal = defineSignal<[SessionSettingsUpdate]>('updateSessionConfig');
export const closeSignal = defineSignal<[{ reason: string }]>('close');

export type SessionStatus = 'active' | 'closed' | 'expired';

export interface SessionState {
  userId: string;
  sessionId: string;
  deviceId: string | null;
  status: SessionStatus;
  settings: SessionSettings;
  configs: CachedConfig[];
  pendingIds: string[];
  outbox: ResultFrame[];
  /** The relay address of the socket attached now (the query's JSON name). */
  attached: RelayAddress | null;
  handledCount: number;
  lastActivityAt: number;
}

export interface TranscriptEntry {
  id: string;
  text: string;
  receivedAt: number;
  /** How the router decided: the tool it picked, or why it fell back. */
  routing: RoutingDecision | null;
  result: ResultFrame | null;
}

export const stateQuery = defineQuery<SessionState>('state');
export const transcriptQuery = defineQuery<TranscriptEntry[]>('transcript');

// ---------------------------------------------------------------------------------------------
// Routing

export type RoutingDecision =
  | { kind: 'llm_config'; configId: number; tool: string; question: string; routedBy: RoutedBy; reason?: string }
  | {
      kind: 'function';
      configId: number;
      functionName: string;
      arguments: Record<string, unknown>;
      routedBy: RoutedBy;
      /** Required arguments the message did not provide (routing without an LLM); the call is not made. */
      missing?: string[];
      reason?: string;
    }
  | { kind: 'builtin'; name: BuiltinFunctionName; arguments: Record<string, unknown>; routedBy: RoutedBy }
  | {
      /** A tool the session's device listed (contract/device-tools.ts), called on the device by its real `name`. */
      kind: 'device_tool';
      name: string;
      /** The name routing offered it under (contract/tool-names.ts). */
      tool: string;
      arguments: Record<string, unknown>;
      routedBy: RoutedBy;
      /** Required arguments the message did not provide (routing without an LLM); the call is not made. */
      missing?: string[];
      /** Why the arguments were refused (checked against its inputSchema); the call is not made. */
      invalid?: string;
      reason?: string;
    }
  | { kind: 'direct_answer'; answer: string; routedBy: RoutedBy }
  | { kind: 'none'; reason: string; routedBy: RoutedBy };

/**
 * `router_llm`: the router LLM chose. Without a router LLM, or when it failed for good:
 * `similarity` when a config's description matched the message (routing/similarity.ts), else
 * `fallback`: the session's default or highest-priority LLM config answered. `named`: a chat
 * completion request named the config (`model: "<config_name>"`), so nothing routed it.
 */
export type RoutedBy = 'router_llm' | 'similarity' | 'fallback' | 'named';

export const BUILTIN_FUNCTIONS = ['get_time', 'end_session', 'change_role', 'play_music'] as const;
export type BuiltinFunctionName = (typeof BUILTIN_FUNCTIONS)[number];

// ---------------------------------------------------------------------------------------------
// Frames the server sends (the gateway writes them to the socket as JSON)

export interface ResultFrame {
  type: 'function_call_result';
  id: string;
  config_id: number;
  config_name: string;
  result: string;
  execute_time: number;
  status: 'success' | 'failed';
  error?: string;
  routed_by?: RoutedBy;
  /** When another config answered because the chosen one failed: the one that failed and why. */
  fallback_from?: { config_id: number; config_name: string; error: string };
  /** A chat completion request's answer: finish reason, tool calls, usage, or why it failed. */
  completion?: ChatCompletionExtras;
}

export type ServerFrame =
  | { type: 'hello'; session_id: string; resumed: boolean; configs: PublicConfig[] }
  | { type: 'accepted'; id: string }
  | { type: 'progress'; id: string; stage: 'routing' | 'executing'; config_id?: number }
  /**
   * Part of an answer while the provider streams it (sockets that asked for `stream`). `offset` is
   * where `text` starts in the answer: 0 starts an answer again (a retry, a fallback, another
   * worker after a crash), so a client replaces what it showed. Best effort, outside history.
   */
  | { type: 'delta'; id: string; text: string; offset: number; config_id: number }
  | ResultFrame
  | { type: 'error'; id?: string; code: string; message: string }
  | { type: 'configs_updated'; configs: PublicConfig[] }
  | { type: 'session_closed'; reason: string }
  | { type: 'play_music'; id: string; song: string }
  | { type: 'pong' };

// ---------------------------------------------------------------------------------------------
// The relay: frames from the worker to the gateway that holds the socket, outside history

/**
 * A frame on its way to a gateway: what the client gets, or `reload_configs`, which the gateway
 * turns into `configs_updated` with the configs read from the database (the workflow caches only
 * a summary of them), or `device_tool_call`, which the gateway turns into an MCP `tools/call` on
 * the device's socket (gateway/device-tools.ts).
 */
export type RelayFrame = ServerFrame | { type: 'reload_configs' } | DeviceToolCallFrame;

/** The workflow's sink (a call outside history, skipped on replay) that hands frames to the relay. */
export type RelaySinks = {
  relay: {
    publish(relayAddress: RelayAddress, frames: RelayFrame[]): void;
  };
};
