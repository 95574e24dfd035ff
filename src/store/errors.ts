// Store errors with a stable code and a fix, so the engine can turn them into clear answers.

export class StoreError extends Error {
  constructor(
    /** "CONFLICT" (unique key taken), "INVALID" (bad argument), "UNAVAILABLE" (cannot open/reach). */
    readonly code: 'CONFLICT' | 'INVALID' | 'UNAVAILABLE',
    message: string,
    readonly fix: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** True for a unique/primary-key violation on either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
