// The outbound message schema: Meta's own body for POST /{phone-number-id}/messages, every Cloud API
// type, with Meta's limits (cloud-api.md §1.3, §1.4), written with zod. Errors name the field and say
// what is wrong ("text.body: 5000 characters, Meta's limit is 4096"). Pure: no I/O.
//
// Only fields we know are kept: the payload sent to Meta is rebuilt from the parsed value, so no
// caller-supplied field can ride along and change the recipient or product after the decision
// (reference-system.md §7.1.5). Unknown top-level keys are refused, not silently dropped.
import { z } from 'zod';
import { templateLanguage } from './language.ts';

/** Meta counts characters; we count UTF-16 code units, which is never more lenient than Meta. */
function text(max: number, opts: { min?: number } = {}) {
  const min = opts.min ?? 1;
  return z
    .string({ error: (iss) => (iss.input === undefined ? 'required' : `must be a string, got ${typeof iss.input}`) })
    .superRefine((s, ctx) => {
      if (s.length > max) ctx.addIssue({ code: 'custom', message: `${s.length} characters, Meta's limit is ${max}` });
      else if (min > 0 && s.trim().length < min) ctx.addIssue({ code: 'custom', message: 'must not be empty' });
    });
}

const httpUrl = (max = 2000) => text(max).refine((s) => /^https?:\/\/[^\s]+$/i.test(s), { message: 'must be an http:// or https:// URL' });

const bool = z.boolean({ error: 'must be true or false' });

/** Media by uploaded id or by public link: exactly one of them. */
function media<T extends z.ZodRawShape>(extra: T) {
  return z.strictObject({ id: text(256).optional(), link: httpUrl().optional(), ...extra }).superRefine((m, ctx) => {
    const o = m as { id?: string; link?: string };
    if (!o.id && !o.link) ctx.addIssue({ code: 'custom', message: 'give either "id" (uploaded media) or "link" (https URL)' });
    if (o.id && o.link) ctx.addIssue({ code: 'custom', message: 'give "id" or "link", not both' });
  });
}

const Image = media({ caption: text(1024).optional() });
const Video = media({ caption: text(1024).optional() });
const DocumentMedia = media({ caption: text(1024).optional(), filename: text(240).optional() });
const Audio = media({ voice: bool.optional() });
const Sticker = media({});

const Coordinate = (lo: number, hi: number) =>
  z.union([z.number(), z.string()], { error: 'must be a number in decimal degrees' }).transform((v, ctx) => {
    const n = typeof v === 'number' ? v : Number(v.trim());
    if (typeof v === 'string' && !v.trim()) ctx.addIssue({ code: 'custom', message: 'must be a number in decimal degrees' });
    else if (!Number.isFinite(n) || n < lo || n > hi) ctx.addIssue({ code: 'custom', message: `must be a number between ${lo} and ${hi}` });
    return v; // keep Meta's own form (string or number) in the payload
  });

const Location = z.strictObject({
  latitude: Coordinate(-90, 90),
  longitude: Coordinate(-180, 180),
  name: text(1000).optional(),
  address: text(1000).optional(),
});

// Contact cards have many optional sub-objects; we check the ones Meta requires and keep the rest.
const Contact = z.looseObject({
  name: z.looseObject({ formatted_name: text(1000) }, { error: 'required: an object with formatted_name' }),
  phones: z.array(z.looseObject({ phone: text(64).optional(), wa_id: text(64).optional(), type: z.string().optional() })).optional(),
});
const Contacts = z
  .array(Contact, { error: 'must be an array of contact cards' })
  .min(1, 'at least one contact')
  .max(257, "Meta's limit is 257 contacts per message");

const Text = z.strictObject({ body: text(4096), preview_url: bool.optional() });

const Reaction = z.strictObject({
  message_id: text(256),
  // An empty emoji removes a reaction (Meta's documented behaviour).
  emoji: z.string({ error: 'required: one emoji, or "" to remove a reaction' }).max(16, 'one emoji only'),
});

const Context = z.strictObject({ message_id: text(256) });

// ---------- interactive ----------
const TextHeader = z.strictObject({ type: z.literal('text'), text: text(60) });
const MediaHeader = z.union(
  [
    TextHeader,
    z.strictObject({ type: z.literal('image'), image: media({}) }),
    z.strictObject({ type: z.literal('video'), video: media({}) }),
    z.strictObject({ type: z.literal('document'), document: media({ filename: text(240).optional() }) }),
  ],
  { error: 'header: use {type:"text", text} or {type:"image"|"video"|"document", <type>: {id|link}}' },
);
const Body = (max: number) => z.strictObject({ text: text(max) });
const Footer = z.strictObject({ text: text(60) });

