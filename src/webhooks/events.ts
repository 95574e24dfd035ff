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

export type Obj = Record<string, unknown>;

export interface EventBase {
  key: string;
  /** Metric label: message, status, user_preferences, template_status, ... */
  kind: string;
  waba_id: string | null;
  /** entry[].time in ms (management fields), else null. */
  entry_time: number | null;
}

export interface InboundMessageEvent extends EventBase {
  kind: 'message';
  phone_number_id: string | null;
  message: Obj;
  /** Profile name from value.contacts for this sender (null if absent). */
  profile_name: string | null;
}

export interface StatusEvent_ extends EventBase {
  kind: 'status';
  phone_number_id: string | null;
  status: Obj;
}

export interface UserPreferenceEvent extends EventBase {
  kind: 'user_preferences';
  phone_number_id: string | null;
  wa_id: string;
  category: string;
  value: string;
  /** ms */
  at: number | null;
  detail: string | null;
}

export interface ValueEvent extends EventBase {
  kind:
    | 'template_status'
    | 'template_quality'
    | 'template_category'
    | 'phone_quality'
    | 'account_update'
    | 'account_alerts'
    | 'system_error'
    | 'unknown';
  field: string;
  phone_number_id: string | null;
  value: unknown;
}

export type WebhookEvent = InboundMessageEvent | StatusEvent_ | UserPreferenceEvent | ValueEvent;

const FIELD_KIND: Record<string, ValueEvent['kind']> = {
  message_template_status_update: 'template_status',
  message_template_quality_update: 'template_quality',
  template_category_update: 'template_category',
  phone_number_quality_update: 'phone_quality',
  account_update: 'account_update',
  account_alerts: 'account_alerts',
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
  // eslint-disable-next-line no-control-regex
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

export function extractEvents(body: unknown): WebhookEvent[] {
  const out: WebhookEvent[] = [];
  const push = (ev: WebhookEvent) => {
    ev.key = storableKey(ev.key);
    out.push(ev);
  };
  const unknown = (field: string, value: unknown, waba_id: string | null, entry_time: number | null, phone_number_id: string | null = null) =>
    push({ kind: 'unknown', key: `o:${field}:${waba_id ?? ''}:${entry_time ?? ''}:${hashOf(value)}`, field, value: bounded(value), waba_id, entry_time, phone_number_id });

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
      if (field === 'messages' || field === 'user_preferences') {
        if (!isObj(value)) {
          unknown(field, value, waba_id, entry_time);
          continue;
        }
        const meta = isObj(value.metadata) ? value.metadata : {};
        const phone_number_id = str(meta.phone_number_id);
        const names = new Map<string, string>();
        if (Array.isArray(value.contacts)) {
          for (const c of value.contacts) {
            if (isObj(c) && str(c.wa_id) && isObj(c.profile) && typeof c.profile.name === 'string') names.set(str(c.wa_id)!, c.profile.name);
          }
        }
        let recognised = false;
        if (Array.isArray(value.messages)) {
          recognised = true;
          for (const m of value.messages) {
            const id = isObj(m) ? str(m.id) : null;
            if (!isObj(m) || !id) {
              unknown('messages.message', m, waba_id, entry_time, phone_number_id);
              continue;
            }
            const from = str(m.from);
            push({ kind: 'message', key: `m:${id}`, waba_id, entry_time, phone_number_id, message: m, profile_name: (from && names.get(from)) ?? (names.size === 1 ? [...names.values()][0] : null) });
          }
        }
        if (Array.isArray(value.statuses)) {
          recognised = true;
          for (const s of value.statuses) {
            const id = isObj(s) ? str(s.id) : null;
            const status = isObj(s) ? str(s.status) : null;
            if (!isObj(s) || !id || !status) {
              unknown('messages.status', s, waba_id, entry_time, phone_number_id);
              continue;
            }
            push({ kind: 'status', key: `s:${id}:${status}`, waba_id, entry_time, phone_number_id, status: s });
          }
        }
        if (Array.isArray(value.user_preferences)) {
          recognised = true;
          for (const p of value.user_preferences) {
            const wa_id = isObj(p) ? str(p.wa_id) : null;
            const v = isObj(p) ? str(p.value) : null;
            if (!isObj(p) || !wa_id || !v) {
              unknown('user_preferences.item', p, waba_id, entry_time, phone_number_id);
              continue;
            }
            const at = metaTime(p.timestamp);
            const category = str(p.category) ?? 'marketing_messages';
            push({ kind: 'user_preferences', key: `p:${wa_id}:${category}:${v}:${at ?? hashOf(p)}`, waba_id, entry_time, phone_number_id, wa_id, category, value: v, at, detail: str(p.detail) });
          }
        }
        if (Array.isArray(value.errors)) {
          recognised = true;
          push({ kind: 'system_error', key: `e:${waba_id ?? ''}:${hashOf(value.errors)}:${entry_time ?? ''}`, field, value: value.errors, waba_id, entry_time, phone_number_id });
        }
        if (!recognised) unknown(field, value, waba_id, entry_time, phone_number_id);
        continue;
      }
      const kind = FIELD_KIND[field];
      if (kind && isObj(value)) {
        push({ kind, key: `o:${field}:${waba_id ?? ''}:${entry_time ?? ''}:${hashOf(value)}`, field, value, waba_id, entry_time, phone_number_id: null });
      } else {
        unknown(field, value, waba_id, entry_time);
      }
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
