// The worker's activities, built from their dependencies (no module-level state), as plain async
// functions. The workflow only knows their types (contract/activities.ts).
import { toCachedConfig, type SessionActivities } from '../contract';
import { loadPublicConfigs } from '../db/public-config';
import type { ActivityDeps } from './deps';
import { createAnswerActivity } from './answer';
import { createFunctionActivities } from './functions';
import { createLLMActivities } from './llm';
import { createConfigExecutor } from '../execution';
import { updateSessionRecord } from './session-record';

export type { ActivityDeps } from './deps';

export function createActivities(deps: ActivityDeps): SessionActivities {
  const executor = createConfigExecutor(deps);
  const llm = createLLMActivities(deps, executor);
  return {
    loadConfigs: async (input) => (await loadPublicConfigs(deps.db, input)).map(toCachedConfig),
    ...createAnswerActivity(deps, llm, executor),
    ...createFunctionActivities(executor),
    executeLLMConfig: llm.executeLLMConfig,
    updateSessionRecord: (input) => updateSessionRecord(deps.db, input),
  };
}