const ButtonMsg = z.strictObject({
  type: z.literal('button'),
  header: MediaHeader.optional(),
  body: Body(1024),
  footer: Footer.optional(),
  action: z.strictObject({
    buttons: z
      .array(
        z.strictObject({
          type: z.literal('reply', { error: 'must be "reply"' }),
          reply: z.strictObject({ id: text(256), title: text(20) }),
        }),
      )
      .min(1, 'at least 1 button')
      .max(3, "Meta's limit is 3 reply buttons")
      .superRefine((bs, ctx) => {
        const seen = new Set<string>();
        bs.forEach((b, i) => {
          if (seen.has(b.reply.id))
            ctx.addIssue({ code: 'custom', path: [i, 'reply', 'id'], message: `duplicate button id "${b.reply.id}": ids must be unique` });
          seen.add(b.reply.id);
        });
      }),
  }),
});

const ListMsg = z.strictObject({
  type: z.literal('list'),
  header: TextHeader.optional(),
  body: Body(4096),
  footer: Footer.optional(),
  action: z.strictObject({
    button: text(20),
    sections: z
      .array(
        z.strictObject({
          title: text(24).optional(),
          rows: z.array(z.strictObject({ id: text(200), title: text(24), description: text(72).optional() })).min(1, 'at least 1 row'),
        }),
      )
      .min(1, 'at least 1 section')
      .max(10, "Meta's limit is 10 sections")
      .superRefine((secs, ctx) => {
        const rows = secs.reduce((n, s) => n + s.rows.length, 0);
        if (rows > 10) ctx.addIssue({ code: 'custom', message: `${rows} rows in total, Meta's limit is 10 rows across all sections` });
        if (secs.length > 1)
          secs.forEach((s, i) => {
            if (!s.title) ctx.addIssue({ code: 'custom', path: [i, 'title'], message: 'required when there is more than one section' });
          });
        const seen = new Set<string>();
        secs.forEach((s, i) =>
          s.rows.forEach((r, j) => {
            if (seen.has(r.id))
              ctx.addIssue({ code: 'custom', path: [i, 'rows', j, 'id'], message: `duplicate row id "${r.id}": ids must be unique` });
            seen.add(r.id);
          }),
        );
      }),
  }),
});

const CtaUrlMsg = z.strictObject({
  type: z.literal('cta_url'),
  header: MediaHeader.optional(),
  body: Body(1024),
  footer: Footer.optional(),
  action: z.strictObject({
    name: z.literal('cta_url', { error: 'must be "cta_url"' }),
    parameters: z.strictObject({ display_text: text(20), url: httpUrl() }),
  }),
});

const FlowMsg = z.strictObject({
  type: z.literal('flow'),
  header: MediaHeader.optional(),
  body: Body(1024),
  footer: Footer.optional(),
  action: z.strictObject({
    name: z.literal('flow', { error: 'must be "flow"' }),
    parameters: z
      .looseObject({
        flow_message_version: z.string({ error: 'required, e.g. "3"' }),
        flow_token: text(1000).optional(),
        flow_id: text(64).optional(),
        flow_name: text(200).optional(),
        flow_cta: text(20).refine((s) => !/\p{Extended_Pictographic}/u.test(s), { message: 'no emoji allowed in flow_cta' }),
        flow_action: z.enum(['navigate', 'data_exchange'], { error: 'use "navigate" or "data_exchange"' }).optional(),
        flow_action_payload: z.looseObject({ screen: text(200) }).optional(),
        mode: z.enum(['published', 'draft'], { error: 'use "published" or "draft"' }).optional(),
      })
      .superRefine((p, ctx) => {
        if (!p.flow_id && !p.flow_name) ctx.addIssue({ code: 'custom', message: 'give flow_id or flow_name' });
        if (p.flow_action === 'navigate' && !p.flow_action_payload) {
          ctx.addIssue({ code: 'custom', path: ['flow_action_payload'], message: 'required when flow_action is "navigate"' });
        }
        if (p.flow_action === 'data_exchange' && p.flow_action_payload) {
          ctx.addIssue({ code: 'custom', path: ['flow_action_payload'], message: 'must be omitted when flow_action is "data_exchange"' });
        }
      }),
  }),
});

