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
      return 'dead_letter';
    default:
      return 'send';
  }
}

/** Pacing waits longer than this go back to the queue instead of holding a concurrency slot. */
export const HOLD_PACING_WAIT_MS = 2_000;
