// Engine functions for message templates: sync them from Meta into the store and the gate, create new
// ones, look one up, show and list them, and turn the reference's `variables` into Meta's template
// components. Meta's categories are UPPER case; wagate's are lower case. The reference implementation
// compared them as-is, so an upper-case MARKETING template slipped past every marketing rule: here the
// mapping happens once, in toTemplateRecord(), and unknown categories fall back to the strictest one.
import type { AppContext } from './context.ts';
import type { EngineError } from './context.ts';
import { appError } from '../shared/errors/app-error.ts';
import { metaErrorCode } from '../shared/errors/registry.ts';
import type { SenderConfig, TemplateRecord, TemplateStatus } from '../domain/types.ts';
import type { GraphError, SenderCredentials } from '../meta/types.ts';
import { explain } from '../domain/errors/index.ts';
import { templateSpec, describeSpec } from '../domain/templates.ts';
import { resolveSender } from './senders.ts';
import { templateLanguage } from '../domain/language.ts';

type TemplateCategory = TemplateRecord['category'];
const CATEGORIES: readonly TemplateCategory[] = ['marketing', 'utility', 'authentication'];

/** Pre-2023 categories Meta migrated (M-CL): transactional ones became UTILITY, OTP became AUTHENTICATION. */
const LEGACY_CATEGORY: Record<string, TemplateCategory> = {
  ACCOUNT_UPDATE: 'utility',
  PAYMENT_UPDATE: 'utility',
  PERSONAL_FINANCE_UPDATE: 'utility',
  SHIPPING_UPDATE: 'utility',
  RESERVATION_UPDATE: 'utility',
  ISSUE_RESOLUTION: 'utility',
  APPOINTMENT_UPDATE: 'utility',
  TRANSPORTATION_UPDATE: 'utility',
  TICKET_UPDATE: 'utility',
  ALERT_UPDATE: 'utility',
  AUTO_REPLY: 'utility',
  TRANSACTIONAL: 'utility',
  OTP: 'authentication',
};

const STATUSES: readonly TemplateStatus[] = [
  'APPROVED',
  'PENDING',
  'REJECTED',
  'PAUSED',
  'DISABLED',
  'IN_APPEAL',
  'PENDING_DELETION',
  'DELETED',
  'LIMIT_EXCEEDED',
  'ARCHIVED',
];
/**
 * Webhook-only statuses (M-WH-TSU) mapped to what they mean for sending. LOCKED: the template "has been
 * locked and cannot be edited" (pywa's TemplateStatus, from Meta's status reference, whose `other_info`
 * comes with a lock or unlock); nothing says it cannot be sent, and the template webhook keeps a locked
 * template's status (src/webhooks/handlers/templates.ts). A sync that reads LOCKED therefore records it
 * sendable, as the webhook does: both paths agree.
 */
const STATUS_ALIAS: Record<string, TemplateStatus> = {
  REINSTATED: 'APPROVED',
  FLAGGED: 'APPROVED',
  LOCKED: 'APPROVED',
};
const QUALITIES = ['GREEN', 'YELLOW', 'RED', 'UNKNOWN'] as const;

/** Meta's category (any case, legacy names included) → wagate's. Unknown → marketing: the strictest rules. */
export function normalizeCategory(v: unknown): TemplateCategory {
  const s = typeof v === 'string' ? v.trim() : '';
  const lower = s.toLowerCase() as TemplateCategory;
  if (CATEGORIES.includes(lower)) return lower;
  return LEGACY_CATEGORY[s.toUpperCase()] ?? 'marketing';
}

/** Meta's status → wagate's; unknown → PENDING, which the gate never sends with (fail closed). */
export function normalizeStatus(v: unknown): TemplateStatus {
  const s = typeof v === 'string' ? v.trim().toUpperCase() : '';
  if ((STATUSES as readonly string[]).includes(s)) return s as TemplateStatus;
  return STATUS_ALIAS[s] ?? 'PENDING';
}

