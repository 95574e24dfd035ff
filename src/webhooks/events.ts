// Turns one webhook POST body (Meta's envelope, cloud-api.md §7.3) into a flat, ordered list of
// events, each with a dedupe identity (§7.2 "Idempotency keys"):
//   inbound message → its wamid; status → wamid + status; user preference → wa_id + value + time;
//   anything else → field + entry id + entry time + a hash of the change value.
// Pure: no I/O. Garbage never throws: a shape it cannot read becomes an `unknown` event (stored, counted).
// Bounded: a change value nesting deeper than MAX_JSON_DEPTH becomes one `<field>:too_deep` unknown
// event whose value is a summary (path, hash), so nothing after extraction recurses thousands of
// levels (storing, hashing, serialising); a dedupe key that is very long or holds control characters
// is replaced by its hash (a database index and a PostgreSQL text column take it).
import { createHash } from 'node:crypto';
import { MAX_JSON_DEPTH, shortPath, tooDeepAt } from '../shared/json-depth.ts';
import { parseWebhookError } from '../domain/errors/index.ts';
import type { GraphError } from '../meta/types.ts';
import { readRestrictions, type SenderRestriction } from '../domain/restrictions.ts';

export type Obj = Record<string, unknown>;

// Meta's webhook shapes, read once here: every event below carries typed fields (validated, with
// null where Meta left a field out or sent something unreadable), and the handlers never look into
// raw JSON. `raw` / `value` keep what Meta sent, for the audit log.

export interface EventBase {
  key: string;
  /** Metric label: message, status, user_preferences, template_status, ... */
  kind: string;
  waba_id: string | null;
  /** entry[].time in ms (management fields), else null. */
  entry_time: number | null;
  phone_number_id: string | null;
}

/**
 * A phone and a business-scoped user id (BSUID) Meta showed together for one person (contacts[] of
 * inbound and status webhooks, changes-2026.md §1): what links the two identities.
 */
export interface IdentityLink {
  wa_id: string;
  user_id: string;
  parent_user_id: string | null;
}

/** A click-to-WhatsApp ad referral on an inbound message. */
export interface Referral {
  source_type: string | null;
  source_id: string | null;
  source_url: string | null;
  headline: string | null;
  ctwa_clid: string | null;
}

/** A `system` message (Meta-generated: a customer changed number). */
export interface SystemNotice {
  type: string | null;
  /** The customer's new number (system.wa_id, or new_wa_id in older versions). */
  new_wa_id: string | null;
  /** user_changed_user_id: the customer's new BSUID (system.user_id). */
  new_user_id: string | null;
}

export interface InboundMessageEvent extends EventBase {
  kind: 'message';
  wamid: string;
  /** The customer's number as Meta sent it (from), null when absent (a username user). */
  from: string | null;
  /** The customer's business-scoped user id (from_user_id; Meta sends it on every message since 2026). */
  from_user_id: string | null;
  /** Their parent BSUID across linked portfolios (from_parent_user_id, or contacts[].parent_user_id), when enabled. */
  from_parent_user_id: string | null;
  /** Set for a message written in a group: it opens the group's window, never the author's. */
  group_id: string | null;
  /** Phones and BSUIDs Meta showed together in this change's contacts[]. */
  links: IdentityLink[];
  /** text, image, button, interactive, system, unsupported, ... ('unknown' when absent). */
  type: string;
  /** Meta's timestamp in ms, null when absent or unreadable. */
  timestamp: number | null;
  /** Profile name from value.contacts for this sender (null if absent). */
  profile_name: string | null;
  referral: Referral | null;
  system: SystemNotice | null;
  /** For type unsupported: what Meta could not show (a poll, an edit...). */
  unsupported_type: string | null;
  /** Text the customer typed or tapped (keyword matching): text body, button text and payload, interactive reply title and id. */
  texts: string[];
  /** The message object as Meta sent it. */
  raw: Obj;
}

