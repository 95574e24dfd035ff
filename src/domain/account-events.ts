// Meta's account_update events that stop a WhatsApp Business Account sending (cloud-api.md §7.8,
// §8.5): the one list the webhook handler and the sender health monitor both use.

export const ACCOUNT_STOP_EVENTS: ReadonlySet<string> = new Set([
  'PARTNER_APP_UNINSTALLED',
  'PARTNER_REMOVED',
  'ACCOUNT_DELETED',
  'ACCOUNT_VIOLATION',
  'DISABLED_UPDATE',
  // Coexistence (Meta, 4 Feb 2026): the number was offboarded (device change, re-registration,
  // inactivity; disconnection_info says why) and sends from it fail until ACCOUNT_RECONNECTED.
  'ACCOUNT_OFFBOARDED',
]);

/**
 * Whether this account_update means sending must stop. DISABLED_UPDATE carries the ban state:
 * DISABLE (or none) stops; REINSTATE lifts a ban; SCHEDULE_FOR_DISABLE is a warning, not yet a stop.
 */
export function accountStopsSending(event: string | null, banState: string | null): boolean {
  if (!event || !ACCOUNT_STOP_EVENTS.has(event)) return false;
  if (event === 'DISABLED_UPDATE') return banState === null || banState === 'DISABLE';
  return true;
}

/** A ban lifted: the senders paused for it may resume. */
export function accountReinstated(event: string | null, banState: string | null): boolean {
  return event === 'DISABLED_UPDATE' && banState === 'REINSTATE';
}

/**
 * The pause an account_update lifts, by the reason code the pause carries (`ACCOUNT_<event>`): a
 * reinstated ban lifts ACCOUNT_DISABLED_UPDATE, ACCOUNT_RECONNECTED lifts ACCOUNT_ACCOUNT_OFFBOARDED.
 * Null: it lifts nothing. Pauses for any other cause stay.
 */
export function accountLifts(event: string | null, banState: string | null): string | null {
  if (accountReinstated(event, banState)) return 'ACCOUNT_DISABLED_UPDATE';
  if (event === 'ACCOUNT_RECONNECTED') return 'ACCOUNT_ACCOUNT_OFFBOARDED';
  return null;
}
