// The one place zod issues become field-level errors (`parameters.max_tokens`, `type`): for
// request bodies and queries (400 with `errors[]`) and for the environment (config/index.ts).
import type { z } from 'zod';
import { ValidationError, type FieldError } from './errors';

export interface IssueFormat {
  /** Put before every field name (the path of a nested document). */
  prefix?: string;
  /** The name of the value itself, for issues about the whole of it. */
  root?: string;
  /** A message of its own for an unknown key of a strict object; undefined: 'unknown field'. */
  unknownKey?: (key: string, path: readonly PropertyKey[]) => string | undefined;
}

/** One error per problem: a missing value is `required`; each unknown key is an error of its own. */
export function fieldErrors(error: z.ZodError, format: IssueFormat = {}): FieldError[] {
  const { prefix = '', root = '(body)' } = format;
  const name = (path: readonly PropertyKey[]) => prefix + (path.map(String).join('.') || root);
  return error.issues.flatMap((issue): FieldError[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: name([...issue.path, key]),
        message: format.unknownKey?.(key, issue.path) ?? 'unknown field',
      }));
    }
    const missing = issue.code === 'invalid_type' && issue.input === undefined;
    return [{ field: name(issue.path), message: missing ? 'required' : issue.message }];
  });
}

export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, format?: IssueFormat): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(fieldErrors(result.error, format));
  return result.data;
}