export interface StatusUpdateEvent extends EventBase {
  kind: 'status';
  wamid: string;
  /** sent, delivered, read, failed, played, or one wagate does not know. */
  meta_status: string;
  /** Meta's timestamp in ms, null when absent or unreadable. */
  timestamp: number | null;
  /** biz_opaque_callback_data: wagate's message id when wagate sent it. */
  callback: string | null;
  /** The recipient's phone, absent when the message went to a BSUID whose phone Meta does not share. */
  recipient_id: string | null;
  /** Set when the message was sent to a BSUID. */
  recipient_user_id: string | null;
  /** Phones and BSUIDs Meta showed together in this change's contacts[] (sent, delivered, read). */
  links: IdentityLink[];
  errors: GraphError[];
  pricing: Obj | null;
  conversation: Obj | null;
  /** The status object as Meta sent it. */
  raw: Obj;
}

export interface UserPreferenceEvent extends EventBase {
  kind: 'user_preferences';
  /** The customer's phone; may be absent since 2026 (then user_id names them). */
  wa_id: string | null;
  user_id: string | null;
  /** Their parent BSUID across linked portfolios (parent_user_id), when enabled. */
  parent_user_id: string | null;
  links: IdentityLink[];
  category: string;
  value: string;
  /** ms */
  at: number | null;
  detail: string | null;
}

/** message_template_status_update / _quality_update / template_category_update, read. */
export interface TemplateChange {
  name: string | null;
  language: string | null;
  template_id: string | null;
  /** Status update: APPROVED, PAUSED, ... (upper case). */
  event: string | null;
  /** Status update: the category Meta names, if any (lower case). */
  category: string | null;
  reason: unknown;
  other_info: unknown;
  rejection_info: unknown;
  disable_info: unknown;
  /** Quality update. */
  new_quality: string | null;
  previous_quality: unknown;
  /** Category update (new_category is the current one until an impending change completes). */
  new_category: string | null;
  previous_category: unknown;
  correct_category: unknown;
  category_update_at: number | null;
  /**
   * message_template_components_update (Meta's reference): the edited template's body, text header,
   * footer and URL / phone-number buttons; null for the other fields.
   */
  components: TemplateComponentsChange | null;
}

export interface TemplateComponentsChange {
  body: string | null;
  header: string | null;
  footer: string | null;
  buttons: { type: string; text: string | null; url: string | null; phone_number: string | null }[];
}

export interface PhoneQualityChange {
  display_phone_number: string | null;
  event: string | null;
  current_limit: unknown;
  old_limit: unknown;
  max_daily_conversations_per_business: unknown;
}

export interface AccountUpdateChange {
  event: string | null;
  /**
   * value.waba_info.waba_id: the customer's WABA on partner events (PARTNER_ADDED, PARTNER_REMOVED,
   * PARTNER_APP_INSTALLED / _UNINSTALLED, AD_ACCOUNT_LINKED...), whose entry.id is the partner's
   * business portfolio, not a WABA. Null when absent (then entry.id is the WABA).
   */
  customer_waba_id: string | null;
  /** value.waba_info.owner_business_id: the customer's business portfolio (partner events). */
  owner_business_id: string | null;
  /** ACCOUNT_RESTRICTION: restriction_info[] {restriction_type, expiration (unix s), remediation?}, read. */
  restrictions: SenderRestriction[];
  /** ban_info.waba_ban_state: DISABLE, REINSTATE, SCHEDULE_FOR_DISABLE, ... */
  ban_state: string | null;
  ban_info: unknown;
  violation_info: unknown;
}

/**
 * business_capability_update (Meta reference, 21 May 2026): the portfolio's messaging limit as an
 * integer (250, 2000, 10000, 100000; -1 = unlimited). shared/meta/cloud-api.md §4.4 listed strings
 * (UNLIMITED, TIER_*): those are read too, Meta's integers are what it sends now.
 */
