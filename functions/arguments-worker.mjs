// The thread that runs users' JSON Schemas (see arguments.ts): compiling and validating here
// keeps a schema that is slow or hungry off the event loop, and the parent terminates this thread
// when one overruns its budget. Plain JavaScript so it starts the same under `node --import tsx`
// (npm start, mocha) and plain node.
import { parentPort, workerData } from 'node:worker_threads';
import { Ajv } from 'ajv';
import { RE2JS } from 're2js';

/** @type {{ maxEntries: number; maxBytes: number }} */
const { maxEntries, maxBytes } = workerData;

/** `pattern` and `patternProperties` on a linear-time engine: no input can make a match backtrack. */
function linearRegExp(pattern) {
  const re = RE2JS.compile(pattern);
  return { test: (text) => re.test(text) };
}

/**
 * Compiled validators by schema JSON, least recently used first; bounded by count and by bytes of
 * schema text. Each schema gets an Ajv of its own, so its `$id`s and `$ref`s resolve only within
 * itself: no tenant can claim an `$id` or reach another tenant's schema.
 */
const compiled = new Map();
let compiledBytes = 0;

function validatorFor(key) {
  let validate = compiled.get(key);
  if (validate) {
    compiled.delete(key);
    compiled.set(key, validate);
    return validate;
  }
  const ajv = new Ajv({
    strict: false,
    allErrors: false,
    // Checked against the meta-schema at create; a stored row is compiled as it is.
    validateSchema: false,
    meta: false,
    logger: false,
    // Each referenced schema compiles once: inlining could multiply the code a $ref graph makes.
    inlineRefs: false,
    code: { regExp: linearRegExp },
  });
  validate = ajv.compile(JSON.parse(key));
  if (key.length > maxBytes) return validate; // used once, never kept
  compiled.set(key, validate);
  compiledBytes += key.length;
  for (const [oldest] of compiled) {
    if (compiled.size <= maxEntries && compiledBytes <= maxBytes) break;
    compiled.delete(oldest);
    compiledBytes -= oldest.length;
  }
  return validate;
}

parentPort.on('message', ({ id, schema, args, compileOnly }) => {
  let reply;
  try {
    const validate = validatorFor(schema);
    if (compileOnly || validate(args)) reply = { id, ok: true };
    else {
      const first = validate.errors?.[0];
      reply = {
        id,
        ok: false,
        error: first && { keyword: first.keyword, instancePath: first.instancePath, params: first.params, message: first.message },
      };
    }
  } catch (err) {
    reply = { id, ok: false, invalidSchema: String(err?.message ?? err) };
  }
  parentPort.postMessage({ ...reply, cache: { entries: compiled.size, bytes: compiledBytes } });
});

// Loaded: the budget of a check starts now, not while a new thread boots (seconds on a busy machine).
parentPort.postMessage({ ready: true });
