// `npm run token -- --user alice [--expires 12h]`: a development token signed with the same
// secret `npm start` uses (JWT_SECRET, or the one generated under DATA_DIR). Only the token goes
// to stdout, so `TOKEN=$(npm run -s token -- --user alice)` works.
import { parseArgs } from 'node:util';
import { mintToken, USER_ID_PATTERN } from '../lib/auth';
import { loadConfigOrExit, runCli, UsageError } from '../runtime/cli';

const USAGE = 'usage: npm run token -- --user <id> [--expires 12h]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      user: { type: 'string', short: 'u' },
      expires: { type: 'string', short: 'e', default: '12h' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (!values.user) throw new UsageError('--user is required');
  if (!USER_ID_PATTERN.test(values.user)) {
    throw new UsageError(`--user must match ${USER_ID_PATTERN.source} (it becomes part of workflow ids)`);
  }
  const { config, secrets } = loadConfigOrExit();
  if (config.JWT_JWKS_URL) {
    throw new Error('JWT_JWKS_URL is set: tokens come from your identity provider, this script cannot mint them');
  }
  if (!secrets.jwtSecret) throw new Error('no JWT secret: set JWT_SECRET');
  let token: string;
  try {
    token = await mintToken(secrets.jwtSecret, values.user, {
      expiresIn: values.expires,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
    });
  } catch (error) {
    throw new UsageError(`--expires: ${(error as Error).message} (examples: 30m, 12h, 7d)`);
  }
  process.stdout.write(token + '\n');
}

runCli(main, USAGE);
