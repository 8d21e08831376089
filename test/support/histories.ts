// Workflow histories for replay tests: fetched through the client (every run of a session,
// following continue-as-new), replayed against the current workflow bundle, and kept as JSON
// fixtures under test/fixtures/histories so later code is replayed against older histories.
import { testLogger } from './logger';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client, HistoryAndWorkflowId } from '@temporalio/client';
import type { History } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { sessionWorkflowBundle } from '../../worker';

export const HISTORY_FIXTURES_DIR = path.join(__dirname, '..', 'fixtures', 'histories');
/** Fixture names of the current workflow code start with this (the retired v1 ones had no prefix). */
export const FIXTURE_GENERATION = 'v2';
/** `sha256  name` per fixture: fixtures are append-only, and this list proves it (test/replay.test.ts). */
export const FIXTURE_MANIFEST = 'SHA256SUMS';
/** `sha256  name  release` per fixture line that left the manifest, with the release that retired it. */
export const RETIRED_FIXTURES = 'RETIRED';

export interface ManifestLine {
  hash: string;
  file: string;
  /** RETIRED only: the release that retired it. */
  release: string;
}

/** The lines of SHA256SUMS or RETIRED (`#` starts a comment). */
export function readManifest(file: string): ManifestLine[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() && !line.startsWith('#'))
    .map((line) => {
      const [hash = '', name = '', ...release] = line.trim().split(/\s+/);
      return { hash, file: name, release: release.join(' ') };
    });
}

export function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Every run of the workflow, oldest first. */
export interface RecordedRun {
  workflowId: string;
  history: History;
}

export async function fetchAllRuns(client: Client, workflowId: string): Promise<RecordedRun[]> {
  const out: RecordedRun[] = [];
  let runId: string | undefined =
    (await client.workflow.getHandle(workflowId).describe()).raw.workflowExecutionInfo?.firstRunId ?? undefined;
  while (runId) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    out.push({ workflowId, history });
    const last = history.events?.[history.events.length - 1];
    runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return out;
}

/** History (runs, events, any part) as text with every payload decoded (bytes as UTF-8), for searching it. */
export function decodedText(value: unknown): string {
  // Decode before stringifying: Buffer's own toJSON would run before any replacer.
  const decode = (part: unknown): unknown => {
    if (part instanceof Uint8Array) return Buffer.from(part).toString('utf8');
    if (Array.isArray(part)) return part.map(decode);
    if (part && typeof part === 'object') return Object.fromEntries(Object.entries(part).map(([k, v]) => [k, decode(v)]));
    return part;
  };
  return JSON.stringify(decode(value));
}

export function historyText(runs: readonly RecordedRun[]): string {
  return decodedText(runs);
}

/** Replays each history; returns a description of every failure (empty when all replay cleanly). */
export async function replayFailures(histories: Iterable<HistoryAndWorkflowId>): Promise<string[]> {
  const failures: string[] = [];
  const results = Worker.runReplayHistories({ workflowBundle: await sessionWorkflowBundle(testLogger) }, histories);
  for await (const result of results) {
    if (result.error) failures.push(`${result.workflowId} (${result.runId}): ${result.error.message}`);
  }
  return failures;
}

const ProtoHistory = temporal.api.history.v1.History;

/**
 * Plain JSON (longs and bytes as strings, enums by name) that `History.fromObject` reads back.
 * (The SDK's historyToJSON trips over two protobufjs copies in node_modules.)
 */
function toPlainHistory(history: History): unknown {
  return ProtoHistory.toObject(ProtoHistory.fromObject(history), { longs: String, enums: String, bytes: String });
}

/**
 * Adds `<generation>-<name>.json` fixtures and their manifest lines. Append-only: an existing
 * fixture is never rewritten (a running session's history does not change either).
 */
export function writeHistoryFixtures(dir: string, named: { name: string; run: RecordedRun }[]): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const { name, run } of named) {
    const file = `${FIXTURE_GENERATION}-${name}.json`;
    const target = path.join(dir, file);
    if (existsSync(target)) continue;
    writeFileSync(target, JSON.stringify({ workflowId: run.workflowId, history: toPlainHistory(run.history) }) + '\n');
    appendFileSync(path.join(dir, FIXTURE_MANIFEST), `${sha256File(target)}  ${file}\n`);
    written.push(file);
  }
  return written;
}

export function readHistoryFixtures(dir: string): RecordedRun[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => readHistoryFixture(dir, f));
}

export function readHistoryFixture(dir: string, file: string): RecordedRun {
  const parsed = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { workflowId: string; history: unknown };
  return { workflowId: parsed.workflowId, history: ProtoHistory.fromObject(parsed.history as Record<string, unknown>) };
}