// Other interactive kinds (product, product_list, location_request_message, address_message,
// carousel, call_permission_request): Meta validates the details; we check the body limit and keep them.
const OTHER_INTERACTIVE = [
  'product',
  'product_list',
  'location_request_message',
  'address_message',
  'carousel',
  'call_permission_request',
  'voice_call',
  // Meta 2026: asks a username customer to share their phone (the reply links it to their BSUID).
  'request_contact_info',
] as const;
const OtherInteractive = z.looseObject({ type: z.enum(OTHER_INTERACTIVE), body: Body(1024).optional(), footer: Footer.optional() });

const INTERACTIVE: Record<string, z.ZodType> = { button: ButtonMsg, list: ListMsg, cta_url: CtaUrlMsg, flow: FlowMsg };
const INTERACTIVE_TYPES = [...Object.keys(INTERACTIVE), ...OTHER_INTERACTIVE];

// ---------- template ----------
const TemplateParam = z.looseObject({
  type: z
    .string({
      error: 'required: the parameter type (text, currency, date_time, image, document, video, location, payload, coupon_code, action)',
    })
    .transform((s) => s.toLowerCase()),
});
const TemplateComponent = z.looseObject({
  type: z.string({ error: 'required: "header", "body" or "button"' }).transform((s) => s.toLowerCase()),
  sub_type: z
    .string()
    .transform((s) => s.toLowerCase())
    .optional(),
  index: z.union([z.string(), z.number()]).optional(),
  parameters: z.array(TemplateParam, { error: 'must be an array of parameters' }).optional(),
});
const Template = z.strictObject({
  name: text(512).refine((s) => /^[a-z0-9_]+$/.test(s), { message: 'template names are lower-case letters, digits and "_"' }),
  language: z
    .union(
      [z.string(), z.strictObject({ code: z.string({ error: 'required, e.g. "en_US"' }), policy: z.literal('deterministic').optional() })],
      {
        error: 'required: {"code": "en_US"}',
      },
    )
    // Meta's form ("en-US" and "en_US" are one language): the payload carries what Meta's templates use.
    .transform((l) => (typeof l === 'string' ? { code: templateLanguage(l) } : { ...l, code: templateLanguage(l.code) }))
    .refine((l) => /^[a-z]{2,3}(_[A-Za-z0-9]{2,4})?$/.test(l.code), { message: 'language code like "en" or "en_US"' }),
  components: z.array(TemplateComponent, { error: 'must be an array of components' }).optional(),
});

// ---------- envelope ----------
const TYPES = {
  text: Text,
  image: Image,
  audio: Audio,
  video: Video,
  document: DocumentMedia,
  sticker: Sticker,
  location: Location,
  contacts: Contacts,
  interactive: OtherInteractive, // replaced per interactive.type in validateMessage()
  reaction: Reaction,
  template: Template,
} as const;

export type MessageType = keyof typeof TYPES;
export const MESSAGE_TYPES = Object.keys(TYPES) as MessageType[];

function envelope(type: MessageType, inner: z.ZodType = TYPES[type]) {
  return z.strictObject({
    messaging_product: z.literal('whatsapp', { error: 'must be "whatsapp" (or leave it out)' }).optional(),
    recipient_type: z
      .enum(['individual', 'group'], { error: '"individual" (or leave it out), or "group" with the group id in `to`' })
      .optional(),
    to: z.union([z.string(), z.number()], { error: 'the recipient phone number with country code' }).optional(),
    /** Meta 2026: a business-scoped user id instead of (or beside) the phone; `to` wins when both are given. */
    recipient: z.string({ error: 'the business-scoped user id, a string like "US.13491208655302741918"' }).optional(),
    type: z.literal(type),
    [type]: inner,
    context: Context.optional(),
    /** Direct Send (Meta, Jul 2026): "utility" on a text or interactive message; judged by directSendIssues(). */
    category: z.unknown().optional(),
    /** Direct Send only: how long Meta keeps trying to deliver, 30 to 43,200 s for utility. */
    ttl_seconds: z.unknown().optional(),
  });
}

