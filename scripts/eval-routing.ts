// `npm run eval:routing [-- --json] [-- --file <path>]`: how well the similarity router (routing
// without a router LLM, routing/similarity.ts) picks the config a message is meant for, on
// labelled sets. By default it evaluates both test/fixtures/routing-eval.json (the development
// set, which the router was built against) and test/fixtures/routing-eval-holdout.json (the
// held-out set, written after the concept lexicon and not tuned against: the figure to trust);
// `--file` evaluates one file. For each set it prints accuracy overall, per language and per
// expected config, the threshold, and every misrouted message; `--json` prints the same as JSON
// (one summary with `--file`; otherwise an object keyed by set name). Exits non-zero only when a
// file is missing or malformed, never on a low score. test/similarity-routing.test.ts runs the
// same evaluation.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROUTING_BOUNDS, SIMILARITY_THRESHOLD, similarityMatch, type SimilarityCandidate } from '../routing/similarity';

export const DEFAULT_EVAL_FILE = path.join(__dirname, '..', 'test', 'fixtures', 'routing-eval.json');
export const HOLDOUT_EVAL_FILE = path.join(__dirname, '..', 'test', 'fixtures', 'routing-eval-holdout.json');
/** The sets evaluated by default, by name. */
export const DEFAULT_EVAL_SETS: Readonly<Record<string, string>> = { development: DEFAULT_EVAL_FILE, holdout: HOLDOUT_EVAL_FILE };
/** The label of messages no config should take (the session's default LLM config answers). */
export const DEFAULT_LABEL = 'default';

export interface EvalConfig {
  id: number;
  config_name: string;
  config_type: 'llm' | 'function_call';
  description: string | null;
  function_name?: string | null;
  parameters?: Record<string, unknown> | null;
}

export interface EvalQuery {
  text: string;
  lang: 'en' | 'zh';
  expected: string;
}

export interface EvalSet {
  configs: EvalConfig[];
  queries: EvalQuery[];
}

export interface Accuracy {
  correct: number;
  total: number;
  accuracy: number;
}

export interface Misrouted {
  text: string;
  lang: string;
  expected: string;
  got: string;
  score: number;
}

export interface EvalSummary {
  threshold: number;
  overall: Accuracy;
  byLanguage: Record<string, Accuracy>;
  byExpected: Record<string, Accuracy>;
  misrouted: Misrouted[];
}

function fail(message: string): never {
  throw new Error(`routing eval set: ${message}`);
}

/** Checks the shape of a parsed set; throws on anything malformed (unknown expected names included). */
export function parseEvalSet(raw: unknown): EvalSet {
  if (raw === null || typeof raw !== 'object') fail('not an object');
  const { configs, queries } = raw as Record<string, unknown>;
  if (!Array.isArray(configs) || configs.length === 0) fail('"configs" must be a non-empty array');
  if (!Array.isArray(queries) || queries.length === 0) fail('"queries" must be a non-empty array');
  const names = new Set<string>();
  const ids = new Set<number>();
  configs.forEach((c: Record<string, unknown>, i) => {
    if (typeof c?.id !== 'number' || !Number.isSafeInteger(c.id) || ids.has(c.id)) fail(`configs[${i}].id must be a unique integer`);
    if (typeof c.config_name !== 'string' || !c.config_name || names.has(c.config_name))
      fail(`configs[${i}].config_name must be a unique non-empty string`);
    if (c.config_type !== 'llm' && c.config_type !== 'function_call') fail(`configs[${i}].config_type must be "llm" or "function_call"`);
    if (c.description !== null && typeof c.description !== 'string') fail(`configs[${i}].description must be a string or null`);
    ids.add(c.id);
    names.add(c.config_name);
  });
  queries.forEach((q: Record<string, unknown>, i) => {
    if (typeof q?.text !== 'string' || !q.text.trim()) fail(`queries[${i}].text must be a non-empty string`);
    if (q.lang !== 'en' && q.lang !== 'zh') fail(`queries[${i}].lang must be "en" or "zh"`);
    if (typeof q.expected !== 'string' || (q.expected !== DEFAULT_LABEL && !names.has(q.expected)))
      fail(`queries[${i}].expected must be a config_name or "${DEFAULT_LABEL}"`);
  });
  return { configs: configs as EvalConfig[], queries: queries as EvalQuery[] };
}