export interface CapabilityChange {
  /** Unique customers outside a window per 24 h; null = unlimited; undefined = not in this update (or unreadable). */
  messaging_limit: number | null | undefined;
  max_phone_numbers_per_business: number | null;
  max_phone_numbers_per_waba: number | null;
}

export interface AccountAlertChange {
  entity_type: string | null;
  entity_id: string | null;
  alert_info: unknown;
}

interface ManagementBase extends EventBase {
  field: string;
  /** The change value as Meta sent it. */
  value: Obj;
}

export interface TemplateEvent extends ManagementBase {
  kind: 'template_status' | 'template_quality' | 'template_category' | 'template_components';
  change: TemplateChange;
}
export interface PhoneQualityEvent extends ManagementBase {
  kind: 'phone_quality';
  change: PhoneQualityChange;
}
export interface AccountUpdateEvent extends ManagementBase {
  kind: 'account_update';
  change: AccountUpdateChange;
}
export interface CapabilityEvent extends ManagementBase {
  kind: 'capability';
  change: CapabilityChange;
}
export interface AccountAlertEvent extends ManagementBase {
  kind: 'account_alerts';
  change: AccountAlertChange;
}

export interface SystemErrorEvent extends EventBase {
  kind: 'system_error';
  field: string;
  errors: GraphError[];
  value: unknown[];
}

/**
 * A call (Calling API, field `calls`, value.calls[]; also accepted inside a `messages` change): the user
 * calling the business (direction USER_INITIATED) or the business calling the user, connect or terminate.
 */
export interface CallEvent extends EventBase {
  kind: 'call';
  call_id: string;
  /** connect, terminate, ... (lower case) */
  event: string | null;
  /** USER_INITIATED, BUSINESS_INITIATED (upper case), when Meta says. */
  direction: string | null;
  from: string | null;
  to: string | null;
  from_user_id: string | null;
  /** ms */
  timestamp: number | null;
  /** terminate: COMPLETED, FAILED, ... (upper case) */
  status: string | null;
  /** ms, terminate of a connected call */
  start_time: number | null;
  raw: Obj;
}

/** A business-initiated call's status (statuses[] with type "call"): RINGING, ACCEPTED, REJECTED... */
export interface CallStatusEvent extends EventBase {
  kind: 'call_status';
  call_id: string;
  status: string | null;
  recipient_id: string | null;
  recipient_user_id: string | null;
  timestamp: number | null;
  raw: Obj;
}

/**
 * A message the business sent from the WhatsApp Business app on a coexistence number (field
 * `smb_message_echoes`, value.message_echoes[]; also accepted inside a `messages` change): a human
 * replying from the phone. `to` is the customer.
 */
export interface MessageEchoEvent extends EventBase {
  kind: 'message_echo';
  wamid: string | null;
  from: string | null;
  to: string | null;
  type: string;
  timestamp: number | null;
  raw: Obj;
}

/** Anything wagate does not act on: stored in the audit log and counted. */
export interface UnknownEvent extends EventBase {
  kind: 'unknown';
  field: string;
  value: unknown;
}

export type AccountEvent = PhoneQualityEvent | AccountUpdateEvent | AccountAlertEvent | CapabilityEvent;
export type WebhookEvent =
  | InboundMessageEvent
  | StatusUpdateEvent
  | UserPreferenceEvent
  | TemplateEvent
  | AccountEvent
  | SystemErrorEvent
  | CallEvent
  | CallStatusEvent
  | MessageEchoEvent
  | UnknownEvent;

const TEMPLATE_FIELDS: Record<string, TemplateEvent['kind']> = {
  message_template_status_update: 'template_status',
  message_template_quality_update: 'template_quality',
  template_category_update: 'template_category',
  message_template_components_update: 'template_components',
};

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A non-empty string, or a number as a string (Meta sends ids and timestamps either way). */
export const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' ? String(v) : null);

export function hashOf(v: unknown): string {
  return createHash('sha256').update(stableJson(v)).digest('base64url').slice(0, 22);
}

