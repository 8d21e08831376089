// `npm run replay:check -- [--query '<visibility query>'] [--limit N] [--out DIR]`: the replay gate
// of ARCHITECTURE.md "Upgrades". Exports the histories of a running deployment's sessions (each
// run, continue-as-new included, is its own execution) over the same Temporal connection the
// service uses (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS, API key; the embedded dev server when
// unset; TEMPORAL_PAYLOAD_KEY for encrypted sessions) and replays them against this checkout's workflow code. Prints pass/fail per run and exits
// 1 when any run fails to replay, so a deploy pipeline can run it before rolling out new workers.
// `--out DIR` also writes each history as a JSON fixture (the format of test/fixtures/histories).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { SESSION_WORKFLOW_TYPE } from '../contract';
import { ConfigError, loadConfig } from '../config';
import { resolvePayloadKeys } from '../config/secrets';
import { createPayloadEncryption, type PayloadEncryption } from '../lib/payload-codec';
import { createLogger, type Logger } from '../lib/logger';
import { historyEvents } from '../lib/temporal-history';
import { closeTemporal, connectTemporal } from '../lib/temporal-connection';
import { runCli, UsageError } from '../runtime/cli';
import { sessionWorkflowBundle } from '../worker';

const USAGE = "usage: npm run replay:check -- [--query '<visibility query>'] [--limit N] [--out DIR]";
const DEFAULT_QUERY = `WorkflowType = "${SESSION_WORKFLOW_TYPE}"`;
const DEFAULT_LIMIT = 100;

type History = temporal.api.history.v1.IHistory;
const ProtoHistory = temporal.api.history.v1.History;

export interface ReplayCheckOptions {
  query: string;
  limit: number;
  out?: string;
}

export interface ReplayCheckResult {
  passed: number;
  failed: { workflowId: string; runId: string; error: string }[];
}

async function fetchRunHistory(client: Client, workflowId: string, runId: string): Promise<History> {
  const events: temporal.api.history.v1.IHistoryEvent[] = [];
  for await (const event of historyEvents(client, workflowId, runId)) events.push(event);
  return { events };
}

/** Plain JSON that `History.fromObject` reads back (test/support/histories.ts reads these). */
function fixtureJson(workflowId: string, history: History): string {
  const plain = ProtoHistory.toObject(ProtoHistory.fromObject(history), { longs: String, enums: String, bytes: String });
  return JSON.stringify({ workflowId, history: plain }) + '\n';
}

function fixtureName(workflowId: string, runId: string): string {
  return `${workflowId}-${runId}`.replace(/[^A-Za-z0-9_.-]/g, '_') + '.json';
}

/** Lists, exports and replays; `print` gets one line per run. */
export async function replayCheck(
  client: Client,
  options: ReplayCheckOptions,
  logger: Logger,
  print: (line: string) => void,
  payloadEncryption?: PayloadEncryption,
): Promise<ReplayCheckResult> {
  const runs: { workflowId: string; runId: string; history: History }[] = [];
  for await (const execution of client.workflow.list({ query: options.query })) {
    if (runs.length >= options.limit) break;
    const history = await fetchRunHistory(client, execution.workflowId, execution.runId);
    runs.push({ workflowId: execution.workflowId, runId: execution.runId, history });
    if (options.out) {
      mkdirSync(options.out, { recursive: true });
      writeFileSync(path.join(options.out, fixtureName(execution.workflowId, execution.runId)), fixtureJson(execution.workflowId, history));
    }
  }
  const result: ReplayCheckResult = { passed: 0, failed: [] };
  if (runs.length === 0) return result;
  const replays = Worker.runReplayHistories(
    {
      workflowBundle: await sessionWorkflowBundle(logger, payloadEncryption?.failureConverterPath),
      // Encrypted sessions (TEMPORAL_PAYLOAD_KEY) replay with the workers' own data converter.
      ...(payloadEncryption ? { dataConverter: payloadEncryption.dataConverter } : {}),
    },
    runs.map(({ workflowId, history }) => ({ workflowId, history })),
  );
  let i = 0;
  for await (const replay of replays) {
    const run = runs[i++]!;
    if (replay.error) {
      result.failed.push({ workflowId: replay.workflowId, runId: run.runId, error: replay.error.message });
      print(`FAIL  ${replay.workflowId}  ${run.runId}  ${replay.error.message.split('\n')[0]}`);
    } else {
      result.passed += 1;
      print(`ok    ${replay.workflowId}  ${run.runId}`);
    }
  }
  return result;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { query: { type: 'string' }, limit: { type: 'string' }, out: { type: 'string' } },
  });
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const limit = values.limit === undefined ? DEFAULT_LIMIT : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) throw new Error(error.message, { cause: error });
    throw error;
  }
  const logger = createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
  const payloadEncryption = createPayloadEncryption(resolvePayloadKeys(config));
  const handles = await connectTemporal(config, payloadEncryption?.dataConverter);
  try {
    const query = values.query ?? DEFAULT_QUERY;
    const print = (line: string) => process.stdout.write(`${line}\n`);
    const options = { query, limit, ...(values.out ? { out: values.out } : {}) };
    const result = await replayCheck(handles.client, options, logger, print, payloadEncryption);
    print(`${result.passed} replayed, ${result.failed.length} failed (query: ${query}, limit ${limit})`);
    if (values.out) print(`histories written to ${path.resolve(values.out)}`);
    if (result.failed.length) process.exitCode = 1;
  } finally {
    await closeTemporal(handles);
  }
  if (process.exitCode === 1) throw new Error('replay check failed: the current workflow code cannot continue these sessions');
}

if (require.main === module) runCli(main, USAGE);
