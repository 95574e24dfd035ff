// Engine functions the agent-facing tools need beyond submit/check: conversations (care windows) and
// archiving, per-category eligibility, frequency caps, rate limits, account quality, template lookup
// and the reference's `variables` → Meta template components, retries and reconciliation.
// Faces (MCP tools, /v1 routes) call these; the rules themselves stay in the gate (src/domain/decide.ts)
// and are reached through checkCompliance / submitMessage, never re-implemented here.
import type { AppContext } from './context.ts';
import { EngineError } from './context.ts';
import { checkCompliance } from './compliance.ts';
import { getCustomerView, parseWaId, type CustomerView } from './customers.ts';
import { getMessage, submitMessage, type SubmitResult } from './messages.ts';
import { getSenderHealth } from './senders.ts';
import { replayDeadLetter } from './dead-letters.ts';
import { syncTemplates } from './templates.ts';
import { explain } from '../domain/errors/index.ts';
import { deny, type Decision } from '../domain/decision.ts';
import { templateSpec, describeSpec } from '../domain/templates.ts';
import { CARE_WINDOW_MS, FEP_WINDOW_MS, HOUR_MS, type Category, type MessageRecord, type SenderConfig, type TemplateRecord, type WindowRecord } from '../domain/types.ts';
import { UnknownSenderError } from '../senders/registry.ts';
import { PAIR_BURST, PAIR_INTERVAL_MS } from '../pacing/port.ts';

const iso = (t: number | null | undefined) => (t == null ? null : new Date(t).toISOString());

export function resolveSender(ctx: AppContext, ref: string | undefined | null): SenderConfig {
  try {
    return ctx.senders.resolve(ref ?? null);
  } catch (err) {
    if (!(err instanceof UnknownSenderError)) throw err;
    throw new EngineError('UNKNOWN_SENDER', err.message, `Use one of the configured senders: ${err.known.join(', ') || '(none: add one under senders: in the config)'}, or leave sender out for the default.`, 404, { field: 'sender', known: err.known });
  }
}

// ---------------------------------------------------------------------------------------------
// Templates: lookup, view, and the reference's `variables` → Meta components

/** Languages tried when a caller gives a template name without a locale. */
const PREFERRED_LANGS = ['en_US', 'en', 'en_GB'];

/** The stored template by name (and language: when absent, the only one, or English, or the first). */
export async function findTemplate(ctx: AppContext, sender: SenderConfig, name: string, locale?: string): Promise<TemplateRecord | null> {
  if (locale) return ctx.store.getTemplate(sender.waba_id, name, locale);
  const all = (await ctx.store.listTemplates({ waba_id: sender.waba_id })).filter((t) => t.name === name);
  if (all.length <= 1) return all[0] ?? null;
  for (const l of PREFERRED_LANGS) {
    const hit = all.find((t) => t.language === l);
    if (hit) return hit;
  }
  return all.find((t) => t.status === 'APPROVED') ?? all[0];
}

export type Variables = string[] | Record<string, string>;

/**
 * Meta template components from the reference's `variables`: an array fills the body's {{1}}..{{n}},
 * an object fills named body parameters. An authentication template's OTP button takes the code
 * too (Meta requires it in both places, M-AUTH-COPY): it is filled from the first variable.
 * `sample` fills every parameter with a placeholder (for eligibility dry runs only).
 */
