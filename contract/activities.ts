// The contract between the session workflow and its activities: inputs, outputs and the
// activity interfaces the workflow proxies. Types only, so nothing of the activities' Node code
// reaches the workflow bundle. `createActivities` (activities/) implements `SessionActivities`;
// the gateway implements `GatewayActivities` on its own task queue.
import type {
  BuiltinFunctionName,
  DeliverInput,
  DeliverOutput,
  PublicConfig,
  RoutingDecision,
  SessionSettings,
  SessionStatus,
} from './session';
import type { RoutableConfig } from './routing';

export interface LoadConfigsInput {
  userId: string;
}

export interface RouteInput {
  userId: string;
  text: string;
  /** The session's active LLM configs, as much of them as routing needs. */
  configs: RoutableConfig[];
  settings: SessionSettings;
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
}

export interface ExecuteLLMConfigOutput {
  answer: string;
  /** The model that answered, as the provider reported it. */
  model: string;
}

export interface StandardFunctionInput {
  name: BuiltinFunctionName;
  arguments: Record<string, unknown>;
}

/** What a built-in asks the workflow to do besides answering. */
export type StandardFunctionEffect =
  | { kind: 'end_session' }
  | { kind: 'change_role'; role: string | null }
  | { kind: 'play_music'; song: string };

export interface StandardFunctionOutput {
  result: string;
  effect?: StandardFunctionEffect;
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
  /** Snapshot of the cached configs (public view, no secrets) and the role. */
  sessionData?: { configs: PublicConfig[]; role: string | null };
}

export interface SessionActivities {
  loadConfigs(input: LoadConfigsInput): Promise<PublicConfig[]>;
  route(input: RouteInput): Promise<RoutingDecision>;
  executeLLMConfig(input: ExecuteLLMConfigInput): Promise<ExecuteLLMConfigOutput>;
  executeStandardFunction(input: StandardFunctionInput): Promise<StandardFunctionOutput>;
  updateSessionRecord(input: SessionRecordUpdate): Promise<void>;
}

export interface GatewayActivities {
  deliver(input: DeliverInput): Promise<DeliverOutput>;
}
