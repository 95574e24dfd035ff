// Webhook `value` objects the sandbox sends, shaped like Meta's examples (cloud-api.md §7.3-§7.8):
// inbound messages of every §7.4 type, statuses with pricing/conversation, and management fields.
import { randomBytes } from 'node:crypto';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

let counter = 0;
// Random per process so wamids from two sandbox runs never collide; a counter within (no per-send
// randomness on the hot path).
const PROCESS_TAG = randomBytes(6).toString('hex').toUpperCase();

/** A wamid: "wamid." + base64 (Meta's are base64 of an opaque protobuf; ≤ 128 characters). */
export function newWamid(to: string): string {
  counter++;
  return (
    'wamid.' + Buffer.from(`\x15${to}\x15\x02\x00${PROCESS_TAG}${counter.toString(16).toUpperCase().padStart(8, '0')}`).toString('base64')
  );
}

/** A 32-hex conversation id, unique per process. */
export function newConversationId(): string {
  counter++;
  return (PROCESS_TAG + counter.toString(16).padStart(20, '0')).toLowerCase();
}

export function unixSeconds(ms: number): string {
  return String(Math.floor(ms / 1000));
}

export interface NumberMeta {
  phone_number_id: string;
  display_digits: string;
  /** Cached `metadata` object (shared by every webhook of this number: built once, not per status). */
  meta?: Obj;
}

export function metadata(n: NumberMeta): Obj {
  if (!n.meta || n.meta.display_phone_number !== n.display_digits)
    n.meta = { display_phone_number: n.display_digits, phone_number_id: n.phone_number_id };
  return n.meta;
}

const MEDIA_MIME: Record<string, string> = {
  image: 'image/jpeg',
  video: 'video/mp4',
  audio: 'audio/ogg; codecs=opus',
  document: 'application/pdf',
  sticker: 'image/webp',
};

export const INBOUND_TYPES = [
  'text',
  'image',
  'video',
  'document',
  'audio',
  'sticker',
  'location',
  'contacts',
  'interactive',
  'button',
  'reaction',
  'order',
  'system',
  'unsupported',
] as const;

export class InboundError extends Error {}

/**
 * Builds one inbound `messages[]` element. Missing type objects get sensible defaults so a test can
 * send `{type: "image"}`; given objects are kept and completed (media id, sha256, url...).
 */
export function inboundMessage(input: Obj, now: number, baseUrl: string): Obj {
  const type = String(input.type ?? 'text');
  if (!(INBOUND_TYPES as readonly string[]).includes(type))
    throw new InboundError(`type must be one of ${INBOUND_TYPES.join(', ')}; got "${type}"`);
  const from = String(input.from);
  const ts =
    typeof input.timestamp === 'number'
      ? String(Math.floor(input.timestamp))
      : typeof input.timestamp === 'string'
        ? input.timestamp
        : unixSeconds(now);
  // changes-2026 §1.1: every inbound carries the sender's BSUID (`from_user_id`); `from` is left out when
  // the customer does not share their phone (the caller passes `hide_from`).
  const userId = typeof input.from_user_id === 'string' ? input.from_user_id : undefined;
  const hideFrom = input.hide_from === true;
  const msg: Obj = hideFrom ? {} : { from };
  if (userId) msg.from_user_id = userId;
  if (typeof input.from_parent_user_id === 'string') msg.from_parent_user_id = input.from_parent_user_id;
  msg.id = typeof input.id === 'string' ? input.id : newWamid(hideFrom && userId ? userId : from);
  msg.timestamp = ts;
  msg.type = type;
  if (typeof input.group_id === 'string') msg.group_id = input.group_id;
  const given = input[type];
  switch (type) {
    case 'text':
      msg.text = { body: isObj(given) && typeof given.body === 'string' ? given.body : 'Hello' };
      break;
    case 'image':
    case 'video':
    case 'document':
    case 'audio':
    case 'sticker': {
      const id = isObj(given) && typeof given.id === 'string' ? given.id : String(1e15 + Math.floor(Math.random() * 8e15));
      const media: Obj = {
        mime_type: MEDIA_MIME[type],
        sha256: randomBytes(32).toString('base64'),
        id,
        url: `${baseUrl}/_sandbox/media/${id}`,
      };
      if (type === 'audio') media.voice = false;
      if (type === 'sticker') media.animated = false;
      if (type === 'document') media.filename = 'document.pdf';
      msg[type] = { ...media, ...(isObj(given) ? given : {}) };
      break;
    }
    case 'location':
      msg.location = isObj(given) ? given : { latitude: 38.9072, longitude: -77.0369, name: 'Sandbox place', address: '1 Sandbox Street' };
      break;
    case 'contacts':
      msg.contacts = Array.isArray(given)
        ? given
        : [
            {
              name: { formatted_name: 'Sandbox Contact', first_name: 'Sandbox' },
              phones: [{ phone: '+1 555 0100', type: 'CELL', wa_id: '15550100' }],
            },
          ];
      break;
    case 'interactive':
      msg.interactive = isObj(given) ? given : { type: 'button_reply', button_reply: { id: 'yes', title: 'Yes' } };
      break;
    case 'button':
      msg.button = isObj(given) ? given : { payload: 'Stop promotions', text: 'Stop promotions' };
      break;
    case 'reaction':
      if (!isObj(given) || typeof given.message_id !== 'string')
        throw new InboundError('reaction needs reaction.message_id (the wamid reacted to)');
      msg.reaction = given;
      break;
    case 'order':
      msg.order = isObj(given)
        ? given
        : {
            catalog_id: '1234567890',
            text: 'Order from the sandbox',
            product_items: [{ product_retailer_id: 'sku-1', quantity: 1, item_price: 9.99, currency: 'USD' }],
          };
      break;
    case 'system':
      msg.system = isObj(given)
        ? given
        : { body: `User ${from} changed from ${from} to ${from}0`, wa_id: `${from}0`, type: 'user_changed_number' };
      break;
    case 'unsupported':
      msg.errors = [
        {
          code: 131051,
          title: 'Message type unknown',
          message: 'Message type unknown',
          error_data: { details: 'Message type is currently not supported.' },
        },
      ];
      msg.unsupported = isObj(given) ? given : { type: 'poll' };
      break;
  }
  if (isObj(input.context)) msg.context = input.context;
  if (isObj(input.referral))
    msg.referral = {
      source_type: 'ad',
      source_id: '120200000000000000',
      source_url: 'https://fb.me/sandbox',
      headline: 'Sandbox ad',
      body: 'Chat with us',
      media_type: 'image',
      image_url: 'https://example.invalid/ad.jpg',
      ctwa_clid: randomBytes(12).toString('base64url'),
      ...input.referral,
    };
  if (Array.isArray(input.errors)) msg.errors = input.errors;
  return msg;
}

