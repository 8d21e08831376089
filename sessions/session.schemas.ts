// Session settings a client may change, over the socket (`session_config`) and over REST
// (`PATCH /sessions/:id`) alike: one schema, so both paths accept exactly the same thing.
import { z } from 'zod';
import { FUNCTION_NAME_PATTERN } from '../contract';

const MAX_ENABLED_FUNCTIONS = 100;

export const sessionSettingsShape = {
  default_llm_id: z.number().int().positive().max(2_147_483_647).nullable().optional(),
  enabled_functions: z
    .array(z.string().regex(FUNCTION_NAME_PATTERN, 'must be a function name (^[a-zA-Z_][a-zA-Z0-9_]{0,63}$)'))
    .max(MAX_ENABLED_FUNCTIONS)
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

export type SessionSettingsUpdate = z.infer<typeof sessionSettingsUpdateSchema>;
