// The built-in functions as the router LLM sees them: one description and JSON Schema each.
// Their implementations are in contract/builtins.ts (the workflow runs them itself).
import type { BuiltinFunctionName } from '../contract';

export interface ToolSpec {
  description: string;
  parameters: Record<string, unknown>;
}

export const BUILTIN_TOOL_SPECS: Record<BuiltinFunctionName, ToolSpec> = {
  get_time: {
    description: 'Tell the current date and time. Use when the user asks what time or date it is.',
    parameters: {
      type: 'object',
      properties: { timezone: { type: 'string', description: 'IANA time zone, e.g. "Asia/Shanghai"; UTC when absent' } },
    },
  },
  end_session: {
    description: 'End this conversation. Use when the user says goodbye, exit or asks to stop.',
    parameters: { type: 'object', properties: {} },
  },
  change_role: {
    description: 'Change the role or persona the assistant plays from now on (for example "a patient math teacher").',
    parameters: {
      type: 'object',
      properties: { role: { type: 'string', description: 'The new role, in a short phrase' } },
      required: ['role'],
    },
  },
  play_music: {
    description: 'Play a song or some music for the user.',
    parameters: {
      type: 'object',
      properties: { song: { type: 'string', description: 'Song title, artist or genre' } },
    },
  },
};
