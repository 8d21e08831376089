// Arguments for a function config are checked against the config's JSON Schema (`parameters`)
// before any call, so a router LLM's malformed tool call never reaches the user's endpoint. The
// failure names the argument and says what is wrong in plain words.
//
// A user's schema is code we run: a small one can take exponential time or memory (a `$ref`
// fan-out) or quadratic time (`uniqueItems` over a long array). So schemas compile and run in
// worker threads (arguments-worker.mjs) with a heap limit and a deadline per check; a thread that
// overruns is terminated and replaced, and the check fails on `(parameters)`. Patterns run on a
// linear-time engine (re2js); each schema has a registry of its own; the compiled cache evicts.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { reportOverrun } from '../lib/event-loop';

/** How long one check (compile included) may take once a thread has it; normal schemas take well under 1 ms. */
export const SCHEMA_CHECK_BUDGET_MS = 1_000;
/** Heap of one schema thread; a schema that needs more is stopped. */
export const SCHEMA_WORKER_HEAP_MB = 64;
/** Threads running checks side by side, so one schema at its budget does not hold up everyone's checks. */
export const SCHEMA_WORKERS = 2;
/** Checks waiting for a thread; beyond this a check fails at once instead of queueing. */
export const MAX_QUEUED_SCHEMA_CHECKS = 1_000;
/** Compiled schemas kept per thread, by count and by bytes of schema JSON (least recently used dropped). */
export const MAX_COMPILED_SCHEMAS = 500;
export const MAX_COMPILED_SCHEMA_BYTES = 4 * 1024 * 1024;

/** How long a new thread may take to load before its check fails (a busy machine takes seconds). */
const THREAD_START_LIMIT_MS = 30_000;
const WORKER_SCRIPT = path.join(__dirname, 'arguments-worker.mjs');

export type ArgumentsCheck =
  | { ok: true }
  /** `overran`: the schema, not the arguments, is the problem: it took too long or too much memory. */
  | { ok: false; field: string; message: string; overran?: true };

/** The first ajv error as the worker sends it (plain data). */
interface WorkerError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

interface WorkerReply {
  id: number;
  ok: boolean;
  error?: WorkerError;
  invalidSchema?: string;
  cache: { entries: number; bytes: number };
}

interface Job {
  id: number;
  schema: string;
  args: unknown;
  compileOnly: boolean;
  resolve(reply: WorkerReply | { overran: string }): void;
}

interface Slot {
  worker?: Worker;
  /** The thread has loaded (its first message): a job's budget runs only from then on. */
  ready?: boolean;
  job?: Job;
  timer?: NodeJS.Timeout;
  cache: { entries: number; bytes: number };
}

const slots: Slot[] = Array.from({ length: SCHEMA_WORKERS }, () => ({ cache: { entries: 0, bytes: 0 } }));
const queue: Job[] = [];
let nextId = 1;