/** Literal text inside stableJson's work stack (anything else on it is a value still to write). */
class Text {
  constructor(readonly s: string) {}
}

/**
 * JSON with sorted keys, so the same change re-sent with keys in another order has the same hash.
 * Iterative (an explicit stack), so a value nested 50,000 levels deep hashes instead of overflowing.
 */
function stableJson(root: unknown): string {
  const out: string[] = [];
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v instanceof Text) {
      out.push(v.s);
    } else if (Array.isArray(v)) {
      // Pushed in reverse: popped as "[", v[0], ",", v[1], ..., "]".
      stack.push(new Text(']'));
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push(v[i]);
        if (i > 0) stack.push(new Text(','));
      }
      stack.push(new Text('['));
    } else if (isObj(v)) {
      const keys = Object.keys(v).sort();
      stack.push(new Text('}'));
      for (let i = keys.length - 1; i >= 0; i--) {
        stack.push(v[keys[i]]);
        stack.push(new Text(`${i > 0 ? ',' : ''}${JSON.stringify(keys[i])}:`));
      }
      stack.push(new Text('{'));
    } else {
      out.push(JSON.stringify(v) ?? 'null');
    }
  }
  return out.join('');
}

/** A value as it may be kept: itself, or when it nests too deep, a summary that says where and hashes it. */
export function bounded(v: unknown): unknown {
  const at = tooDeepAt(v);
  if (at === null) return v;
  return { too_deep: true, limit: MAX_JSON_DEPTH, at: shortPath(at), sha256: hashOf(v) };
}

/** Longest dedupe key kept as is (ids are ~60 characters; a key is a primary key in seen_events). */
const MAX_KEY_LENGTH = 256;

/** A dedupe key a database takes: a very long one, or one with control characters (NUL is refused by PostgreSQL text), becomes its prefix and hash. */
function storableKey(key: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this looks for
  if (key.length <= MAX_KEY_LENGTH && !/[\u0000-\u001f]/.test(key)) return key;
  return `${key.slice(0, 2)}#${createHash('sha256').update(key).digest('base64url')}`;
}

/** A label for a value Meta sends as a string: itself, a number as text, else its JSON type (never String(v): an object with a `toString` key throws there). */
function label(v: unknown, none = 'none'): string {
  if (v === undefined || v === null) return none;
  const s = str(v);
  if (s !== null) return s.length > 100 ? `${s.slice(0, 100)}…` : s;
  return `<${Array.isArray(v) ? 'array' : typeof v}>`;
}

/** Meta timestamps are unix seconds, as a string (messages, statuses) or a number (entry.time). */
export function metaTime(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,13}$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n <= 0) return null;
  return n < 1e11 ? n * 1000 : n; // tolerate milliseconds
}

const upper = (v: unknown): string | null => str(v)?.toUpperCase() ?? null;
const objOrNull = (v: unknown): Obj | null => (isObj(v) ? v : null);

/**
 * A reply to a request for the customer's phone (a REQUEST_CONTACT_INFO button or a request_contact_info
 * message, changes-2026.md §1.1): a `contacts` message whose first card has origin "contact_request"
 * carries the sender's own phone, which links it to their BSUID. A card with origin "other" is someone
 * else's contact, shared on purpose: it links nothing. (Shape as Kapso and WATI document it, 2026; M.)
 */
function contactRequestReply(m: Obj): IdentityLink | null {
  const uid = str(m.from_user_id);
  if (!uid || m.type !== 'contacts' || !Array.isArray(m.contacts) || !isObj(m.contacts[0])) return null;
  const card = m.contacts[0];
  if (!str(card.origin)?.startsWith('contact_request') || !Array.isArray(card.phones)) return null;
  for (const p of card.phones) {
    if (!isObj(p)) continue;
    const wa = str(p.wa_id) ?? str(p.phone)?.replace(/\D/g, '');
    if (wa && /^\d{7,15}$/.test(wa)) return { wa_id: wa, user_id: uid, parent_user_id: null };
  }
  return null;
}

