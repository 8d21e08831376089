// Device tools in PostgreSQL (migration 0009): the tool list of a session's device, and the claim
// of each device tool call that makes sending it exactly-once (ARCHITECTURE.md, "Device tools").
import { QueryTypes, type Sequelize } from 'sequelize';
import type { DeviceTool, DeviceToolResult } from '../contract';

/** Claims older than this are pruned (a call's answer is awaited 30 s; a step is run again within minutes). */
const CLAIMS_KEPT_MS = 24 * 60 * 60_000;
const PRUNE_BATCH = 500;

/** A call someone claimed before: on which gateway, and its outcome once known. */
export interface DeviceToolClaim {
  gateway: string;
  outcome: Omit<DeviceToolResult, 'callId'> | null;
}

interface ClaimRow {
  gateway: string;
  status: string | null;
  result: string | null;
  error: string | null;
}

export function createDeviceToolStore(sequelize: Sequelize) {
  return {
    /** The device's tools as listed last on this session's socket (replacing earlier lists). */
    async saveTools(userId: string, sessionId: string, tools: DeviceTool[]): Promise<void> {
      await sequelize.query(
        `INSERT INTO device_tools (user_id, session_id, tools, listed_at) VALUES ($1, $2, $3::jsonb, now())
         ON CONFLICT (user_id, session_id) DO UPDATE SET tools = EXCLUDED.tools, listed_at = now()`,
        { bind: [userId, sessionId, JSON.stringify(tools)] },
      );
    },

    /** The device is unbound: its session's tools go with it. */
    async forgetTools(userId: string, sessionId: string): Promise<void> {
      await sequelize.query('DELETE FROM device_tools WHERE user_id = $1 AND session_id = $2', { bind: [userId, sessionId] });
    },

    async loadTools(userId: string, sessionId: string): Promise<DeviceTool[]> {
      const rows = await sequelize.query<{ tools: DeviceTool[] }>('SELECT tools FROM device_tools WHERE user_id = $1 AND session_id = $2', {
        bind: [userId, sessionId],
        type: QueryTypes.SELECT,
      });
      return rows[0]?.tools ?? [];
    },

    /**
     * Claims a call before it is sent: `claimed` when this is the first ask, else the earlier
     * claim (whose call went out, or may have), with its outcome if one was recorded.
     */
    async claimCall(input: {
      callId: string;
      userId: string;
      name: string;
      gateway: string;
    }): Promise<{ claimed: true } | { claimed: false; earlier: DeviceToolClaim }> {
      if (Math.random() < 0.01) await this.pruneClaims();
      const [inserted] = await sequelize.query(
        `INSERT INTO device_tool_calls (call_id, user_id, name, gateway) VALUES ($1, $2, $3, $4)
         ON CONFLICT (call_id) DO NOTHING RETURNING call_id`,
        { bind: [input.callId, input.userId, input.name, input.gateway] },
      );
      if ((inserted as unknown[]).length === 1) return { claimed: true };
      const rows = await sequelize.query<ClaimRow>('SELECT gateway, status, result, error FROM device_tool_calls WHERE call_id = $1', {
        bind: [input.callId],
        type: QueryTypes.SELECT,
      });
      const row = rows[0];
      const status = row?.status;
      const outcome =
        row && (status === 'success' || status === 'failed')
          ? { status: status as 'success' | 'failed', result: row.result ?? '', ...(row.error !== null ? { error: row.error } : {}) }
          : null;
      return { claimed: false, earlier: { gateway: row?.gateway ?? 'unknown', outcome } };
    },

    /** The outcome of a claimed call, for a repeated ask. */
    async recordOutcome(result: DeviceToolResult): Promise<void> {
      await sequelize.query('UPDATE device_tool_calls SET status = $2, result = $3, error = $4 WHERE call_id = $1', {
        bind: [result.callId, result.status, result.result, result.error ?? null],
      });
    },

    async pruneClaims(): Promise<void> {
      await sequelize.query(
        `DELETE FROM device_tool_calls WHERE call_id IN (
           SELECT call_id FROM device_tool_calls WHERE claimed_at < now() - $1::double precision * interval '1 millisecond' LIMIT ${PRUNE_BATCH})`,
        { bind: [CLAIMS_KEPT_MS] },
      );
    },
  };
}

export type DeviceToolStore = ReturnType<typeof createDeviceToolStore>;
