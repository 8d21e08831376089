// The worker's activities, built from their dependencies (no module-level state), as plain async
// functions. The workflow only knows their types (workflows/activity-types.ts).
import type { SessionActivities } from '../contract';
import { loadPublicConfigs } from '../db/public-config';
import type { ActivityDeps } from './deps';
import { createLLMActivities } from './llm';
import { updateSessionRecord } from './session-record';
import { executeStandardFunction } from './standard-functions';

export type { ActivityDeps } from './deps';

export function createActivities(deps: ActivityDeps): SessionActivities {
  return {
    loadConfigs: (input) => loadPublicConfigs(deps.db, input),
    ...createLLMActivities(deps),
    executeStandardFunction,
    updateSessionRecord: (input) => updateSessionRecord(deps.db, input),
  };
}
