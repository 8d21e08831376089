// `npm run replay:check -- [--query '<visibility query>'] [--limit N] [--out DIR] [--require-patch ID]`:
// the replay gate of ARCHITECTURE.md "Upgrades". Exports the histories of a running deployment's
// sessions (each run, continue-as-new included, is its own execution; running ones unless the
// query says otherwise) over the same Temporal connection the service uses (TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TLS, API key; the embedded dev server when unset; TEMPORAL_PAYLOAD_KEY for
// encrypted sessions) and replays them against this checkout's workflow code. Prints pass/fail per
// run and exits 1 when any run fails to replay, so a deploy pipeline can run it before rolling out
// new workers. `--require-patch ID` also lists every run whose history has no marker of that patch
// (it began on the path the patch replaced) and exits 1 when there is one: before a release deletes
// that path, this shows that no running session still needs it. `--out DIR` also writes each
// history as a JSON fixture (the format of test/fixtures/histories).
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
import { historyEvents, recordedPatches } from '../lib/temporal-history';
import { closeTemporal, connectTemporal } from '../lib/temporal-connection';
import { runCli, UsageError } from '../runtime/cli';
import { sessionWorkflowBundle } from '../worker';

const USAGE = "usage: npm run replay:check -- [--query '<visibility query>'] [--limit N] [--out DIR] [--require-patch ID]";
/** The runs new workers would continue; a closed run replays only as a test would (a retired path's fail). */
const DEFAULT_QUERY = `WorkflowType = "${SESSION_WORKFLOW_TYPE}" AND ExecutionStatus = "Running"`;
const DEFAULT_LIMIT = 100;

type History = temporal.api.history.v1.IHistory;
const ProtoHistory = temporal.api.history.v1.History;

export interface ReplayCheckOptions {
  query: string;
  limit: number;
  out?: string;
  /** A patch every run must have a marker of (`--require-patch`). */
  requirePatch?: string;
}

export interface ReplayCheckResult {
  passed: number;
  failed: { workflowId: string; runId: string; error: string }[];
  /** Runs without a marker of `requirePatch`. */
  withoutPatch: { workflowId: string; runId: string }[];
  /** The query found `limit` runs: there may be more. */
  limitReached: boolean;
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
  const withoutPatch: ReplayCheckResult['withoutPatch'] = [];
  for await (const execution of client.workflow.list({ query: options.query })) {
    if (runs.length >= options.limit) break;
    const history = await fetchRunHistory(client, execution.workflowId, execution.runId);
    runs.push({ workflowId: execution.workflowId, runId: execution.runId, history });
    if (options.requirePatch && !recordedPatches(history.events ?? []).has(options.requirePatch)) {
      withoutPatch.push({ workflowId: execution.workflowId, runId: execution.runId });
      print(`OLD   ${execution.workflowId}  ${execution.runId}  no marker of patch ${options.requirePatch}: began on the path it replaced`);
    }
    if (options.out) {
      mkdirSync(options.out, { recursive: true });
      writeFileSync(path.join(options.out, fixtureName(execution.workflowId, execution.runId)), fixtureJson(execution.workflowId, history));
    }
  }
  const result: ReplayCheckResult = { passed: 0, failed: [], withoutPatch, limitReached: runs.length >= options.limit };
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
    options: { query: { type: 'string' }, limit: { type: 'string' }, out: { type: 'string' }, 'require-patch': { type: 'string' } },
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
  let failure: string | undefined;
  try {
    const query = values.query ?? DEFAULT_QUERY;
    const print = (line: string) => process.stdout.write(`${line}\n`);
    const requirePatch = values['require-patch'];
    const options = { query, limit, ...(values.out ? { out: values.out } : {}), ...(requirePatch ? { requirePatch } : {}) };
    const result = await replayCheck(handles.client, options, logger, print, payloadEncryption);
    const old = requirePatch ? `, ${result.withoutPatch.length} without ${requirePatch}` : '';
    print(`${result.passed} replayed, ${result.failed.length} failed${old} (query: ${query}, limit ${limit})`);
    if (result.limitReached) print(`the query found ${limit} runs or more; raise --limit to check them all`);
    if (values.out) print(`histories written to ${path.resolve(values.out)}`);
    if (result.failed.length) failure = 'replay check failed: the current workflow code cannot continue these sessions';
    else if (result.withoutPatch.length) failure = `replay check failed: these sessions still need the path ${requirePatch} replaced`;
  } finally {
    await closeTemporal(handles);
  }
  if (failure) throw new Error(failure);
}

if (require.main === module) runCli(main, USAGE);
