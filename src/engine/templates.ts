// Engine functions for message templates: sync them from Meta into the store and the gate, and create
// new ones. Meta's categories are UPPER case; wagate's are lower case. The reference implementation
// compared them as-is, so an upper-case MARKETING template slipped past every marketing rule: here the
// mapping happens once, in toTemplateRecord(), and unknown categories fall back to the strictest one.
import type { AppContext } from './context.ts';
import { EngineError } from './context.ts';
import type { SenderConfig, TemplateRecord, TemplateStatus } from '../domain/types.ts';
import type { GraphError, SenderCredentials } from '../meta/types.ts';
import { explain } from '../domain/errors/index.ts';
import { UnknownSenderError } from '../senders/registry.ts';

type TemplateCategory = TemplateRecord['category'];
const CATEGORIES: readonly TemplateCategory[] = ['marketing', 'utility', 'authentication'];

/** Pre-2023 categories Meta migrated (M-CL): transactional ones became UTILITY, OTP became AUTHENTICATION. */
const LEGACY_CATEGORY: Record<string, TemplateCategory> = {
  ACCOUNT_UPDATE: 'utility', PAYMENT_UPDATE: 'utility', PERSONAL_FINANCE_UPDATE: 'utility', SHIPPING_UPDATE: 'utility',
  RESERVATION_UPDATE: 'utility', ISSUE_RESOLUTION: 'utility', APPOINTMENT_UPDATE: 'utility', TRANSPORTATION_UPDATE: 'utility',
  TICKET_UPDATE: 'utility', ALERT_UPDATE: 'utility', AUTO_REPLY: 'utility', TRANSACTIONAL: 'utility', OTP: 'authentication',
};

const STATUSES: readonly TemplateStatus[] = ['APPROVED', 'PENDING', 'REJECTED', 'PAUSED', 'DISABLED', 'IN_APPEAL', 'PENDING_DELETION', 'DELETED', 'LIMIT_EXCEEDED'];
/** Webhook-only statuses (M-WH-TSU) mapped to what they mean for sending. */
const STATUS_ALIAS: Record<string, TemplateStatus> = { REINSTATED: 'APPROVED', FLAGGED: 'APPROVED', ARCHIVED: 'DISABLED', LOCKED: 'DISABLED' };
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
  const language = typeof raw.language === 'string' ? raw.language.trim() : '';
  if (!name || !language) return null;
  const q = (raw.quality_score as { score?: unknown } | undefined)?.score;
  const quality = typeof q === 'string' && (QUALITIES as readonly string[]).includes(q.toUpperCase()) ? (q.toUpperCase() as TemplateRecord['quality']) : null;
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

function resolveSender(ctx: AppContext, ref: string | undefined): SenderConfig {
  try {
    return ctx.senders.resolve(ref ?? null);
  } catch (err) {
    if (!(err instanceof UnknownSenderError)) throw err;
    throw new EngineError('UNKNOWN_SENDER', err.message, `Use one of the configured senders: ${err.known.join(', ') || '(none: add one under senders: in the config)'}.`, 404, { sender: ref ?? null });
  }
}

/** A Meta refusal, explained from the catalog, as an engine error the faces can show. */
function metaError(what: string, sender: SenderConfig, e: GraphError): EngineError {
  const x = explain(e.code, e.subcode);
  const code = e.code === -1 ? 'META_UNREACHABLE' : `META_${e.code}`;
  const status = e.source === 'transport' || e.code === -1 ? 503 : 502;
  return new EngineError(code, `${what} for sender ${sender.id} failed: ${e.message}${e.details ? ` (${e.details})` : ''}.`, e.code === -1 ? 'Check that the Graph API (meta.api_url) is reachable, then retry.' : x.fix, status, {
    sender_id: sender.id,
    meta: { code: e.code, subcode: e.subcode, title: x.title, action: x.action, fbtrace_id: e.fbtrace_id },
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
  return new EngineError('INVALID_TEMPLATE', `${field}: ${message}`, fix, 400, { field });
}

/** Checks what Meta would refuse anyway, with a clearer message, before spending a call. */
function validateNewTemplate(tpl: unknown): NewTemplate {
  if (tpl === null || typeof tpl !== 'object' || Array.isArray(tpl)) throw invalid('template', 'must be an object', 'Send {"name", "language", "category", "components": [...]}.');
  const t = tpl as Record<string, unknown>;
  if (typeof t.name !== 'string' || !/^[a-z0-9_]{1,512}$/.test(t.name)) throw invalid('name', 'must be 1-512 lower-case letters, digits or underscores', 'E.g. "order_shipped_v2".');
  if (typeof t.language !== 'string' || !/^[a-z]{2,3}(_[A-Za-z]{2,4})?$/.test(t.language)) throw invalid('language', 'must be a Meta language code', 'E.g. "en_US", "pt_BR", "de".');
  const cat = typeof t.category === 'string' ? t.category.trim().toLowerCase() : '';
  if (!(CATEGORIES as readonly string[]).includes(cat)) throw invalid('category', `must be one of ${CATEGORIES.join(', ')} (any case)`, 'Meta accepts only MARKETING, UTILITY and AUTHENTICATION since v16.');
  if (!Array.isArray(t.components) || t.components.length === 0) throw invalid('components', 'must be a non-empty array', 'Include at least a BODY component: [{"type": "BODY", "text": "..."}].');
  if (t.parameter_format !== undefined && t.parameter_format !== 'POSITIONAL' && t.parameter_format !== 'NAMED') throw invalid('parameter_format', 'must be POSITIONAL or NAMED', 'Omit it for positional {{1}} variables.');
  return t as unknown as NewTemplate;
}

/**
 * Creates a template at Meta (POST /{waba}/message_templates) and records it as Meta answered it:
 * Meta may re-categorise a template, and its answer's category is the one the gate must apply.
 */
export async function createTemplate(ctx: AppContext, senderRef: string | undefined, tpl: NewTemplate): Promise<{ id: string; name: string; language: string; status: TemplateStatus; category: TemplateCategory }> {
  const sender = resolveSender(ctx, senderRef);
  const t = validateNewTemplate(tpl);
  const body: Record<string, unknown> = { ...t, category: t.category.toUpperCase() };
  const r = await ctx.meta.createTemplate(credsOf(sender), body);
  if (!r.ok) throw metaError(`Creating template "${t.name}"`, sender, r.error);
  const record = toTemplateRecord(sender.waba_id, { ...t, id: r.value.id, status: r.value.status || 'PENDING', category: r.value.category || t.category }, ctx.now())!;
  await ctx.store.upsertTemplate(record);
  await ctx.gate.upsertTemplate(record);
  void ctx.store.appendAudit({ at: ctx.now(), actor: 'api', action: 'template.created', subject: `${sender.waba_id}:${t.name}:${t.language}`, detail: { id: r.value.id, status: record.status, category: record.category } }).catch(() => {});
  return { id: r.value.id, name: record.name, language: record.language, status: record.status, category: record.category };
}
