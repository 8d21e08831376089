// What the entry points share (main.ts and the scripts): the configuration `npm start` reads,
// with configuration and usage errors printed as one readable line instead of a stack trace.
import { mkdirSync } from 'node:fs';
import { ConfigError, loadConfig, type AppConfig } from '../config';
import { resolveSecrets, type Secrets } from '../config/secrets';
import { mintToken, USER_ID_PATTERN } from '../lib/auth';

export class UsageError extends Error {}

export function exitWith(message: string, code = 1): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

/** Config and secrets, or exit 1 with the message naming the bad variable. */
export function loadConfigOrExit(prefix = ''): { config: Readonly<AppConfig>; secrets: Secrets } {
  try {
    const config = loadConfig(process.env);
    // Created here with the usual mode: resolveSecrets creates missing parents of its 0700
    // secrets folder as 0700 too, and an embedded PostgreSQL running as another user (we are
    // root) must be able to traverse DATA_DIR.
    mkdirSync(config.dataDir, { recursive: true });
    return { config, secrets: resolveSecrets(config) };
  } catch (error) {
    if (error instanceof ConfigError) exitWith(prefix + error.message);
    // Generated secrets live under DATA_DIR: an unwritable directory is the likely cause.
    if ((error as NodeJS.ErrnoException).code) exitWith(`${prefix}cannot prepare DATA_DIR: ${(error as Error).message}`);
    throw error;
  }
}

function isUsageError(error: unknown): boolean {
  return error instanceof UsageError || Boolean((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'));
}

/** Runs a script's main; known errors become a message and an exit code (2 for usage). */
export function runCli(main: () => Promise<void>, usage: string): void {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      if (isUsageError(error)) exitWith(`${(error as Error).message}\n${usage}`, 2);
      exitWith((error as Error).message || String(error));
    },
  );
}

/**
 * A development token for `user`, signed with the secret `npm start` uses (scripts/token.ts,
 * scripts/chat.ts). Refused in JWKS mode, where tokens come from the identity provider.
 */
export async function mintLocalToken(user: string | undefined, expiresIn?: string, scopes: readonly string[] = []): Promise<string> {
  if (!user) throw new UsageError('--user is required');
  if (!USER_ID_PATTERN.test(user)) throw new UsageError(`--user must match ${USER_ID_PATTERN.source} (it becomes part of workflow ids)`);
  const { config, secrets } = loadConfigOrExit();
  if (config.JWT_JWKS_URL || !secrets.jwtSecret) {
    throw new Error('JWT_JWKS_URL is set: tokens come from your identity provider, so they cannot be minted here');
  }
  try {
    return await mintToken(secrets.jwtSecret, user, { expiresIn, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, scopes });
  } catch (error) {
    throw new UsageError(`--expires: ${(error as Error).message} (examples: 30m, 12h, 7d)`);
  }
}