/** An inbound message object, read (null without an id). */
export function readMessage(m: Obj, base: EventBase & { profile_name: string | null; links: IdentityLink[] }): InboundMessageEvent | null {
  const wamid = str(m.id);
  if (!wamid) return null;
  const r = isObj(m.referral) ? m.referral : null;
  const sys = isObj(m.system) ? m.system : null;
  const uns = isObj(m.unsupported) ? m.unsupported : null;
  const shared = contactRequestReply(m);
  return {
    ...base,
    ...(shared ? { links: [...base.links, shared] } : {}),
    kind: 'message',
    key: `m:${wamid}`,
    wamid,
    from: str(m.from),
    from_user_id: str(m.from_user_id),
    from_parent_user_id: str(m.from_parent_user_id),
    group_id: str(m.group_id),
    type: str(m.type) ?? 'unknown',
    timestamp: metaTime(m.timestamp),
    referral: r
      ? {
          source_type: str(r.source_type),
          source_id: str(r.source_id),
          source_url: str(r.source_url),
          headline: str(r.headline),
          ctwa_clid: str(r.ctwa_clid),
        }
      : null,
    system: sys ? { type: str(sys.type), new_wa_id: str(sys.wa_id) ?? str(sys.new_wa_id), new_user_id: str(sys.user_id) } : null,
    unsupported_type: uns ? str(uns.type) : null,
    texts: replyTexts(m),
    raw: m,
  };
}

/** A status object, read (null without an id or a status). Also reads statuses kept by an older version (pending). */
export function readStatus(s: Obj, base: EventBase, links: IdentityLink[] = []): StatusUpdateEvent | null {
  const wamid = str(s.id);
  const meta_status = str(s.status);
  if (!wamid || !meta_status) return null;
  return {
    ...base,
    kind: 'status',
    key: `s:${wamid}:${meta_status}`,
    wamid,
    meta_status,
    timestamp: metaTime(s.timestamp),
    callback: str(s.biz_opaque_callback_data),
    recipient_id: str(s.recipient_id),
    recipient_user_id: str(s.recipient_user_id),
    links,
    errors: Array.isArray(s.errors) ? s.errors.map((e) => parseWebhookError(e)) : [],
    pricing: objOrNull(s.pricing),
    conversation: objOrNull(s.conversation),
    raw: s,
  };
}

function readCall(c: Obj, base: EventBase): CallEvent | null {
  const id = str(c.id);
  if (!id) return null;
  const event = str(c.event)?.toLowerCase() ?? null;
  const status = upper(c.status);
  return {
    ...base,
    kind: 'call',
    key: `c:${id}:${event ?? ''}:${status ?? ''}`,
    call_id: id,
    event,
    direction: upper(c.direction),
    from: str(c.from),
    to: str(c.to),
    from_user_id: str(c.from_user_id),
    timestamp: metaTime(c.timestamp),
    status,
    start_time: metaTime(c.start_time),
    raw: c,
  };
}

function readCallStatus(s: Obj, base: EventBase): CallStatusEvent | null {
  const id = str(s.id);
  if (!id) return null;
  const status = upper(s.status);
  return {
    ...base,
    kind: 'call_status',
    key: `cs:${id}:${status ?? ''}`,
    call_id: id,
    status,
    recipient_id: str(s.recipient_id),
    recipient_user_id: str(s.recipient_user_id),
    timestamp: metaTime(s.timestamp),
    raw: s,
  };
}

function readEcho(m: Obj, base: EventBase): MessageEchoEvent {
  const id = str(m.id);
  return {
    ...base,
    kind: 'message_echo',
    key: `x:${id ?? hashOf(m)}`,
    wamid: id,
    from: str(m.from),
    to: str(m.to),
    type: str(m.type) ?? 'unknown',
    timestamp: metaTime(m.timestamp),
    raw: m,
  };
}