/** One of Meta's template objects (GET /{waba}/message_templates) → a TemplateRecord; null if unusable. */
export function toTemplateRecord(waba_id: string, raw: Record<string, unknown>, now: number): TemplateRecord | null {
  const name = typeof raw.name === 'string' ? raw.name.trim() : '';
  const language = typeof raw.language === 'string' ? templateLanguage(raw.language) : '';
  if (!name || !language) return null;
  const q = (raw.quality_score as { score?: unknown } | undefined)?.score;
  const quality =
    typeof q === 'string' && (QUALITIES as readonly string[]).includes(q.toUpperCase())
      ? (q.toUpperCase() as TemplateRecord['quality'])
      : null;
  return {
    waba_id,
    name,
    language,
    category: normalizeCategory(raw.category),
    status: normalizeStatus(raw.status),
    quality,
    components: Array.isArray(raw.components) ? raw.components : [],
    meta_id: typeof raw.id === 'string' || typeof raw.id === 'number' ? String(raw.id) : null,
    updated_at: now,
  };
}

function credsOf(s: SenderConfig): SenderCredentials {
  return { phone_number_id: s.phone_number_id, waba_id: s.waba_id, access_token: s.access_token };
}

/** A Meta refusal, explained from the catalog, as an engine error the faces can show. */
function metaError(what: string, sender: SenderConfig, e: GraphError): EngineError {
  const x = explain(e.code, e.subcode);
  return appError(metaErrorCode(e.code), `${what} for sender ${sender.id} failed: ${e.message}${e.details ? ` (${e.details})` : ''}.`, {
    fix: e.code === -1 ? 'Check that the Graph API (meta.api_url) is reachable, then retry.' : x.fix,
    status: e.source === 'transport' || e.code === -1 ? 503 : 502,
    details: {
      sender_id: sender.id,
      meta: { code: e.code, subcode: e.subcode, title: x.title, action: x.action, fbtrace_id: e.fbtrace_id },
    },
  });
}

const PAGE = 100;
const MAX_PAGES = 1_000; // 100k templates: far above Meta's 6,000 per WABA; stops a cursor loop.

/**
 * Lists every template of the sender's WABA (all senders' WABAs when no sender is given, each WABA
 * once), maps them and stores them in the store then the gate.
 */
export async function syncTemplates(ctx: AppContext, senderRef?: string): Promise<{ synced: number }> {
  const senders = senderRef !== undefined ? [resolveSender(ctx, senderRef)] : ctx.senders.list();
  const byWaba = new Map<string, SenderConfig>();
  for (const s of senders) if (!byWaba.has(s.waba_id)) byWaba.set(s.waba_id, s);
  let synced = 0;
  for (const [waba, sender] of byWaba) {
    let after: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const r = await ctx.meta.listTemplates(credsOf(sender), { limit: PAGE, after });
      if (!r.ok) throw metaError('Listing templates', sender, r.error);
      const now = ctx.now();
      let skipped = 0;
      for (const raw of r.value.data) {
        const t = toTemplateRecord(waba, raw, now);
        if (!t) {
          skipped++;
          continue;
        }
        await ctx.store.upsertTemplate(t); // durable first: a restart rebuilds the gate from the store
        await ctx.gate.upsertTemplate(t);
        synced++;
      }
      if (skipped) ctx.log.warn({ waba_id: waba, skipped }, 'templates without a name or language were skipped');
      if (!r.value.after || r.value.after === after) break;
      after = r.value.after;
    }
  }
  ctx.log.info({ synced, wabas: byWaba.size }, 'templates synced');
  return { synced };
}

export interface NewTemplate {
  name: string;
  language: string;
  category: string;
  components: unknown[];
  parameter_format?: 'POSITIONAL' | 'NAMED';
  message_send_ttl_seconds?: number;
}

function invalid(field: string, message: string, fix: string): EngineError {
  return appError('INVALID_TEMPLATE', `${field}: ${message}`, { fix: fix, details: { field } });
}

