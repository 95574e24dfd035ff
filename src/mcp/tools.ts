// The MCP tools: names and core parameters of the reference (reference-system.md §1) so prompts
// written for it keep working, plus wagate's own. Each tool is a thin adapter: it maps arguments to an
// engine call and the answer to structured content. Structured arguments are real arrays/objects;
// the reference's JSON-inside-a-string form is accepted too.
import { z } from 'zod';
import type { AppContext } from '../engine/context.ts';
import { appError } from '../shared/errors/app-error.ts';
import { checkCompliance } from '../engine/compliance.ts';
import { submitMessage, type SubmitResult } from '../engine/messages.ts';
import { explainError } from '../engine/errors.ts';
import { customerKeyOf, getCustomerView, setConsent } from '../engine/customers.ts';
import { getAccountQuality, getRateLimit, getSenderHealth, resolveSender, resumeSender, senderView } from '../engine/senders.ts';
import { getDeadLetter, listDeadLetters, replayDeadLetter } from '../engine/dead-letters.ts';
import {
  createTemplate,
  listTemplates,
  syncTemplateStatus,
  templateMessageBody,
  templateView,
  type Variables,
} from '../engine/templates.ts';
import { archiveChat, checkConversation, listConversations } from '../engine/conversations.ts';
import { categoryEligibility, checkFrequencyCap, fittingTemplates, getCustomerContext } from '../engine/eligibility.ts';
import { getDeliveryStatus, syncWebhooks } from '../engine/delivery-status.ts';
import { retryFailedMessages } from '../engine/retries.ts';
import { markAsRead } from '../engine/read-receipts.ts';
import { estimateCost, estimatePricing } from '../engine/pricing.ts';
import type { Decision } from '../domain/decision.ts';
import { addressOf, isBsuid } from '../domain/identity.ts';
import type { MessageRecord } from '../domain/types.ts';
import type { DeadLetter } from '../store/port.ts';
import { CAMPAIGN_TOOLS } from './campaign-tools.ts';
import {
  LOCAL_PRINCIPAL,
  mayLiftOptOut,
  requireVisible as requireVisibleTo,
  senderAllowed,
  visibleCustomer,
  type Principal,
  type Role,
  type VisibleRecord,
} from './principal.ts';

// ---------------------------------------------------------------------------------------------
// Shared argument and result shapes

const SENDER = z
  .string()
  .min(1)
  .max(100)
  .optional()
  .describe('Sender to use: its alias (e.g. "main") or Meta phone_number_id. Leave out for the default sender.');
const SEND_AT = z
  .string()
  .min(10)
  .max(40)
  .optional()
  .describe('Send date, ISO 8601 ("2026-10-01" or "2026-10-01T09:00:00Z"); default now. Meta\'s pricing rules of that day apply.');
/** Direct Send (Meta, Jul 2026): a business-initiated utility text or interactive message with no template. */
const DIRECT_SEND = z
  .enum(['utility'])
  .optional()
  .describe(
    'Direct Send: "utility" sends this text (or interactive cta_url / button message) as a business-initiated utility message without a template, also outside the 24 h window, if Meta enabled Direct Send for the account. Utility opt-outs, quiet hours and the messaging limit apply.',
  );
const DIRECT_SEND_TTL = z
  .number()
  .int()
  .min(30)
  .max(43_200)
  .optional()
  .describe('Direct Send only: how long Meta keeps trying to deliver, 30 to 43200 seconds.');
const directSendArgs = (a: Record<string, unknown>) => ({
  ...(a.category !== undefined ? { category: a.category } : {}),
  ...(a.ttl_seconds !== undefined ? { ttl_seconds: a.ttl_seconds } : {}),
});
const PHONE = (what: string) =>
  z
    .string()
    .min(1)
    .max(40)
    .describe(`${what}: phone number in international format with country code, e.g. "+447700900123" ("+", spaces and dashes are fine).`);
/** A send tool's recipient: a phone, or (Meta 2026) a business-scoped user id, sent as `recipient`. */
const RECIPIENT = (what: string) =>
  z
    .string()
    .min(1)
    .max(140)
    .describe(
      `${what}: phone number in international format with country code, e.g. "+447700900123" ("+", spaces and dashes are fine), or the customer's business-scoped user id from a webhook, e.g. "US.13491208655302741918".`,
    );
const IDEMPOTENCY_KEY = z
  .string()
  .min(1)
  .max(255)
  .optional()
  .describe('Optional. Reuse the same key to retry this exact send safely: the message is sent once and the first answer is returned.');
const LIMIT = z.number().int().min(1).max(500).optional().describe('Page size, 1-500 (default 50).');
const OFFSET = z.number().int().min(0).optional().describe('Items to skip (default 0).');
const VARIABLES = z
  .union([z.array(z.string()), z.record(z.string(), z.string()), z.string()])
  .optional()
  .describe(
    "Template parameters: an array fills the body's {{1}}..{{n}} in order; an object fills named parameters; a JSON string of either is accepted too. For an authentication template the first value is the one-time code (it fills the copy-code button as well).",
  );
const COMPONENTS = z
  .union([z.array(z.record(z.string(), z.unknown())), z.string()])
  .optional()
  .describe(
    'Optional: Meta\'s template "components" array verbatim (header/body/button parameters) for full control; overrides variables. A JSON string is accepted.',
  );

const DecisionOut = {
  allowed: z.boolean(),
  reason_code: z.string().nullable(),
  explanation: z.string(),
  suggested_action: z.string(),
  retry_after_s: z.number().optional(),
  checks: z.array(z.looseObject({ rule: z.string(), passed: z.boolean(), detail: z.string() })),
};
const SendOut = {
  status: z.string(),
  message_id: z.string(),
  id: z.string(),
  replayed: z.boolean().optional(),
  decision: z.looseObject(DecisionOut),
};
const Loose = z.record(z.string(), z.unknown());

