// Mocha root hooks: shared fixtures for the whole run, torn down once at the end.
import { dropRunDatabase } from './support/database';
import { stopTestTemporal } from './support/temporal';

export async function mochaGlobalTeardown(): Promise<void> {
  await stopTestTemporal();
  await dropRunDatabase();
}
