// Static limits on a function's parameter schema, checked when a config is saved: nesting, `$ref`
// count, how far `$ref`s expand (a few bytes of `anyOf` over `$ref`s reach 2^26 subschemas), and
// patterns the linear-time engine can run. These refuse the obvious bombs with a clear message;
// the budget on every check (arguments.ts) bounds whatever gets past them.
import { RE2JS } from 're2js';

/** JSON nesting of the schema document. */
export const MAX_SCHEMA_DEPTH = 24;
/** `$ref`s (and `$dynamicRef`, `$recursiveRef`) in one schema. */
export const MAX_SCHEMA_REFS = 64;
/** Subschemas a check may visit with every `$ref` followed (a recursive `$ref` counts once). */
export const MAX_SCHEMA_EXPANSION = 10_000;
/** Characters of one `pattern` or `patternProperties` key. */
export const MAX_PATTERN_LENGTH = 1_000;

/** Keywords whose values are data, not subschemas: nothing in them runs. */
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples', 'description', 'title', '$comment']);
const REF_KEYWORDS = new Set(['$ref', '$dynamicRef', '$recursiveRef']);

type Json = Record<string, unknown> | unknown[];

function isContainer(value: unknown): value is Json {
  return typeof value === 'object' && value !== null;
}

function patternProblem(pattern: string): string | null {
  if (pattern.length > MAX_PATTERN_LENGTH) return `a pattern is longer than ${MAX_PATTERN_LENGTH} characters`;
  try {
    RE2JS.compile(pattern);
    return null;
  } catch (err) {
    return `the pattern ${JSON.stringify(pattern.slice(0, 60))} cannot run on a linear-time regular expression engine (${(err as Error).message}); lookarounds and backreferences are not supported`;
  }
}

/** Depth, `$ref` count and patterns, in one iterative walk; also the `$id`/`$anchor` targets for expansion. */
function walk(root: Record<string, unknown>): { problem: string | null; targets: Map<string, unknown> } {
  const targets = new Map<string, unknown>([['#', root]]);
  let refs = 0;
  const stack: { value: Json; depth: number }[] = [{ value: root, depth: 1 }];
  while (stack.length) {
    const { value, depth } = stack.pop()!;
    if (depth > MAX_SCHEMA_DEPTH) return { problem: `nested more than ${MAX_SCHEMA_DEPTH} levels deep`, targets };
    const entries: [string, unknown][] = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
    for (const [key, child] of entries) {
      if (!Array.isArray(value)) {
        if (DATA_KEYWORDS.has(key)) continue;
        if (REF_KEYWORDS.has(key) && ++refs > MAX_SCHEMA_REFS) return { problem: `more than ${MAX_SCHEMA_REFS} $refs`, targets };
        if (key === '$id' && typeof child === 'string') targets.set(child, value);
        if (key === '$anchor' && typeof child === 'string') targets.set(`#${child}`, value);
        const pattern = key === 'pattern' && typeof child === 'string' ? patternProblem(child) : null;
        if (pattern) return { problem: pattern, targets };
        if (key === 'patternProperties' && isContainer(child) && !Array.isArray(child)) {
          for (const name of Object.keys(child)) {
            const problem = patternProblem(name);
            if (problem) return { problem, targets };
          }
        }
      }
      if (isContainer(child)) stack.push({ value: child, depth: depth + 1 });
    }
  }
  return { problem: null, targets };
}

/** The node a `$ref` names within the schema (a JSON Pointer, an `$id` or an `$anchor`), if it can be found statically. */
function resolve(root: Record<string, unknown>, targets: Map<string, unknown>, ref: string): unknown {
  const known = targets.get(ref);
  if (known !== undefined) return known;
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isContainer(node)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** Subschemas visited with `$ref`s followed, counted up to just past the cap (memoised: linear in the schema). */
function expansion(root: Record<string, unknown>, targets: Map<string, unknown>): number {
  const memo = new Map<Json, number>();
  const visiting = new Set<Json>();
  const cost = (node: unknown): number => {
    if (!isContainer(node)) return 0;
    const known = memo.get(node);
    if (known !== undefined) return known;
    if (visiting.has(node)) return 1; // recursion: bounded by the data's depth, counted once
    visiting.add(node);
    let total = 1;
    const entries: [string, unknown][] = Array.isArray(node) ? node.map((v, i) => [String(i), v]) : Object.entries(node);
    for (const [key, child] of entries) {
      if (!Array.isArray(node) && DATA_KEYWORDS.has(key)) continue;
      if (!Array.isArray(node) && REF_KEYWORDS.has(key) && typeof child === 'string') total += cost(resolve(root, targets, child));
      else total += cost(child);
      if (total > MAX_SCHEMA_EXPANSION) break;
    }
    visiting.delete(node);
    total = Math.min(total, MAX_SCHEMA_EXPANSION + 1);
    memo.set(node, total);
    return total;
  };
  return cost(root);
}

/** Why a parameter schema is refused before it is ever compiled, or null. */
export function parameterSchemaProblem(schema: Record<string, unknown>): string | null {
  const { problem, targets } = walk(schema);
  if (problem) return problem;
  if (expansion(schema, targets) > MAX_SCHEMA_EXPANSION) {
    return `its $refs expand to more than ${MAX_SCHEMA_EXPANSION} subschemas (a $ref used many times over is checked many times over)`;
  }
  return null;
}
