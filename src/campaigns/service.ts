// Campaigns and scheduled messages on the engine: every face (HTTP, MCP, CLI) calls this service,
// which calls the engine's own submit path for every message (src/engine/messages.ts: the gate's
// check-and-reserve, the store, the outbox): nothing here reaches the queue or Meta by itself.
//
// Exactly once per recipient: a recipient row is claimed atomically in the store (instances split a
// campaign with no coordinator) and submitted with an idempotency key made of (campaign, seq,
// generation), so a crash between claim and submit, a lost claim or a second instance can only
// replay the same message. A pause withdraws the campaign's messages still queued and never tried
// (one conditional write: a worker that claimed one first wins and sends it) and puts their
// recipients back under the next generation; cancel withdraws them for good. Withdrawn messages give
// their gate reservation back.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import type { AppContext } from '../engine/context.ts';
import { submitMessage } from '../engine/messages.ts';
import { prepareMessage, prepareMessageFor, bsuidRefusal, type Prepared } from '../engine/compliance.ts';
import type { GateRequest } from '../gate/port.ts';
import { findTemplate, templateComponents } from '../engine/templates.ts';
import { resolveSender } from '../engine/senders.ts';
import { estimateCost } from '../engine/pricing.ts';
import { appError } from '../shared/errors/app-error.ts';
import { newId } from '../domain/ids.ts';
import { isBsuid } from '../domain/identity.ts';
import { isPhoneCountry, normalisePhone } from '../domain/phone.ts';
import type { Decision } from '../domain/decision.ts';
import type { SenderConfig, TemplateRecord } from '../domain/types.ts';
import { DAY_MS } from '../domain/types.ts';
import { recipientZones } from '../domain/timezone.ts';
import type {
  AudienceFilter,
  CampaignOptions,
  CampaignRecord,
  CampaignStatus,
  CampaignStore,
  InvalidRow,
  RecipientOutcome,
  RecipientRecord,
  RecipientSettle,
  RecipientState,
  ScheduledMessageRecord,
} from './port.ts';
import { CAMPAIGN_STATUSES } from './port.ts';
import {
  AudienceBuilder,
  TRANSITIONS,
  countsOf,
  GUARD_DEFAULTS,
  guardTrips,
  qualityTrips,
  isTerminal,
  localSendAt,
  matchesFilter,
  parseVariables,
  recipientKey,
  variablesProblem,
  verdictOf,
  type CampaignAction,
  type CampaignCounts,
  type Vars,
} from './plan.ts';

const WITHDRAWN_PAUSE = 'CAMPAIGN_PAUSED';
const WITHDRAWN_CANCEL = 'CAMPAIGN_CANCELLED';
/**
 * An audience's rows stored per statement. Rows waiting for their statement outlive the young
 * generation and are promoted; 5,000 of them at a time was a third of what a 1,000,000-row upload
 * promoted, and 1,000 costs no time (one array per column a statement, src/store/campaign-store.ts).
 */
const FLUSH_ROWS = 1000;
const PREVIEW_PAGE = 5000;
/** Submits in flight at once per campaign batch (the state is read again between chunks). */
const SUBMIT_CHUNK = 64;
const GUARD_EVERY_MS = 2000;
const SCHEDULE_MAX_AHEAD_MS = 366 * 24 * 3_600_000;
/** Reasons time will not change: refused at schedule time. */
const REFUSE_AT_SCHEDULE = new Set([
  'OPTED_OUT',
  'INVALID_MESSAGE',
  'INVALID_RECIPIENT',
  'UNKNOWN_SENDER',
  'RECIPIENT_UNDELIVERABLE',
  'MARKET_RESTRICTED',
  'BSUID_NOT_SUPPORTED',
  'POLICY_EXCLUDED_TAG',
  'POLICY_CATEGORY_DENIED',
  'TEMPLATE_PARAMS_MISMATCH',
]);

export interface CreateCampaignInput {
  name: unknown;
  sender?: unknown;
  template: unknown;
  audience: unknown;
  deliver_at?: unknown;
  options?: unknown;
  /** Variables for every recipient that has none of its own (the reference's campaign-wide variables). */
  variables?: unknown;
}

export interface DispatcherOptions {
  /** How often the dispatcher looks for work (default 100 ms: a pause stops dispatch well within 1 s). */
  tick_ms?: number;
  /** How often it looks while no campaign runs (default 1 s: a start here kicks it at once, one on
   * another instance or a due scheduled message waits at most this long; fewer idle store reads). */
  idle_tick_ms?: number;
  /** How long a claim holds a recipient before another instance may take it (default 5 s: a claim lives only
   * while its batch is submitted; one that outlives it is only replayed, under the same idempotency key). */
  lease_ms?: number;
  instance?: string;
}

export interface CampaignView {
  id: string;
  name: string;
  status: CampaignStatus;
  status_reason: string | null;
  terminal: boolean;
  sender: string;
  template: { name: string; language: string; category: string };
  deliver_at: string | null;
  waiting_until: string | null;
  counts: CampaignCounts;
  progress: { done: number; total: number; percent: number; rate_mps: number | null; eta_s: number | null };
  audience: { kind: string; filter?: AudienceFilter; invalid_count: number; invalid: { index: number; reason: string }[] };
  options: CampaignOptions;
  actor: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

function bad(message: string, field: string, fix: string): never {
  throw appError('INVALID_REQUEST', message, { fix, details: { field } });
}

/** deliver_at: an ISO 8601 / RFC 3339 time or epoch ms. */
export function parseTime(v: unknown, field: string): number {
  const ms = typeof v === 'number' ? v : typeof v === 'string' && v.trim() ? Date.parse(v) : Number.NaN;
  if (!Number.isFinite(ms))
    bad(
      `${field} must be a time: RFC 3339 like "2026-06-01T10:00:00Z" (got ${JSON.stringify(v)?.slice(0, 60)}).`,
      field,
      `Give ${field} as "2026-06-01T10:00:00Z" (UTC) or with an offset.`,
    );
  return ms;
}

function parseOptions(v: unknown): CampaignOptions {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v))
    bad('options must be an object.', 'options', 'e.g. {"max_failure_rate": 0.2, "rate_mps": 50}');
  const o = v as Record<string, unknown>;
  const out: CampaignOptions = {};
  const rate = (k: 'max_failure_rate' | 'max_opt_out_rate') => {
    if (o[k] === undefined) return;
    const x = Number(o[k]);
    if (!(x > 0 && x <= 1)) bad(`options.${k} must be a share between 0 and 1 (got ${String(o[k])}).`, `options.${k}`, 'e.g. 0.2 for 20%.');
    out[k] = x;
  };
  rate('max_failure_rate');
  rate('max_opt_out_rate');
  if (o.guard_min_sample !== undefined) {
    const x = Number(o.guard_min_sample);
    if (!Number.isInteger(x) || x < 1) bad('options.guard_min_sample must be a whole number ≥ 1.', 'options.guard_min_sample', 'e.g. 50.');
    out.guard_min_sample = x;
  }
  if (o.pause_on_quality !== undefined) {
    const q = o.pause_on_quality;
    if (q !== 'YELLOW' && q !== 'RED')
      bad(
        `options.pause_on_quality must be "YELLOW" or "RED" (got ${JSON.stringify(o.pause_on_quality)}).`,
        'options.pause_on_quality',
        'Leave it out (or "YELLOW") to pause on any quality drop; "RED" pauses only at the lowest rating.',
      );
    out.pause_on_quality = q;
  }
  if (o.rate_mps !== undefined && o.rate_mps !== null) {
    const x = Number(o.rate_mps);
    if (!(x > 0 && x <= 1000))
      bad('options.rate_mps must be between 0 and 1000.', 'options.rate_mps', "Leave it out to use the sender's throughput.");
    out.rate_mps = x;
  }
  if (o.local_time !== undefined && o.local_time !== null) {
    if (typeof o.local_time !== 'string' || !/^([01]\d|2[0-3]):[0-5]\d$/.test(o.local_time))
      bad(
        'options.local_time must be "HH:MM" (24 h), the local time to send in each recipient\'s zone.',
        'options.local_time',
        'e.g. "10:00".',
      );
    out.local_time = o.local_time;
  }
  return out;
}