/** Who a webhook is about, as Meta shows them (changes-2026 §1.1): BSUID always; phone only when shared. */
export interface Identity {
  user_id: string;
  /** The phone (digits), or null when the customer does not share it. */
  wa_id: string | null;
  username: string | null;
  /** The parent BSUID (linked portfolios), when `rules.parent_user_ids` is on. */
  parent_user_id?: string | null;
  /** A group send (Groups API): wa_id is the group id; no person, so no contacts[] and no BSUID. */
  group?: boolean;
}

/** A `contacts[]` element: `wa_id` only when shared, `user_id` always, `profile.username` when set. */
export function contactOf(id: Identity, profileName?: string, withUsername = true): Obj {
  const c: Obj = {};
  const profile: Obj = {};
  if (profileName !== undefined) profile.name = profileName;
  if (withUsername && id.username) profile.username = id.username;
  if (Object.keys(profile).length) c.profile = profile;
  if (id.wa_id !== null) c.wa_id = id.wa_id;
  c.user_id = id.user_id;
  if (id.parent_user_id) c.parent_user_id = id.parent_user_id;
  return c;
}

export function messagesValue(n: NumberMeta, id: Identity, profileName: string, messages: Obj[]): Obj {
  return { messaging_product: 'whatsapp', metadata: metadata(n), contacts: [contactOf(id, profileName)], messages };
}

export interface Pricing {
  billable: boolean;
  pricing_model: 'PMP';
  type: 'regular' | 'free_customer_service' | 'free_entry_point';
  category: string;
}

/** When Meta began charging service messages and utility templates inside the window (changes-2026.md §2). */
export const SERVICE_BILLING_START = Date.UTC(2026, 9, 1);

/**
 * §10.3 and changes-2026 §2: what a send costs, from its category, the windows open when it was sent
 * and the day it was sent. Before 1 Oct 2026 service and utility inside the window are free; from
 * then a service message is free only within the number's monthly allowance (`inAllowance`) and
 * utility inside the window is charged. A free-entry-point window stays free. How Meta marks a free
 * service message of the allowance was not found: the sandbox keeps `free_customer_service`.
 */
export function pricingFor(category: string, inCsw: boolean, inFep: boolean, at = Date.now(), inAllowance = true): Pricing {
  if (inFep) return { billable: false, pricing_model: 'PMP', type: 'free_entry_point', category: 'referral_conversion' };
  const charged = at >= SERVICE_BILLING_START;
  if (category === 'service' && (!charged || inAllowance))
    return { billable: false, pricing_model: 'PMP', type: 'free_customer_service', category: 'service' };
  if (category === 'utility' && inCsw && !charged)
    return { billable: false, pricing_model: 'PMP', type: 'free_customer_service', category: 'utility' };
  return { billable: true, pricing_model: 'PMP', type: 'regular', category };
}

/** A status change; `contacts` (changes-2026 §1.1) rides on sent/delivered/read, never on failed. */
export function statusValue(n: NumberMeta, status: Obj, contacts?: Obj[]): Obj {
  if (contacts) return { messaging_product: 'whatsapp', metadata: metadata(n), contacts, statuses: [status] };
  return { messaging_product: 'whatsapp', metadata: metadata(n), statuses: [status] };
}

export function userPreferencesValue(n: NumberMeta, id: Identity, value: 'stop' | 'resume', now: number): Obj {
  const item: Obj = id.wa_id !== null ? { wa_id: id.wa_id } : {};
  item.user_id = id.user_id;
  if (id.parent_user_id) item.parent_user_id = id.parent_user_id;
  return {
    messaging_product: 'whatsapp',
    metadata: metadata(n),
    contacts: [contactOf(id, undefined, false)],
    user_preferences: [
      {
        ...item,
        detail: value === 'stop' ? 'User requested to stop marketing messages' : 'User requested to resume marketing messages',
        category: 'marketing_messages',
        value,
        timestamp: Math.floor(now / 1000),
      },
    ],
  };
}