export function templateComponents(t: TemplateRecord | null, variables: Variables | undefined, opts: { sample?: boolean } = {}): unknown[] {
  const vars = variables ?? [];
  const out: Record<string, unknown>[] = [];
  if (!t) {
    // Unknown locally: pass positional text as Meta expects; the gate then says whether the template exists.
    if (Array.isArray(vars) && vars.length) out.push({ type: 'body', parameters: vars.map((text) => ({ type: 'text', text })) });
    else if (!Array.isArray(vars) && Object.keys(vars).length) out.push({ type: 'body', parameters: Object.entries(vars).map(([k, text]) => ({ type: 'text', parameter_name: k, text })) });
    return out;
  }
  const spec = templateSpec(t);
  const sample = opts.sample === true;
  if (sample && spec.header.format !== 'none') {
    const f = spec.header.format;
    if (f === 'text' && spec.header.vars.length) out.push({ type: 'header', parameters: [{ type: 'text', text: 'x' }] });
    else if (f === 'location') out.push({ type: 'header', parameters: [{ type: 'location', location: { latitude: 0, longitude: 0 } }] });
    else if (f !== 'text') {
      const m = f === 'gif' ? 'video' : f;
      out.push({ type: 'header', parameters: [{ type: m, [m]: { link: 'https://example.com/sample' } }] });
    }
  }
  if (spec.body.vars.length) {
    if (spec.body.named) {
      const obj: Record<string, string> = sample ? Object.fromEntries(spec.body.vars.map((v) => [v, 'x'])) : Array.isArray(vars) ? Object.fromEntries(spec.body.vars.map((v, i) => [v, vars[i]]).filter(([, x]) => x !== undefined)) : vars;
      out.push({ type: 'body', parameters: Object.entries(obj).map(([k, text]) => ({ type: 'text', parameter_name: k, text })) });
    } else {
      const arr = sample ? spec.body.vars.map(() => 'x') : Array.isArray(vars) ? vars : spec.body.vars.map((v) => vars[v]).filter((x) => x !== undefined);
      out.push({ type: 'body', parameters: arr.map((text) => ({ type: 'text', text })) });
    }
  }
  const first = Array.isArray(vars) ? vars[0] : Object.values(vars)[0];
  for (const b of spec.buttons) {
    if (!b.param) continue;
    if (b.kind === 'otp' && (first !== undefined || sample)) out.push({ type: 'button', sub_type: 'url', index: String(b.index), parameters: [{ type: 'text', text: sample ? '123456' : first }] });
    else if (sample && b.param === 'coupon_code') out.push({ type: 'button', sub_type: 'copy_code', index: String(b.index), parameters: [{ type: 'coupon_code', coupon_code: 'X' }] });
    else if (sample && b.param === 'text') out.push({ type: 'button', sub_type: 'url', index: String(b.index), parameters: [{ type: 'text', text: 'x' }] });
  }
  return out;
}

/** Meta's template message body for send_template / check_compliance. */
export async function templateMessageBody(
  ctx: AppContext,
  input: { to: string; template_name: string; locale?: string; variables?: Variables; components?: unknown[]; sender?: string },
): Promise<Record<string, unknown>> {
  const sender = resolveSender(ctx, input.sender);
  const t = await findTemplate(ctx, sender, input.template_name, input.locale);
  const language = input.locale ?? t?.language ?? 'en_US';
  const components = input.components ?? templateComponents(t, input.variables);
  return { to: input.to, type: 'template', template: { name: input.template_name, language: { code: language }, ...(components.length ? { components } : {}) } };
}

export interface TemplateView {
  name: string;
  locale: string;
  language: string;
  category: string;
  status: string;
  quality: string | null;
  body_text: string | null;
  parameters: string;
  variables: string[];
  components: unknown[];
  meta_id: string | null;
  updated_at: string | null;
}

export function templateView(t: TemplateRecord): TemplateView {
  const body = (t.components as Record<string, unknown>[]).find((c) => String(c?.type ?? '').toUpperCase() === 'BODY');
  const spec = templateSpec(t);
  return {
    name: t.name,
    locale: t.language,
    language: t.language,
    category: t.category,
    status: t.status,
    quality: t.quality ?? null,
    body_text: typeof body?.text === 'string' ? body.text : null,
    parameters: describeSpec(spec),
    variables: spec.body.vars,
    components: t.components,
    meta_id: t.meta_id ?? null,
    updated_at: iso(t.updated_at),
  };
}

/** Case-insensitive filters (the reference's were case-sensitive, so "approved" matched nothing). */
export async function listTemplates(
  ctx: AppContext,
  opts: { sender?: string; status_filter?: string; category_filter?: string; locale_filter?: string; name?: string; limit?: number; offset?: number } = {},
): Promise<{ templates: TemplateView[]; total: number; limit: number; offset: number }> {
  const sender = resolveSender(ctx, opts.sender);
  const limit = Math.min(Math.max(Math.floor(opts.limit ?? 50), 1), 500);
  const offset = Math.max(Math.floor(opts.offset ?? 0), 0);
  const st = opts.status_filter?.trim().toUpperCase();
  const cat = opts.category_filter?.trim().toLowerCase();
  const loc = opts.locale_filter?.trim().toLowerCase();
  const all = (await ctx.store.listTemplates({ waba_id: sender.waba_id }))
    .filter((t) => (!st || t.status === st) && (!cat || t.category === cat) && (!loc || t.language.toLowerCase() === loc) && (!opts.name || t.name === opts.name))
    .sort((a, b) => a.name.localeCompare(b.name) || a.language.localeCompare(b.language));
  return { templates: all.slice(offset, offset + limit).map(templateView), total: all.length, limit, offset };
}