/** The filter keys a campaign understands (the reference's exclude_tag, require_opt_in and channel too). */
export const FILTER_KEYS = [
  'tags',
  'exclude_tags',
  'exclude_tag',
  'consent',
  'require_opt_in',
  'country',
  'last_inbound_since',
  'sender',
  'channel',
] as const;

/**
 * audience.filter, every key checked against what it can mean for this campaign (its category, its
 * senders, the time now): a key that would silently match nobody, or everybody, is refused instead.
 */
function parseFilter(v: unknown, ctx: AppContext, category: string, now: number): AudienceFilter {
  if (!v || typeof v !== 'object' || Array.isArray(v))
    bad('audience.filter must be an object.', 'audience.filter', 'e.g. {"tags": ["vip"], "country": ["IN"]}');
  const f = v as Record<string, unknown>;
  const strings = (k: string): string[] | undefined => {
    const x = f[k];
    if (x === undefined) return undefined;
    const arr = typeof x === 'string' ? [x] : x;
    if (!Array.isArray(arr) || arr.some((e) => typeof e !== 'string' || !e))
      bad(`audience.filter.${k} must be a list of strings.`, `audience.filter.${k}`, `e.g. "${k}": ["vip"]`);
    return arr as string[];
  };
  const unknown = Object.keys(f).filter((k) => !(FILTER_KEYS as readonly string[]).includes(k));
  if (unknown.length) bad(`audience.filter has unknown keys: ${unknown.join(', ')}.`, 'audience.filter', `Use ${FILTER_KEYS.join(', ')}.`);
  const out: AudienceFilter = {};
  const tags = strings('tags');
  if (tags) out.tags = tags;
  const ex = [...(strings('exclude_tags') ?? []), ...(strings('exclude_tag') ?? [])];
  if (ex.length) out.exclude_tags = ex;

  const consent = strings('consent');
  if (consent?.some((c) => c !== 'opted_in' && c !== 'unknown'))
    bad(
      `audience.filter.consent takes "opted_in" and "unknown" (opted-out customers are never in an audience); got ${JSON.stringify(consent)}.`,
      'audience.filter.consent',
      'e.g. ["opted_in"].',
    );
  // The reference's require_opt_in: true, or the category whose opt-in is required ("marketing").
  const req = f.require_opt_in;
  let optIn = false;
  if (req !== undefined && req !== null && req !== false) {
    if (req === true || req === category) optIn = true;
    else if (typeof req === 'string' && ['marketing', 'utility', 'authentication', 'service'].includes(req))
      bad(
        `audience.filter.require_opt_in is "${req}", but this campaign's template is ${category}: consent is judged for the campaign's own category.`,
        'audience.filter.require_opt_in',
        `Use "require_opt_in": true (or "${category}"), or a ${req} template.`,
      );
    else
      bad(
        `audience.filter.require_opt_in must be true or the campaign's category ("${category}"); got ${JSON.stringify(req)?.slice(0, 60)}.`,
        'audience.filter.require_opt_in',
        `e.g. "require_opt_in": true, or "consent": ["opted_in"].`,
      );
  }
  if (optIn && consent && !(consent.length === 1 && consent[0] === 'opted_in'))
    bad(
      `audience.filter has require_opt_in and consent ${JSON.stringify(consent)}, which disagree.`,
      'audience.filter.consent',
      'Give one of them: "require_opt_in": true is "consent": ["opted_in"].',
    );
  if (consent) out.consent = consent as ('opted_in' | 'unknown')[];
  else if (optIn) out.consent = ['opted_in'];

  const country = strings('country');
  if (country) {
    const codes = country.map((c) => c.trim().toUpperCase());
    // A code no phone number belongs to ("XX", "ZZ") would match nobody, silently: refused instead.
    const wrong = codes.filter((c) => !isPhoneCountry(c));
    if (wrong.length)
      bad(
        `audience.filter.country takes ISO 3166 alpha-2 codes of countries with phone numbers; ${wrong.map((w) => JSON.stringify(w)).join(', ')} is not one.`,
        'audience.filter.country',
        'e.g. "country": ["IN", "BR"].',
      );
    out.country = codes;
  }
  if (f.last_inbound_since !== undefined) {
    const since = parseTime(f.last_inbound_since, 'audience.filter.last_inbound_since');
    if (since > now)
      bad(
        `audience.filter.last_inbound_since (${iso(since)}) is in the future: nobody can have written since then.`,
        'audience.filter.last_inbound_since',
        'Give a past time, e.g. 30 days ago.',
      );
    out.last_inbound_since = since;
  }
  if (f.sender !== undefined) {
    if (typeof f.sender !== 'string' || !f.sender)
      bad(
        'audience.filter.sender must be a sender alias or phone_number_id.',
        'audience.filter.sender',
        'e.g. "sender": "main": only customers who have written to it.',
      );
    out.sender = resolveSender(ctx, f.sender).id;
  }
  if (f.channel !== undefined && (typeof f.channel !== 'string' || f.channel.toLowerCase() !== 'whatsapp'))
    bad(
      `audience.filter.channel ${JSON.stringify(f.channel)?.slice(0, 40)} is not supported: wagate sends on WhatsApp only.`,
      'audience.filter.channel',
      'Leave channel out, or give "whatsapp".',
    );
  return out;
}

export class CampaignService {
  readonly instance: string;
  private readonly tickMs: number;
  private readonly idleTickMs: number;
  private readonly leaseMs: number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly guardAt = new Map<string, number>();
  private readonly templates = new Map<string, TemplateRecord>();

  constructor(
    private readonly ctx: AppContext,
    readonly store: CampaignStore,
    opts: DispatcherOptions = {},
  ) {
    this.tickMs = opts.tick_ms ?? 100;
    this.idleTickMs = Math.max(this.tickMs, opts.idle_tick_ms ?? 1000);
    this.leaseMs = opts.lease_ms ?? 5_000;
    this.instance = opts.instance ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  }

  // -------------------------------------------------------------------------------------------
  // Create

