// Executing a user's stored config, for the message path's activities and the REST `/test` and
// `/tools` routes alike: one place loads rows, opens secrets and applies the egress policy.
import type { ExecutionDeps } from './deps';
import { createFunctionExecutor } from './functions';
import { createLLMExecutor } from './llm';

export type { ExecutionDeps } from './deps';
export type { FunctionCallOptions } from './functions';
export type { LLMCallOptions } from './llm';

export function createConfigExecutor(deps: ExecutionDeps) {
  return { runLLMConfig: createLLMExecutor(deps), ...createFunctionExecutor(deps) };
}

export type ConfigExecutor = ReturnType<typeof createConfigExecutor>;
