// `npm run token -- --user alice [--expires 12h] [--codec]`: a development token signed with the same
// secret `npm start` uses (JWT_SECRET, or the one generated under DATA_DIR). Only the token goes
// to stdout, so `TOKEN=$(npm run -s token -- --user alice)` works. `--codec` adds the scope the
// codec endpoint requires (`scope: "codec"`), for an auditor reading encrypted sessions in the Temporal UI.
import { parseArgs } from 'node:util';
import { CODEC_SCOPE } from '../lib/auth';
import { mintLocalToken, runCli } from '../runtime/cli';

const USAGE = 'usage: npm run token -- --user <id> [--expires 12h] [--codec]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      user: { type: 'string', short: 'u' },
      expires: { type: 'string', short: 'e', default: '12h' },
      codec: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const token = await mintLocalToken(values.user, values.expires, values.codec ? [CODEC_SCOPE] : []);
  process.stdout.write(token + '\n');
}

runCli(main, USAGE);