  /**
   * `scope.own_customers_only` (a caller limited to some senders): a filter that names no sender looks
   * only at customers who wrote to the campaign's sender, never at those known through other senders.
   */
  async create(
    input: CreateCampaignInput,
    actor: string,
    rows?: AsyncIterable<unknown> | Iterable<unknown>,
    scope: { own_customers_only?: boolean } = {},
  ): Promise<CampaignView> {
    const { ctx } = this;
    const name = input.name;
    if (typeof name !== 'string' || !name.trim() || name.length > 200)
      bad('name must be a non-empty string of at most 200 characters.', 'name', 'e.g. "name": "spring sale"');
    const sender = resolveSender(ctx, typeof input.sender === 'string' ? input.sender : null);
    const tpl = input.template as Record<string, unknown> | undefined;
    if (!tpl || typeof tpl !== 'object' || typeof tpl.name !== 'string' || !tpl.name)
      bad('template must be {name, language}.', 'template', 'e.g. "template": {"name": "spring_sale", "language": "en_US"}');
    const language =
      typeof tpl.language === 'string'
        ? tpl.language
        : typeof (tpl.language as { code?: unknown })?.code === 'string'
          ? String((tpl.language as { code: string }).code)
          : undefined;
    const t = await findTemplate(ctx, sender, tpl.name, language);
    if (!t)
      throw appError('TEMPLATE_NOT_FOUND', `No template "${tpl.name}"${language ? ` (${language})` : ''} on sender ${sender.id}'s WABA.`, {
        fix: 'Check the name and language (GET /v1/templates), or sync from Meta with POST /v1/templates/sync.',
        details: { field: 'template' },
      });
    const now = ctx.now();
    const deliverAt = input.deliver_at === undefined || input.deliver_at === null ? null : parseTime(input.deliver_at, 'deliver_at');
    if (deliverAt !== null && deliverAt > now + SCHEDULE_MAX_AHEAD_MS)
      bad('deliver_at is more than a year ahead.', 'deliver_at', 'Schedule within the next 366 days.');
    const options = parseOptions(input.options);
    const audience = input.audience as Record<string, unknown> | undefined;
    const filterGiven = audience && typeof audience === 'object' && 'filter' in audience;
    if (!rows && !filterGiven && !(audience && Array.isArray(audience.recipients)))
      bad(
        'audience must be {recipients: [{to | recipient, variables?}, ...]} or {filter: {...}}.',
        'audience',
        'e.g. "audience": {"recipients": [{"to": "+447700900123", "variables": ["Ana"]}]}',
      );
    const filter = filterGiven ? parseFilter(audience.filter, ctx, t.category, now) : undefined;
    if (filter && scope.own_customers_only && filter.sender === undefined) filter.sender = sender.id;

    const id = newId('cmp', now);
    const record: CampaignRecord = {
      id,
      name: name.trim(),
      sender_id: sender.id,
      template_name: t.name,
      template_language: t.language,
      category: t.category,
      status: 'draft',
      deliver_at: deliverAt,
      audience: { kind: filter ? 'filter' : 'list', ...(filter ? { filter } : {}), invalid: [], invalid_count: 0 },
      options,
      total: 0,
      status_reason: null,
      waiting_until: null,
      actor,
      created_at: now,
      updated_at: now,
      started_at: null,
      finished_at: null,
    };
    await this.store.insertCampaign(record);
    const b = new AudienceBuilder((vars) => variablesProblem(t, templateComponents(t, vars ?? undefined)));
    let stored = 0;
    const flush = async () => {
      if (!b.rows.length) return;
      const chunk = b.rows.splice(0);
      await this.store.addRecipients(id, chunk, now);
      stored += chunk.length;
    };
    const defaults = parseVariables(input.variables);
    if (!defaults.ok) bad(defaults.reason, 'variables', 'Give an array of strings (positional) or an object of strings (named).');
    const add = async (row: unknown, index: number) => {
      if (defaults.vars && row && typeof row === 'object' && (row as { variables?: unknown }).variables === undefined)
        b.add({ ...(row as object), variables: defaults.vars }, index);
      else b.add(row, index);
      if (b.rows.length >= FLUSH_ROWS) await flush();
    };
    try {
      if (rows) {
        let i = 0;
        // An upload's rows carry their own row number (__row): a CSV parser reports unreadable records out of turn.
        for await (const r of rows as AsyncIterable<unknown>) {
          const n = (r as { __row?: unknown } | null)?.__row;
          i = typeof n === 'number' ? n : i + 1;
          await add(r, i);
        }
      } else if (filter) {
        let after = '';
        let i = 0;
        for (;;) {
          const page = await this.store.customersPage(after, 1000, filter.sender ?? sender.id, t.category);
          if (!page.length) break;
          after = page[page.length - 1].wa_id;
          for (const c of page) {
            if (matchesFilter(c, filter, customerCountry)) await add({ recipient: c.wa_id }, i);
            i++;
          }
        }
      } else {
        const list = (audience as { recipients: unknown[] }).recipients;
        for (let i = 0; i < list.length; i++) await add(list[i], i);
      }
      await flush();
    } catch (err) {
      // An audience that cannot be read to its end (a client gone mid-upload, the store down) leaves
      // no draft behind that looks like a campaign someone made: it is cancelled, with the reason.
      const why = (err as Error)?.message ?? String(err);
      await this.cancel(id, actor, `audience not stored whole: ${why}`.slice(0, 300)).catch(() => {});
      throw err;
    }
    const status: CampaignStatus = deliverAt !== null ? 'scheduled' : 'draft';
    const patch = { total: stored, audience: { ...record.audience, invalid: b.invalid, invalid_count: b.invalid_count } };
    await this.store.transition(id, ['draft'], status, ctx.now(), patch);
    await this.audit(actor, 'campaign.created', id, { name: record.name, total: stored, invalid: b.invalid_count, status });
    return this.get(id);
  }

  // -------------------------------------------------------------------------------------------
  // Read

  async record(id: string): Promise<CampaignRecord> {
    const c = await this.store.getCampaign(id);
    if (!c) throw appError('CAMPAIGN_NOT_FOUND', `No campaign with id "${id}".`);
    return c;
  }

  async get(id: string): Promise<CampaignView> {
    return this.view(await this.record(id));
  }

  /**
   * The counters, read from the recipients and their messages, in two parts cached apart: each is
   * read again once it is older than a multiple of what it last took, so a dashboard, `status
   * --watch` and the guard polling a large campaign do not read it back to back. The recipients'
   * states (progress, rate, ETA) are cheap and kept for five times their cost (at least 250 ms);
   * their messages' outcomes read every queued recipient's message, ten times dearer (100,000
   * recipients: ~300 ms of PostgreSQL), and are kept for ten times theirs (at least a second): read as
   * often as the states, they were a fifth of PostgreSQL's work in a production dispatch.
   * A change of the campaign's state (completed here or on another instance) reads both afresh.
   */
  async counts(c: CampaignRecord): Promise<CampaignCounts> {
    const states = await this.tallies.read('states', c, 5, 250, () => this.store.tallyStates(c.id));
    const outcomes = await this.tallies.read('outcomes', c, 10, 1000, () => this.store.tallyOutcomes(c.id, c.category, c.started_at));
    return countsOf({ ...states, ...outcomes });
  }
  private readonly tallies = new TallyCache();

  async view(c: CampaignRecord): Promise<CampaignView> {
    const counts = await this.counts(c);
    const done = counts.total - counts.pending;
    const elapsed = c.started_at ? ((c.finished_at ?? this.ctx.now()) - c.started_at) / 1000 : 0;
    const rate = elapsed > 0 ? Math.round((done / elapsed) * 10) / 10 : null;
    return {
      id: c.id,
      name: c.name,
      status: c.status,
      status_reason: c.status_reason,
      terminal: isTerminal(c.status),
      sender: c.sender_id,
      template: { name: c.template_name, language: c.template_language, category: c.category },
      deliver_at: iso(c.deliver_at),
      waiting_until: c.status === 'running' ? iso(c.waiting_until) : null,
      counts,
      progress: {
        done,
        total: counts.total,
        percent: counts.total ? Math.round((done / counts.total) * 1000) / 10 : 100,
        rate_mps: rate,
        eta_s: rate && counts.pending ? Math.ceil(counts.pending / rate) : counts.pending ? null : 0,
      },
      audience: {
        kind: c.audience.kind,
        ...(c.audience.filter ? { filter: c.audience.filter } : {}),
        invalid_count: c.audience.invalid_count,
        invalid: c.audience.invalid.slice(0, 100),
      },
      options: c.options,
      actor: c.actor,
      created_at: iso(c.created_at) as string,
      started_at: iso(c.started_at),
      finished_at: iso(c.finished_at),
    };
  }

  async list(
    opts: { status?: unknown; limit?: number; offset?: number; visible?: (sender_id: string) => boolean } = {},
  ): Promise<CampaignView[]> {
    let status: CampaignStatus[] | undefined;
    if (opts.status !== undefined && opts.status !== '') {
      status = String(opts.status)
        .split(',')
        .map((s) => s.trim()) as CampaignStatus[];
      const unknown = status.filter((s) => !CAMPAIGN_STATUSES.includes(s));
      if (unknown.length)
        bad(
          `Unknown campaign status ${unknown.join(', ')}.`,
          'status',
          `Use one or more of ${CAMPAIGN_STATUSES.join(', ')} (comma-separated).`,
        );
    }
    const list = await this.store.listCampaigns({ status, limit: opts.limit, offset: opts.offset });
    return Promise.all(list.filter((c) => !opts.visible || opts.visible(c.sender_id)).map((c) => this.view(c)));
  }

  /** A page of recipients in seq order: by `offset`, or by key with `after` (the previous page's next_after, cheap at any depth). */
  /** The invalid rows kept (the first 1,000), a page at a time: the view shows only the first 100. */
  async invalidRows(
    id: string,
    opts: { limit?: number; offset?: number } = {},
  ): Promise<{ campaign_id: string; invalid_count: number; kept: number; rows: InvalidRow[]; next_offset: number | null; note?: string }> {
    const c = await this.record(id);
    const all = c.audience.invalid;
    const offset = opts.offset ?? 0;
    const rows = all.slice(offset, offset + (opts.limit ?? 100));
    return {
      campaign_id: id,
      invalid_count: c.audience.invalid_count,
      kept: all.length,
      rows,
      next_offset: offset + rows.length < all.length ? offset + rows.length : null,
      ...(c.audience.invalid_count > all.length
        ? {
            note: `Only the first ${all.length} of ${c.audience.invalid_count} invalid rows are kept with their reason; fix these and upload the list again to see the rest.`,
          }
        : {}),
    };
  }

