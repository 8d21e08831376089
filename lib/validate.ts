// zod parsing that turns issues into field-level errors (`parameters.max_tokens`, `type`).
import type { z } from 'zod';
import { ValidationError, type FieldError } from './errors';

export function fieldErrors(error: z.ZodError, prefix = ''): FieldError[] {
  return error.issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
    return keys.map((key) => {
      const path = [...issue.path, ...(key === undefined ? [] : [key])].map(String).join('.');
      return {
        field: prefix + (path || '(body)'),
        message: issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message,
      };
    });
  }).flat();
}

export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(fieldErrors(result.error, prefix));
  return result.data;
}