function startWorker(slot: Slot): Worker {
  const worker = new Worker(WORKER_SCRIPT, {
    workerData: { maxEntries: MAX_COMPILED_SCHEMAS, maxBytes: MAX_COMPILED_SCHEMA_BYTES },
    resourceLimits: { maxOldGenerationSizeMb: SCHEMA_WORKER_HEAP_MB, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
    // The thread needs no TypeScript loader: it is plain JavaScript.
    execArgv: [],
  });
  worker.unref();
  // A replaced thread's late events are ignored: its job was already answered.
  worker.on('message', (reply: WorkerReply | { ready: true }) => {
    if (slot.worker !== worker) return;
    if ('ready' in reply) {
      slot.ready = true;
      if (slot.job) startBudget(slot);
      return;
    }
    if (slot.job?.id !== reply.id) return;
    slot.cache = reply.cache;
    finish(slot, reply);
  });
  // Out of memory (resourceLimits) or a crash: the thread is gone; its check failed, the next gets a new one.
  worker.on('error', (err) => {
    if (slot.worker === worker)
      finish(
        slot,
        { overran: /memory/i.test(err.message) ? `it needed more than ${SCHEMA_WORKER_HEAP_MB} MB` : `its thread failed (${err.message})` },
        true,
      );
  });
  worker.on('exit', () => {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.cache = { entries: 0, bytes: 0 };
    finish(slot, { overran: 'its thread stopped' }, true);
  });
  return worker;
}

function finish(slot: Slot, outcome: WorkerReply | { overran: string }, threadLost = false): void {
  const job = slot.job;
  clearTimeout(slot.timer);
  slot.job = undefined;
  slot.timer = undefined;
  if (threadLost && slot.worker) {
    const lost = slot.worker;
    slot.worker = undefined;
    slot.cache = { entries: 0, bytes: 0 };
    void lost.terminate();
  }
  job?.resolve(outcome);
  dispatch();
}

function startBudget(slot: Slot): void {
  clearTimeout(slot.timer);
  slot.timer = setTimeout(
    () => finish(slot, { overran: `it took longer than ${SCHEMA_CHECK_BUDGET_MS} ms` }, true),
    SCHEMA_CHECK_BUDGET_MS,
  );
}

function dispatch(): void {
  for (const slot of slots) {
    if (slot.job || queue.length === 0) continue;
    const job = queue.shift()!;
    if (!slot.worker) {
      slot.worker = startWorker(slot);
      slot.ready = false;
    }
    slot.job = job;
    if (slot.ready) startBudget(slot);
    // A thread that never finishes loading still ends the check (its 'error'/'exit' usually do).
    else slot.timer = setTimeout(() => finish(slot, { overran: 'its thread did not start' }, true), THREAD_START_LIMIT_MS);
    slot.worker.postMessage({ id: job.id, schema: job.schema, args: job.args, compileOnly: job.compileOnly });
  }
}

function runInWorker(schema: Record<string, unknown>, args: unknown, compileOnly: boolean): Promise<WorkerReply | { overran: string }> {
  if (queue.length >= MAX_QUEUED_SCHEMA_CHECKS) return Promise.resolve({ overran: 'too many schema checks are waiting' });
  return new Promise((resolve) => {
    queue.push({ id: nextId++, schema: JSON.stringify(schema), args, compileOnly, resolve });
    dispatch();
  });
}

/** The compiled-schema cache of the fullest thread, and its caps: for tests and operators. */
export function compiledSchemaCache(): { entries: number; bytes: number; maxEntries: number; maxBytes: number } {
  const fullest = slots.reduce((a, b) => (b.cache.bytes > a.cache.bytes ? b : a)).cache;
  return { ...fullest, maxEntries: MAX_COMPILED_SCHEMAS, maxBytes: MAX_COMPILED_SCHEMA_BYTES };
}

/** `/address/city` → `address.city`, `/items/0` → `items[0]`; JSON Pointer escapes undone. */
function fieldOf(instancePath: string, child?: string): string {
  const parts = instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  let field = '';
  for (const part of parts) field += /^\d+$/.test(part) ? `[${part}]` : field ? `.${part}` : part;
  return field || '(arguments)';
}

function describe(error: WorkerError): { field: string; message: string } {
  const p = error.params;
  switch (error.keyword) {
    case 'required':
      return { field: fieldOf(error.instancePath, String(p.missingProperty)), message: 'is required' };
    case 'additionalProperties':
      return { field: fieldOf(error.instancePath, String(p.additionalProperty)), message: 'is not an expected argument' };
    case 'type':
      return { field: fieldOf(error.instancePath), message: `must be ${article(String(p.type))}` };
    case 'enum':
      return {
        field: fieldOf(error.instancePath),
        message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'const':
      return { field: fieldOf(error.instancePath), message: `must be ${JSON.stringify(p.allowedValue)}` };
    default:
      return { field: fieldOf(error.instancePath), message: error.message ?? 'is not valid' };
  }
}

function article(type: string): string {
  const one = (t: string) => (t === 'null' ? 'null' : /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`);
  return type
    .split(',')
    .map((t) => one(t.trim()))
    .join(' or ');
}

function overrun(reason: string): ArgumentsCheck {
  reportOverrun("a function's parameter schema check", SCHEMA_CHECK_BUDGET_MS, reason);
  return {
    ok: false,
    field: '(parameters)',
    message: `the function's parameter schema could not be checked: ${reason} (simplify the schema)`,
    overran: true,
  };
}

/**
 * Check `args` against a function's parameter schema. A schema that does not compile, or that
 * overruns its budget, is reported as a failure on `(parameters)` rather than thrown: the config
 * is the problem, not the caller.
 */
export async function validateArguments(schema: Record<string, unknown>, args: unknown): Promise<ArgumentsCheck> {
  const reply = await runInWorker(schema, args, false);
  if ('overran' in reply) return overrun(reply.overran);
  if (reply.invalidSchema !== undefined) {
    return { ok: false, field: '(parameters)', message: `the function's parameter schema is not valid: ${reply.invalidSchema}` };
  }
  if (reply.ok) return { ok: true };
  if (!reply.error) return { ok: false, field: '(arguments)', message: 'are not valid' };
  return { ok: false, ...describe(reply.error) };
}

/** Compile a schema as calls will (same engine, same budget): the reason it cannot be used, or null. */
export async function schemaCompileProblem(schema: Record<string, unknown>): Promise<string | null> {
  const reply = await runInWorker(schema, null, true);
  if ('overran' in reply) return `could not be compiled: ${reply.overran}`;
  if (reply.invalidSchema !== undefined) return `is not usable: ${reply.invalidSchema}`;
  return null;
}
