// Arguments for a function config are checked against the config's JSON Schema (`parameters`)
// before any call, so a router LLM's malformed tool call never reaches the user's endpoint. The
// failure names the argument and says what is wrong in plain words.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

const ajv = new Ajv({ strict: false, allErrors: false });

/** Compiled validators by schema JSON; bounded, as schemas come from user configs. */
const compiled = new Map<string, ValidateFunction>();
const MAX_COMPILED = 500;

export type ArgumentsCheck = { ok: true } | { ok: false; field: string; message: string };

function validatorFor(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (validate) {
    // Most recently used last, so the oldest entry is the one dropped.
    compiled.delete(key);
    compiled.set(key, validate);
    return validate;
  }
  validate = ajv.compile(schema);
  compiled.set(key, validate);
  if (compiled.size > MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
  return validate;
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

function describe(error: ErrorObject): { field: string; message: string } {
  const p = error.params as Record<string, unknown>;
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

/**
 * Check `args` against a function's parameter schema. A schema that does not compile is reported
 * as a failure on `(parameters)` rather than thrown: the config is the problem, not the caller.
 */
export function validateArguments(schema: Record<string, unknown>, args: unknown): ArgumentsCheck {
  let validate: ValidateFunction;
  try {
    validate = validatorFor(schema);
  } catch (err) {
    return { ok: false, field: '(parameters)', message: `the function's parameter schema is not valid: ${(err as Error).message}` };
  }
  if (validate(args)) return { ok: true };
  const first = validate.errors?.[0];
  if (!first) return { ok: false, field: '(arguments)', message: 'are not valid' };
  return { ok: false, ...describe(first) };
}