  async recipients(
    id: string,
    opts: { state?: unknown; limit?: number; offset?: number; after?: number } = {},
  ): Promise<{ recipients: RecipientView[]; next_after: number | null }> {
    await this.record(id);
    const states: RecipientState[] = ['pending', 'claimed', 'queued', 'denied', 'cancelled'];
    let state: RecipientState[] | undefined;
    if (opts.state !== undefined && opts.state !== '') {
      state = String(opts.state).split(',') as RecipientState[];
      if (state.some((s) => !states.includes(s)))
        bad(`Unknown recipient state in "${String(opts.state)}".`, 'state', `Use ${states.join(', ')}.`);
    }
    const limit = opts.limit ?? 100;
    const rows = await this.store.listRecipients(id, { state, limit, offset: opts.offset, after_seq: opts.after });
    return { recipients: rows.map(recipientView), next_after: rows.length === limit ? rows[rows.length - 1].seq : null };
  }

  // -------------------------------------------------------------------------------------------
  // State changes (each one guarded by a conditional write in the store)

  private async move(id: string, action: CampaignAction, patch: Parameters<CampaignStore['transition']>[4] = {}): Promise<CampaignRecord> {
    const t = TRANSITIONS[action];
    const moved = await this.store.transition(id, t.from, t.to, this.ctx.now(), patch);
    this.tallies.forget(id);
    if (moved) return moved;
    const cur = await this.record(id);
    if (isTerminal(cur.status))
      throw appError('CAMPAIGN_TERMINAL_STATE', `Campaign "${id}" is ${cur.status}, a final state: it cannot ${action} any more.`, {
        details: { status: cur.status, action },
      });
    throw appError('CAMPAIGN_STATE_CONFLICT', `Campaign "${id}" is ${cur.status}: ${action} is allowed only from ${t.from.join(' or ')}.`, {
      details: { status: cur.status, action, allowed_from: t.from },
    });
  }

  async start(id: string, actor: string): Promise<CampaignView> {
    const c = await this.record(id);
    if (TRANSITIONS.start.from.includes(c.status)) await this.readyToStart(c);
    const now = this.ctx.now();
    const moved = await this.move(id, 'start', { started_at: c.started_at ?? now, status_reason: null, waiting_until: null });
    await this.audit(actor, 'campaign.started', id, { total: moved.total });
    this.kick();
    return this.view(moved);
  }

  private async readyToStart(c: CampaignRecord): Promise<void> {
    const sender = resolveSender(this.ctx, c.sender_id);
    const t = await this.ctx.store.getTemplate(sender.waba_id, c.template_name, c.template_language);
    if (t?.status !== 'APPROVED')
      throw appError(
        'CAMPAIGN_NOT_READY',
        `Template "${c.template_name}" (${c.template_language}) is ${t ? t.status : 'unknown'}, not APPROVED: the campaign cannot start.`,
        {
          details: { template: c.template_name, template_status: t?.status ?? null },
        },
      );
    if (c.total === 0)
      throw appError('CAMPAIGN_NOT_READY', 'The campaign has no valid recipient.', {
        fix: 'Create a campaign with at least one valid recipient (audience.invalid lists why rows were refused).',
        details: { invalid_count: c.audience.invalid_count },
      });
  }

  async pause(id: string, actor: string, reason?: string): Promise<CampaignView> {
    const moved = await this.move(id, 'pause', { status_reason: reason ?? `paused by ${actor}` });
    const held = await this.holdBack(moved, WITHDRAWN_PAUSE);
    await this.audit(actor, 'campaign.paused', id, { reason: moved.status_reason, held });
    return this.view(moved);
  }

  async resume(id: string, actor: string): Promise<CampaignView> {
    const c = await this.record(id);
    if (c.status === 'paused') await this.readyToStart({ ...c, total: Math.max(c.total, 1) });
    const moved = await this.move(id, 'resume', { status_reason: null, waiting_until: null, started_at: c.started_at ?? this.ctx.now() });
    // A pause that stopped between withdrawing and requeueing left recipients pointing at withdrawn messages.
    await this.store.requeueWithdrawn(id, WITHDRAWN_PAUSE, this.ctx.now());
    await this.audit(actor, 'campaign.resumed', id, {});
    this.kick();
    return this.view(moved);
  }

  async cancel(id: string, actor: string, reason?: string): Promise<CampaignView & { from_status: CampaignStatus }> {
    const before = await this.record(id);
    const moved = await this.move(id, 'cancel', { status_reason: reason ?? `cancelled by ${actor}`, finished_at: this.ctx.now() });
    const withdrawn = await this.holdBack(moved, WITHDRAWN_CANCEL);
    await this.audit(actor, 'campaign.cancelled', id, { from_status: before.status, reason: moved.status_reason, withdrawn });
    return { ...(await this.view(moved)), from_status: before.status };
  }

  /**
   * Withdraws the campaign's messages still queued and never tried, and gives back their gate
   * reservations; pause puts their recipients back (next generation), cancel cancels them and every
   * pending one. Idempotent: the dispatcher runs it again after a batch that raced the change.
   */
  private async holdBack(c: CampaignRecord, code: string): Promise<number> {
    const { ctx } = this;
    let total = 0;
    const explanation =
      code === WITHDRAWN_PAUSE
        ? 'Held back: the campaign was paused before this message was sent.'
        : 'Withdrawn: the campaign was cancelled before this message was sent.';
    if (code === WITHDRAWN_CANCEL) await this.store.cancelPending(c.id, ctx.now());
    for (;;) {
      const unsent = await this.store.unsentQueued(c.id, 1000);
      if (!unsent.length) break;
      const ids = await this.store.withdrawMessages(
        unsent.map((u) => u.message_id),
        code,
        explanation,
        ctx.now(),
      );
      for (const mid of ids)
        await ctx.gate.release(mid).catch((err) => ctx.log.warn({ err, message_id: mid }, 'campaign: gate release failed'));
      total += ids.length;
      if (code === WITHDRAWN_PAUSE) await this.store.requeueWithdrawn(c.id, code, ctx.now());
      else await this.store.cancelWithdrawn(c.id, code, ctx.now());
      if (ids.length === 0) break; // the rest are being sent right now (a worker claimed them first)
    }
    return total;
  }

  // -------------------------------------------------------------------------------------------
  // Preview: the whole gate for every recipient, reserving nothing

