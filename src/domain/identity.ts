// Meta's business-scoped user ids (BSUIDs, changes-2026.md §1): "US.13491208655302741918", an ISO
// country code, a dot, up to 128 alphanumerics; a parent BSUID (linked portfolios) holds ".ENT.".
// Valid only within the business portfolio that received it. Sent back to Meta unchanged.

const BSUID_RE = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;

export const BSUID_FORM =
  'a business-scoped user id looks like "US.13491208655302741918": a two-letter country code, a dot, then up to 128 letters and digits';

export function isBsuid(v: unknown): v is string {
  return typeof v === 'string' && BSUID_RE.test(v);
}

// A parent BSUID (one id for the user across an enterprise's linked portfolios) is told by the field
// it comes in (parent_user_id, from_parent_user_id, parent_recipient_user_id), not by its shape:
// 360dialog shows "US.ENT.…", Meta's own examples a plain "US.1181…" (changes-2026.md §1.1).

/**
 * The scope parent BSUID ↔ phone links are kept under besides the sender's portfolio: a parent BSUID
 * works in every linked portfolio, and wagate does not know which portfolios are linked, so a link
 * learned in one holds in all (an opt-out kept under the phone is found wherever the parent id is used).
 */
export const PARENT_BSUID_SCOPE = 'parent-bsuid';

/**
 * A WhatsApp group (Groups API, 3 Feb 2026): its members' messages open a window with the whole group,
 * kept under this key (never a 1:1 window with the author); a send with recipient_type "group" is
 * decided on it. Meta's group ids are opaque strings.
 */
const GROUP_ID_RE = /^[A-Za-z0-9._:@=+/-]{1,128}$/;
export const GROUP_ID_FORM = 'a group id is the `group_id` Meta gave in a webhook: up to 128 letters, digits and ._:@=+/-';
export function isGroupId(v: unknown): v is string {
  return typeof v === 'string' && GROUP_ID_RE.test(v);
}
export function groupKey(group_id: string): string {
  return `group:${group_id}`;
}
export function isGroupKey(key: string): boolean {
  return key.startsWith('group:') && isGroupId(key.slice(6));
}

/** How a message names its customer to Meta: a BSUID goes as `recipient`, a phone as `to`. */
export function addressOf(key: string): { to: string } | { recipient: string } {
  return isBsuid(key) ? { recipient: key } : { to: key };
}

/** The country a BSUID names (its prefix), e.g. "US". */
export function bsuidCountry(v: string): string {
  return v.slice(0, 2);
}

/** The business portfolio a sender's BSUIDs belong to: its business id, else its WABA. */
export function portfolioOf(sender: { business_id?: string | null; waba_id: string }): string {
  return sender.business_id || `waba:${sender.waba_id}`;
}
