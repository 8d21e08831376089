// The `user_session_configs` row mirrors the workflow for the REST API: status, activity times,
// settings and a snapshot of the cached configs. The workflow is the source of truth; the row is
// created here if the gateway has not created it yet.
import type { Database } from '../db';
import type { SessionRecordUpdate } from '../contract';

export async function updateSessionRecord(db: Database, input: SessionRecordUpdate): Promise<void> {
  const { UserSessionConfig } = db.models;
  const changes = {
    ...(input.status !== undefined ? { status: input.status } : {}),
    ...(input.lastActivityAt !== undefined ? { last_activity_at: new Date(input.lastActivityAt) } : {}),
    ...(input.expiresAt !== undefined ? { expires_at: input.expiresAt === null ? null : new Date(input.expiresAt) } : {}),
    ...(input.settings ? { default_llm_id: input.settings.default_llm_id, enabled_functions: input.settings.enabled_functions } : {}),
    ...(input.sessionData ? { session_data: { ...input.sessionData } } : {}),
  };
  const where = { session_id: input.sessionId, user_id: input.userId };
  const [updated] = await UserSessionConfig.update(changes, { where });
  if (updated > 0) return;
  // First write for this session: create it; a concurrent creator (the gateway) wins the race
  // and the update is applied on top.
  const [, created] = await UserSessionConfig.findOrCreate({
    where,
    defaults: { ...where, workflow_id: input.workflowId, device_id: input.deviceId, ...changes },
  });
  if (!created) await UserSessionConfig.update(changes, { where });
}