  async preview(id: string): Promise<Record<string, unknown>> {
    const { ctx } = this;
    const c = await this.record(id);
    const sender = resolveSender(ctx, c.sender_id);
    const t = await ctx.store.getTemplate(sender.waba_id, c.template_name, c.template_language);
    const started = performance.now();
    const now = ctx.now();
    const at = Math.max(now, c.deliver_at ?? now);
    const denied: Record<string, number> = {};
    const byMarket = new Map<string, number>();
    let allowed = 0;
    let total = 0;
    let tierNeeded = 0;
    let firstAt = Number.POSITIVE_INFINITY;
    let lastAt = 0;
    let after = -1;
    const base: { req: GateRequest | null } = { req: null };
    const states: RecipientState[] = isTerminal(c.status)
      ? ['pending', 'claimed', 'queued', 'denied', 'cancelled']
      : ['pending', 'claimed'];
    for (;;) {
      const page = await this.store.listRecipients(id, { state: states, limit: PREVIEW_PAGE, after_seq: after, outcome: false });
      if (!page.length) break;
      after = page[page.length - 1].seq;
      const tz = c.options.local_time ? await this.customerZones(page) : null;
      const decisions = await Promise.all(page.map((r) => this.dryRun(c, sender, t, r, at, base, tz?.get(r.recipient) ?? null)));
      for (const d of decisions) {
        total++;
        if (!d.decision.allowed) {
          const k = d.decision.reason_code ?? 'UNKNOWN';
          denied[k] = (denied[k] ?? 0) + 1;
          continue;
        }
        allowed++;
        if (d.when < firstAt) firstAt = d.when;
        if (d.when > lastAt) lastAt = d.when;
        // Priced on the UTC day it is sent (Meta's pricing changes at UTC midnights): with local_time
        // a campaign spans up to a day, and may straddle a change (1 Oct 2026).
        const k = `${d.country}|${d.category}|${Math.max(at, d.when - (d.when % DAY_MS))}`;
        byMarket.set(k, (byMarket.get(k) ?? 0) + 1);
        if (d.takesTier) tierNeeded++;
      }
    }
    const limit = sender.messaging_limit;
    const used = await ctx.gate.tierUsage(sender.business_id, now);
    const remaining = limit === null ? null : Math.max(0, limit - used);
    const over = remaining === null ? 0 : Math.max(0, tierNeeded - remaining);
    const rate = c.options.rate_mps ?? sender.throughput_mps;
    const sendNow = allowed - over;
    let eta = Math.ceil(sendNow / rate) + (over > 0 && limit ? Math.ceil(over / limit) * 86_400 : 0);
    // With local_time the last recipient's local time comes first: it cannot end before then.
    if (c.options.local_time && allowed > 0) eta = Math.max(eta, Math.ceil((lastAt - now) / 1000));
    return {
      campaign_id: id,
      total,
      allowed,
      denied,
      would_send_now: sendNow,
      cost: await this.cost(byMarket, at),
      tier: {
        business_id: sender.business_id,
        limit,
        used_24h: used,
        remaining,
        needed: tierNeeded,
        fits: over === 0,
        over_by: over,
        note:
          over > 0
            ? `${over} recipient(s) exceed the portfolio's remaining 24 h budget: the campaign waits for room as the rolling window frees (TIER_LIMIT is never sent).`
            : 'Fits in the remaining 24 h budget.',
      },
      rate_mps: rate,
      eta_s: eta,
      ...(c.options.local_time
        ? {
            local_time: {
              time: c.options.local_time,
              first_send_at: allowed ? iso(firstAt) : null,
              last_send_at: allowed ? iso(lastAt) : null,
            },
          }
        : {}),
      at: iso(at),
      previewed_in_ms: Math.round(performance.now() - started),
    };
  }

  /**
   * The gate's dry run for one recipient as it would be sent at `at`. A phone recipient's request is
   * the campaign's first one (validated in full by prepareMessage) with this recipient's number,
   * country and parameters: what differs per recipient was validated when the campaign was created,
   * and it keeps a preview of a million recipients to seconds. A BSUID goes the whole way (its linked
   * phone is looked up).
   */
  private async dryRun(
    c: CampaignRecord,
    sender: SenderConfig,
    t: TemplateRecord | null,
    r: RecipientRecord,
    at: number,
    base: { req: GateRequest | null },
    customer_tz: string | null = null,
  ): Promise<{ decision: Decision; country: string; category: string; takesTier: boolean; when: number }> {
    let prep: Prepared;
    const message_id = `preview:${c.id}:${r.seq}`;
    if (!isBsuid(r.recipient) && base.req?.template) {
      const components = templateComponents(t, (r.variables ?? undefined) as Vars | undefined);
      const req: GateRequest = {
        ...base.req,
        message_id,
        to: r.recipient,
        country: this.countryOf(r.recipient),
        template: { ...base.req.template, components },
      };
      prep = { ok: true, req, payload: {}, sender };
    } else {
      const input = { body: this.bodyFor(c, t, r), sender: sender.id, message_id };
      prep = isBsuid(r.recipient) ? await prepareMessageFor(this.ctx, input) : prepareMessage(this.ctx, input);
      if (prep.ok && !isBsuid(r.recipient)) base.req = prep.req;
    }
    if (!prep.ok) return { decision: prep.decision, country: '', category: c.category, takesTier: false, when: at };
    // With local_time the gate judges each recipient at its own send time (quiet hours, caps, price date).
    const when = c.options.local_time
      ? localSendAt(c.options.local_time, this.zoneOf(prep.req.country ?? null, sender, customer_tz), at)
      : at;
    // The verdict only: a preview counts reasons, and the passed checks' sentences were most of its work.
    const o = await this.ctx.gate.check(prep.req, when, { explain: false });
    const decision = (o.decision.allowed && bsuidRefusal(prep, o.category)) || o.decision;
    return {
      decision,
      country: prep.req.country ?? 'ZZ',
      category: o.category ?? c.category,
      takesTier: o.new_tier_recipient === true,
      when,
    };
  }

  private readonly zones = new Map<string, string>();
  /**
   * The zone a campaign's local_time is read in for a recipient: the customer's own time zone when
   * wagate knows it (as the gate's quiet hours read it), else their country's, else the sender's default.
   */
  private zoneOf(country: string | null, sender: SenderConfig, customer_tz: string | null = null): string {
    if (customer_tz) return recipientZones({ customer_tz, country, fallback: sender.default_time_zone }).zones[0];
    const key = `${country ?? ''}|${sender.default_time_zone}`;
    let z = this.zones.get(key);
    if (z === undefined) {
      z = recipientZones({ customer_tz: null, country, fallback: sender.default_time_zone }).zones[0];
      this.zones.set(key, z);
    }
    return z;
  }

  private readonly countries = new Map<string, string | null>();
  /**
   * The country of a phone number, by its first 7 digits: enough to tell the countries that share a
   * calling code apart (NANP area codes, +44 7624 Isle of Man, +39 06 698 Vatican), and the phone
   * library's full parse costs ~50 µs a number.
   */
  private countryOf(digits: string): string | null {
    const key = digits.slice(0, 7);
    let c = this.countries.get(key);
    if (c === undefined) {
      c = countryOf(digits);
      if (this.countries.size > 100_000) this.countries.clear();
      this.countries.set(key, c);
    }
    return c;
  }

  /** The forecast's cost: `byMarket` counts by "country|category|send day"; a unit priced on more than one day is their mean. */
  private async cost(byMarket: Map<string, number>, at: number): Promise<Record<string, unknown>> {
    const by: Record<string, Record<string, { count: number; unit: number; total: number }>> = {};
    const unpriced = new Set<string>();
    const rules = new Set<string>();
    let total = 0;
    let currency = 'USD';
    for (const [k, n] of byMarket) {
      const [country, category, day] = k.split('|');
      try {
        // Priced by the rules of the day it is sent (deliver_at for a scheduled campaign), not today's.
        const e = await estimateCost(this.ctx, { message_type: category, recipient_country: country, quantity: n, send_at: Number(day) });
        currency = e.currency;
        rules.add(e.pricing_rules);
        by[country] ??= {};
        const row = (by[country][category] ??= { count: 0, unit: 0, total: 0 });
        row.count += n;
        row.total = Math.round((row.total + e.total_estimated_cost) * 1e6) / 1e6;
        row.unit = Math.round((row.total / row.count) * 1e6) / 1e6;
        total += e.total_estimated_cost;
      } catch {
        unpriced.add(country);
      }
    }
    return {
      currency,
      total: Math.round(total * 1e6) / 1e6,
      by_country: by,
      at: iso(at),
      pricing_rules: rules.size ? [...rules].sort().join(',') : null, // two (comma-separated) when the sends straddle a change
      ...(unpriced.size ? { unpriced: [...unpriced] } : {}),
    };
  }

  private bodyFor(c: CampaignRecord, t: TemplateRecord | null, r: RecipientRecord): Record<string, unknown> {
    const components = templateComponents(t, (r.variables ?? undefined) as Vars | undefined);
    return {
      ...(isBsuid(r.recipient) ? { recipient: r.recipient } : { to: r.recipient }),
      type: 'template',
      template: { name: c.template_name, language: { code: c.template_language }, ...(components.length ? { components } : {}) },
    };
  }

  // -------------------------------------------------------------------------------------------
  // The dispatcher: every instance runs one; the store's claims split the work

