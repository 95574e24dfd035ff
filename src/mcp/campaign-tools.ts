// The MCP tools of campaigns and scheduled messages: the reference's four (schedule_message,
// schedule_campaign, cancel_campaign, pause_campaign) with their names and parameters, plus
// preview_campaign, resume_campaign, get_campaign and list_campaigns. Thin adapters over
// src/campaigns/service.ts, like the HTTP routes; the reference's JSON-inside-a-string arguments are
// accepted. Only types come from tools.ts (which lists these), so there is no import circle at run time.
import { z } from 'zod';
import type { AppContext } from '../engine/context.ts';
import { appError } from '../shared/errors/app-error.ts';
import { templateMessageBody } from '../engine/templates.ts';
import { customerKeyOf } from '../engine/customers.ts';
import type { CampaignService } from '../campaigns/service.ts';
import { isBsuid } from '../domain/identity.ts';
import { normalisePhone } from '../domain/phone.ts';
import { allSenders, LOCAL_PRINCIPAL, requireSender, requireVisible, senderAllowed } from './principal.ts';
import type { ToolCtx, ToolDef } from './tools.ts';

const READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const SEND = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true };
const CHANGE = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false };
const Loose = z.record(z.string(), z.unknown());

const SENDER = z
  .string()
  .min(1)
  .max(100)
  .optional()
  .describe('Sender to use: its alias (e.g. "main") or Meta phone_number_id. Leave out for the default sender.');
/** On an id-based tool: the campaign's sender, if the caller wants it checked (a mismatch is "not found"). */
const SENDER_OF = z
  .string()
  .min(1)
  .max(100)
  .optional()
  .describe("Optional: the campaign's sender (alias or phone_number_id); a campaign of another sender answers not found.");
const CAMPAIGN_ID = z.string().min(1).max(100).describe('Campaign id ("cmp_…") from schedule_campaign or list_campaigns.');
const DELIVER_AT = z.string().min(1).max(64).describe('When: RFC 3339, e.g. "2026-06-01T14:00:00Z" (UTC) or with an offset.');
const JSON_OBJ = (what: string) =>
  z.union([z.record(z.string(), z.unknown()), z.string()]).describe(`${what} (an object, or a JSON string of one).`);

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

function service(ctx: AppContext): CampaignService {
  if (!ctx.campaigns)
    throw appError('NOT_FOUND', 'Campaigns are not available in this process.', {
      fix: 'Run the MCP server through `wagate mcp` or `wagate start`.',
    });
  return ctx.campaigns;
}

/** The reference passed objects and arrays as JSON text; accept both. */
function jsonArg(v: unknown, field: string, kind: 'object' | 'array'): unknown {
  if (v === undefined || v === null || v === '') return undefined;
  let val = v;
  if (typeof v === 'string') {
    try {
      val = JSON.parse(v);
    } catch {
      throw appError('INVALID_ARGUMENTS', `${field}: not valid JSON (invalid ${field} format: must be a JSON ${kind}).`, {
        fix: `Pass ${field} as a real ${kind} (preferred), or as a JSON string of one.`,
        details: { field },
      });
    }
  }
  const ok = kind === 'array' ? Array.isArray(val) : val !== null && typeof val === 'object' && !Array.isArray(val);
  if (!ok)
    throw appError('INVALID_ARGUMENTS', `${field}: expected ${kind === 'array' ? 'an array' : 'an object'}.`, { details: { field } });
  return val;
}

async function visibleCampaign(t: ToolCtx, id: string, sender?: unknown) {
  const c = await service(t.ctx).record(id);
  requireVisible(t.ctx, t.principal ?? LOCAL_PRINCIPAL, c.sender_id, 'campaign', id);
  if (typeof sender === 'string' && sender && t.ctx.senders.find(sender)?.id !== c.sender_id)
    throw appError('CAMPAIGN_NOT_FOUND', `No campaign with id "${id}" on sender "${sender}".`, { details: { field: 'sender' } });
  return c;
}

/**
 * schedule_message's content: the message without its recipient ({type, text|template|...}), or the
 * short forms {"text": "hi"} and {"template_name", "locale", "variables"}. The recipient is
 * customer_id, always: content that names another one is refused (the reference let it redirect).
 */
