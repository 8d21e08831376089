// One pino logger for the process. Anything that could carry a credential is redacted by path,
// and message text is never built from secrets in the first place.
import pino, { type Logger } from 'pino';

export type { Logger };

const redactPaths = [
  'api_key',
  '*.api_key',
  '*.*.api_key',
  'apiKey',
  '*.apiKey',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'token',
  '*.token',
  'password',
  '*.password',
  'secret',
  '*.secret',
  // Function configs' secrets: a stored row or a request body (top level, nested once or twice), and
  // a FunctionTarget (functions/types.ts) whose `secret` / `headers` hold them decrypted.
  'webhook_secret',
  '*.webhook_secret',
  '*.*.webhook_secret',
  'webhookSecret',
  '*.webhookSecret',
  'mcp_headers',
  '*.mcp_headers',
  '*.*.mcp_headers',
  'mcpHeaders',
  '*.mcpHeaders',
  'target.secret',
  'target.headers',
  '*.target.secret',
  '*.target.headers',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'switchboard' },
      redact: { paths: redactPaths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