/** Syncs one template's status from Meta (the whole WABA is listed: Meta has no by-name status call). */
export async function syncTemplateStatus(ctx: AppContext, input: { template_name: string; locale?: string; sender?: string }): Promise<Record<string, unknown>> {
  const sender = resolveSender(ctx, input.sender);
  const { synced } = await syncTemplates(ctx, sender.id);
  const t = await findTemplate(ctx, sender, input.template_name, input.locale);
  if (!t) {
    const names = [...new Set((await ctx.store.listTemplates({ waba_id: sender.waba_id })).map((x) => x.name))];
    throw new EngineError('TEMPLATE_NOT_FOUND', `Template "${input.template_name}"${input.locale ? ` (${input.locale})` : ''} does not exist on WABA ${sender.waba_id} after syncing ${synced} templates from Meta.`, `Check the name and language. Templates on this WABA: ${names.slice(0, 20).join(', ') || '(none)'}.`, 404, { field: 'template_name' });
  }
  const out: Record<string, unknown> = { template_name: t.name, locale: t.language, status: t.status, category: t.category, quality: t.quality ?? null, synced };
  if (t.status === 'REJECTED') {
    out.reason = 'Template was rejected by Meta.';
    out.suggested_action = 'Open WhatsApp Manager for the rejection reason, fix the content, and create it again under a new name (create_template).';
  } else if (t.status === 'PAUSED') {
    out.reason = 'Meta paused the template after low-quality feedback.';
    out.suggested_action = 'Improve the content or targeting; Meta unpauses it after the pause period (or unpause it in WhatsApp Manager).';
  } else if (t.status === 'PENDING') {
    out.suggested_action = 'Wait for Meta\'s review (usually minutes, up to 24 h); the status webhook updates it.';
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Eligibility per category (dry runs through the real gate)

export interface Eligibility {
  eligible: boolean;
  reason_code: string | null;
  explanation: string;
  suggested_action: string;
  /** The approved template the check used for a template category (null for service). */
  template: { name: string; language: string } | null;
  /** The gate's full decision (checks included). */
  decision: Decision;
}

/**
 * Would a message of this category be allowed now? Service: a free-form text. Template categories:
 * the first approved template of that category on the sender's WABA with sample parameters (the gate
 * decides by the template's category, never by a caller's claim). No such template → not eligible.
 */
export async function categoryEligibility(ctx: AppContext, input: { wa_id: string; category?: Category; sender?: string; template_name?: string; locale?: string }): Promise<Eligibility> {
  const sender = resolveSender(ctx, input.sender);
  let body: Record<string, unknown>;
  let used: Eligibility['template'] = null;
  if (!input.template_name && (input.category ?? 'service') === 'service') {
    body = { to: input.wa_id, type: 'text', text: { body: 'eligibility check' } };
  } else {
    const candidates = input.template_name
      ? [await findTemplate(ctx, sender, input.template_name, input.locale)].filter((t): t is TemplateRecord => t !== null)
      : (await ctx.store.listTemplates({ waba_id: sender.waba_id, status: 'APPROVED' })).filter((t) => t.category === input.category);
    const t = candidates[0];
    if (!t) {
      const explanation = input.template_name ? `Template "${input.template_name}" is not known on WABA ${sender.waba_id}.` : `No approved ${input.category} template exists on WABA ${sender.waba_id}, so no ${input.category} message can be sent.`;
      const action = 'Sync templates (sync_template_status / POST /v1/templates/sync) or create one (create_template) and wait for approval.';
      return { eligible: false, reason_code: 'TEMPLATE_NOT_FOUND', explanation, suggested_action: action, template: null, decision: deny('TEMPLATE_NOT_FOUND', explanation, action, [{ rule: 'template_exists', passed: false, detail: explanation }]) };
    }
    used = { name: t.name, language: t.language };
    body = { to: input.wa_id, type: 'template', template: { name: t.name, language: { code: t.language }, components: templateComponents(t, undefined, { sample: true }) } };
  }
  const d = await checkCompliance(ctx, { body, sender: sender.id });
  return { eligible: d.allowed, reason_code: d.reason_code, explanation: d.explanation, suggested_action: d.suggested_action, template: used, decision: d };
}

/**
 * The approved templates that would be allowed for this customer right now (each judged by the gate
 * with sample parameters): what to send instead when a free-form message is refused. Opted-out or
 * capped categories drop out on their own.
 */
export async function fittingTemplates(ctx: AppContext, input: { to: string; sender?: string; limit?: number }): Promise<{ name: string; language: string; category: string; parameters: string }[]> {
  const sender = resolveSender(ctx, input.sender);
  const wa_id = parseWaId(input.to);
  const approved = (await ctx.store.listTemplates({ waba_id: sender.waba_id, status: 'APPROVED' })).sort((a, b) => a.name.localeCompare(b.name)).slice(0, 50);
  const out: { name: string; language: string; category: string; parameters: string }[] = [];
  for (const t of approved) {
    const e = await categoryEligibility(ctx, { wa_id, template_name: t.name, locale: t.language, sender: sender.id });
    if (e.eligible) out.push({ name: t.name, language: t.language, category: t.category, parameters: describeSpec(templateSpec(t)) });
    if (out.length >= (input.limit ?? 20)) break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Conversations (care windows) and archiving

const archiveKey = (sender: string, wa: string) => `conversation.archived:${sender}:${wa}`;

export function conversationId(sender_id: string, wa_id: string): string {
  return `${sender_id}:${wa_id}`;
}

export interface ConversationView {
  id: string;
  conversation_id: string;
  customer_id: string;
  sender: string;
  window_open: boolean;
  time_remaining_secs: number;
  window_expires_at: string;
  last_inbound_at: string;
  free_entry_point_open: boolean;
  free_entry_point_expires_at: string | null;
  archived: boolean;
  archived_at: string | null;
}

async function archivedAt(ctx: AppContext, w: WindowRecord): Promise<number | null> {
  const v = await ctx.store.getSetting(archiveKey(w.sender_id, w.wa_id));
  const at = v === null ? null : Number(v);
  // A customer who writes again after the archive brings the conversation back.
  return at !== null && Number.isFinite(at) && at >= w.last_inbound_at ? at : null;
}

function windowView(w: WindowRecord, now: number, archived: number | null): ConversationView {
  const exp = w.last_inbound_at + CARE_WINDOW_MS;
  const fexp = w.fep_opened_at != null ? w.fep_opened_at + FEP_WINDOW_MS : null;
  const id = conversationId(w.sender_id, w.wa_id);
  return {
    id,
    conversation_id: id,
    customer_id: w.wa_id,
    sender: w.sender_id,
    window_open: now < exp,
    time_remaining_secs: Math.max(0, Math.floor((exp - now) / 1000)),
    window_expires_at: iso(exp)!,
    last_inbound_at: iso(w.last_inbound_at)!,
    free_entry_point_open: fexp !== null && now < fexp,
    free_entry_point_expires_at: iso(fexp),
    archived: archived !== null,
    archived_at: iso(archived),
  };
}

export const CONVERSATION_FILTERS = ['all', 'open', 'closed', 'expiring_soon', 'archived'] as const;
export type ConversationFilter = (typeof CONVERSATION_FILTERS)[number];

/**
 * Conversations = care windows (one per sender and customer), newest inbound first. Filters: open,
 * closed, expiring_soon (open and closing within `expiring_within_h`, default 2), archived; default:
 * every conversation not archived.
 */
export async function listConversations(
  ctx: AppContext,
  opts: { sender?: string; status_filter?: string; limit?: number; offset?: number; expiring_within_h?: number } = {},
): Promise<{ conversations: ConversationView[]; count: number; has_more: boolean; limit: number; offset: number; status_filter: ConversationFilter }> {
  const filter = (opts.status_filter?.trim().toLowerCase() || 'all') as ConversationFilter;
  if (!CONVERSATION_FILTERS.includes(filter)) {
    throw new EngineError('INVALID_REQUEST', `status_filter "${opts.status_filter}" is not known.`, `Use one of: ${CONVERSATION_FILTERS.join(', ')} (or leave it out for all non-archived).`, 400, { field: 'status_filter' });
  }
  const sender_id = opts.sender ? resolveSender(ctx, opts.sender).id : undefined;
  const limit = Math.min(Math.max(Math.floor(opts.limit ?? 50), 1), 500);
  const offset = Math.max(Math.floor(opts.offset ?? 0), 0);
  const within = (opts.expiring_within_h ?? 2) * HOUR_MS;
  const now = ctx.now();
  const keep = (v: ConversationView): boolean => {
    if (filter === 'archived') return v.archived;
    if (v.archived) return false;
    if (filter === 'open') return v.window_open;
    if (filter === 'closed') return !v.window_open;
    if (filter === 'expiring_soon') return v.window_open && v.time_remaining_secs * 1000 <= within;
    return true;
  };
  // Open and expiring windows are all inside the last 24 h: let the store narrow them.
  const active_since = filter === 'open' || filter === 'expiring_soon' ? now - CARE_WINDOW_MS : undefined;
  const out: ConversationView[] = [];
  let skipped = 0;
  const PAGE = 500;
  for (let page = 0; page < 200; page++) {
    const rows = await ctx.store.listWindows({ sender_id, active_since, limit: PAGE, offset: page * PAGE });
    for (const w of rows) {
      const v = windowView(w, now, await archivedAt(ctx, w));
      if (!keep(v)) continue;
      if (skipped < offset) {
        skipped++;
        continue;
      }
      out.push(v);
      if (out.length > limit) break;
    }
    if (out.length > limit || rows.length < PAGE) break;
  }
  const has_more = out.length > limit;
  const conversations = out.slice(0, limit);
  return { conversations, count: conversations.length, has_more, limit, offset, status_filter: filter };
}

/** The conversation between one customer and one sender (no record → a closed, never-opened one). */
export async function checkConversation(ctx: AppContext, input: { customer_id: string; sender?: string }): Promise<ConversationView & { known: boolean }> {
  const wa_id = parseWaId(input.customer_id);
  const sender = resolveSender(ctx, input.sender);
  const w = (await ctx.store.getWindows(wa_id)).find((x) => x.sender_id === sender.id);
  if (!w) {
    const id = conversationId(sender.id, wa_id);
    return { id, conversation_id: id, customer_id: wa_id, sender: sender.id, window_open: false, time_remaining_secs: 0, window_expires_at: iso(0)!, last_inbound_at: iso(0)!, free_entry_point_open: false, free_entry_point_expires_at: null, archived: false, archived_at: null, known: false };
  }
  return { ...windowView(w, ctx.now(), await archivedAt(ctx, w)), known: true };
}

function parseConversationId(ctx: AppContext, id: string): { sender: SenderConfig; wa_id: string } {
  const m = /^([A-Za-z0-9_.-]+):(\d{6,20})$/.exec(id.trim());
  if (!m) {
    throw new EngineError('INVALID_REQUEST', `conversation_id "${id.slice(0, 60)}" is not a wagate conversation id.`, 'Use the id from list_conversations / GET /v1/conversations: "<sender>:<customer digits>", e.g. "main:447700900123".', 400, { field: 'conversation_id' });
  }
  return { sender: resolveSender(ctx, m[1]), wa_id: m[2] };
}

/**
 * Archives a conversation whose window is closed (an open window is still a live conversation). It
 * hides it from list_conversations until the customer writes again; it changes no rule.
 */
export async function archiveChat(ctx: AppContext, input: { conversation_id: string; actor: string }): Promise<{ conversation_id: string; status: 'archived'; archived_at: string; window_expires_at: string }> {
  const { sender, wa_id } = parseConversationId(ctx, input.conversation_id);
  const w = (await ctx.store.getWindows(wa_id)).find((x) => x.sender_id === sender.id);
  const id = conversationId(sender.id, wa_id);
  if (!w) throw new EngineError('CONVERSATION_NOT_FOUND', `No conversation ${id}: this customer never wrote to sender ${sender.id}.`, 'List conversations with list_conversations (GET /v1/conversations).', 404, { field: 'conversation_id' });
  const now = ctx.now();
  const v = windowView(w, now, await archivedAt(ctx, w));
  if (v.archived) throw new EngineError('ALREADY_ARCHIVED', `Conversation ${id} is already archived (since ${v.archived_at}).`, 'No action needed.', 409, { field: 'conversation_id' });
  if (v.window_open) {
    throw new EngineError('CONVERSATION_ACTIVE', `Conversation ${id} has an open customer service window until ${v.window_expires_at}.`, 'Archive it after the window closes, or keep answering the customer.', 409, { field: 'conversation_id', window_expires_at: v.window_expires_at });
  }
  await ctx.store.setSetting(archiveKey(sender.id, wa_id), String(now));
  await ctx.store.appendAudit({ at: now, actor: input.actor, action: 'conversation.archived', subject: wa_id, detail: { sender: sender.id } }).catch(() => {});
  return { conversation_id: id, status: 'archived', archived_at: iso(now)!, window_expires_at: v.window_expires_at };
}

// ---------------------------------------------------------------------------------------------
// Customer context, frequency cap

export async function getCustomerContext(ctx: AppContext, input: { customer_id: string; sender?: string }): Promise<CustomerView & { sender: string; marketing_count_24h: number; marketing_cap_per_24h: number; eligibility: Record<Category, Eligibility> }> {
  const view = await getCustomerView(ctx, input.customer_id);
  const sender = resolveSender(ctx, input.sender);
  const cats: Category[] = ['marketing', 'utility', 'authentication', 'service'];
  const results = await Promise.all(cats.map((c) => categoryEligibility(ctx, { wa_id: view.wa_id, category: c, sender: sender.id })));
  return {
    ...view,
    sender: sender.id,
    marketing_count_24h: await ctx.gate.marketingCount(view.wa_id, ctx.now()),
    marketing_cap_per_24h: ctx.config.policies.marketing_cap_per_24h,
    eligibility: Object.fromEntries(cats.map((c, i) => [c, results[i]])) as Record<Category, Eligibility>,
  };
}

/**
 * wagate's per-customer marketing cap (a local policy: Meta's own per-user limit is dynamic and
 * undisclosed; its 131049 refusals are tracked as marketing_limited_by_meta_at).
 */
export async function checkFrequencyCap(ctx: AppContext, input: { customer_id: string; sender?: string }): Promise<Record<string, unknown>> {
  const wa_id = parseWaId(input.customer_id);
  const now = ctx.now();
  const [count, view, elig] = await Promise.all([ctx.gate.marketingCount(wa_id, now), getCustomerView(ctx, wa_id), categoryEligibility(ctx, { wa_id, category: 'marketing', sender: input.sender })]);
  const limit = ctx.config.policies.marketing_cap_per_24h;
  const capped = elig.reason_code === 'FREQUENCY_CAP' || (elig.template === null && count >= limit);
  return {
    customer_id: wa_id,
    is_capped: capped,
    marketing_count_24h: count,
    limit,
    window: 'rolling 24 h',
    marketing_eligible: elig.eligible,
    reason_code: elig.reason_code,
    reason: elig.explanation,
    suggested_action: elig.suggested_action,
    marketing_limited_by_meta_at: view.marketing_limited_at,
    note: 'The cap is wagate\'s policy (policies.marketing_cap_per_24h). Marketing inside a window the customer opened does not count. Meta also applies its own undisclosed per-user limit (error 131049).',
  };
}

// ---------------------------------------------------------------------------------------------
// Rate limit, account quality

export async function getRateLimit(ctx: AppContext, input: { sender?: string } = {}): Promise<Record<string, unknown>> {
  const s = resolveSender(ctx, input.sender);
  const now = ctx.now();
  const [health, queue, used] = await Promise.all([
    ctx.store.getSenderHealth(s.id).catch(() => null),
    ctx.queue.stats(s.id).catch(() => null),
    ctx.gate.tierUsage(s.business_id, now),
  ]);
  const status = ctx.senders.status(s.id);
  return {
    sender: s.id,
    phone_number_id: s.phone_number_id,
    state: status.state,
    capacity_mps: s.throughput_mps,
    meta_throughput_level: (health?.data?.throughput_level as string | undefined) ?? null,
    pair_limit: { messages: 1, per_seconds: PAIR_INTERVAL_MS / 1000, burst: PAIR_BURST, note: 'Meta\'s limit for one business number to one user (error 131056).' },
    messaging_limit: {
      unique_recipients_24h: used,
      limit: s.messaging_limit,
      remaining: s.messaging_limit === null ? null : Math.max(0, s.messaging_limit - used),
      scope: `business portfolio ${s.business_id}, rolling 24 h, business-initiated conversations outside a care window`,
    },
    queue: queue ? { depth: queue.depth, ready: queue.ready, in_flight: queue.in_flight, oldest_age_s: Math.round(queue.oldest_age_ms / 1000) } : null,
  };
}

/** Quality and limits live on the phone number at Meta (not the WABA): asked live, with the last health record. */
export async function getAccountQuality(ctx: AppContext, input: { sender?: string } = {}): Promise<Record<string, unknown>> {
  const s = resolveSender(ctx, input.sender);
  const live = await ctx.meta.getPhoneNumber({ phone_number_id: s.phone_number_id, waba_id: s.waba_id, access_token: s.access_token });
  const health = await getSenderHealth(ctx, s.id);
  const out: Record<string, unknown> = {
    sender: s.id,
    waba_id: s.waba_id,
    phone_number_id: s.phone_number_id,
    state: health.state,
    credentials_valid: health.credentials_valid,
    source: live.ok ? 'meta' : 'last_health_check',
    quality_rating: null,
    messaging_limit_tier: null,
    throughput_level: null,
  };
  if (live.ok) {
    const p = live.value;
    Object.assign(out, {
      display_phone_number: p.display_phone_number ?? null,
      verified_name: p.verified_name ?? null,
      quality_rating: p.quality_rating ?? null,
      messaging_limit_tier: p.messaging_limit_tier ?? null,
      throughput_level: p.throughput?.level ?? null,
      name_status: p.name_status ?? null,
      status: p.status ?? null,
    });
  } else {
    const x = explain(live.error.code, live.error.subcode);
    Object.assign(out, {
      quality_rating: health.quality_rating ?? null,
      messaging_limit_tier: health.messaging_limit_tier ?? null,
      throughput_level: health.throughput_level ?? null,
      meta_error: { code: live.error.code, message: live.error.message, fix: x.fix },
      checked_at: health.updated_at ?? null,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Delivery status, retries, reconciliation, read receipts

export async function getDeliveryStatus(ctx: AppContext, id: string): Promise<{ message: MessageRecord; error: Record<string, unknown> | null }> {
  const m = await getMessage(ctx, id);
  const code = Number(m.last_error?.code);
  let error: Record<string, unknown> | null = null;
  if (m.last_error) {
    error = { ...m.last_error };
    if (Number.isInteger(code) && code > 0) {
      const x = explain(code, typeof m.last_error.subcode === 'number' ? m.last_error.subcode : null);
      Object.assign(error, { title: x.title, category: x.category, can_retry: x.can_retry, explanation: x.explanation, fix: x.fix });
    }
  }
  return { message: m, error };
}

export interface RetryOutcome {
  message_id: string;
  status: 'retried' | 'skipped' | 'denied';
  new_message_id?: string;
  reason?: string;
  reason_code?: string | null;
  suggested_action?: string;
}

const RETRYABLE = new Set(['failed', 'dead_lettered']);

/**
 * Retries failed or dead-lettered messages as NEW messages through the full gate (consent, window,
 * template, caps and tier judged again now), each once: the idempotency key `retry:<id>` (or the
 * dead letter's own replay) makes a repeated call send nothing twice.
 */
export async function retryFailedMessages(
  ctx: AppContext,
  input: { message_ids: string[]; actor: string; /** The senders the caller may use (an API key's): another sender's message is "not found". */ visible?: (sender_id: string) => boolean },
): Promise<{ results: RetryOutcome[]; retried: number; skipped: number; denied: number }> {
  const ids = [...new Set(input.message_ids.map((s) => s.trim()).filter(Boolean))];
  if (ids.length === 0) throw new EngineError('INVALID_REQUEST', 'message_ids must contain at least one message id.', 'Pass the ids returned by send_message / POST /v1/messages, e.g. ["msg_..."].', 400, { field: 'message_ids' });
  if (ids.length > 100) throw new EngineError('INVALID_REQUEST', `message_ids has ${ids.length} ids; at most 100 per call.`, 'Split the list into batches of 100.', 400, { field: 'message_ids' });
  const results: RetryOutcome[] = [];
  for (const id of ids) {
    const m = await ctx.store.getMessage(id);
    if (!m || (input.visible && !input.visible(m.sender_id))) {
      results.push({ message_id: id, status: 'skipped', reason: 'no message with this id' });
      continue;
    }
    if (!RETRYABLE.has(m.status)) {
      results.push({ message_id: id, status: 'skipped', reason: `status is "${m.status}", not failed or dead_lettered: nothing to retry` });
      continue;
    }
    // A dead letter already replayed or discarded closes the matter: never a second copy.
    const dl = (await ctx.store.listDeadLetters({ sender_id: m.sender_id, limit: 500 })).find((d) => d.message_id === id);
    if (dl && dl.state !== 'open') {
      results.push({ message_id: id, status: 'skipped', reason: `its dead letter ${dl.id} was already ${dl.state}` });
      continue;
    }
    let r: SubmitResult;
    if (dl) {
      r = (await replayDeadLetter(ctx, dl.id, input.actor)).result;
    } else {
      const { biz_opaque_callback_data: _b, ...body } = m.payload;
      r = await submitMessage(ctx, { body, sender: m.sender_id, idempotency_key: `retry:${id}`, actor: input.actor });
    }
    if (r.http_status === 202) results.push({ message_id: id, status: 'retried', new_message_id: r.id });
    else results.push({ message_id: id, status: 'denied', reason: r.decision.explanation, reason_code: r.decision.reason_code, suggested_action: r.decision.suggested_action });
  }
  await ctx.store.appendAudit({ at: ctx.now(), actor: input.actor, action: 'messages.retry', subject: null, detail: { requested: ids.length, results: results.map((r) => ({ id: r.message_id, status: r.status })) } }).catch(() => {});
  return {
    results,
    retried: results.filter((r) => r.status === 'retried').length,
    skipped: results.filter((r) => r.status === 'skipped').length,
    denied: results.filter((r) => r.status === 'denied').length,
  };
}

/**
 * The reference's sync_webhooks: re-syncs templates from Meta and reports messages whose status
 * webhooks are overdue (Meta has no per-message status call: they resolve when the webhook arrives;
 * the delivery worker resends in-doubt ones after the grace period).
 */
export async function syncWebhooks(ctx: AppContext, input: { sender?: string; stale_after_min?: number } = {}): Promise<Record<string, unknown>> {
  const sender = input.sender ? resolveSender(ctx, input.sender) : null;
  let synced = 0;
  let template_sync_error: string | null = null;
  try {
    synced = (await syncTemplates(ctx, sender?.id)).synced;
  } catch (err) {
    template_sync_error = err instanceof EngineError ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
  }
  const staleMs = Math.max(1, input.stale_after_min ?? 5) * 60_000;
  const cutoff = ctx.now() - staleMs;
  const waiting = await ctx.store.listMessages({ sender_id: sender?.id, status: ['sending', 'in_doubt', 'accepted'], limit: 500 });
  const stale = waiting.filter((m) => m.updated_at < cutoff);
  return {
    template_synced: template_sync_error === null,
    templates: synced,
    ...(template_sync_error ? { template_sync_error } : {}),
    messages_awaiting_status: stale.length,
    stale_messages: stale.slice(0, 50).map((m) => ({ id: m.id, status: m.status, updated_at: iso(m.updated_at) })),
    note: 'Statuses arrive by webhook only (Meta offers no per-message status query). Messages in doubt are resent by the worker after delivery.in_doubt_grace_ms if no status arrives.',
  };
}

/** Blue ticks: marks an inbound message (its wamid) as read at Meta. */
export async function markAsRead(ctx: AppContext, input: { message_id: string; sender?: string }): Promise<{ success: boolean; message_id: string; sender: string }> {
  const s = resolveSender(ctx, input.sender);
  const wamid = input.message_id.trim();
  if (!/^wamid\.[A-Za-z0-9=_+/-]{4,}$/.test(wamid)) {
    throw new EngineError('INVALID_REQUEST', `message_id "${wamid.slice(0, 60)}" is not a WhatsApp message id.`, 'Pass the wamid of the customer\'s inbound message ("wamid.…"), as received in the webhook.', 400, { field: 'message_id' });
  }
  const r = await ctx.meta.markAsRead({ phone_number_id: s.phone_number_id, waba_id: s.waba_id, access_token: s.access_token }, wamid);
  if (!r.ok) {
    const x = explain(r.error.code, r.error.subcode);
    throw new EngineError(r.error.code === -1 ? 'META_UNREACHABLE' : `META_${r.error.code}`, `Meta refused to mark ${wamid} as read: ${r.error.message}.`, x.fix, r.error.source === 'transport' ? 503 : 502, { meta: { code: r.error.code, subcode: r.error.subcode } });
  }
  return { success: r.value.success, message_id: wamid, sender: s.id };
}
