// Meta's account_update events that stop a WhatsApp Business Account sending (cloud-api.md §7.8,
// §8.5): the one list the webhook handler and the sender health monitor both use.

export const ACCOUNT_STOP_EVENTS: ReadonlySet<string> = new Set([
  'PARTNER_APP_UNINSTALLED',
  'PARTNER_REMOVED',
  'ACCOUNT_DELETED',
  'ACCOUNT_VIOLATION',
  'DISABLED_UPDATE',
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