async function scheduledBody(
  t: ToolCtx,
  customer: string,
  content: Record<string, unknown>,
  sender?: string,
): Promise<Record<string, unknown>> {
  for (const k of ['to', 'recipient'] as const) {
    const v = content[k];
    if (v === undefined) continue;
    const d = typeof v === 'string' ? digitsOf(v) : null;
    const same = typeof v === 'string' && (v === customer || (d !== null && d === digitsOf(customer)));
    if (!same)
      throw appError(
        'INVALID_ARGUMENTS',
        `content.${k} names another recipient than customer_id: content can never change the recipient.`,
        {
          fix: 'Leave the recipient out of content; customer_id says who gets the message.',
          details: { field: `content.${k}` },
        },
      );
  }
  const { to: _to, recipient: _r, ...rest } = content;
  const address = isBsuid(customer) ? { recipient: customer } : { to: customer };
  if (typeof rest.template_name === 'string') {
    const body = await templateMessageBody(t.ctx, {
      to: customer,
      template_name: rest.template_name,
      locale: str(rest.locale),
      variables: rest.variables as string[] | Record<string, string> | undefined,
      sender,
    });
    const { to: _t, ...b } = body;
    return { ...address, ...b };
  }
  if (typeof rest.text === 'string') return { ...address, type: 'text', text: { body: rest.text } };
  if (typeof rest.body === 'string' && rest.type === undefined) return { ...address, type: 'text', text: { body: rest.body } };
  return { ...address, ...rest };
}

function digitsOf(v: string): string | null {
  const p = normalisePhone(v);
  return p.ok ? p.digits : null;
}

function campaignOut(v: Record<string, unknown>): Record<string, unknown> {
  return { campaign_id: v.id, ...v };
}