  startDispatcher(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const loop = async () => {
      while (!this.stopped) {
        let busy = true;
        try {
          busy = await this.tick();
        } catch (err) {
          this.ctx.log.warn({ err }, 'campaign dispatcher tick failed; trying again');
        }
        if (this.stopped) break;
        await new Promise<void>((res) => {
          this.timer = setTimeout(res, busy ? this.tickMs : this.idleTickMs);
          this.wake = res;
        });
      }
    };
    this.running = loop();
  }

  private wake: (() => void) | null = null;
  private kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
  }

  async stopDispatcher(): Promise<void> {
    this.stopped = true;
    this.kick();
    await this.running;
    this.running = null;
  }

  /**
   * One pass: due scheduled campaigns start, running ones dispatch a paced batch, due scheduled
   * messages go. True while some campaign runs (the next pass comes after tick_ms, else idle_tick_ms).
   */
  async tick(): Promise<boolean> {
    const now = this.ctx.now();
    for (const id of await this.store.campaignIds(['scheduled'], { due_before: now })) {
      const c = await this.store.getCampaign(id);
      if (!c) continue;
      try {
        await this.readyToStart(c);
        await this.store.transition(id, TRANSITIONS.schedule_due.from, 'running', now, { started_at: now, status_reason: null });
      } catch (err) {
        await this.store.transition(id, ['scheduled'], 'paused', now, {
          status_reason: `not started at deliver_at: ${(err as Error).message}`,
        });
      }
    }
    const ids = await this.store.campaignIds(['running']);
    await Promise.all(ids.map((id) => this.dispatch(id)));
    await this.dueScheduled();
    return ids.length > 0;
  }

  private async dispatch(id: string): Promise<void> {
    const { ctx } = this;
    const c = await this.store.getCampaign(id);
    if (c?.status !== 'running') return;
    const now = ctx.now();
    await this.guard(c, now);
    if (c.waiting_until !== null && c.waiting_until > now) return;
    const sender = resolveSender(ctx, c.sender_id);
    const rate = c.options.rate_mps ?? sender.throughput_mps;
    const b = this.buckets.get(id) ?? { tokens: Math.max(1, rate * (this.tickMs / 1000)), at: now };
    b.tokens = Math.min(Math.max(1, rate), b.tokens + (rate * Math.max(0, now - b.at)) / 1000);
    b.at = now;
    this.buckets.set(id, b);
    let n = Math.floor(b.tokens);
    // Never more than the tier budget has room for (the gate is the judge; this keeps denials few).
    if (sender.messaging_limit !== null) {
      const used = await ctx.gate.tierUsage(sender.business_id, now);
      n = Math.min(n, Math.max(1, sender.messaging_limit - used));
    }
    if (n < 1) return;
    const claimed = await this.store.claimRecipients(id, n, now, this.leaseMs, this.instance);
    if (!claimed.length) return this.maybeFinish(c);
    b.tokens -= claimed.length;
    const t = this.templates.get(id) ?? (await ctx.store.getTemplate(sender.waba_id, c.template_name, c.template_language));
    if (t) this.templates.set(id, t);
    const settles: RecipientSettle[] = [];
    let waitUntil: number | null = null;
    let pauseReason: string | null = null;
    const tz = c.options.local_time ? await this.customerZones(claimed) : null;
    const one = async (r: RecipientRecord) => {
      const at = this.localTimeAt(c, sender, r, now, tz?.get(r.recipient) ?? null);
      if (at !== null) {
        settles.push({ seq: r.seq, state: 'pending', not_before: at });
        b.tokens += 1; // put off to its local time, nothing sent: its token goes back to the sends
        return;
      }
      try {
        const res = await submitMessage(ctx, {
          body: this.bodyFor(c, t ?? null, r),
          sender: sender.id,
          idempotency_key: recipientKey(c.id, r.seq, r.gen),
          actor: `campaign:${c.id}`,
        });
        const v = verdictOf(res.http_status, res.decision, ctx.now());
        if (v.kind === 'queued')
          settles.push({ seq: r.seq, state: 'queued', message_id: res.id ?? null, wa_id: r.recipient, reason_code: null });
        else if (v.kind === 'deny')
          settles.push({ seq: r.seq, state: 'denied', reason_code: v.reason, detail: res.decision.explanation.slice(0, 500) });
        else if (v.kind === 'defer') settles.push({ seq: r.seq, state: 'pending', not_before: v.at, reason_code: v.reason });
        else if (v.kind === 'wait') {
          waitUntil = Math.max(waitUntil ?? 0, v.at);
          settles.push({ seq: r.seq, state: 'pending', not_before: 0, reason_code: v.reason });
        } else {
          pauseReason = `${v.reason}: ${res.decision.explanation}`;
          settles.push({ seq: r.seq, state: 'pending', not_before: 0, reason_code: v.reason });
        }
      } catch (err) {
        // The store or the gate did not answer: back to pending shortly (the same key replays).
        ctx.log.warn({ err, campaign_id: c.id, seq: r.seq }, 'campaign submit failed; the recipient is tried again');
        settles.push({ seq: r.seq, state: 'pending', not_before: ctx.now() + 1000 });
      }
    };
    // In chunks, the campaign's state read between them: a pause or cancel stops the batch within one
    // chunk; the rest of the batch goes back to pending untouched (never submitted).
    for (let i = 0; i < claimed.length; i += SUBMIT_CHUNK) {
      // Also once the tier budget ran out or a campaign-wide denial came: the rest would be denied alike.
      if (i > 0 && (waitUntil !== null || pauseReason !== null || (await this.store.getCampaign(id))?.status !== 'running')) {
        for (const r of claimed.slice(i)) settles.push({ seq: r.seq, state: 'pending', not_before: r.not_before });
        break;
      }
      await Promise.all(claimed.slice(i, i + SUBMIT_CHUNK).map(one));
    }
    const done = new Set(await this.store.settleRecipients(id, settles, this.instance, ctx.now()));
    if (waitUntil !== null) {
      await this.store.updateCampaign(
        id,
        { waiting_until: waitUntil, status_reason: `waiting for the tier budget until ${iso(waitUntil)}` },
        ctx.now(),
      );
      ctx.log.info({ campaign_id: id, until: iso(waitUntil) }, 'campaign waits: the portfolio messaging limit is used up for now');
    } else if (c.waiting_until !== null) await this.store.updateCampaign(id, { waiting_until: null, status_reason: null }, ctx.now());
    if (pauseReason) await this.autoPause(c, pauseReason);
    // Changed while this batch was in flight (paused or cancelled): hold back what it just queued.
    const after = await this.store.getCampaign(id);
    const lost = settles.filter((s) => s.state === 'queued' && !done.has(s.seq));
    if (after && after.status !== 'running') {
      if (after.status === 'paused') await this.holdBack(after, WITHDRAWN_PAUSE);
      if (after.status === 'cancelled') {
        await this.holdBack(after, WITHDRAWN_CANCEL);
        const ids = await this.store.withdrawMessages(
          lost.map((s) => s.message_id as string),
          WITHDRAWN_CANCEL,
          'Withdrawn: the campaign was cancelled before this message was sent.',
          ctx.now(),
        );
        for (const mid of ids) await ctx.gate.release(mid).catch(() => {});
      }
    }
  }

  /** With options.local_time: the next time it is that local time for this recipient, if not now. */
  private localTimeAt(c: CampaignRecord, sender: SenderConfig, r: RecipientRecord, now: number, customer_tz: string | null): number | null {
    if (!c.options.local_time || r.not_before > 0) return null;
    // The same zone and the same rule as preview: within the first 59 minutes after the target, now.
    const at = localSendAt(
      c.options.local_time,
      this.zoneOf(isBsuid(r.recipient) ? customerCountry(r.recipient) : this.countryOf(r.recipient), sender, customer_tz),
      now,
    );
    return at === now ? null : at;
  }

  /** The time zones wagate holds for these recipients' customers (one store read for the batch). */
  private async customerZones(rs: readonly RecipientRecord[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const cu of await this.ctx.store.getCustomers(rs.map((r) => r.recipient))) if (cu.time_zone) out.set(cu.wa_id, cu.time_zone);
    return out;
  }

  private async maybeFinish(c: CampaignRecord): Promise<void> {
    const next = await this.store.nextPendingAt(c.id);
    const now = this.ctx.now();
    if (next !== null) {
      // Deferred recipients (quiet hours, local time): say when the next one is due.
      if (c.waiting_until !== next && next > now) await this.store.updateCampaign(c.id, { waiting_until: next }, now);
      return;
    }
    if ((await this.store.listRecipients(c.id, { state: ['claimed'], limit: 1, outcome: false })).length) return; // held elsewhere: finished there
    const done = await this.store.transition(c.id, TRANSITIONS.complete.from, 'completed', now, { finished_at: now, waiting_until: null });
    if (done) {
      this.buckets.delete(c.id);
      this.templates.delete(c.id);
      await this.audit(`campaign:${c.id}`, 'campaign.completed', c.id, { total: c.total });
    }
  }

  private async autoPause(c: CampaignRecord, reason: string): Promise<void> {
    const moved = await this.store.transition(c.id, ['running'], 'paused', this.ctx.now(), { status_reason: reason });
    if (!moved) return;
    await this.holdBack(moved, WITHDRAWN_PAUSE);
    this.ctx.log.warn({ campaign_id: c.id, reason }, 'campaign paused by its quality guard');
    this.ctx.alerts.raise({
      kind: 'campaign_paused',
      severity: 'warning',
      dedupe_key: `campaign_paused:${c.id}`,
      sender_id: c.sender_id,
      title: `Campaign "${c.name}" paused`,
      body: `${reason}. Nothing more is sent until it is resumed (POST /v1/campaigns/${c.id}/resume, or wagate campaign resume ${c.id}) once the cause is fixed.`,
      detail: { campaign_id: c.id, reason },
    });
    await this.audit(`campaign:${c.id}`, 'campaign.paused', c.id, { reason, by: 'quality_guard' });
  }

  /** Quality guard: the template's state and quality, and the failure and opt-out rates. */
  private async guard(c: CampaignRecord, now: number): Promise<void> {
    if ((this.guardAt.get(c.id) ?? 0) > now) return;
    this.guardAt.set(c.id, now + GUARD_EVERY_MS);
    const sender = resolveSender(this.ctx, c.sender_id);
    const t = await this.ctx.store.getTemplate(sender.waba_id, c.template_name, c.template_language);
    if (t) this.templates.set(c.id, t);
    let reason: string | null = null;
    if (t?.status !== 'APPROVED') reason = `template "${c.template_name}" is ${t ? t.status : 'gone'}`;
    else if (qualityTrips(t.quality, c.options))
      reason = `template "${c.template_name}" quality dropped to ${t.quality} (options.pause_on_quality: ${c.options.pause_on_quality ?? GUARD_DEFAULTS.pause_on_quality})`;
    else reason = guardTrips(await this.counts(c), c.options);
    if (reason) await this.autoPause(c, reason);
  }

  // -------------------------------------------------------------------------------------------
  // Scheduled messages

  async schedule(input: { body: unknown; sender?: string; deliver_at: unknown }, actor: string): Promise<ScheduledView> {
    const { ctx } = this;
    const now = ctx.now();
    const deliverAt = parseTime(input.deliver_at, 'deliver_at');
    if (deliverAt < now - 1000)
      bad(`deliver_at (${iso(deliverAt)}) is in the past.`, 'deliver_at', 'Give a future time, or send now with POST /v1/messages.');
    if (deliverAt > now + SCHEDULE_MAX_AHEAD_MS)
      bad('deliver_at is more than a year ahead.', 'deliver_at', 'Schedule within the next 366 days.');
    const p = await prepareMessageFor(ctx, { body: input.body, sender: input.sender });
    if (!p.ok) throw refused(p.decision);
    const o = await ctx.gate.check(p.req, deliverAt);
    const decision = (o.decision.allowed && bsuidRefusal(p, o.category)) || o.decision;
    if (!decision.allowed && REFUSE_AT_SCHEDULE.has(decision.reason_code ?? '')) throw refused(decision);
    const { sender: _s, ...body } = input.body as Record<string, unknown>;
    const rec: ScheduledMessageRecord = {
      id: newId('sch', now),
      sender_id: p.sender.id,
      recipient: p.recipient ?? p.req.to,
      body,
      deliver_at: deliverAt,
      state: 'scheduled',
      claim_until: null,
      claimed_by: null,
      message_id: null,
      decision: decision as unknown as Record<string, unknown>,
      actor,
      created_at: now,
      updated_at: now,
    };
    await this.store.insertScheduled(rec);
    await this.audit(actor, 'scheduled_message.created', rec.id, { sender: rec.sender_id, deliver_at: iso(deliverAt) });
    return scheduledView(rec);
  }

  async getScheduled(id: string): Promise<ScheduledView> {
    const m = await this.store.getScheduled(id);
    if (!m) throw appError('SCHEDULED_MESSAGE_NOT_FOUND', `No scheduled message with id "${id}".`);
    return scheduledView(m);
  }

  async scheduledRecord(id: string): Promise<ScheduledMessageRecord> {
    const m = await this.store.getScheduled(id);
    if (!m) throw appError('SCHEDULED_MESSAGE_NOT_FOUND', `No scheduled message with id "${id}".`);
    return m;
  }

  async cancelScheduled(id: string, actor: string): Promise<ScheduledView> {
    const m = await this.scheduledRecord(id);
    if (!(await this.store.cancelScheduled(id, this.ctx.now())))
      throw appError(
        'SCHEDULED_MESSAGE_CLOSED',
        `Scheduled message "${id}" is ${(await this.scheduledRecord(id)).state}: it can no longer be cancelled.`,
        {
          details: { status: m.state, message_id: m.message_id },
        },
      );
    await this.audit(actor, 'scheduled_message.cancelled', id, {});
    return this.getScheduled(id);
  }

  /** Due scheduled messages go through the submit path once each (idempotency key "scheduled:<id>"). */
  private async dueScheduled(): Promise<void> {
    const { ctx } = this;
    const due = await this.store.claimDueScheduled(ctx.now(), 100, this.leaseMs, this.instance);
    await Promise.all(
      due.map(async (m) => {
        try {
          const res = await submitMessage(ctx, {
            body: m.body,
            sender: m.sender_id,
            idempotency_key: `scheduled:${m.id}`,
            actor: `scheduled:${m.id}`,
          });
          const v = verdictOf(res.http_status, res.decision, ctx.now());
          const decision = res.decision as unknown as Record<string, unknown>;
          if (v.kind === 'queued')
            await this.store.settleScheduled(m.id, this.instance, { state: 'submitted', message_id: res.id ?? null, decision }, ctx.now());
          else if (v.kind === 'defer' || v.kind === 'wait')
            await this.store.settleScheduled(m.id, this.instance, { state: 'scheduled', deliver_at: v.at, decision }, ctx.now());
          else await this.store.settleScheduled(m.id, this.instance, { state: 'denied', decision }, ctx.now());
        } catch (err) {
          // Left claimed: after the lease another pass (here or elsewhere) takes it again, same key.
          ctx.log.warn({ err, scheduled_id: m.id }, 'scheduled message submit failed; tried again after its claim expires');
        }
      }),
    );
  }

  private async audit(actor: string, action: string, subject: string, detail: Record<string, unknown>): Promise<void> {
    await this.ctx.store.appendAudit({ at: this.ctx.now(), actor, action, subject, detail }).catch(() => {});
  }
}

