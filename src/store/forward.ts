// Store.applyStatusesForward as its callers need it (the delivery workers' `accepted` writes and the
// webhook processor's statuses): a batch that never fails as a whole for one row.
import type { MessageRecord } from '../domain/types.ts';
import type { ForwardStatus, MovedMessage, Store } from './port.ts';

const DELIVERED = new Set<string>(['delivered', 'read']);

/** The message has just reached the phone: its history holds one delivered-or-read event (this one). */
export function isFirstDelivery(m: MovedMessage): boolean {
  return DELIVERED.has(m.status) && m.deliveries === 1;
}

/** A full record as a batched status write reads it back (MovedMessage). */
export function movedOf(m: MessageRecord): MovedMessage {
  const delivered = m.history.filter((h) => DELIVERED.has(h.status));
  return {
    id: m.id,
    sender_id: m.sender_id,
    to: m.to,
    category: m.category,
    status: m.status,
    wamid: m.wamid,
    attempts: m.attempts,
    last_error: m.last_error,
    pricing: m.pricing,
    updated_at: m.updated_at,
    deliveries: delivered.length,
    delivered_at: delivered.length ? Math.min(...delivered.map((h) => h.at)) : null,
  };
}

/**
 * Per item, the record it moved forward, or null for the caller to apply one by one (in order) with
 * applyStatus: not forward, unknown id, a repeated id (only its first occurrence goes in the batch),
 * or the whole batch when the statement fails while the store still answers (a bad value; a deadlock
 * with some other transaction: wagate's own multi-row writes lock in id order and never deadlock with
 * each other; `onFallback` hears why). A store that does not answer rethrows:
 * an outage is the caller's to retry.
 */
export async function applyForwardOrNone(
  store: Store,
  items: readonly ForwardStatus[],
  onFallback?: (err: unknown) => void,
  /** `not_forward`: Store.applyStatusesNotForward instead, with the same fallback (what is neither is left to applyStatus). */
  step: 'forward' | 'not_forward' = 'forward',
): Promise<(MovedMessage | null)[]> {
  const seen = new Set<string>();
  const first = items.map((it) => {
    if (seen.has(it.id)) return false;
    seen.add(it.id);
    return true;
  });
  const unique = items.filter((_, i) => first[i]);
  let moved: (MovedMessage | null)[];
  try {
    moved = await (step === 'forward' ? store.applyStatusesForward(unique) : store.applyStatusesNotForward(unique));
  } catch (err) {
    if (!(await store.ping().catch(() => false))) throw err;
    onFallback?.(err);
    return items.map(() => null);
  }
  let j = 0;
  return items.map((_, i) => (first[i] ? moved[j++] : null));
}
