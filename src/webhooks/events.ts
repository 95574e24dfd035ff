// Turns one webhook POST body (Meta's envelope, cloud-api.md §7.3) into a flat, ordered list of
// events, each with a dedupe identity (§7.2 "Idempotency keys"):
//   inbound message → its wamid; status → wamid + status; user preference → wa_id + value + time;
//   anything else → field + entry id + entry time + a hash of the change value.
// Pure: no I/O. Garbage never throws: a shape it cannot read becomes an `unknown` event (stored, counted).
import { createHash } from 'node:crypto';

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

/** JSON with sorted keys, so the same change re-sent with keys in another order has the same hash. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableJson(v[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

/** Meta timestamps are unix seconds, as a string (messages, statuses) or a number (entry.time). */
export function metaTime(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,13}$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n <= 0) return null;
  return n < 1e11 ? n * 1000 : n; // tolerate milliseconds
}

export function extractEvents(body: unknown): WebhookEvent[] {
  const out: WebhookEvent[] = [];
  const unknown = (field: string, value: unknown, waba_id: string | null, entry_time: number | null, phone_number_id: string | null = null) =>
    out.push({ kind: 'unknown', key: `o:${field}:${waba_id ?? ''}:${entry_time ?? ''}:${hashOf(value)}`, field, value, waba_id, entry_time, phone_number_id });

  if (!isObj(body) || !Array.isArray(body.entry)) {
    unknown(isObj(body) ? `object:${String(body.object ?? 'none')}` : 'not_an_object', body, null, null);
    return out;
  }
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
        unknown(`${String(body.object)}:${field}`, value, waba_id, entry_time);
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
            out.push({ kind: 'message', key: `m:${id}`, waba_id, entry_time, phone_number_id, message: m, profile_name: (from && names.get(from)) ?? (names.size === 1 ? [...names.values()][0] : null) });
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
            out.push({ kind: 'status', key: `s:${id}:${status}`, waba_id, entry_time, phone_number_id, status: s });
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
            out.push({ kind: 'user_preferences', key: `p:${wa_id}:${category}:${v}:${at ?? hashOf(p)}`, waba_id, entry_time, phone_number_id, wa_id, category, value: v, at, detail: str(p.detail) });
          }
        }
        if (Array.isArray(value.errors)) {
          recognised = true;
          out.push({ kind: 'system_error', key: `e:${waba_id ?? ''}:${hashOf(value.errors)}:${entry_time ?? ''}`, field, value: value.errors, waba_id, entry_time, phone_number_id });
        }
        if (!recognised) unknown(field, value, waba_id, entry_time, phone_number_id);
        continue;
      }
      const kind = FIELD_KIND[field];
      if (kind && isObj(value)) {
        out.push({ kind, key: `o:${field}:${waba_id ?? ''}:${entry_time ?? ''}:${hashOf(value)}`, field, value, waba_id, entry_time, phone_number_id: null });
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