/** An enum that also accepts the upper-case form (Meta writes MARKETING; the reference passed either). */
function ciEnum<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum([...values, ...values.map((v) => v.toUpperCase())] as unknown as [string, ...string[]]);
}
const lower = (v: unknown): string | undefined => (typeof v === 'string' ? v.toLowerCase() : undefined);
const Nstr = z.string().nullable();

export type ToolResult = { content: { type: 'text'; text: string }[]; structuredContent?: Record<string, unknown>; isError?: boolean };

/** A handled refusal: becomes an isError result with the stable code, explanation and fix. */
export class ToolDenial extends Error {
  constructor(readonly body: Record<string, unknown>) {
    super(String(body.explanation ?? 'denied'));
  }
}

export interface ToolCtx {
  ctx: AppContext;
  actor: string;
  /** The caller (API key over HTTP; the local operator over stdio): id lookups respect its senders. */
  principal?: Principal;
}

/** An id-based lookup of another sender's record answers "not found", as over HTTP. */
function requireVisible(t: ToolCtx, sender_id: string, what: VisibleRecord, id: string): void {
  requireVisibleTo(t.ctx, principal(t), sender_id, what, id);
}

/** The caller; none given = the local operator (every sender). */
const principal = (t: ToolCtx): Principal => t.principal ?? LOCAL_PRINCIPAL;

export interface ToolDef {
  name: string;
  title: string;
  description: string;
  role: Role;
  input: z.ZodRawShape;
  output: z.ZodRawShape;
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean; openWorldHint: boolean };
  /** The sender an argument implies besides `sender` (e.g. the "<sender>:" of a conversation id), for key restrictions. */
  impliedSender?(args: Record<string, unknown>): string | undefined;
  run(args: Record<string, unknown>, t: ToolCtx): Promise<Record<string, unknown>>;
}

const READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const READ_META = { ...READ, openWorldHint: true };
const SEND = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true };
const WRITE_IDEMPOTENT = { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false };

// ---------------------------------------------------------------------------------------------
// Argument helpers

/** The reference passed arrays/objects as JSON text; accept both. */
function jsonArg<T>(v: unknown, field: string, kind: 'array' | 'object' | 'array_or_object'): T | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  let val = v;
  if (typeof v === 'string') {
    try {
      val = JSON.parse(v);
    } catch {
      throw appError('INVALID_ARGUMENTS', `${field}: not valid JSON.`, {
        fix: `Pass ${field} as a real ${kind === 'object' ? 'object' : 'array'} (preferred), or as a JSON string of one.`,
        details: { field },
      });
    }
  }
  const isArr = Array.isArray(val);
  const isObj = val !== null && typeof val === 'object' && !isArr;
  if ((kind === 'array' && !isArr) || (kind === 'object' && !isObj) || (kind === 'array_or_object' && !isArr && !isObj)) {
    throw appError('INVALID_ARGUMENTS', `${field}: expected ${kind === 'array_or_object' ? 'an array or an object' : `a JSON ${kind}`}.`, {
      fix: `Pass ${field} as ${kind === 'object' ? 'an object' : kind === 'array' ? 'an array' : 'an array (positional) or an object (named)'}.`,
      details: { field },
    });
  }
  return val as T;
}