export const CAMPAIGN_TOOLS: ToolDef[] = [
  {
    name: 'schedule_message',
    title: 'Schedule a message',
    description:
      'Stores one message to send at deliver_at. The compliance gate runs now (an opted-out customer or an invalid message is refused at once) and again when it is due; the recipient is customer_id and nothing in content can change it. content is the message without recipient: {"type":"text","text":{"body":"…"}}, {"text":"…"}, or {"template_name":"…","locale":"en_US","variables":[…]}.',
    role: 'send',
    input: {
      customer_id: z
        .string()
        .min(1)
        .max(140)
        .describe('Recipient: phone number with country code (e.g. "+447700900123") or business-scoped user id.'),
      message_type: z
        .string()
        .max(40)
        .optional()
        .describe(
          'Accepted for compatibility (marketing, utility, service, template): the category comes from the template record, never from here.',
        ),
      content: JSON_OBJ('The message without its recipient'),
      deliver_at: DELIVER_AT,
      channel: z.string().max(40).optional().describe('Only "whatsapp".'),
      sender: SENDER,
    },
    output: { message_id: z.string(), status: z.string(), deliver_at: z.string(), customer_id: z.string() },
    annotations: SEND,
    async run(a, t) {
      if (a.channel !== undefined && a.channel !== 'whatsapp')
        throw appError('INVALID_ARGUMENTS', `channel "${String(a.channel)}" is not supported.`, {
          fix: 'Use "whatsapp" or leave it out.',
          details: { field: 'channel' },
        });
      const customer = String(a.customer_id);
      await customerKeyOf(t.ctx, customer); // a clear error for a bad number, before anything else
      const content = (jsonArg(a.content, 'content', 'object') ?? {}) as Record<string, unknown>;
      const body = await scheduledBody(t, customer, content, str(a.sender));
      const r = await service(t.ctx).schedule({ body, sender: str(a.sender), deliver_at: a.deliver_at }, t.actor);
      return { ...r, message_id: r.id, customer_id: r.recipient };
    },
  },
  {
    name: 'schedule_campaign',
    title: 'Schedule a campaign',
    description:
      'Creates a template campaign and starts it at deliver_at (now when absent). Every recipient goes through the compliance gate when sent (opt-outs, caps, quiet hours, tier budget: denied ones are counted by reason), paced by the number and the portfolio messaging limit. Audience: `recipients` [{to | recipient, variables?}] or `audience_filter` over known customers: {tags (all of them), exclude_tag(s) (none of them), consent (["opted_in"] and/or ["unknown"], for the template category) or require_opt_in (true), country (ISO codes, e.g. ["IN"]), sender (only customers who have written to this sender), last_inbound_since (wrote since then: to that sender, else to the campaign sender), channel ("whatsapp" only)}; {} = every known customer not opted out (for a key limited to some senders: those who wrote to the campaign sender); an unknown key or value is refused. `variables` apply to recipients without their own. Invalid rows are reported by index. Use preview_campaign first to see what would be sent, denied, cost and take.',
    role: 'send',
    input: {
      name: z.string().min(1).max(200).describe('Campaign name, for people (e.g. "spring sale").'),
      type: z
        .string()
        .max(40)
        .optional()
        .describe('Accepted for compatibility (broadcast, marketing, utility): the category comes from the template record.'),
      template_name: z
        .string()
        .min(1)
        .max(512)
        .describe('Approved template to send; its category (from the template record) decides the rules.'),
      locale: z.string().min(2).max(15).optional().describe('Template language, e.g. "en_US".'),
      deliver_at: DELIVER_AT.optional(),
      variables: z
        .union([z.array(z.string()), z.record(z.string(), z.string()), z.string()])
        .optional()
        .describe('Template parameters for recipients without their own (array: {{1}}..{{n}}; object: named).'),
      audience_filter: JSON_OBJ('Filter over known customers').optional(),
      recipients: z
        .union([z.array(z.record(z.string(), z.unknown())), z.string()])
        .optional()
        .describe('Explicit list: [{"to": "+447700900123", "variables": ["Ana"]}, {"recipient": "US.134…"}] (or a JSON string of it).'),
      options: JSON_OBJ(
        'max_failure_rate, max_opt_out_rate, guard_min_sample, pause_on_quality ("YELLOW" default, or "RED"), rate_mps, local_time ("HH:MM" in each recipient\'s zone)',
      ).optional(),
      sender: SENDER,
    },
    output: { campaign_id: z.string(), status: z.string(), name: z.string(), deliver_at: z.string().nullable() },
    annotations: SEND,
    async run(a, t) {
      const s = service(t.ctx);
      const recipients = jsonArg(a.recipients, 'recipients', 'array') as unknown[] | undefined;
      const filter = jsonArg(a.audience_filter, 'audience_filter', 'object') as Record<string, unknown> | undefined;
      if (typeof filter?.sender === 'string') requireSender(t.ctx, t.principal ?? LOCAL_PRINCIPAL, filter.sender);
      const audience = recipients ? { recipients } : { filter: filter ?? {} };
      const v = await s.create(
        {
          name: a.name,
          sender: str(a.sender),
          template: { name: a.template_name, language: str(a.locale) },
          audience,
          deliver_at: a.deliver_at,
          options: jsonArg(a.options, 'options', 'object'),
          variables: a.variables,
        },
        t.actor,
        undefined,
        { own_customers_only: !allSenders(t.principal ?? LOCAL_PRINCIPAL) },
      );
      const started = v.status === 'draft' ? await s.start(v.id, t.actor) : v;
      return { ...campaignOut(started as unknown as Record<string, unknown>), type: str(a.type) ?? null };
    },
  },
  {
    name: 'preview_campaign',
    title: 'Preview a campaign (dry run)',
    description:
      'Runs the whole gate for every recipient without sending or reserving anything: how many would be sent, denied and why (reason codes), the estimated cost by country and category, how much of the portfolio messaging limit it needs, and how long it would take (eta_s).',
    role: 'read',
    input: { campaign_id: CAMPAIGN_ID, sender: SENDER_OF },
    output: { total: z.number(), allowed: z.number(), denied: Loose, eta_s: z.number() },
    annotations: READ,
    async run(a, t) {
      await visibleCampaign(t, String(a.campaign_id), a.sender);
      return service(t.ctx).preview(String(a.campaign_id));
    },
  },
  {
    name: 'pause_campaign',
    title: 'Pause a campaign',
    description:
      'Stops dispatch within a second; messages queued but not yet sent are held back. Progress counters are kept and resume_campaign continues where it stopped. Allowed from running or scheduled.',
    role: 'send',
    input: { campaign_id: CAMPAIGN_ID, reason: z.string().max(500).optional().describe('Why (kept as status_reason).'), sender: SENDER_OF },
    output: { campaign_id: z.string(), status: z.string(), from_status: z.string(), note: z.string() },
    annotations: CHANGE,
    async run(a, t) {
      const c = await visibleCampaign(t, String(a.campaign_id), a.sender);
      const v = await service(t.ctx).pause(c.id, t.actor, str(a.reason));
      return {
        ...campaignOut(v as unknown as Record<string, unknown>),
        from_status: c.status,
        note: 'Campaign paused. Progress counters preserved; resume_campaign continues where it stopped.',
      };
    },
  },
  {
    name: 'resume_campaign',
    title: 'Resume a paused campaign',
    description: 'Continues a paused campaign where it stopped: recipients already sent are never sent again.',
    role: 'send',
    input: { campaign_id: CAMPAIGN_ID, sender: SENDER_OF },
    output: { campaign_id: z.string(), status: z.string() },
    annotations: CHANGE,
    async run(a, t) {
      const c = await visibleCampaign(t, String(a.campaign_id), a.sender);
      return campaignOut((await service(t.ctx).resume(c.id, t.actor)) as unknown as Record<string, unknown>);
    },
  },
  {
    name: 'cancel_campaign',
    title: 'Cancel a campaign',
    description:
      'Cancels a campaign for good: messages not yet sent are withdrawn and their gate reservations released. A completed or cancelled campaign answers CAMPAIGN_TERMINAL_STATE.',
    role: 'send',
    input: { campaign_id: CAMPAIGN_ID, reason: z.string().max(500).optional().describe('Default "cancelled by user".'), sender: SENDER_OF },
    output: { campaign_id: z.string(), status: z.string(), from_status: z.string() },
    annotations: CHANGE,
    async run(a, t) {
      const c = await visibleCampaign(t, String(a.campaign_id), a.sender);
      const v = await service(t.ctx).cancel(c.id, t.actor, str(a.reason) ?? 'cancelled by user');
      return campaignOut(v as unknown as Record<string, unknown>);
    },
  },
  {
    name: 'get_campaign',
    title: 'Get a campaign',
    description:
      'A campaign with its state and live counters (pending, queued, sent, delivered, read, failed by Meta code, denied by reason, opted out during the campaign), progress and ETA.',
    role: 'read',
    input: { campaign_id: CAMPAIGN_ID, sender: SENDER_OF },
    output: { campaign_id: z.string(), status: z.string(), counts: Loose },
    annotations: READ,
    async run(a, t) {
      const c = await visibleCampaign(t, String(a.campaign_id), a.sender);
      return campaignOut((await service(t.ctx).view(c)) as unknown as Record<string, unknown>);
    },
  },
  {
    name: 'list_campaigns',
    title: 'List campaigns',
    description:
      'Campaigns, newest first, with their counters. status filters (comma-separated): draft, scheduled, running, paused, completed, cancelled.',
    role: 'read',
    input: {
      status: z.string().max(100).optional().describe('Only these states, comma-separated (e.g. "running,paused").'),
      limit: z.number().int().min(1).max(200).optional().describe('Page size, 1-200 (default 50).'),
      offset: z.number().int().min(0).optional().describe('Items to skip (default 0).'),
      sender: SENDER_OF,
    },
    output: { campaigns: z.array(Loose), count: z.number() },
    annotations: READ,
    async run(a, t) {
      const p = t.principal ?? LOCAL_PRINCIPAL;
      const list = await service(t.ctx).list({
        status: a.status,
        limit: a.limit as number | undefined,
        offset: a.offset as number | undefined,
        visible: (s) => senderAllowed(t.ctx, p, s),
      });
      return { campaigns: list.map((v) => campaignOut(v as unknown as Record<string, unknown>)), count: list.length };
    },
  },
];
