// Session settings a client may change, over the socket (`session_config`) and over REST
// (`PATCH /sessions/:id`) alike: one schema, so both paths accept exactly the same thing.
import { z } from 'zod';
import { TOOL_NAME_PATTERN, TOOL_NAME_RULE, type SessionSettingsUpdate } from '../contract';
import { SESSION_STATUSES } from '../db';

const MAX_ENABLED_FUNCTIONS = 100;

export const sessionSettingsShape = {
  default_llm_id: z.number().int().positive().max(2_147_483_647).nullable().optional(),
  enabled_functions: z
    .array(z.string().regex(TOOL_NAME_PATTERN, `must be a function name: ${TOOL_NAME_RULE}`))
    .max(MAX_ENABLED_FUNCTIONS)
    .meta({
      description:
        "Functions routing may offer: yours by function_name (the real name) or tool_name (the mapped one), built-ins by name, and a device's tools (real or mapped name); null for all",
    })
    .nullable()
    .optional(),
};

/** At least one setting must be present; null clears it. */
export function hasSetting(value: { default_llm_id?: unknown; enabled_functions?: unknown }): boolean {
  return value.default_llm_id !== undefined || value.enabled_functions !== undefined;
}
export const hasSettingMessage = { message: 'set default_llm_id or enabled_functions' };

export const sessionSettingsUpdateSchema = z
  .object(sessionSettingsShape)
  .strict()
  .refine(hasSetting, hasSettingMessage)
  .meta({ id: 'SessionSettingsUpdate' });

/** What the schema accepts: the contract's settings update, the `updateSessionConfig` signal's argument. */
export type { SessionSettingsUpdate };

/** Paging of GET /sessions: newest first, `limit` per page, `cursor` from the previous page's `next_cursor`, optionally one `status`. */
export const SESSION_PAGE_MAX = 100;
export const sessionListQuerySchema = z.strictObject({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(SESSION_PAGE_MAX)
    .default(50)
    .meta({ description: `Sessions per page, 1 to ${SESSION_PAGE_MAX}` }),
  cursor: z.string().max(200).optional().meta({ description: 'next_cursor of the previous page; absent for the first page' }),
  status: z
    .enum(SESSION_STATUSES)
    .optional()
    .meta({ description: 'Only sessions with this status (`active`: the open ones, which count toward MAX_SESSIONS_PER_USER)' }),
});

export type SessionListQuery = z.output<typeof sessionListQuerySchema>;

/** Paging of GET /sessions/:id/audit: oldest message first, `limit` per page, `cursor` from the previous page's `next_cursor`. */
export const AUDIT_PAGE_MAX = 100;
export const sessionAuditQuerySchema = z.strictObject({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(AUDIT_PAGE_MAX)
    .default(20)
    .meta({ description: `Messages per page, 1 to ${AUDIT_PAGE_MAX}` }),
  cursor: z.string().max(200).optional().meta({ description: 'next_cursor of the previous page; absent for the first page' }),
});
