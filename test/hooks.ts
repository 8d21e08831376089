// Mocha root hooks: shared fixtures for the whole run, torn down once at the end, and the run's
// secret scan after the last test (test/support/secret-scan.ts).
import { dropRunDatabase } from './support/database';
import { registeredSecretCount, scanForSecrets } from './support/secret-scan';
import { startedTestTemporal, stopTestTemporal } from './support/temporal';

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(300_000);
    const { findings, histories, logLines, responses } = await scanForSecrets((await startedTestTemporal())?.address);
    process.stdout.write(
      `\n  secret scan: ${registeredSecretCount()} secrets looked for in ${histories} workflow histories, ` +
        `${logLines} log lines and ${responses} responses: ${findings.length ? `${findings.length} found` : 'none found'}\n`,
    );
    if (findings.length) throw new Error(`secrets leaked:\n${findings.slice(0, 20).join('\n')}`);
  },
};

export async function mochaGlobalTeardown(): Promise<void> {
  await stopTestTemporal();
  await dropRunDatabase();
}