export function loadEvalSet(file: string = DEFAULT_EVAL_FILE): EvalSet {
  return parseEvalSet(JSON.parse(readFileSync(file, 'utf8')));
}

/** A config as the similarity router sees it. */
export function toCandidate(config: EvalConfig): SimilarityCandidate {
  return {
    id: config.id,
    kind: config.config_type === 'llm' ? 'llm' : 'function',
    name: config.config_name,
    description: config.description,
    functionName: config.function_name ?? null,
    parameters: config.parameters ?? null,
  };
}

function tally(map: Record<string, Accuracy>, key: string, ok: boolean): void {
  const entry = (map[key] ??= { correct: 0, total: 0, accuracy: 0 });
  entry.total++;
  if (ok) entry.correct++;
  entry.accuracy = entry.correct / entry.total;
}

export function evaluateRouting(set: EvalSet, threshold: number = SIMILARITY_THRESHOLD): EvalSummary {
  const candidates = set.configs.map(toCandidate);
  const overall: Record<string, Accuracy> = {};
  const byLanguage: Record<string, Accuracy> = {};
  const byExpected: Record<string, Accuracy> = {};
  const misrouted: Misrouted[] = [];
  for (const query of set.queries) {
    const match = similarityMatch(query.text, candidates, threshold, ROUTING_BOUNDS);
    const got = match ? match.candidate.name : DEFAULT_LABEL;
    const ok = got === query.expected;
    tally(overall, 'all', ok);
    tally(byLanguage, query.lang, ok);
    tally(byExpected, query.expected, ok);
    if (!ok) misrouted.push({ text: query.text, lang: query.lang, expected: query.expected, got, score: match?.score ?? 0 });
  }
  return { threshold, overall: overall.all, byLanguage, byExpected, misrouted };
}

const percent = (a: Accuracy): string => `${(a.accuracy * 100).toFixed(1)}% (${a.correct}/${a.total})`;

export function formatSummary(summary: EvalSummary): string {
  const lines = [
    `Similarity routing (BM25, threshold ${summary.threshold})`,
    `overall: ${percent(summary.overall)}`,
    ...Object.entries(summary.byLanguage).map(([lang, a]) => `  ${lang}: ${percent(a)}`),
    'by expected config:',
    ...Object.entries(summary.byExpected).map(([name, a]) => `  ${name}: ${percent(a)}`),
    `misrouted (${summary.misrouted.length}):`,
    ...summary.misrouted.map(
      (m) => `  [${m.lang}] ${JSON.stringify(m.text)}: expected ${m.expected}, got ${m.got} (${m.score.toFixed(2)})`,
    ),
  ];
  return lines.join('\n') + '\n';
}

function main(): void {
  const { values } = parseArgs({ options: { json: { type: 'boolean' }, file: { type: 'string' } } });
  const files: Record<string, string> = values.file ? { [values.file]: values.file } : { ...DEFAULT_EVAL_SETS };
  const summaries: Record<string, EvalSummary> = {};
  try {
    for (const [name, file] of Object.entries(files)) summaries[name] = evaluateRouting(loadEvalSet(file));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
    return;
  }
  if (values.json) {
    process.stdout.write(JSON.stringify(values.file ? summaries[values.file] : summaries, null, 2) + '\n');
    return;
  }
  const blocks = Object.entries(files).map(([name, file]) => {
    const title = values.file ? '' : `== ${name} set (${path.relative(process.cwd(), file)})\n`;
    return title + formatSummary(summaries[name]);
  });
  process.stdout.write(blocks.join('\n'));
}

if (require.main === module) main();
