// Validation of POST /{phone-number-id}/messages bodies, the way Cloud API refuses them: sync Graph
// errors (100 / 131008 / 131009 / 131051) with error_data.details naming the field. Limits are
// cloud-api.md §1.3-§1.4. Cheap on purpose: no schema library on the hot path (≥ 5,000 sends/s).
import { syncError, type SyncError } from './errors.ts';

export const MESSAGE_TYPES = new Set([
  'text',
  'image',
  'audio',
  'video',
  'document',
  'sticker',
  'location',
  'contacts',
  'interactive',
  'template',
  'reaction',
]);
const MEDIA = new Set(['image', 'audio', 'video', 'document', 'sticker']);
const CAPTIONED = new Set(['image', 'video', 'document']);
const INTERACTIVE_TYPES = new Set([
  'button',
  'list',
  'cta_url',
  'flow',
  'product',
  'product_list',
  'catalog_message',
  'location_request_message',
  'address_message',
  'call_permission_request',
  'request_contact_info',
  'carousel',
]);

export interface TemplateRef {
  name: string;
  language: string;
  components: Record<string, unknown>[];
}

export type Validated =
  | { ok: true; kind: 'read'; message_id: string; typing: boolean }
  | {
      ok: true;
      kind: 'message';
      type: string;
      /** What addressed the send: `to` (a phone), else `recipient` (a BSUID; `wa_id` is then null until resolved). */
      to: string | null;
      recipient: string | null;
      wa_id: string | null;
      /** recipient_type "group": `to` is a group id and wa_id its window key ("group:<id>"). */
      group: boolean;
      biz: string | null;
      template: TemplateRef | null;
    }
  | { ok: false; err: SyncError };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (details: string): Validated => ({ ok: false, err: syncError(100, { details }) });
const missing = (param: string): Validated => ({ ok: false, err: syncError(131008, { details: `The parameter ${param} is required.` }) });
const invalid = (details: string): Validated => ({ ok: false, err: syncError(131009, { details }) });
const tooLong = (param: string, max: number): Validated => bad(`Param ${param} must be at most ${max} characters long.`);

function str(v: unknown): v is string {
  return typeof v === 'string';
}

/** A business-scoped user id (changes-2026 §1.1): ISO country, a dot, up to 128 alphanumerics (parent: `.ENT.`). */
export const BSUID_RE = /^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$/;

/** Digits of a phone number as Meta normalises `to`: +, -, (, ), spaces and dots are dropped. */
export function normalizeTo(to: string): string | null {
  const d = to.replace(/[\s+\-().]/g, '');
  return /^\d{7,15}$/.test(d) ? d : null;
}

function checkText(o: Obj, key: string, max: number, required: boolean, path: string): Validated | null {
  const v = o[key];
  if (v === undefined || v === null) return required ? missing(`${path}.${key}`) : null;
  if (!str(v)) return bad(`Param ${path}.${key} must be a string.`);
  if (required && v.length === 0) return missing(`${path}.${key}`);
  if (v.length > max) return tooLong(`${path}.${key}`, max);
  return null;
}

function validateMedia(type: string, m: unknown): Validated | null {
  if (!isObj(m)) return missing(type);
  const hasId = str(m.id) && m.id.length > 0;
  const hasLink = str(m.link) && m.link.length > 0;
  if (!hasId && !hasLink) return bad(`Param ${type} must contain either id or link.`);
  if (hasId && hasLink) return bad(`Param ${type} must contain either id or link, not both.`);
  if (hasLink && !/^https?:\/\/\S+$/i.test(m.link as string)) return invalid(`Param ${type}.link must be a valid http(s) URL.`);
  if (m.caption !== undefined) {
    if (!CAPTIONED.has(type)) return bad(`Param ${type}.caption is not supported for ${type} messages.`);
    const e = checkText(m, 'caption', 1024, false, type);
    if (e) return e;
  }
  return null;
}