export interface RecipientView {
  seq: number;
  recipient: string;
  state: RecipientState;
  outcome: string;
  message_id: string | null;
  reason_code: string | null;
  detail: string | null;
  error: Record<string, unknown> | null;
  not_before: string | null;
}

function recipientView(r: RecipientOutcome): RecipientView {
  const outcome = r.state === 'queued' ? (r.message_status ?? 'queued') : r.state === 'claimed' ? 'pending' : r.state;
  return {
    seq: r.seq,
    recipient: r.recipient,
    state: r.state,
    outcome,
    message_id: r.message_id,
    reason_code: r.reason_code,
    detail: r.detail,
    error: r.message_error,
    not_before: r.state === 'pending' && r.not_before > 0 ? iso(r.not_before) : null,
  };
}

export interface ScheduledView {
  id: string;
  status: ScheduledMessageRecord['state'];
  sender: string;
  recipient: string;
  deliver_at: string;
  message_id: string | null;
  decision: Record<string, unknown> | null;
  created_at: string;
}

function scheduledView(m: ScheduledMessageRecord): ScheduledView {
  return {
    id: m.id,
    status: m.state === 'claimed' ? 'scheduled' : m.state,
    sender: m.sender_id,
    recipient: m.recipient,
    deliver_at: iso(m.deliver_at) as string,
    message_id: m.message_id,
    decision: m.decision,
    created_at: iso(m.created_at) as string,
  };
}