/** Direct Send: Meta's message types and TTL bounds for utility (Direct Send reference and TTL page, 31 Jul 2026). */
const DIRECT_SEND_INTERACTIVE = ['cta_url', 'button'];
export const DIRECT_SEND_TTL_S = { min: 30, max: 43_200 } as const;

/** What is wrong with a message's Direct Send fields (`category`, `ttl_seconds`), if anything. */
function directSendIssues(t: MessageType, d: Record<string, unknown>): MessageIssue[] {
  const out: MessageIssue[] = [];
  const cat = typeof d.category === 'string' ? d.category.trim().toLowerCase() : d.category;
  if (d.category === undefined) {
    if (d.ttl_seconds !== undefined)
      out.push({
        field: 'ttl_seconds',
        problem:
          'only for Direct Send: add "category": "utility" to a text or interactive message, or remove ttl_seconds (Meta answers error 100)',
      });
    return out;
  }
  if (cat === 'authentication')
    out.push({
      field: 'category',
      problem:
        'authentication Direct Send is access-restricted by Meta and needs the phone number; wagate sends utility Direct Send only: send an authentication template instead',
    });
  else if (cat !== 'utility')
    out.push({ field: 'category', problem: `${quote(d.category)} is not a Direct Send category; use "utility" (or leave category out)` });
  const it = t === 'interactive' ? (d.interactive as { type?: unknown }).type : null;
  if (t !== 'text' && !(t === 'interactive' && typeof it === 'string' && DIRECT_SEND_INTERACTIVE.includes(it)))
    out.push({
      field: 'category',
      problem: `Direct Send takes text messages and interactive ${DIRECT_SEND_INTERACTIVE.join(' or ')} messages, not ${t === 'interactive' ? `interactive ${quote(it)}` : `"${t}"`}; use an approved utility template for this one`,
    });
  if (d.recipient_type === 'group') out.push({ field: 'category', problem: 'Direct Send goes to one person, not a group' });
  if (d.ttl_seconds !== undefined) {
    const v = d.ttl_seconds;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < DIRECT_SEND_TTL_S.min || v > DIRECT_SEND_TTL_S.max)
      out.push({
        field: 'ttl_seconds',
        problem: `must be a whole number of seconds from ${DIRECT_SEND_TTL_S.min} to ${DIRECT_SEND_TTL_S.max} (12 hours) for a utility Direct Send (got ${quote(v)})`,
      });
  }
  return out;
}
const ENVELOPES = Object.fromEntries(MESSAGE_TYPES.map((t) => [t, envelope(t)])) as Record<MessageType, ReturnType<typeof envelope>>;
const INTERACTIVE_ENVELOPES: Record<string, ReturnType<typeof envelope>> = Object.fromEntries([
  ...Object.entries(INTERACTIVE).map(([k, sch]) => [k, envelope('interactive', sch)]),
  ...OTHER_INTERACTIVE.map((k) => [k, envelope('interactive', OtherInteractive)]),
]);

export interface ValidMessage {
  /** The phone, as given (normalisePhone() judges it); absent when only `recipient` names the customer. */
  to?: string;
  /** A business-scoped user id, as given. */
  recipient?: string;
  /** recipient_type "group": `to` is a group id (Groups API), not a phone. */
  group?: boolean;
  /** Direct Send: a business-initiated utility message without a template (top-level category, optional TTL). */
  direct_send?: { category: 'utility'; ttl_seconds?: number };
  type: MessageType;
  /** The validated type object (e.g. {body, preview_url} for text), in Meta's own shape. */
  content: unknown;
  context?: { message_id: string };
}

export interface MessageIssue {
  field: string;
  problem: string;
}

export type MessageValidation = { ok: true; message: ValidMessage } | { ok: false; issues: MessageIssue[]; summary: string };

/**
 * A caller's value for a message: never String() on it (an object with its own "toString" key, or an
 * array holding one, throws), and never more than a short quote.
 */
function quote(v: unknown): string {
  const s =
    typeof v === 'string'
      ? JSON.stringify(v)
      : v !== null && typeof v === 'object'
        ? Array.isArray(v)
          ? 'an array'
          : 'an object'
        : (JSON.stringify(v) ?? typeof v);
  return s.length > 60 ? `${s.slice(0, 57)}..."` : s;
}

function fail(issues: MessageIssue[]): MessageValidation {
  return { ok: false, issues, summary: issues.map((i) => `${i.field}: ${i.problem}`).join('; ') };
}