function variablesArg(v: unknown): Variables | undefined {
  const val = jsonArg<unknown>(v, 'variables', 'array_or_object');
  if (val === undefined) return undefined;
  const entries = Array.isArray(val) ? val.map((x, i) => [String(i), x] as const) : Object.entries(val as Record<string, unknown>);
  for (const [k, x] of entries) {
    if (typeof x !== 'string' && typeof x !== 'number') {
      throw appError('INVALID_ARGUMENTS', `variables.${k}: must be a string (or number), got ${x === null ? 'null' : typeof x}.`, {
        fix: 'Give every template parameter as text, e.g. ["Ana", "#1234"].',
        details: { field: `variables.${k}` },
      });
    }
  }
  return Array.isArray(val) ? val.map(String) : Object.fromEntries(entries.map(([k, x]) => [k, String(x)]));
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

const iso = (t: number | null | undefined) => (typeof t === 'number' ? new Date(t).toISOString() : null);

function messageView(m: MessageRecord): Record<string, unknown> {
  return {
    message_id: m.id,
    id: m.id,
    status: m.status,
    sender: m.sender_id,
    customer_id: m.to,
    category: m.category,
    message_type: m.type,
    template: m.template_name ? { name: m.template_name, language: m.template_language } : null,
    wamid: m.wamid,
    attempts: m.attempts,
    retry_count: Math.max(0, m.attempts - 1),
    pricing: m.pricing,
    created_at: iso(m.created_at),
    updated_at: iso(m.updated_at),
    history: m.history.map((h) => ({ status: h.status, at: iso(h.at), source: h.source })),
  };
}

function deadLetterView(d: DeadLetter): Record<string, unknown> {
  return { ...d, dead_letter_id: d.id, created_at: iso(d.created_at) };
}

/** A denial with the reason, explanation, fix and, for a closed window, the approved templates that fit. */
async function denial(t: ToolCtx, d: Decision, sender: string | undefined, to?: unknown): Promise<never> {
  const body: Record<string, unknown> = {
    denied: true,
    reason_code: d.reason_code,
    explanation: d.explanation,
    human_explanation: d.explanation,
    suggested_action: d.suggested_action,
    ...(d.retry_after_s !== undefined ? { retry_after_s: d.retry_after_s } : {}),
    checks: d.checks,
  };
  if ((d.reason_code === 'WINDOW_CLOSED_TEMPLATE_REQUIRED' || d.reason_code === 'TEMPLATE_NOT_FOUND') && typeof to === 'string') {
    // Only templates the gate would allow for this customer now (an opted-out category drops out).
    const fit = await fittingTemplates(t.ctx, { to, sender }).catch(() => null);
    if (fit) {
      body.fitting_templates = fit;
      if (fit.length)
        body.suggested_action = `${d.suggested_action} Allowed for this customer now: ${fit.map((x) => `${x.name} (${x.category}; ${x.parameters})`).join(', ')}.`;
    }
  }
  throw new ToolDenial(body);
}

async function sent(t: ToolCtx, r: SubmitResult, sender: string | undefined, to?: unknown): Promise<Record<string, unknown>> {
  if (r.http_status !== 202) await denial(t, r.decision, sender, to);
  return { status: r.status, message_id: r.id, id: r.id, decision: r.decision, ...(r.replayed ? { replayed: true } : {}) };
}

async function send(t: ToolCtx, body: Record<string, unknown>, a: Record<string, unknown>): Promise<Record<string, unknown>> {
  const sender = str(a.sender);
  const r = await submitMessage(t.ctx, { body: addressed(body), sender, idempotency_key: str(a.idempotency_key), actor: t.actor });
  return sent(t, r, sender, isBsuid(body.to) ? undefined : body.to);
}

/** A business-scoped user id given as the tool's `to` goes to Meta as `recipient` (Meta's field for it). */
function addressed(body: Record<string, unknown>): Record<string, unknown> {
  if (!isBsuid(body.to)) return body;
  const { to, ...rest } = body;
  return { ...rest, recipient: to };
}

// ---------------------------------------------------------------------------------------------
// The tools

const MESSAGE_TYPES = ['marketing', 'utility', 'authentication', 'service', 'template', 'text'] as const;

export const TOOLS: ToolDef[] = [
  {
    name: 'check_compliance',
    title: 'Check compliance (dry run)',
    description:
      'Would this message be allowed right now? Runs every rule (opt-out, 24 h customer-service window, template status and parameters, marketing frequency cap, messaging-limit tier, quiet hours, tag and country policies, sender state) without sending or reserving anything. Give either a full Meta message body in `message`, or a `template_name` (+ `variables`), or just a `message_type`: "service" checks a free-form text; "marketing"/"utility"/"authentication" checks the first approved template of that category. A denial is a normal answer here (allowed=false) with reason_code, explanation and suggested_action.',
    role: 'read',
    input: {
      customer_id: RECIPIENT('Recipient').optional(),
      to: RECIPIENT('Recipient (alias of customer_id)').optional(),
      message_type: ciEnum(MESSAGE_TYPES)
        .optional()
        .describe(
          'What you want to send: service (free-form), template, or a template category (marketing, utility, authentication). Any case.',
        ),
      template_name: z
        .string()
        .min(1)
        .max(512)
        .optional()
        .describe('Template to check (its stored category decides the rules, not message_type).'),
      locale: z
        .string()
        .min(2)
        .max(15)
        .optional()
        .describe('Template language, e.g. "en_US" (default: the template\'s only or English language).'),
      variables: VARIABLES,
      text: z.string().min(1).max(4096).optional().describe('For a free-form check: the text you would send.'),
      message: z
        .union([z.record(z.string(), z.unknown()), z.string()])
        .optional()
        .describe('Optional: the exact Meta message body ({type, text|template|image|...}); the recipient is always customer_id.'),
      sender: SENDER,
    },
    output: {
      ...DecisionOut,
      human_explanation: z.string(),
      customer_id: z.string(),
      template: z.looseObject({ name: z.string(), language: z.string() }).nullable(),
    },
    annotations: READ,
    async run(a, t) {
      const to = str(a.customer_id) ?? str(a.to);
      if (!to)
        throw appError('INVALID_ARGUMENTS', 'customer_id is required (or to).', {
          fix: 'Pass the recipient\'s phone number (or business-scoped user id) as customer_id, e.g. "+447700900123".',
          details: { field: 'customer_id' },
        });
      const wa_id = await customerKeyOf(t.ctx, to);
      const sender = str(a.sender);
      const msg = jsonArg<Record<string, unknown>>(a.message, 'message', 'object');
      let decision: Decision;
      let template: { name: string; language: string } | null = null;
      const type = str(a.message_type)?.toLowerCase();
      if (msg) {
        const { to: _to, recipient: _recipient, ...content } = msg;
        decision = await checkCompliance(t.ctx, { body: { ...content, ...addressOf(wa_id) }, sender }); // customer_id decides the recipient
      } else if (a.template_name && a.variables === undefined) {
        // No parameters given: judge the template with sample ones (is it allowed for this customer now?).
        const e = await categoryEligibility(t.ctx, { wa_id, template_name: String(a.template_name), locale: str(a.locale), sender });
        decision = e.decision;
        template = e.template;
      } else if (a.template_name) {
        const body = await templateMessageBody(t.ctx, {
          to: wa_id,
          template_name: String(a.template_name),
          locale: str(a.locale),
          variables: variablesArg(a.variables),
          sender,
        });
        const tpl = body.template as { name: string; language: { code: string } };
        template = { name: tpl.name, language: tpl.language.code };
        decision = await checkCompliance(t.ctx, { body: addressed(body), sender });
      } else if (!type || type === 'service' || type === 'text') {
        decision = await checkCompliance(t.ctx, {
          body: { ...addressOf(wa_id), type: 'text', text: { body: str(a.text) ?? 'compliance check' } },
          sender,
        });
      } else if (type === 'template') {
        throw appError('INVALID_ARGUMENTS', 'message_type "template" needs template_name.', {
          fix: 'Pass template_name (and variables), or use message_type marketing/utility/authentication to check a category.',
          details: { field: 'template_name' },
        });
      } else {
        const e = await categoryEligibility(t.ctx, { wa_id, category: type as 'marketing' | 'utility' | 'authentication', sender });
        decision = e.decision;
        template = e.template;
      }
      return { ...decision, human_explanation: decision.explanation, customer_id: wa_id, template };
    },
  },
  {
    name: 'send_message',
    title: 'Send a free-form text',
    description:
      'Queues a free-form text message. Allowed only inside the 24 h customer-service window the customer opened by writing to you; outside it the answer is an error WINDOW_CLOSED_TEMPLATE_REQUIRED naming the approved templates to use instead (send_template). Returns message_id: poll get_delivery_status with it.',
    role: 'send',
    input: {
      to: RECIPIENT('Recipient'),
      text: z.string().min(1).max(4096).describe('Message text, up to 4096 characters.'),
      preview_url: z.boolean().optional().describe('Show a link preview for the first URL in the text.'),
      reply_to: z.string().min(1).max(256).optional().describe('wamid of a customer message to quote (contextual reply).'),
      category: DIRECT_SEND,
      ttl_seconds: DIRECT_SEND_TTL,
      sender: SENDER,
      idempotency_key: IDEMPOTENCY_KEY,
    },
    output: SendOut,
    annotations: SEND,
    run: (a, t) =>
      send(
        t,
        {
          to: a.to,
          type: 'text',
          text: { body: a.text, ...(a.preview_url !== undefined ? { preview_url: a.preview_url } : {}) },
          ...(a.reply_to ? { context: { message_id: a.reply_to } } : {}),
          ...directSendArgs(a),
        },
        a,
      ),
  },
  {
    name: 'send_template',
    title: 'Send an approved template',
    description:
      "Queues an approved WhatsApp template message: the only way to start a conversation or write after the 24 h window closed. The template's category (as Meta approved it) decides the rules: marketing needs no opt-out, respects the frequency cap and quiet hours. A template send does NOT open a customer-service window. Use list_templates to find names and their parameters.",
    role: 'send',
    input: {
      to: RECIPIENT('Recipient'),
      template_name: z.string().min(1).max(512).describe('Template name, e.g. "order_update".'),
      locale: z
        .string()
        .min(2)
        .max(15)
        .optional()
        .describe('Template language code, e.g. "en_US" (default: the template\'s only or English language).'),
      variables: VARIABLES,
      components: COMPONENTS,
      sender: SENDER,
      idempotency_key: IDEMPOTENCY_KEY,
    },
    output: SendOut,
    annotations: SEND,
    async run(a, t) {
      const components = jsonArg<unknown[]>(a.components, 'components', 'array');
      const body = await templateMessageBody(t.ctx, {
        to: String(a.to),
        template_name: String(a.template_name),
        locale: str(a.locale),
        variables: variablesArg(a.variables),
        components,
        sender: str(a.sender),
      });
      return send(t, body, a);
    },
  },
  {
    name: 'reply_customer',
    title: 'Reply to a customer',
    description:
      "Replies with free-form text inside the customer's open 24 h service window (the customer wrote within the last 24 h). If the window is closed the answer is an error WINDOW_CLOSED_TEMPLATE_REQUIRED with the approved templates that fit. Use check_conversation first if unsure.",
    role: 'send',
    input: {
      customer_id: RECIPIENT('Customer'),
      message_text: z.string().min(1).max(4096).describe('Reply text, up to 4096 characters.'),
      reply_to: z.string().min(1).max(256).optional().describe('wamid of the customer message being answered (shows as a quote).'),
      sender: SENDER,
      idempotency_key: IDEMPOTENCY_KEY,
    },
    output: SendOut,
    annotations: SEND,
    run: (a, t) =>
      send(
        t,
        { to: a.customer_id, type: 'text', text: { body: a.message_text }, ...(a.reply_to ? { context: { message_id: a.reply_to } } : {}) },
        a,
      ),
  },
  {
    name: 'send_media',
    title: 'Send an image, video, audio, document or sticker',
    description:
      'Queues a media message (inside the customer-service window, as any free-form message). Give a public https `link` or an uploaded `media_id`.',
    role: 'send',
    input: {
      to: RECIPIENT('Recipient'),
      media_type: z.enum(['image', 'video', 'audio', 'document', 'sticker']).describe('Kind of media.'),
      link: z.string().min(1).max(2000).optional().describe('Public http(s) URL of the file.'),
      media_id: z.string().min(1).max(256).optional().describe('Id of media uploaded to Meta (instead of link).'),
      caption: z.string().min(1).max(1024).optional().describe('Caption (image, video, document).'),
      filename: z.string().min(1).max(240).optional().describe('File name shown for a document.'),
      sender: SENDER,
      idempotency_key: IDEMPOTENCY_KEY,
    },
    output: SendOut,
    annotations: SEND,
    run(a, t) {
      const type = String(a.media_type);
      const media: Record<string, unknown> = {};
      if (a.link !== undefined) media.link = a.link;
      if (a.media_id !== undefined) media.id = a.media_id;
      if (a.caption !== undefined) media.caption = a.caption;
      if (a.filename !== undefined) media.filename = a.filename;
      return send(t, { to: a.to, type, [type]: media }, a);
    },
  },
  {
    name: 'send_interactive',
    title: 'Send an interactive message (buttons, list, CTA URL, flow)',
    description:
      'Queues an interactive message inside the customer-service window. `interactive` is Meta\'s interactive object, e.g. {"type":"button","body":{"text":"Pick one"},"action":{"buttons":[{"type":"reply","reply":{"id":"yes","title":"Yes"}}]}}. Limits (3 buttons, 10 list rows, 20-character titles...) are checked with the field named.',
    role: 'send',
    input: {
      to: RECIPIENT('Recipient'),
      interactive: z.union([z.record(z.string(), z.unknown()), z.string()]).describe('Meta\'s "interactive" object (or its JSON string).'),
      category: DIRECT_SEND,
      ttl_seconds: DIRECT_SEND_TTL,
      sender: SENDER,
      idempotency_key: IDEMPOTENCY_KEY,
    },
    output: SendOut,
    annotations: SEND,
    run: async (a, t) =>
      send(t, { to: a.to, type: 'interactive', interactive: jsonArg(a.interactive, 'interactive', 'object'), ...directSendArgs(a) }, a),
  },
  {
    name: 'mark_as_read',
    title: 'Mark a customer message as read',
    description: 'Marks an inbound customer message as read at Meta (blue ticks). Takes the wamid from the inbound webhook.',
    role: 'send',
    input: { message_id: z.string().min(1).max(256).describe('wamid of the customer\'s message ("wamid.…").'), sender: SENDER },
    output: { success: z.boolean(), message_id: z.string(), sender: z.string() },
    annotations: { ...WRITE_IDEMPOTENT, openWorldHint: true },
    run: (a, t) => markAsRead(t.ctx, { message_id: String(a.message_id), sender: str(a.sender) }) as Promise<Record<string, unknown>>,
  },
  {
    name: 'explain_error',
    title: 'Explain a Meta error code',
    description:
      'What a WhatsApp Cloud API error code means, whether wagate retries it, and the exact fix steps (e.g. 190: invalid access token → generate a System User token...). Accepts 131047, "131047", "#131047".',
    role: 'read',
    input: {
      code: z.union([z.number().int(), z.string().min(1).max(20)]).describe('Meta error code, e.g. 131047 or 190.'),
      subcode: z
        .union([z.number().int(), z.string().min(1).max(20)])
        .optional()
        .describe('error_subcode, mainly for 190 (e.g. 463 expired, 467 invalid).'),
      sender: SENDER,
    },
    output: {
      code: z.number(),
      category: z.string(),
      can_retry: z.boolean(),
      title: z.string(),
      meaning: z.string(),
      explanation: z.string(),
      fix: z.string(),
      human_explanation: z.string(),
      suggested_action: z.string(),
      action: z.string(),
      known: z.boolean(),
    },
    annotations: READ,
    async run(a) {
      const x = explainError(null, { code: a.code as number, subcode: a.subcode as number | undefined });
      return { ...x, human_explanation: x.human_explanation || x.meaning, suggested_action: x.suggested_action || x.fix };
    },
  },
  {
    name: 'retry_failed_messages',
    title: 'Retry failed messages',
    description:
      'Re-sends failed or dead-lettered messages as new messages through every rule again (the window, opt-outs and caps are judged now). Safe to call twice: each message is retried once. Returns per-message results (retried with new_message_id, skipped, or denied with the reason).',
    role: 'send',
    input: {
      message_ids: z
        .union([z.array(z.string().min(1).max(100)).min(1).max(100), z.string()])
        .describe('Message ids from send_* ("msg_…"): an array, or a JSON string of one.'),
      sender: SENDER,
    },
    output: {
      results: z.array(z.looseObject({ message_id: z.string(), status: z.string() })),
      retried: z.number(),
      skipped: z.number(),
      denied: z.number(),
    },
    annotations: { ...SEND, idempotentHint: true },
    async run(a, t) {
      const ids = jsonArg<unknown[]>(a.message_ids, 'message_ids', 'array') ?? [];
      if (ids.some((x) => typeof x !== 'string'))
        throw appError('INVALID_ARGUMENTS', 'message_ids: every id must be a string.', {
          fix: 'Pass ["msg_…", "msg_…"].',
          details: { field: 'message_ids' },
        });
      const p = principal(t);
      return (await retryFailedMessages(t.ctx, {
        message_ids: ids as string[],
        actor: t.actor,
        visible: (s) => senderAllowed(t.ctx, p, s),
      })) as unknown as Record<string, unknown>;
    },
  },
  {
    name: 'sync_template_status',
    title: "Sync a template's status from Meta",
    description:
      "Fetches the templates from Meta and returns this template's current status (APPROVED, PENDING, REJECTED, PAUSED...), category and quality, with what to do next.",
    role: 'admin',
    input: {
      template_name: z.string().min(1).max(512).describe('Template name.'),
      locale: z.string().min(2).max(15).optional().describe('Language, e.g. "en_US".'),
      sender: SENDER,
    },
    output: { template_name: z.string(), locale: z.string(), status: z.string(), category: z.string(), synced: z.number() },
    annotations: { ...WRITE_IDEMPOTENT, openWorldHint: true },
    run: (a, t) => syncTemplateStatus(t.ctx, { template_name: String(a.template_name), locale: str(a.locale), sender: str(a.sender) }),
  },
  {
    name: 'check_conversation',
    title: 'Is the customer-service window open?',
    description:
      'The conversation between a customer and a sender: whether the 24 h window (opened only by the customer writing) is open, when it closes, seconds remaining, and any 72 h free-entry-point window.',
    role: 'read',
    input: { customer_id: RECIPIENT('Customer'), sender: SENDER },
    output: {
      conversation_id: z.string(),
      customer_id: z.string(),
      sender: z.string(),
      window_open: z.boolean(),
      time_remaining_secs: z.number(),
      window_expires_at: z.string(),
      last_inbound_at: z.string(),
      free_entry_point_open: z.boolean(),
      archived: z.boolean(),
      known: z.boolean(),
    },
    annotations: READ,
    run: (a, t) =>
      checkConversation(t.ctx, { customer_id: String(a.customer_id), sender: str(a.sender) }) as unknown as Promise<
        Record<string, unknown>
      >,
  },
  {
    name: 'check_frequency_cap',
    title: 'Marketing frequency cap for a customer',
    description:
      'How many marketing messages this customer got in the rolling 24 h, the cap, and whether a marketing template would be allowed now (with the reason if not).',
    role: 'read',
    input: { customer_id: RECIPIENT('Customer'), sender: SENDER },
    output: {
      customer_id: z.string(),
      is_capped: z.boolean(),
      marketing_count_24h: z.number(),
      limit: z.number(),
      marketing_eligible: z.boolean(),
      reason_code: Nstr,
      reason: z.string(),
      suggested_action: z.string(),
    },
    annotations: READ,
    run: (a, t) => checkFrequencyCap(t.ctx, { customer_id: String(a.customer_id), sender: str(a.sender) }),
  },
  {
    name: 'get_customer_context',
    title: 'Everything about a customer',
    description:
      'Consent per category (with source and time), open windows, tags, time zone, marketing count, and for each category (marketing, utility, authentication, service) whether a message would be allowed now and why not.',
    role: 'read',
    input: { customer_id: RECIPIENT('Customer'), sender: SENDER },
    output: {
      wa_id: z.string(),
      known: z.boolean(),
      consent: Loose,
      windows: z.array(Loose),
      tags: z.array(z.string()),
      eligibility: Loose,
      marketing_count_24h: z.number(),
    },
    annotations: READ,
    run: async (a, t) =>
      visibleCustomer(
        t.ctx,
        principal(t),
        await getCustomerContext(t.ctx, { customer_id: String(a.customer_id), sender: str(a.sender) }),
      ) as unknown as Record<string, unknown>,
  },
  {
    name: 'get_delivery_status',
    title: 'Delivery status of a message',
    description:
      'Current status of a message sent through wagate (queued, sending, accepted, sent, delivered, read, failed, dead_lettered) with its full history, and for a failure the Meta error explained with its fix. Use the message_id returned by send_*.',
    role: 'read',
    input: { message_id: z.string().min(1).max(100).describe('wagate message id ("msg_…").'), sender: SENDER },
    output: { message_id: z.string(), status: z.string(), history: z.array(Loose), error: Loose.nullable() },
    annotations: READ,
    async run(a, t) {
      const { message, error } = await getDeliveryStatus(t.ctx, String(a.message_id));
      requireVisible(t, message.sender_id, 'message', String(a.message_id));
      return { ...messageView(message), error };
    },
  },
  {
    name: 'get_rate_limit',
    title: 'Throughput and messaging limits of a sender',
    description:
      "The sender's throughput (messages per second), Meta's pair limit to one user, the messaging-limit tier usage (unique recipients in 24 h) and the delivery queue depth.",
    role: 'read',
    input: { sender: SENDER },
    output: { sender: z.string(), capacity_mps: z.number(), messaging_limit: Loose, pair_limit: Loose },
    annotations: READ,
    run: (a, t) => getRateLimit(t.ctx, { sender: str(a.sender) }),
  },
  {
    name: 'list_conversations',
    title: 'List conversations',
    description:
      'Conversations (one per customer and sender), newest first. status_filter: open (window open), closed, expiring_soon (closing within 2 h: reply now), archived; default all not archived.',
    role: 'read',
    input: {
      status_filter: ciEnum(['all', 'open', 'closed', 'expiring_soon', 'archived'])
        .optional()
        .describe('Which conversations (default: all not archived).'),
      limit: LIMIT,
      offset: OFFSET,
      sender: SENDER,
    },
    output: { conversations: z.array(Loose), count: z.number(), has_more: z.boolean(), limit: z.number(), offset: z.number() },
    annotations: READ,
    run: (a, t) =>
      listConversations(t.ctx, {
        status_filter: str(a.status_filter),
        limit: a.limit as number | undefined,
        offset: a.offset as number | undefined,
        sender: str(a.sender),
      }) as unknown as Promise<Record<string, unknown>>,
  },
  {
    name: 'list_templates',
    title: 'List message templates',
    description:
      "Templates of the sender's WhatsApp Business Account with status, category, language, body text and the parameters a send must give. Filters are case-insensitive.",
    role: 'read',
    input: {
      status_filter: z.string().max(30).optional().describe('APPROVED, PENDING, REJECTED, PAUSED, DISABLED...'),
      category_filter: z.string().max(30).optional().describe('marketing, utility or authentication.'),
      locale_filter: z.string().max(15).optional().describe('Language code, e.g. en_US.'),
      limit: LIMIT,
      offset: OFFSET,
      sender: SENDER,
    },
    output: { templates: z.array(Loose), total: z.number(), limit: z.number(), offset: z.number() },
    annotations: READ,
    run: (a, t) =>
      listTemplates(t.ctx, {
        status_filter: str(a.status_filter),
        category_filter: str(a.category_filter),
        locale_filter: str(a.locale_filter),
        limit: a.limit as number | undefined,
        offset: a.offset as number | undefined,
        sender: str(a.sender),
      }) as unknown as Promise<Record<string, unknown>>,
  },
  {
    name: 'get_account_quality',
    title: 'Quality rating and messaging limit',
    description:
      "The phone number's quality rating (GREEN/YELLOW/RED), messaging-limit tier and throughput as Meta reports them now (or the last health check if Meta cannot be reached), with the sender's state.",
    role: 'read',
    input: { sender: SENDER },
    output: { sender: z.string(), phone_number_id: z.string(), quality_rating: Nstr, messaging_limit_tier: Nstr, source: z.string() },
    annotations: READ_META,
    run: (a, t) => getAccountQuality(t.ctx, { sender: str(a.sender) }),
  },
  {
    name: 'estimate_cost',
    title: 'Estimate the cost of messages',
    description:
      "Estimated Meta charge for `quantity` messages of a category to a market, by Meta's rules on the send date (send_at, default now). From 1 Jul 2025 only delivered templates are charged (service messages and utility inside an open window are free); from 1 Oct 2026 service messages cost the market's utility rate beyond the number's monthly free allowance (free_quantity says how many are left free) and utility inside the window is charged. Anything inside a free-entry-point window is free. Give customer_id to account for that customer's open windows. Rates come from a data file with its source and date.",
    role: 'read',
    input: {
      message_type: ciEnum(['marketing', 'utility', 'authentication', 'authentication_international', 'service']).describe(
        'Template category, or service for free-form.',
      ),
      recipient_country: z
        .string()
        .min(2)
        .max(40)
        .optional()
        .describe('ISO country code ("BR") or a phone number; required unless customer_id is given.'),
      quantity: z.number().int().min(1).max(10_000_000).optional().describe('Number of messages (default 1).'),
      customer_id: PHONE('Customer (optional)').optional(),
      sender: SENDER,
      send_at: SEND_AT,
    },
    output: {
      message_type: z.string(),
      recipient_country: z.string(),
      quantity: z.number(),
      billable: z.boolean(),
      cost_per_message: z.number(),
      total_estimated_cost: z.number(),
      currency: z.string(),
      source: z.string(),
      as_of: z.string(),
    },
    annotations: READ,
    run: (a, t) =>
      estimateCost(t.ctx, {
        message_type: a.message_type,
        recipient_country: str(a.recipient_country),
        quantity: a.quantity as number | undefined,
        customer_id: str(a.customer_id),
        sender: str(a.sender),
        send_at: str(a.send_at),
      }) as unknown as Promise<Record<string, unknown>>,
  },
  {
    name: 'estimate_pricing',
    title: 'Price per message in a market',
    description:
      "The list rate per delivered message for a category in the recipient's market on the send date (send_at, default now), with its source and date: service is free before 1 Oct 2026 and costs the utility rate from then, after a monthly free allowance per number.",
    role: 'read',
    input: {
      conversation_type: ciEnum(['marketing', 'utility', 'authentication', 'authentication_international', 'service']).describe(
        'Template category, or service.',
      ),
      recipient_country: z.string().min(2).max(40).describe('ISO country code ("IN") or a phone number.'),
      sender: SENDER,
      send_at: SEND_AT,
    },
    output: {
      country: z.string(),
      conversation_type: z.string(),
      cost_per_message: z.number(),
      currency: z.string(),
      effective_date: z.string(),
      source: z.string(),
    },
    annotations: READ,
    run: async (a, t) =>
      estimatePricing(
        { conversation_type: a.conversation_type, recipient_country: str(a.recipient_country), send_at: str(a.send_at) },
        t.ctx,
      ) as unknown as Record<string, unknown>,
  },
  {
    name: 'create_template',
    title: 'Create a message template',
    description:
      'Submits a new template to Meta for review. Names are lower-case letters, digits and "_". Give body_text (a simple body-only template; {{1}}.. variables need `example` values) or Meta\'s full `components`. The answer has the status Meta gave (PENDING, sometimes APPROVED at once) and the category Meta assigned.',
    role: 'admin',
    input: {
      name: z.string().min(1).max(512).describe('Template name, e.g. "order_shipped_v2".'),
      category: z.string().min(1).max(30).describe('MARKETING, UTILITY or AUTHENTICATION (any case).'),
      language: z.string().min(2).max(15).describe('Language code, e.g. "en_US".'),
      body_text: z.string().min(1).max(1024).optional().describe('Body text with {{1}}.. placeholders.'),
      examples: z
        .union([z.array(z.string()), z.string()])
        .optional()
        .describe("Example values for body_text's placeholders (Meta requires them)."),
      components: COMPONENTS,
      sender: SENDER,
    },
    output: { id: z.string(), name: z.string(), language: z.string(), status: z.string(), category: z.string() },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    async run(a, t) {
      let components = jsonArg<unknown[]>(a.components, 'components', 'array');
      if (!components) {
        if (!a.body_text)
          throw appError('INVALID_ARGUMENTS', 'body_text or components is required.', {
            fix: 'Give body_text ("Hi {{1}}, your order shipped") with examples, or Meta\'s components array.',
            details: { field: 'body_text' },
          });
        const ex = jsonArg<string[]>(a.examples, 'examples', 'array');
        components = [{ type: 'BODY', text: a.body_text, ...(ex?.length ? { example: { body_text: [ex] } } : {}) }];
      }
      return createTemplate(t.ctx, str(a.sender), {
        name: String(a.name),
        language: String(a.language),
        category: String(a.category),
        components,
      });
    },
  },
  {
    name: 'sync_webhooks',
    title: 'Re-sync templates and report overdue statuses',
    description:
      'Re-syncs every template from Meta and lists messages whose status webhook is overdue (Meta offers no per-message status query; in-doubt sends are resolved by the worker).',
    role: 'admin',
    input: {
      stale_after_min: z
        .number()
        .int()
        .min(1)
        .max(10_080)
        .optional()
        .describe('Minutes without a status before a message counts as overdue (default 5).'),
      sender: SENDER,
    },
    output: { template_synced: z.boolean(), templates: z.number(), messages_awaiting_status: z.number() },
    annotations: { ...WRITE_IDEMPOTENT, openWorldHint: true },
    run: (a, t) => syncWebhooks(t.ctx, { sender: str(a.sender), stale_after_min: a.stale_after_min as number | undefined }),
  },
  {
    name: 'archive_chat',
    title: 'Archive a conversation',
    description:
      'Archives a conversation whose window has closed (hidden from list_conversations until the customer writes again). An open conversation cannot be archived (CONVERSATION_ACTIVE).',
    role: 'send',
    input: {
      conversation_id: z.string().min(3).max(140).describe('Conversation id from list_conversations: "<sender>:<customer digits>".'),
      sender: SENDER,
    },
    output: { conversation_id: z.string(), status: z.string(), archived_at: z.string() },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    impliedSender: (a) => (typeof a.conversation_id === 'string' ? /^([^:]+):/.exec(a.conversation_id)?.[1] : undefined),
    run: (a, t) =>
      archiveChat(t.ctx, { conversation_id: String(a.conversation_id), actor: t.actor }) as unknown as Promise<Record<string, unknown>>,
  },
  {
    name: 'set_consent',
    title: 'Record an opt-in or opt-out',
    description:
      "Records the customer's consent for one category (marketing, utility, authentication, service) with where it came from. An opt-out blocks that category at once; marketing needs no opt-out to be sent. Consent is per customer, shared by every sender: a key limited to some senders may record an opt-out but not lift one (CONSENT_LIFT_FORBIDDEN; the customer can write START).",
    role: 'send',
    input: {
      customer_id: RECIPIENT('Customer'),
      category: ciEnum(['marketing', 'utility', 'authentication', 'service']).describe('Which messages the consent is about.'),
      state: z.enum(['opted_in', 'opted_out', 'unknown']).describe('opted_in, opted_out, or unknown (forget).'),
      source: z.string().min(1).max(200).optional().describe('Where it came from, e.g. "checkout form 2026-05-01" or "phone call".'),
      sender: SENDER,
    },
    output: { wa_id: z.string(), consent: Loose },
    annotations: WRITE_IDEMPOTENT,
    async run(a, t) {
      const wa_id = await customerKeyOf(t.ctx, a.customer_id);
      const p = principal(t);
      await setConsent(t.ctx, {
        wa_id,
        category: lower(a.category) as 'marketing',
        state: a.state as 'opted_in',
        source: str(a.source) ?? t.actor,
        actor: t.actor,
        may_lift_opt_out: mayLiftOptOut(p),
      });
      return visibleCustomer(t.ctx, p, await getCustomerView(t.ctx, wa_id)) as unknown as Record<string, unknown>;
    },
  },
  {
    name: 'get_sender_health',
    title: 'Sender health',
    description:
      "The sender's state (active, paused, halted) and why, token validity and expiry, permissions, quality, limit, throughput and last error.",
    role: 'read',
    input: { sender: SENDER },
    output: { id: z.string(), state: z.string(), credentials_valid: z.boolean() },
    annotations: READ,
    run: (a, t) => getSenderHealth(t.ctx, resolveSender(t.ctx, str(a.sender)).id),
  },
  {
    name: 'resume_sender',
    title: 'Resume a paused or halted sender',
    description:
      'Resumes sending on a paused or halted sender after checking its token with Meta; refuses (with the fix) while the token is still invalid. Queued messages then go out; nothing was dropped.',
    role: 'admin',
    input: { sender: SENDER },
    output: { id: z.string(), state: z.string() },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async run(a, t) {
      const s = resolveSender(t.ctx, str(a.sender));
      await resumeSender(t.ctx, s.id, { actor: t.actor });
      return senderView(t.ctx, s);
    },
  },
  {
    name: 'list_dead_letters',
    title: 'List dead letters',
    description:
      'Messages wagate gave up on (with the reason, the Meta error and the fix). state: open (default: all), replayed, discarded.',
    role: 'read',
    input: {
      state: z.enum(['open', 'replayed', 'discarded']).optional().describe('Filter by state.'),
      limit: LIMIT,
      offset: OFFSET,
      sender: SENDER,
    },
    output: { dead_letters: z.array(Loose), count: z.number() },
    annotations: READ,
    async run(a, t) {
      const p = principal(t);
      const list = (
        await listDeadLetters(t.ctx, {
          state: str(a.state),
          sender: str(a.sender),
          limit: a.limit as number | undefined,
          offset: a.offset as number | undefined,
        })
      ).filter((d) => senderAllowed(t.ctx, p, d.sender_id));
      return { dead_letters: list.map(deadLetterView), count: list.length };
    },
  },
  {
    name: 'replay_dead_letter',
    title: 'Replay a dead letter',
    description:
      'Sends a dead-lettered message again as a new message through every rule (it may be denied now). Safe to repeat: replays once.',
    role: 'admin',
    input: { dead_letter_id: z.string().min(1).max(100).describe('Dead letter id ("dl_…") from list_dead_letters.'), sender: SENDER },
    output: { dead_letter: Loose, status: z.string(), message_id: z.string() },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async run(a, t) {
      requireVisible(
        t,
        (await getDeadLetter(t.ctx, String(a.dead_letter_id))).dead_letter.sender_id,
        'dead letter',
        String(a.dead_letter_id),
      );
      const { dead_letter, result } = await replayDeadLetter(t.ctx, String(a.dead_letter_id), t.actor);
      if (result.http_status !== 202) await denial(t, result.decision, dead_letter.sender_id);
      return { dead_letter: deadLetterView(dead_letter), status: result.status, message_id: result.id, decision: result.decision };
    },
  },
  // campaigns and scheduled messages (src/mcp/campaign-tools.ts)
  ...CAMPAIGN_TOOLS,
];

export { templateView };