/** Checks what Meta would refuse anyway, with a clearer message, before spending a call. */
function validateNewTemplate(tpl: unknown): NewTemplate {
  if (tpl === null || typeof tpl !== 'object' || Array.isArray(tpl))
    throw invalid('template', 'must be an object', 'Send {"name", "language", "category", "components": [...]}.');
  const t = { ...(tpl as Record<string, unknown>) };
  if (typeof t.language === 'string') t.language = templateLanguage(t.language); // "en-US" is Meta's "en_US"
  if (typeof t.name !== 'string' || !/^[a-z0-9_]{1,512}$/.test(t.name))
    throw invalid('name', 'must be 1-512 lower-case letters, digits or underscores', 'E.g. "order_shipped_v2".');
  if (typeof t.language !== 'string' || !/^[a-z]{2,3}(_[A-Za-z]{2,4})?$/.test(t.language))
    throw invalid('language', 'must be a Meta language code', 'E.g. "en_US", "pt_BR", "de".');
  const cat = typeof t.category === 'string' ? t.category.trim().toLowerCase() : '';
  if (!(CATEGORIES as readonly string[]).includes(cat))
    throw invalid(
      'category',
      `must be one of ${CATEGORIES.join(', ')} (any case)`,
      'Meta accepts only MARKETING, UTILITY and AUTHENTICATION since v16.',
    );
  if (!Array.isArray(t.components) || t.components.length === 0)
    throw invalid('components', 'must be a non-empty array', 'Include at least a BODY component: [{"type": "BODY", "text": "..."}].');
  if (t.parameter_format !== undefined && t.parameter_format !== 'POSITIONAL' && t.parameter_format !== 'NAMED')
    throw invalid('parameter_format', 'must be POSITIONAL or NAMED', 'Omit it for positional {{1}} variables.');
  return t as unknown as NewTemplate;
}

/**
 * Creates a template at Meta (POST /{waba}/message_templates) and records it as Meta answered it:
 * Meta may re-categorise a template, and its answer's category is the one the gate must apply.
 */
export async function createTemplate(
  ctx: AppContext,
  senderRef: string | undefined,
  tpl: NewTemplate,
): Promise<{ id: string; name: string; language: string; status: TemplateStatus; category: TemplateCategory }> {
  const sender = resolveSender(ctx, senderRef);
  const t = validateNewTemplate(tpl);
  const body: Record<string, unknown> = { ...t, category: t.category.toUpperCase() };
  const r = await ctx.meta.createTemplate(credsOf(sender), body);
  if (!r.ok) throw metaError(`Creating template "${t.name}"`, sender, r.error);
  const record = toTemplateRecord(
    sender.waba_id,
    { ...t, id: r.value.id, status: r.value.status || 'PENDING', category: r.value.category || t.category },
    ctx.now(),
  )!;
  await ctx.store.upsertTemplate(record);
  await ctx.gate.upsertTemplate(record);
  void ctx.store
    .appendAudit({
      at: ctx.now(),
      actor: 'api',
      action: 'template.created',
      subject: `${sender.waba_id}:${t.name}:${t.language}`,
      detail: { id: r.value.id, status: record.status, category: record.category },
    })
    .catch(() => {});
  return { id: r.value.id, name: record.name, language: record.language, status: record.status, category: record.category };
}

const iso = (t: number | null | undefined) => (t == null ? null : new Date(t).toISOString());

// ---------------------------------------------------------------------------------------------
// Templates: lookup, view, and the reference's `variables` → Meta components

/** Languages tried when a caller gives a template name without a locale. */
const PREFERRED_LANGS = ['en_US', 'en', 'en_GB'];

