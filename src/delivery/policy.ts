// Pure delivery rules: retry backoff, and which dispatch-time re-check denials matter. No I/O.
import type { ReasonCode } from '../domain/decision.ts';

/**
 * Exponential backoff with "equal jitter": half the delay is fixed, half random. Fixed part keeps a
 * minimum spacing; the random part spreads a burst of failures (a 5xx outage) so they do not retry
 * in lock-step and hit Meta again all at once. attempt = failed attempts so far (1 = first failure).
 */
export function backoffMs(attempt: number, base_ms: number, max_ms: number, rand: () => number = Math.random): number {
  const exp = Math.min(max_ms, base_ms * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(exp / 2 + rand() * (exp / 2));
}

/**
 * What a dispatch-time re-check denial means for a queued message:
 * - `dead_letter`: something that can change while a message waits and makes it wrong to send now
 *   (opt-out, the free-form window closed, template no longer usable, the recipient became unreachable).
 * - `requeue`: the sender cannot send right now (paused/halted) or the gate is unreachable: the message
 *   waits, it is not the message's fault.
 * - `send`: rules already judged at submit time (caps, tier, quiet hours, policies): the message was
 *   allowed then and its reservation is already counted; re-judging them would deny it for its own slot
 *   or for time spent in our own queue.
 */
export function recheckVerdict(reason: ReasonCode | null): 'send' | 'dead_letter' | 'requeue' {
  switch (reason) {
    case null:
      return 'send';
    case 'SENDER_PAUSED':
    case 'SENDER_RESTRICTED':
    case 'CREDENTIALS_INVALID':
    case 'GATE_UNAVAILABLE':
      return 'requeue';
    case 'OPTED_OUT':
    case 'OPT_IN_REQUIRED':
    case 'WINDOW_CLOSED_TEMPLATE_REQUIRED':
    case 'TEMPLATE_NOT_FOUND':
    case 'TEMPLATE_NOT_APPROVED':
    case 'TEMPLATE_PAUSED':
    case 'TEMPLATE_PARAMS_MISMATCH':
    case 'RECIPIENT_UNDELIVERABLE':
    case 'MARKETING_LIMITED_BY_META':
    case 'UNKNOWN_SENDER':
    case 'INVALID_RECIPIENT':
    case 'INVALID_MESSAGE':
    case 'BSUID_NOT_SUPPORTED':
      return 'dead_letter';
    default:
      return 'send';
  }
}

/** Pacing waits longer than this go back to the queue instead of holding a concurrency slot. */
export const HOLD_PACING_WAIT_MS = 2_000;

/**
 * A run of transient failures in a row (Meta 5xx or outage, network, throttling), carried in the
 * message's last_error from one retry to the next. The retry budget (delivery.retry_max_age_h) is
 * measured from `since`, the first failure of the run, not from the message's creation: time a message
 * spent waiting for other reasons before it (a paused or halted sender, a pacing backlog) is not an
 * outage, and must not leave it without a budget when Meta then fails once.
 */
export interface TransientRun {
  /** When the first failure of the run happened (ms since the epoch). */
  since: number;
  /** Failures in the run so far, this one included: drives the backoff whatever the codes. */
  failures: number;
}

/** The run `failure` continues (from the message's previous last_error), or a new one at `now`. */
export function continueTransientRun(prev: Record<string, unknown> | null | undefined, now: number): TransientRun {
  const since = prev?.transient_since;
  const n = prev?.transient_failures;
  if (typeof since === 'number' && Number.isFinite(since) && typeof n === 'number' && Number.isFinite(n) && n >= 1)
    return { since, failures: Math.floor(n) + 1 };
  return { since: now, failures: 1 };
}

/** The fields of last_error that carry the run (read back by continueTransientRun). */
export function transientRunFields(run: TransientRun): { transient_since: number; transient_failures: number } {
  return { transient_since: run.since, transient_failures: run.failures };
}

/** Milliseconds the run has lasted at `now` (never negative: another instance's clock may be ahead). */
export function transientElapsedMs(run: TransientRun, now: number): number {
  return Math.max(0, now - run.since);
}

/** True once the run has lasted the whole budget: the message is dead-lettered instead of retried. */
export function transientBudgetSpent(run: TransientRun, now: number, retry_max_age_h: number): boolean {
  return transientElapsedMs(run, now) >= retry_max_age_h * 3_600_000;
}

/** 1800 → "1.8 s", 720000 → "12 min", 86400000 → "24 h", 259200000 → "3 days": for explanations. */
export function formatDuration(ms: number): string {
  const trim = (n: number) => String(Math.round(n * 10) / 10);
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${trim(ms / 1_000)} s`;
  if (ms < 3_600_000) return `${trim(ms / 60_000)} min`;
  if (ms < 72 * 3_600_000) return `${trim(ms / 3_600_000)} h`;
  return `${trim(ms / 86_400_000)} days`;
}