function validateInteractive(i: unknown): Validated | null {
  if (!isObj(i)) return missing('interactive');
  const t = i.type;
  if (!str(t)) return missing('interactive.type');
  if (!INTERACTIVE_TYPES.has(t)) return bad(`Param interactive.type must be one of {${[...INTERACTIVE_TYPES].join(', ')}}.`);
  const body = i.body;
  if (t !== 'product') {
    if (!isObj(body)) return missing('interactive.body');
    const e = checkText(body, 'text', t === 'list' ? 4096 : 1024, true, 'interactive.body');
    if (e) return e;
  }
  if (isObj(i.footer)) {
    const e = checkText(i.footer, 'text', 60, true, 'interactive.footer');
    if (e) return e;
  }
  if (isObj(i.header) && i.header.type === 'text') {
    const e = checkText(i.header, 'text', 60, true, 'interactive.header');
    if (e) return e;
  }
  const action = i.action;
  if (t === 'location_request_message' || t === 'address_message' || t === 'call_permission_request') return null;
  if (!isObj(action)) return missing('interactive.action');
  if (t === 'button') {
    const buttons = action.buttons;
    if (!Array.isArray(buttons) || buttons.length === 0) return missing('interactive.action.buttons');
    if (buttons.length > 3) return bad('Param interactive.action.buttons must have at most 3 elements.');
    const ids = new Set<string>();
    for (let k = 0; k < buttons.length; k++) {
      const b = buttons[k];
      const p = `interactive.action.buttons[${k}].reply`;
      if (!isObj(b) || !isObj(b.reply)) return missing(p);
      const e = checkText(b.reply, 'id', 256, true, p) ?? checkText(b.reply, 'title', 20, true, p);
      if (e) return e;
      if (ids.has(b.reply.id as string)) return bad('Buttons must have unique ids.');
      ids.add(b.reply.id as string);
    }
  } else if (t === 'list') {
    const e = checkText(action, 'button', 20, true, 'interactive.action');
    if (e) return e;
    const sections = action.sections;
    if (!Array.isArray(sections) || sections.length === 0) return missing('interactive.action.sections');
    if (sections.length > 10) return bad('Param interactive.action.sections must have at most 10 elements.');
    let rows = 0;
    for (let s = 0; s < sections.length; s++) {
      const sec = sections[s];
      const p = `interactive.action.sections[${s}]`;
      if (!isObj(sec)) return missing(p);
      if (sections.length > 1 || sec.title !== undefined) {
        const e2 = checkText(sec, 'title', 24, sections.length > 1, p);
        if (e2) return e2;
      }
      if (!Array.isArray(sec.rows) || sec.rows.length === 0) return missing(`${p}.rows`);
      for (let r = 0; r < sec.rows.length; r++) {
        const row = sec.rows[r];
        const rp = `${p}.rows[${r}]`;
        if (!isObj(row)) return missing(rp);
        const e3 =
          checkText(row, 'id', 200, true, rp) ?? checkText(row, 'title', 24, true, rp) ?? checkText(row, 'description', 72, false, rp);
        if (e3) return e3;
      }
      rows += sec.rows.length;
    }
    if (rows > 10) return bad('Total row count exceed max allowed count: 10.');
  } else if (t === 'cta_url') {
    const params = action.parameters;
    if (!isObj(params)) return missing('interactive.action.parameters');
    const e =
      checkText(params, 'display_text', 20, true, 'interactive.action.parameters') ??
      checkText(params, 'url', 2000, true, 'interactive.action.parameters');
    if (e) return e;
  } else if (t === 'flow') {
    const params = action.parameters;
    if (!isObj(params)) return missing('interactive.action.parameters');
    const e = checkText(params, 'flow_cta', 20, true, 'interactive.action.parameters');
    if (e) return e;
    if (!str(params.flow_id) && !str(params.flow_name)) return missing('interactive.action.parameters.flow_id');
    if (params.flow_action === 'navigate' && !isObj(params.flow_action_payload))
      return missing('interactive.action.parameters.flow_action_payload');
  }
  return null;
}

function validateTemplate(t: unknown): { ref: TemplateRef } | Validated {
  if (!isObj(t)) return missing('template');
  if (!str(t.name) || t.name.length === 0) return missing('template.name');
  const lang = t.language;
  if (!isObj(lang) || !str(lang.code) || lang.code.length === 0) return missing('template.language.code');
  const comps = t.components ?? [];
  if (!Array.isArray(comps)) return bad('Param template.components must be an array.');
  for (let k = 0; k < comps.length; k++) {
    const c = comps[k];
    if (!isObj(c) || !str(c.type)) return missing(`template.components[${k}].type`);
    const ct = c.type.toLowerCase();
    if (ct !== 'header' && ct !== 'body' && ct !== 'button' && ct !== 'footer' && ct !== 'carousel' && ct !== 'limited_time_offer') {
      return bad(`Param template.components[${k}].type must be one of {HEADER, BODY, FOOTER, BUTTON}.`);
    }
    if (c.parameters !== undefined && !Array.isArray(c.parameters))
      return bad(`Param template.components[${k}].parameters must be an array.`);
    for (const p of (c.parameters as unknown[] | undefined) ?? []) {
      if (!isObj(p) || !str(p.type)) return missing(`template.components[${k}].parameters[].type`);
      if (p.type === 'text' && !str(p.text)) return missing(`template.components[${k}].parameters[].text`);
    }
  }
  return { ref: { name: t.name, language: lang.code, components: comps as Record<string, unknown>[] } };
}

