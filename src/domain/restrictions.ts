// Meta's account restrictions (account_update ACCOUNT_RESTRICTION, changes-2026.md §10; Meta's
// account_update reference, updated 20 Apr 2026): each restricts one kind of action on a WhatsApp
// Business Account until it expires. The gate denies exactly the sends a restriction covers
// (SENDER_RESTRICTED); the others are kept and shown, never enforced on sends.
//
// What each type covers (Meta's own wording in brackets):
// - RESTRICTED_BIZ_INITIATED_MESSAGING ("cannot initiate conversations with customers"): every send
//   outside an open customer service window, i.e. templates there (a free-form one needs a window
//   anyway). The same line the messaging-limit tier draws (takesTier in decide.ts).
// - RESTRICTED_CUSTOMER_INITIATED_MESSAGING ("cannot respond to customer-initiated messages"): every
//   send inside an open window (free-form replies, and templates sent as replies).
// - RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES: Direct Send utility messages (text or interactive with
//   a top-level category), inside a window or not; approved templates are not covered. wagate's own
//   META_139200 (Meta answered 139200, "Direct Send access is blocked") covers the same.
// - RESTRICTED_UTILITY_TEMPLATES: Meta's reference says "cannot create utility templates"; pywa and
//   BSP notes list it beside the send restrictions. Meta's text wins: sending approved utility
//   templates is not denied (wagate creates no templates).
// - RESTRICTED_ADD_PHONE_NUMBER_ACTION and the calling types: not sends; kept only.
// An unknown type is kept and not enforced (deny exactly what is restricted).
type Obj = Record<string, unknown>;

/** One restriction as Meta sent it in restriction_info[], read. */
export interface SenderRestriction {
  /** Meta's restriction_type, e.g. RESTRICTED_BIZ_INITIATED_MESSAGING. */
  type: string;
  /** When it ends, epoch ms (Meta: unix seconds); null = Meta gave no end (until lifted). */
  expires_at: number | null;
  /** Meta's remediation steps (only when Meta has some). */
  remediation: string | null;
}

/** What a restriction type stops: sends outside a window, inside one, Direct Send, or no send at all. */
export function restrictionScope(type: string): 'business_initiated' | 'customer_initiated' | 'direct_send' | null {
  // META_131064: wagate's own, set on a portfolio's other senders when one gets 131064 in a status.
  if (type === 'RESTRICTED_BIZ_INITIATED_MESSAGING' || type === 'META_131064') return 'business_initiated';
  if (type === 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING') return 'customer_initiated';
  if (type === 'RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES' || type === 'META_139200') return 'direct_send';
  return null;
}

/** The restriction that stops this send now, if any (expired ones never do). */
export function blockingRestriction(
  list: readonly SenderRestriction[],
  windowOpen: boolean,
  now: number,
  directSend = false,
): SenderRestriction | null {
  for (const r of list) {
    if (r.expires_at !== null && r.expires_at <= now) continue;
    const scope = restrictionScope(r.type);
    if (scope === 'business_initiated' && !windowOpen) return r;
    if (scope === 'customer_initiated' && windowOpen) return r;
    if (scope === 'direct_send' && directSend) return r;
  }
  return null;
}

/** Meta's expiration: unix seconds (its reference), milliseconds, or an ISO date (seen in third-party fixtures). */
function expiry(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v < 1e11 ? v * 1000 : v;
  if (typeof v === 'string' && v.length > 0) {
    if (/^\d{1,13}$/.test(v)) return expiry(Number(v));
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : null;
  }
  return null;
}

/** restriction_info[] of an ACCOUNT_RESTRICTION, read (items without a type are skipped). */
export function readRestrictions(v: unknown): SenderRestriction[] {
  if (!Array.isArray(v)) return [];
  const out: SenderRestriction[] = [];
  for (const item of v) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) continue;
    const o = item as Obj;
    if (typeof o.restriction_type !== 'string' || !o.restriction_type) continue;
    out.push({
      type: o.restriction_type.toUpperCase(),
      expires_at: expiry(o.expiration),
      remediation: typeof o.remediation === 'string' && o.remediation ? o.remediation.slice(0, 1000) : null,
    });
  }
  return out;
}