/**
 * Validates Meta's message body. `to` is only checked for presence here; normalisePhone() judges it.
 * A missing `type` means "text", as at Meta.
 */
export function validateMessage(body: unknown): MessageValidation {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return fail([
      {
        field: '(body)',
        problem: 'must be a JSON object: Meta\'s message body, e.g. {"to": "14155550123", "type": "text", "text": {"body": "Hi"}}',
      },
    ]);
  }
  const b = body as Record<string, unknown>;
  if ('biz_opaque_callback_data' in b) {
    return fail([
      {
        field: 'biz_opaque_callback_data',
        problem: 'wagate sets it to its own message id (to match status webhooks); remove it and use the returned id',
      },
    ]);
  }
  const type = (b.type ?? (b.text !== undefined ? 'text' : undefined)) as unknown;
  if (typeof type !== 'string' || !Object.hasOwn(TYPES, type)) {
    // own keys only: "toString" is no message type
    return fail([
      {
        field: 'type',
        problem: `${type === undefined ? 'required' : `${quote(type)} is not a WhatsApp message type`}; use one of ${MESSAGE_TYPES.join(', ')}`,
      },
    ]);
  }
  const t = type as MessageType;
  if (b[t] === undefined) return fail([{ field: t, problem: `required: the "${t}" object for a message of type "${t}"` }]);
  if (t === 'reaction' && b.context !== undefined)
    return fail([{ field: 'context', problem: 'a reaction cannot be a contextual reply; remove context' }]);
  let schema = ENVELOPES[t];
  if (t === 'interactive') {
    const it = (b.interactive as { type?: unknown } | null)?.type;
    const found = typeof it === 'string' && Object.hasOwn(INTERACTIVE_ENVELOPES, it) ? INTERACTIVE_ENVELOPES[it] : undefined;
    if (!found) {
      return fail([
        {
          field: 'interactive.type',
          problem: `${it === undefined ? 'required' : `${quote(it)} is not an interactive type`}; use one of ${INTERACTIVE_TYPES.join(', ')}`,
        },
      ]);
    }
    schema = found;
  }
  const r = schema.safeParse({ ...b, type: t });
  if (!r.success) {
    return fail(
      r.error.issues.map((i) => {
        const path = i.path.map(String).join('.');
        if (i.code === 'unrecognized_keys') {
          const keys = (i as { keys: string[] }).keys;
          return {
            field: keys.map((k) => (path ? `${path}.${k}` : k)).join(', '),
            problem: `unknown field${keys.length > 1 ? 's' : ''} for Meta's "${t}" message; remove ${keys.length > 1 ? 'them' : 'it'}`,
          };
        }
        return { field: path || '(body)', problem: i.message };
      }),
    );
  }
  const d = r.data as Record<string, unknown>;
  if (d.to === undefined && d.recipient === undefined) {
    return fail([
      {
        field: 'to',
        problem: 'required: the recipient phone number with country code (`to`), or their business-scoped user id (`recipient`)',
      },
    ]);
  }
  const ds = directSendIssues(t, d);
  if (ds.length) return fail(ds);
  const msg: ValidMessage = { type: t, content: d[t] };
  if (d.category !== undefined)
    msg.direct_send = { category: 'utility', ...(d.ttl_seconds !== undefined ? { ttl_seconds: d.ttl_seconds as number } : {}) };
  if (d.to !== undefined) msg.to = String(d.to);
  if (d.recipient !== undefined) msg.recipient = d.recipient as string;
  if (d.recipient_type === 'group') msg.group = true;
  if (d.context) msg.context = d.context as { message_id: string };
  return { ok: true, message: msg };
}

/**
 * The exact body sent to Meta, rebuilt from the validated message: nothing else rides along. Addressed
 * by phone (`to`, normalised digits) or, with no phone, by business-scoped user id (`recipient`).
 */
export function buildPayload(m: ValidMessage, target: { to: string } | { recipient: string }): Record<string, unknown> {
  const p: Record<string, unknown> = {
    messaging_product: 'whatsapp',
    recipient_type: m.group ? 'group' : 'individual',
    ...target,
    type: m.type,
    [m.type]: m.content,
  };
  if (m.context) p.context = m.context;
  if (m.direct_send) {
    p.category = m.direct_send.category;
    if (m.direct_send.ttl_seconds !== undefined) p.ttl_seconds = m.direct_send.ttl_seconds;
  }
  return p;
}