function num(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

/** Validates one send body. `senderDigits` is the business number (to refuse sending to itself). */
export function validateSend(body: unknown, senderDigits: string): Validated {
  if (!isObj(body)) return bad('Request body must be a JSON object.');
  if (body.messaging_product === undefined) return bad('The parameter messaging_product is required.');
  if (body.messaging_product !== 'whatsapp')
    return bad('Param messaging_product must be one of {WHATSAPP} - got "' + String(body.messaging_product) + '".');
  if (body.status !== undefined) {
    if (body.status !== 'read') return bad('Param status must be one of {READ}.');
    if (!str(body.message_id) || body.message_id.length === 0) return missing('message_id');
    if (body.typing_indicator !== undefined && (!isObj(body.typing_indicator) || body.typing_indicator.type !== 'text'))
      return bad('Param typing_indicator.type must be one of {TEXT}.');
    return { ok: true, kind: 'read', message_id: body.message_id, typing: body.typing_indicator !== undefined };
  }
  if (body.recipient_type !== undefined && body.recipient_type !== 'individual' && body.recipient_type !== 'group')
    return bad('Param recipient_type must be one of {INDIVIDUAL, GROUP}.');
  // `to` (a phone) or `recipient` (a BSUID); with both, `to` wins and `recipient` is ignored (Meta).
  let to: string | null = null;
  let recipient: string | null = null;
  let wa: string | null = null;
  const group = body.recipient_type === 'group';
  if (group) {
    // Groups API: `to` is the group id from the group's webhooks.
    if (!str(body.to) || !/^[A-Za-z0-9_.=-]{1,128}$/.test(body.to))
      return invalid('Param to must be a group ID (1-128 letters, digits, "_", ".", "=" or "-") when recipient_type is group.');
    to = body.to;
    wa = `group:${body.to}`;
  } else if (body.to === undefined || body.to === null || body.to === '') {
    if (body.recipient === undefined || body.recipient === null || body.recipient === '') return missing('to');
    if (!str(body.recipient)) return bad('Param recipient must be a string.');
    if (!BSUID_RE.test(body.recipient))
      return invalid(
        `Param recipient (${body.recipient.length} characters) is not a valid business-scoped user ID: a two-letter country code, a dot, then up to 128 letters and digits.`,
      );
    recipient = body.recipient;
  } else {
    if (!str(body.to)) return bad('Param to must be a string.');
    wa = normalizeTo(body.to);
    if (!wa) return invalid(`Param to (${body.to.length} characters) is not a valid WhatsApp phone number.`);
    if (wa === senderDigits) return { ok: false, err: syncError(131021) };
    to = body.to;
  }
  const type = body.type === undefined ? 'text' : body.type; // Meta defaults type to text
  if (!str(type)) return bad('Param type must be a string.');
  if (!MESSAGE_TYPES.has(type)) return { ok: false, err: syncError(131051, { details: `Message type ${type} is not supported.` }) };
  let biz: string | null = null;
  if (body.biz_opaque_callback_data !== undefined) {
    if (!str(body.biz_opaque_callback_data)) return bad('Param biz_opaque_callback_data must be a string.');
    if (body.biz_opaque_callback_data.length > 512) return tooLong('biz_opaque_callback_data', 512);
    biz = body.biz_opaque_callback_data;
  }
  if (body.context !== undefined) {
    if (!isObj(body.context) || !str(body.context.message_id)) return missing('context.message_id');
    if (type === 'reaction') return bad('Reactions cannot be sent as a contextual reply.');
  }
  const payload = body[type];
  let e: Validated | null = null;
  let template: TemplateRef | null = null;
  switch (type) {
    case 'text':
      if (!isObj(payload)) return missing('text');
      e = checkText(payload, 'body', 4096, true, 'text');
      if (!e && payload.preview_url !== undefined && typeof payload.preview_url !== 'boolean')
        e = bad('Param text.preview_url must be a boolean.');
      break;
    case 'location': {
      if (!isObj(payload)) return missing('location');
      const lat = num(payload.latitude);
      const lon = num(payload.longitude);
      if (payload.latitude === undefined) return missing('location.latitude');
      if (payload.longitude === undefined) return missing('location.longitude');
      if (lat === null || lat < -90 || lat > 90) return invalid('Param location.latitude must be a number between -90 and 90.');
      if (lon === null || lon < -180 || lon > 180) return invalid('Param location.longitude must be a number between -180 and 180.');
      break;
    }
    case 'contacts': {
      if (!Array.isArray(payload) || payload.length === 0) return missing('contacts');
      if (payload.length > 257) return bad('Param contacts must have at most 257 elements.');
      for (let k = 0; k < payload.length; k++) {
        const c = payload[k];
        if (!isObj(c) || !isObj(c.name) || !str(c.name.formatted_name) || c.name.formatted_name === '')
          return missing(`contacts[${k}].name.formatted_name`);
      }
      break;
    }
    case 'reaction':
      if (!isObj(payload)) return missing('reaction');
      if (!str(payload.message_id) || payload.message_id === '') return missing('reaction.message_id');
      if (payload.emoji !== undefined && !str(payload.emoji)) return bad('Param reaction.emoji must be a string.');
      break;
    case 'interactive':
      e = validateInteractive(payload);
      break;
    case 'template': {
      const r = validateTemplate(payload);
      if ('ok' in r) return r;
      template = r.ref;
      break;
    }
    default:
      if (MEDIA.has(type)) e = validateMedia(type, payload);
  }
  if (e) return e;
  return { ok: true, kind: 'message', type, to, recipient, wa_id: wa, group, biz, template };
}
