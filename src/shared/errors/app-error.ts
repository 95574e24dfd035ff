// The error every face answers with: {error: {code, message, fix, details}} and an HTTP status.
// Faces and the engine build it with appError(code, message, {fix, details}), which takes the status
// (and the default fix) from the registry, so a code cannot be answered with a status it was not
// declared with, nor be a code the registry does not know (typed, and checked at run time).
import {
  type ERROR_FAMILIES,
  ERRORS,
  errorSpec,
  statusAllowed,
  type FamilyCode,
  type FixedCode,
  type ThrowableFixedCode,
} from './registry.ts';

/** An error with a stable code, a fix, and the HTTP status a face should answer with. */
export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly fix: string,
    readonly status = 400,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

export type ThrowableCode = ThrowableFixedCode | FamilyCode;

type StatusesOf<S> = S extends { statuses: 'any_4xx' } ? number : S extends { statuses: readonly (infer N)[] } ? N : never;
type SpecFor<C> = C extends FixedCode ? (typeof ERRORS)[C] : C extends `META_${number}` ? (typeof ERROR_FAMILIES)['META'] : never;
/** The statuses a code may carry besides its own (declared in the registry with `statuses`). */
export type OtherStatus<C> = StatusesOf<SpecFor<C>>;

export interface AppErrorOptions<C> {
  /** A fix for the case at hand (default: the registry's). */
  fix?: string;
  details?: Record<string, unknown>;
  /** One of the code's other declared statuses (default: its own). */
  status?: OtherStatus<C> | (SpecFor<C> extends { status: infer S } ? S : never);
}

/**
 * The EngineError for a registered code: the registry's status (or one of its declared others), the
 * call site's message (default: the registry's), its fix (default: the registry's), and details.
 */
export function appError<C extends ThrowableCode>(code: C, message?: string, opts: AppErrorOptions<C> = {}): EngineError {
  const spec = errorSpec(code);
  // Unreachable through the types; a code built at run time that is not registered is a bug: answer
  // INTERNAL rather than an undocumented code.
  if (!spec || spec.status === null)
    return new EngineError('INTERNAL', `Unregistered error code ${String(code).slice(0, 60)}: ${message ?? ''}`, ERRORS.INTERNAL.fix, 500);
  const status = typeof opts.status === 'number' && statusAllowed(spec, opts.status) ? opts.status : spec.status;
  return new EngineError(code, message ?? spec.message, opts.fix ?? spec.fix, status, opts.details ?? {});
}

export interface ErrorBody {
  error: { code: string; message: string; fix: string; details: Record<string, unknown> };
}

/** The one error body of every face. */
export function errorBodyOf(err: EngineError): ErrorBody {
  return { error: { code: err.code, message: err.message, fix: err.fix, details: err.details } };
}

/**
 * UNKNOWN_SENDER from the sender registry's refusal (src/senders/registry.ts UnknownSenderError): one
 * fix and one details shape for every face and engine function.
 */
export function unknownSenderError(err: { message: string; ref: string; known: string[] }): EngineError {
  const known = err.known.join(', ') || '(none: add one under senders: in the config)';
  return appError('UNKNOWN_SENDER', err.message, {
    fix: `Use one of the configured senders: ${known} (GET /v1/senders lists them), or leave sender out for the default.`,
    details: { field: 'sender', sender: err.ref, known: err.known },
  });
}
