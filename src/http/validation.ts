// Input validation for the route modules: one zod parse for params, query strings and bodies, whose
// failure is the same 400 INVALID_REQUEST everywhere (the field, the problem, the fix).
import type { z } from 'zod';
import { zodError } from './errors.ts';

/** `value` checked against `schema` (a missing value is checked as {}); throws INVALID_REQUEST naming each field. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw zodError(r.error, what);
  return r.data;
}