function readTemplateChange(v: Obj): TemplateChange {
  return {
    name: str(v.message_template_name),
    language: str(v.message_template_language),
    template_id: str(v.message_template_id),
    event: upper(v.event),
    category: str(v.message_template_category)?.toLowerCase() ?? null,
    reason: v.reason ?? null,
    other_info: v.other_info ?? null,
    rejection_info: v.rejection_info ?? null,
    disable_info: v.disable_info ?? null,
    new_quality: upper(v.new_quality_score),
    previous_quality: v.previous_quality_score ?? null,
    new_category: str(v.new_category)?.toLowerCase() ?? null,
    previous_category: v.previous_category ?? null,
    correct_category: v.correct_category,
    category_update_at: metaTime(v.category_update_timestamp),
    components:
      v.message_template_element !== undefined || v.message_template_title !== undefined || v.message_template_buttons !== undefined
        ? {
            body: typeof v.message_template_element === 'string' ? v.message_template_element : null,
            header: typeof v.message_template_title === 'string' ? v.message_template_title : null,
            footer: typeof v.message_template_footer === 'string' ? v.message_template_footer : null,
            buttons: (Array.isArray(v.message_template_buttons) ? v.message_template_buttons : []).filter(isObj).map((b) => ({
              type: upper(b.message_template_button_type) ?? 'UNKNOWN',
              text: str(b.message_template_button_text),
              url: str(b.message_template_button_url),
              phone_number: str(b.message_template_button_phone_number),
            })),
          }
        : null,
  };
}

const TIER_NAMES: Record<string, number | null> = {
  TIER_250: 250,
  TIER_1K: 1000,
  TIER_2K: 2000,
  TIER_10K: 10000,
  TIER_100K: 100000,
  TIER_UNLIMITED: null,
  UNLIMITED: null,
};

/** A messaging limit as Meta writes it: an integer (-1 unlimited), or a legacy tier name. undefined: unreadable. */
export function readLimit(v: unknown): number | null | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v === -1 ? null : v > 0 ? v : undefined;
  if (typeof v === 'string') {
    if (/^-?\d+$/.test(v)) return readLimit(Number(v));
    const k = v.toUpperCase();
    if (Object.hasOwn(TIER_NAMES, k)) return TIER_NAMES[k];
  }
  return undefined;
}

/** A management field's value, read into its typed event (null: not one wagate reads). */
function readManagement(field: string, value: Obj, base: EventBase): TemplateEvent | AccountEvent | null {
  const m = { ...base, field, value, phone_number_id: null };
  const tk = Object.hasOwn(TEMPLATE_FIELDS, field) ? TEMPLATE_FIELDS[field] : undefined;
  if (tk) return { ...m, kind: tk, change: readTemplateChange(value) };
  if (field === 'phone_number_quality_update') {
    return {
      ...m,
      kind: 'phone_quality',
      change: {
        display_phone_number: str(value.display_phone_number),
        event: str(value.event),
        current_limit: value.current_limit ?? null,
        old_limit: value.old_limit ?? null,
        max_daily_conversations_per_business: value.max_daily_conversations_per_business ?? null,
      },
    };
  }
  if (field === 'account_update') {
    const ban = isObj(value.ban_info) ? value.ban_info : null;
    const info = isObj(value.waba_info) ? value.waba_info : null;
    return {
      ...m,
      kind: 'account_update',
      change: {
        event: str(value.event),
        customer_waba_id: info ? str(info.waba_id) : null,
        owner_business_id: info ? str(info.owner_business_id) : null,
        restrictions: readRestrictions(value.restriction_info),
        ban_state: ban ? str(ban.waba_ban_state) : null,
        ban_info: value.ban_info ?? null,
        violation_info: value.violation_info ?? null,
      },
    };
  }
  if (field === 'business_capability_update') {
    const int = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? v : null);
    return {
      ...m,
      kind: 'capability',
      change: {
        messaging_limit: readLimit(value.max_daily_conversations_per_business),
        max_phone_numbers_per_business: int(value.max_phone_numbers_per_business),
        max_phone_numbers_per_waba: int(value.max_phone_numbers_per_waba),
      },
    };
  }
  if (field === 'account_alerts') {
    return {
      ...m,
      kind: 'account_alerts',
      change: { entity_type: str(value.entity_type), entity_id: str(value.entity_id), alert_info: value.alert_info ?? null },
    };
  }
  return null;
}