function refused(decision: Decision) {
  return appError('SCHEDULE_REFUSED', `Not scheduled: ${decision.explanation}`, {
    fix: decision.suggested_action,
    details: { decision },
  });
}

/** A known customer's country: its phone's, or a business-scoped user id's prefix ("US.1349…" is US). */
function customerCountry(wa_id: string): string | null {
  if (isBsuid(wa_id)) return /^([A-Z]{2})\./.exec(wa_id)?.[1] ?? null;
  return countryOf(wa_id);
}

function countryOf(wa_id: string): string | null {
  const p = normalisePhone(wa_id);
  return p.ok ? (p.country ?? null) : null;
}

/** Read results kept for a multiple of what reading them took, until the campaign's state changes. */
class TallyCache {
  private readonly byCampaign = new Map<
    string,
    Partial<Record<'states' | 'outcomes', { value: unknown; until: number; status: CampaignStatus; updated_at: number }>>
  >();

  async read<T>(part: 'states' | 'outcomes', c: CampaignRecord, factor: number, min_ms: number, load: () => Promise<T>): Promise<T> {
    const now = performance.now();
    const hit = this.byCampaign.get(c.id)?.[part];
    if (hit && hit.until > now && hit.status === c.status && hit.updated_at === c.updated_at) return hit.value as T;
    const value = await load();
    const took = performance.now() - now;
    if (this.byCampaign.size > 1000) this.byCampaign.clear();
    const parts = this.byCampaign.get(c.id) ?? {};
    parts[part] = { value, until: performance.now() + Math.max(min_ms, took * factor), status: c.status, updated_at: c.updated_at };
    this.byCampaign.set(c.id, parts);
    return value;
  }

  /** Every part of a campaign's tally, after a change this instance made. */
  forget(campaign_id: string): void {
    this.byCampaign.delete(campaign_id);
  }
}

/**
 * CSV (header row: to or recipient, then variable columns) or JSON lines, streamed: one row object
 * each, in file order, with its row number in `__row` (JSON lines: the line; CSV: the data row, the
 * header not counted, an unreadable record counted where it stood).
 */
export async function* audienceRows(input: Readable, format: 'csv' | 'jsonl'): AsyncGenerator<unknown> {
  if (format === 'jsonl') {
    const { createInterface } = await import('node:readline');
    let line = 0;
    const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<string>;
      try {
        next = await lines.next();
      } catch (err) {
        throw uploadCutShort(err);
      }
      if (next.done) break;
      const text = next.value;
      line++;
      if (!text.trim()) {
        yield { __invalid: 'empty line', __row: line };
        continue;
      }
      try {
        const row = JSON.parse(text) as unknown;
        yield row && typeof row === 'object' && !Array.isArray(row) ? { ...row, __row: line } : row;
      } catch {
        yield {
          __invalid: 'not valid JSON: each line must be one object like {"to": "+447700900123", "variables": ["Ana"]}',
          __row: line,
        };
      }
    }
    return;
  }
  const { parse } = await import('csv-parse');
  // A record the parser cannot read (an unbalanced quote, ...) is skipped and reported in its place.
  // The parser runs ahead of this loop, so each one is held with `after`, the readable records before
  // it, and given out just before the first readable record that comes after it in the file.
  const skipped: { after: number; row: unknown }[] = [];
  let skippedSeen = 0;
  let skippedOut = 0;
  const parser = parse({
    columns: true,
    skip_empty_lines: true,
    trim: true,
    relax_column_count: true,
    bom: true,
    // No `info: true`: its object per record (a dozen counters) was most of what a 1,000,000-row
    // upload allocated, and it lived long enough to be promoted (the parser runs a whole chunk
    // ahead of this loop). Records are counted here instead: the parser counts only those it gives
    // out, as this loop does.
    skip_records_with_error: true,
    on_skip: (err) => {
      const after = (err as { records?: number } | undefined)?.records ?? 0;
      skippedSeen++;
      skipped.push({
        after,
        row: { __invalid: `unreadable CSV: ${err?.message ?? 'parse error'}`.slice(0, 300), __row: after + skippedSeen },
      });
    },
  });
  // pipeline, not pipe: an input that fails (a client gone mid-upload) fails the parser, and with it
  // this loop, instead of leaving it waiting for an end that never comes.
  let inputError: unknown = null;
  const feed = async function* () {
    try {
      yield* slices(input, PARSE_SLICE_BYTES);
    } catch (err) {
      inputError = err;
      throw err;
    }
  };
  pipeline(Readable.from(feed()), parser, () => {}); // a failure reaches the loop below through the parser
  let records = 0; // the parser's info.records
  try {
    for await (const rec of parser as AsyncIterable<Record<string, string>>) {
      records++;
      while (skipped.length && skipped[0].after < records) {
        skippedOut++;
        yield skipped.shift()?.row;
      }
      const { to, recipient, phone, variables, ...rest } = rec;
      const vars = variables ?? (Object.keys(rest).length ? csvVars(rest) : undefined);
      yield { to: to ?? phone, recipient, variables: vars, __row: records + skippedOut };
    }
  } catch (err) {
    if (inputError) throw uploadCutShort(inputError);
    // Not CSV at all (the header cannot be read): nothing to keep.
    throw appError('INVALID_REQUEST', `The upload is not readable CSV: ${(err as Error).message}`.slice(0, 500), {
      fix: 'Send a header row ("to" or "recipient", then variable columns "1", "2", ...) and one recipient per line.',
      details: { field: 'body' },
    });
  }
  while (skipped.length) yield skipped.shift()?.row;
}

function uploadCutShort(err: unknown) {
  return appError('INVALID_REQUEST', `The upload could not be read to its end: ${(err as Error)?.message ?? String(err)}`.slice(0, 500), {
    fix: 'Send the whole file again: the campaign begun from this one was cancelled.',
    details: { field: 'body' },
  });
}

/**
 * What the CSV parser is given at a time. It parses a whole chunk before this loop takes the first
 * record, and the records waiting meanwhile outlive the young generation: a 100 KB chunk held 5,000
 * of them, promoted, and they grew the heap by 150 MB before a full collection came.
 */
const PARSE_SLICE_BYTES = 16 * 1024;

async function* slices(input: AsyncIterable<Buffer | string>, max: number): AsyncGenerator<Buffer> {
  let carry = ''; // a string chunk's last half of a surrogate pair, completed by the next chunk
  for await (const chunk of input) {
    let bytes: Buffer;
    if (typeof chunk === 'string') {
      let text = carry + chunk;
      carry = '';
      const last = text.charCodeAt(text.length - 1);
      if (last >= 0xd800 && last <= 0xdbff) {
        carry = text.slice(-1);
        text = text.slice(0, -1);
      }
      bytes = Buffer.from(text); // cut as bytes below: the parser joins a character cut there
    } else bytes = chunk;
    for (let i = 0; i < bytes.length; i += max) yield bytes.subarray(i, i + max);
  }
  if (carry) yield Buffer.from(carry);
}

/** CSV variable columns: "1","2",... (or var1, var2...) become positional; other names named parameters. */
function csvVars(cols: Record<string, string>): Vars {
  const keys = Object.keys(cols);
  const pos = keys.map((k) => /^(?:var(?:iable)?_?)?(\d+)$/i.exec(k)?.[1]);
  if (pos.every((p) => p !== undefined)) {
    return keys
      .map((k, i) => [Number(pos[i]), cols[k]] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, v]) => v);
  }
  return cols;
}