/** The stored template by name (and language: when absent, the only one, or English, or the first). */
export async function findTemplate(ctx: AppContext, sender: SenderConfig, name: string, locale?: string): Promise<TemplateRecord | null> {
  if (locale) return ctx.store.getTemplate(sender.waba_id, name, templateLanguage(locale));
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
    else if (!Array.isArray(vars) && Object.keys(vars).length)
      out.push({ type: 'body', parameters: Object.entries(vars).map(([k, text]) => ({ type: 'text', parameter_name: k, text })) });
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
      const obj: Record<string, string> = sample
        ? Object.fromEntries(spec.body.vars.map((v) => [v, 'x']))
        : Array.isArray(vars)
          ? Object.fromEntries(spec.body.vars.map((v, i) => [v, vars[i]]).filter(([, x]) => x !== undefined))
          : vars;
      out.push({ type: 'body', parameters: Object.entries(obj).map(([k, text]) => ({ type: 'text', parameter_name: k, text })) });
    } else {
      const arr = sample
        ? spec.body.vars.map(() => 'x')
        : Array.isArray(vars)
          ? vars
          : spec.body.vars.map((v) => vars[v]).filter((x) => x !== undefined);
      out.push({ type: 'body', parameters: arr.map((text) => ({ type: 'text', text })) });
    }
  }
  const first = Array.isArray(vars) ? vars[0] : Object.values(vars)[0];
  for (const b of spec.buttons) {
    if (!b.param) continue;
    if (b.kind === 'otp' && (first !== undefined || sample))
      out.push({
        type: 'button',
        sub_type: 'url',
        index: String(b.index),
        parameters: [{ type: 'text', text: sample ? '123456' : first }],
      });
    else if (sample && b.param === 'coupon_code')
      out.push({ type: 'button', sub_type: 'copy_code', index: String(b.index), parameters: [{ type: 'coupon_code', coupon_code: 'X' }] });
    else if (sample && b.param === 'text')
      out.push({ type: 'button', sub_type: 'url', index: String(b.index), parameters: [{ type: 'text', text: 'x' }] });
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
  return {
    to: input.to,
    type: 'template',
    template: { name: input.template_name, language: { code: language }, ...(components.length ? { components } : {}) },
  };
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
  opts: {
    sender?: string;
    status_filter?: string;
    category_filter?: string;
    locale_filter?: string;
    name?: string;
    limit?: number;
    offset?: number;
  } = {},
): Promise<{ templates: TemplateView[]; total: number; limit: number; offset: number }> {
  const sender = resolveSender(ctx, opts.sender);
  const limit = Math.min(Math.max(Math.floor(opts.limit ?? 50), 1), 500);
  const offset = Math.max(Math.floor(opts.offset ?? 0), 0);
  const st = opts.status_filter?.trim().toUpperCase();
  const cat = opts.category_filter?.trim().toLowerCase();
  const loc = opts.locale_filter ? templateLanguage(opts.locale_filter) : undefined;
  const all = (await ctx.store.listTemplates({ waba_id: sender.waba_id }))
    .filter(
      (t) =>
        (!st || t.status === st) &&
        (!cat || t.category === cat) &&
        (!loc || templateLanguage(t.language) === loc) &&
        (!opts.name || t.name === opts.name),
    )
    .sort((a, b) => a.name.localeCompare(b.name) || a.language.localeCompare(b.language));
  return { templates: all.slice(offset, offset + limit).map(templateView), total: all.length, limit, offset };
}

/** Syncs one template's status from Meta (the whole WABA is listed: Meta has no by-name status call). */
export async function syncTemplateStatus(
  ctx: AppContext,
  input: { template_name: string; locale?: string; sender?: string },
): Promise<Record<string, unknown>> {
  const sender = resolveSender(ctx, input.sender);
  const { synced } = await syncTemplates(ctx, sender.id);
  const t = await findTemplate(ctx, sender, input.template_name, input.locale);
  if (!t) {
    const names = [...new Set((await ctx.store.listTemplates({ waba_id: sender.waba_id })).map((x) => x.name))];
    throw appError(
      'TEMPLATE_NOT_FOUND',
      `Template "${input.template_name}"${input.locale ? ` (${input.locale})` : ''} does not exist on WABA ${sender.waba_id} after syncing ${synced} templates from Meta.`,
      {
        fix: `Check the name and language. Templates on this WABA: ${names.slice(0, 20).join(', ') || '(none)'}.`,
        details: { field: 'template_name' },
      },
    );
  }
  const out: Record<string, unknown> = {
    template_name: t.name,
    locale: t.language,
    status: t.status,
    category: t.category,
    quality: t.quality ?? null,
    synced,
  };
  if (t.status === 'REJECTED') {
    out.reason = 'Template was rejected by Meta.';
    out.suggested_action =
      'Open WhatsApp Manager for the rejection reason, fix the content, and create it again under a new name (create_template).';
  } else if (t.status === 'PAUSED') {
    out.reason = 'Meta paused the template after low-quality feedback.';
    out.suggested_action = 'Improve the content or targeting; Meta unpauses it after the pause period (or unpause it in WhatsApp Manager).';
  } else if (t.status === 'PENDING') {
    out.suggested_action = "Wait for Meta's review (usually minutes, up to 24 h); the status webhook updates it.";
  }
  return out;
}