export function extractEvents(body: unknown): WebhookEvent[] {
  const out: WebhookEvent[] = [];
  const push = (ev: WebhookEvent) => {
    ev.key = storableKey(ev.key);
    out.push(ev);
  };
  const unknown = (
    field: string,
    value: unknown,
    waba_id: string | null,
    entry_time: number | null,
    phone_number_id: string | null = null,
  ) =>
    push({
      kind: 'unknown',
      key: `o:${field}:${waba_id ?? ''}:${entry_time ?? ''}:${hashOf(value)}`,
      field,
      value: bounded(value),
      waba_id,
      entry_time,
      phone_number_id,
    });

  if (!isObj(body) || !Array.isArray(body.entry)) {
    unknown(isObj(body) ? `object:${label(body.object)}` : 'not_an_object', body, null, null);
    return out;
  }
  const objectLabel = label(body.object);
  for (const entry of body.entry) {
    if (!isObj(entry) || !Array.isArray(entry.changes)) {
      unknown('entry', entry, null, null);
      continue;
    }
    const waba_id = str(entry.id);
    const entry_time = metaTime(entry.time);
    for (const change of entry.changes) {
      if (!isObj(change)) {
        unknown('change', change, waba_id, entry_time);
        continue;
      }
      const field = typeof change.field === 'string' ? change.field : 'none';
      const value = change.value;
      if (body.object !== 'whatsapp_business_account') {
        unknown(`${objectLabel}:${field}`, value, waba_id, entry_time);
        continue;
      }
      if (tooDeepAt(value) !== null) {
        // Nothing in it is read: no Meta shape nests this deep, and every later step would recurse it.
        unknown(`${field}:too_deep`, value, waba_id, entry_time);
        continue;
      }
      if (field === 'messages' || field === 'user_preferences' || field === 'calls' || field === 'smb_message_echoes') {
        if (!isObj(value)) {
          unknown(field, value, waba_id, entry_time);
          continue;
        }
        const meta = isObj(value.metadata) ? value.metadata : {};
        const phone_number_id = str(meta.phone_number_id);
        const base: EventBase = { key: '', kind: '', waba_id, entry_time, phone_number_id };
        // contacts[]: profile names by phone or BSUID, and the phone ↔ BSUID links Meta shows.
        const names = new Map<string, string>();
        const parents = new Map<string, string>();
        const links: IdentityLink[] = [];
        if (Array.isArray(value.contacts)) {
          for (const c of value.contacts) {
            if (!isObj(c)) continue;
            const wa = str(c.wa_id);
            const uid = str(c.user_id);
            if (isObj(c.profile) && typeof c.profile.name === 'string') {
              if (wa) names.set(wa, c.profile.name);
              if (uid) names.set(uid, c.profile.name);
            }
            const parent = str(c.parent_user_id);
            if (uid && parent) parents.set(uid, parent);
            if (wa && uid) links.push({ wa_id: wa, user_id: uid, parent_user_id: parent });
          }
        }
        const distinctNames = new Set(names.values());
        let recognised = false;
        if (Array.isArray(value.messages)) {
          recognised = true;
          for (const m of value.messages) {
            const who = isObj(m) ? (str(m.from) ?? str(m.from_user_id)) : null;
            const ev = isObj(m)
              ? readMessage(m, {
                  ...base,
                  links,
                  profile_name: (who && names.get(who)) ?? (distinctNames.size === 1 ? [...distinctNames][0] : null),
                })
              : null;
            if (ev && !ev.from_parent_user_id && ev.from_user_id) ev.from_parent_user_id = parents.get(ev.from_user_id) ?? null;
            if (ev) push(ev);
            else unknown('messages.message', m, waba_id, entry_time, phone_number_id);
          }
        }
        if (Array.isArray(value.calls)) {
          recognised = true;
          for (const c of value.calls) {
            const ev = isObj(c) ? readCall(c, base) : null;
            if (ev) push(ev);
            else unknown(`${field}.call`, c, waba_id, entry_time, phone_number_id);
          }
        }
        if (Array.isArray(value.message_echoes)) {
          recognised = true;
          for (const m of value.message_echoes) {
            const ev = isObj(m) ? readEcho(m, base) : null;
            if (ev) push(ev);
            else unknown(`${field}.message_echo`, m, waba_id, entry_time, phone_number_id);
          }
        }
        if (Array.isArray(value.statuses)) {
          recognised = true;
          for (const s of value.statuses) {
            // A call's status (field calls, or type "call") names a call id, never a message of wagate's.
            const ev = isObj(s) ? (field === 'calls' || s.type === 'call' ? readCallStatus(s, base) : readStatus(s, base, links)) : null;
            if (ev) push(ev);
            else unknown('messages.status', s, waba_id, entry_time, phone_number_id);
          }
        }
        if (Array.isArray(value.user_preferences)) {
          recognised = true;
          for (const p of value.user_preferences) {
            const wa_id = isObj(p) ? str(p.wa_id) : null;
            const user_id = isObj(p) ? str(p.user_id) : null;
            const v = isObj(p) ? str(p.value) : null;
            if (!isObj(p) || !(wa_id || user_id) || !v) {
              unknown('user_preferences.item', p, waba_id, entry_time, phone_number_id);
              continue;
            }
            const at = metaTime(p.timestamp);
            const category = str(p.category) ?? 'marketing_messages';
            const own = wa_id && user_id ? [{ wa_id, user_id, parent_user_id: str(p.parent_user_id) }] : [];
            push({
              kind: 'user_preferences',
              key: `p:${wa_id ?? user_id}:${category}:${v}:${at ?? hashOf(p)}`,
              waba_id,
              entry_time,
              phone_number_id,
              wa_id,
              user_id,
              parent_user_id: str(p.parent_user_id) ?? (user_id ? (parents.get(user_id) ?? null) : null),
              links: [...own, ...links],
              category,
              value: v,
              at,
              detail: str(p.detail),
            });
          }
        }
        if (Array.isArray(value.errors)) {
          recognised = true;
          push({
            kind: 'system_error',
            key: `e:${waba_id ?? ''}:${hashOf(value.errors)}:${entry_time ?? ''}`,
            field,
            value: value.errors,
            errors: value.errors.map((e) => parseWebhookError(e)),
            waba_id,
            entry_time,
            phone_number_id,
          });
        }
        if (!recognised) unknown(field, value, waba_id, entry_time, phone_number_id);
        continue;
      }
      const ev = isObj(value)
        ? readManagement(field, value, {
            key: `o:${field}:${waba_id ?? ''}:${entry_time ?? ''}:${hashOf(value)}`,
            kind: '',
            waba_id,
            entry_time,
            phone_number_id: null,
          })
        : null;
      if (ev) push(ev);
      else unknown(field, value, waba_id, entry_time);
    }
  }
  return out;
}

/** Text a customer typed or tapped, for keyword matching: text body, quick-reply button, interactive reply. */
export function replyTexts(m: Obj): string[] {
  const texts: string[] = [];
  const push = (v: unknown) => {
    if (typeof v === 'string' && v.length > 0) texts.push(v);
  };
  if (isObj(m.text)) push(m.text.body);
  if (isObj(m.button)) {
    push(m.button.text);
    push(m.button.payload);
  }
  if (isObj(m.interactive)) {
    for (const k of ['button_reply', 'list_reply']) {
      const r = m.interactive[k];
      if (isObj(r)) {
        push(r.title);
        push(r.id);
      }
    }
  }
  return texts;
}
