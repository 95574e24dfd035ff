// Engine reads and actions the operator dashboard needs beyond the per-resource ones (src/dashboard/,
// served by src/http/routes/dashboard.ts): the overview of every sender, the per-minute series for
// the charts (src/observability/rollups.ts writes them), message search by any id, a customer's
// timeline (the audit trail, also as CSV), alert acknowledgement, and dead letters in bulk. Every
// function takes the caller's principal and returns only what it may see; phone numbers are masked
// for roles below admin.
import type { AppContext } from './context.ts';
import type { MessageRecord, SenderStatus } from '../domain/types.ts';
import { credentialsInvalid } from '../domain/decide.ts';
import { CARE_WINDOW_MS } from '../domain/types.ts';
import type { DeadLetter } from '../store/port.ts';
import type { SenderRestriction } from '../domain/restrictions.ts';
import { allSenders, hasRole, senderAllowed, type Principal } from '../mcp/principal.ts';
import { explain } from '../domain/errors/index.ts';
import { maskPhone } from '../observability/log.ts';
import { appError } from '../shared/errors/app-error.ts';
import { percentileFromBuckets } from '../observability/rollups.ts';
import { MINUTE_MS } from '../store/rollup-store.ts';
import { customerKeyOf, getCustomerView } from './customers.ts';
import { discardDeadLetter, replayDeadLetter } from './dead-letters.ts';
import { senderView } from './senders.ts';

const iso = (t: number | null | undefined) => (typeof t === 'number' && Number.isFinite(t) ? new Date(t).toISOString() : null);

/** Full numbers for admin keys (and the local operator); masked for read and send keys. */
export function phoneFor(p: Principal, phone: string | null | undefined): string | null {
  if (!phone) return phone ?? null;
  return hasRole(p, 'admin') ? phone : maskPhone(phone);
}

function visibleSenders(ctx: AppContext, p: Principal) {
  return ctx.senders.list().filter((s) => allSenders(p) || senderAllowed(ctx, p, s.id));
}

/** What to do about a sender's state, in one sentence. */
function fixFor(state: string, reason_code: string | null, restrictions: SenderRestriction[]): string | null {
  if (state === 'halted')
    return 'The access token is invalid or lacks permissions: set a new System User token below (or PUT /v1/senders/:id/token); sending resumes once Meta accepts it.';
  if (state === 'paused') {
    const m = /^META_(\d+)/.exec(reason_code ?? '');
    if (m) return explain(Number(m[1])).fix;
    return 'Paused by an operator: resume it when ready (POST /v1/senders/:id/resume).';
  }
  if (restrictions.length)
    return restrictions.map((r) => r.remediation).find(Boolean) ?? 'Meta restricted this account; see Business Support Home.';
  return null;
}

/**
 * The token as the sender's state says it is: not valid whenever the gate refuses the sender for its
 * credentials (its token refused, or halted by a 190, its own or another sender's: the gate answers
 * CREDENTIALS_INVALID until a check confirms the token), whatever an older health check found. The
 * expiry is the last check's (ISO, 'never', or null when no check has read it yet).
 */
function tokenView(st: SenderStatus, token: Record<string, unknown> | null, h: Record<string, unknown>) {
  const invalid = credentialsInvalid(st);
  const expires = typeof token?.expires_at === 'string' ? token.expires_at : null;
  return {
    valid: !invalid,
    reason: invalid
      ? st.state === 'active'
        ? 'Meta refused it at the last check'
        : `the sender is ${st.state} for ${st.reason_code ?? 'its credentials'}`
      : null,
    expires_at: expires,
    seconds_to_expiry: (h.token_seconds_to_expiry as number | null | undefined) ?? null,
    checked_at: (h.checked_at as string | null | undefined) ?? null,
  };
}

/**
 * Message counts by status: a scan of the messages table, so taken at most every COUNTS_TTL_MS per
 * store however many dashboards poll (each open page asks every few seconds).
 */
const COUNTS_TTL_MS = 5_000;
const countsCache = new WeakMap<object, { at: number; value: Promise<Record<string, number>> }>();
function messageCounts(ctx: AppContext): Promise<Record<string, number>> {
  const now = ctx.now();
  const hit = countsCache.get(ctx.store);
  if (hit && now - hit.at < COUNTS_TTL_MS) return hit.value;
  const value = ctx.store.countMessagesByStatus();
  countsCache.set(ctx.store, { at: now, value });
  value.catch(() => countsCache.delete(ctx.store));
  return value;
}

export async function dashboardOverview(ctx: AppContext, p: Principal): Promise<Record<string, unknown>> {
  const now = ctx.now();
  const senders = visibleSenders(ctx, p);
  const since = Math.floor(now / MINUTE_MS) * MINUTE_MS - 5 * MINUTE_MS;
  const [queue, counts, deadLetters, alerts, recent] = await Promise.all([
    ctx.queue.stats().catch(() => null),
    messageCounts(ctx),
    ctx.store.listDeadLetters({ state: 'open', limit: 1000 }),
    ctx.store.listAlerts({ limit: 200 }),
    ctx.store.listRollups({ since, metrics: ['sends'] }),
  ]);
  const acks = new Map((await ctx.store.listAlertAcks(alerts.map((a) => a.id))).map((a) => [a.alert_id, a]));
  const visibleIds = new Set(senders.map((s) => s.id));
  const mine = (sender_id: string | null) => !sender_id || visibleIds.has(sender_id);
  const senderRows = await Promise.all(
    senders.map(async (s) => {
      const view = senderView(ctx, s);
      const [health, q, used] = await Promise.all([
        ctx.store.getSenderHealth(s.id).catch(() => null),
        ctx.queue.stats(s.id).catch(() => null),
        ctx.gate.tierUsage(s.business_id, now).catch(() => null),
      ]);
      const h = (health?.data ?? {}) as Record<string, unknown>;
      const restrictions = (Array.isArray(h.sender_restrictions) ? (h.sender_restrictions as SenderRestriction[]) : []).filter(
        (r) => r.expires_at === null || r.expires_at > now,
      );
      const token = (h.token ?? null) as Record<string, unknown> | null;
      const state = String(view.state);
      const shown = state === 'active' && restrictions.length ? 'restricted' : state;
      const sent = recent.filter((r) => r.sender === s.id && r.key === 'accepted');
      const lastMinute = sent.filter((r) => r.minute >= since + 4 * MINUTE_MS).reduce((a, r) => a + r.value, 0);
      return {
        ...view,
        display_phone_number: phoneFor(p, s.display_phone_number ?? null),
        display_state: shown,
        fix: fixFor(state, view.reason_code as string | null, restrictions),
        restrictions: restrictions.map((r) => ({ ...r, expires_at: iso(r.expires_at) })),
        token: tokenView(ctx.senders.status(s.id), token, h),
        quality_rating: (h.quality_rating as string | null | undefined) ?? null,
        messaging_limit_tier: (h.messaging_limit_tier as string | null | undefined) ?? null,
        throughput_level: (h.throughput_level as string | null | undefined) ?? null,
        messaging_limit: { unique_recipients_24h: used, limit: s.messaging_limit, scope: `portfolio ${s.business_id}` },
        throughput: { sent_last_minute: lastMinute, avg_mps_5min: Math.round((sent.reduce((a, r) => a + r.value, 0) / 300) * 100) / 100 },
        queue: q ? { depth: q.depth, oldest_age_s: Math.round(q.oldest_age_ms / 1000) } : null,
      };
    }),
  );
  const openAlerts = alerts.filter((a) => a.resolved_at === null && mine(a.sender_id));
  return {
    at: iso(now),
    auth: { open: ctx.config.api.keys.length === 0, principal: { name: p.name, role: p.role, senders: p.senders } },
    backends: ctx.backends,
    senders: senderRows,
    queue: queue
      ? { depth: queue.depth, ready: queue.ready, in_flight: queue.in_flight, oldest_age_s: Math.round(queue.oldest_age_ms / 1000) }
      : null,
    messages: allSenders(p) ? counts : null,
    dead_letters: { open: deadLetters.filter((d) => mine(d.sender_id)).length, capped_at: 1000 },
    alerts: alerts
      .filter((a) => mine(a.sender_id))
      .slice(0, 100)
      .map((a) => {
        const ack = acks.get(a.id);
        return {
          id: a.id,
          kind: a.kind,
          severity: a.severity,
          sender_id: a.sender_id,
          title: a.title,
          body: a.body,
          created_at: iso(a.created_at),
          resolved_at: iso(a.resolved_at),
          open: a.resolved_at === null,
          acknowledged_at: iso(ack?.at),
          acknowledged_by: ack?.actor ?? null,
        };
      }),
    open_alerts: openAlerts.length,
  };
}

/** Per-minute series over the last `minutes` (zeros filled), for the charts. */
export async function dashboardSeries(ctx: AppContext, p: Principal, opts: { minutes?: number } = {}): Promise<Record<string, unknown>> {
  const minutes = Math.min(Math.max(Math.floor(opts.minutes ?? 60), 5), 7 * 24 * 60);
  const end = Math.floor(ctx.now() / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  const start = end - minutes * MINUTE_MS;
  // Past 6 h, points are summed per step so a chart never has more than ~360 points.
  const step = Math.max(1, Math.ceil(minutes / 360)) * MINUTE_MS;
  const n = Math.ceil((end - start) / step);
  const senders = allSenders(p) ? undefined : visibleSenders(ctx, p).map((s) => s.id);
  const points = await ctx.store.listRollups({ since: start, until: end, senders });
  const idx = (minute: number) => Math.min(n - 1, Math.floor((minute - start) / step));
  const series: Record<string, Record<string, number[]>> = { sends: {}, decisions: {}, meta_errors: {} };
  const buckets: Map<number, number>[] = Array.from({ length: n }, () => new Map());
  const latencySum = new Array<number>(n).fill(0);
  for (const pt of points) {
    const i = idx(pt.minute);
    if (pt.metric === 'latency') {
      if (pt.key === 'sum') latencySum[i] += pt.value;
      else if (pt.key.startsWith('le:')) {
        const b = pt.key.slice(3) === '+Inf' ? Number.POSITIVE_INFINITY : Number(pt.key.slice(3));
        buckets[i].set(b, (buckets[i].get(b) ?? 0) + pt.value);
      }
      continue;
    }
    const m = series[pt.metric];
    if (!m) continue;
    (m[pt.key] ??= new Array<number>(n).fill(0))[i] += pt.value;
  }
  const count = buckets.map((b) => b.get(Number.POSITIVE_INFINITY) ?? 0);
  const ms = (v: number | null) => (v === null ? null : Math.round(v * 100_000) / 100);
  return {
    from: iso(start),
    to: iso(end),
    step_s: step / 1000,
    t: Array.from({ length: n }, (_, i) => (start + i * step) / 1000),
    sends: series.sends,
    decisions: series.decisions,
    meta_errors: series.meta_errors,
    latency_ms: {
      what: 'enqueue to Meta accept',
      p50: buckets.map((b) => ms(percentileFromBuckets(b, 0.5))),
      p95: buckets.map((b) => ms(percentileFromBuckets(b, 0.95))),
      mean: count.map((c, i) => (c ? Math.round((latencySum[i] / c) * 100_000) / 100 : null)),
      count,
    },
  };
}

/** A message as the dashboard lists it: the recipient masked below admin, the stored decision. */
export function dashboardMessage(p: Principal, m: MessageRecord): Record<string, unknown> {
  const queued = m.history.find((h) => h.status === 'queued');
  return {
    id: m.id,
    status: m.status,
    sender: m.sender_id,
    to: phoneFor(p, m.to),
    category: m.category,
    type: m.type,
    template: m.template_name ? { name: m.template_name, language: m.template_language } : null,
    wamid: m.wamid,
    attempts: m.attempts,
    last_error: m.last_error,
    created_at: iso(m.created_at),
    updated_at: iso(m.updated_at),
    decision: (queued?.detail?.decision as Record<string, unknown> | undefined) ?? null,
    history: m.history.map((h) => {
      const { decision: _d, ...detail } = (h.detail ?? {}) as Record<string, unknown>;
      return { status: h.status, at: iso(h.at), source: h.source, detail };
    }),
  };
}

/**
 * Messages found by wagate id, Meta wamid, phone number (recipient) or business-scoped user id
 * (recipient, or the phone a link knows for it). Newest first.
 */
export async function searchMessages(ctx: AppContext, p: Principal, q: string, limit = 50): Promise<Record<string, unknown>> {
  const term = q.trim();
  if (!term) throw appError('INVALID_REQUEST', 'Give a message id, a wamid, a phone number or a business-scoped user id to search for.');
  const found = new Map<string, MessageRecord>();
  const add = (m: MessageRecord | null) => m && found.set(m.id, m);
  if (term.startsWith('msg_')) add(await ctx.store.getMessage(term));
  if (term.startsWith('wamid.')) add(await ctx.store.getMessageByWamid(term));
  if (!found.size) {
    add(await ctx.store.getMessage(term));
    add(await ctx.store.getMessageByWamid(term));
  }
  if (!found.size) {
    const keys = new Set<string>();
    const digits = term.replace(/[\s()+-]/g, '');
    if (/^\d{6,15}$/.test(digits)) keys.add(digits);
    else {
      keys.add(term);
      const phone = await customerKeyOf(ctx, term).catch(() => null);
      if (phone) keys.add(phone);
    }
    for (const to of keys) for (const m of await ctx.store.listMessages({ to, limit })) add(m);
  }
  const visible = [...found.values()]
    .filter((m) => allSenders(p) || senderAllowed(ctx, p, m.sender_id))
    .sort((a, b) => b.created_at - a.created_at)
    .slice(0, limit);
  return { query: term, messages: visible.map((m) => dashboardMessage(p, m)) };
}

export interface TimelineEvent {
  at: string;
  kind: 'outbound' | 'inbound' | 'consent' | 'decision' | 'profile' | 'other';
  sender: string | null;
  what: string;
  detail: string;
}

/** A customer's audit trail: inbound (windows), outbound messages and their statuses and decisions, consent and profile changes. */
export async function customerTimeline(ctx: AppContext, p: Principal, id: string): Promise<{ wa_id: string; events: TimelineEvent[] }> {
  const view = await getCustomerView(ctx, id);
  const wa_id = view.wa_id;
  const keys = [wa_id, ...view.user_ids];
  const see = (sender: string | null | undefined) => !sender || allSenders(p) || senderAllowed(ctx, p, sender);
  const events: TimelineEvent[] = [];
  const [audits, windows, ...messageLists] = await Promise.all([
    Promise.all(keys.map((k) => ctx.store.listAudit({ subject: k, limit: 1000 }))).then((l) => l.flat()),
    ctx.store.getWindows(wa_id),
    ...keys.map((to) => ctx.store.listMessages({ to, limit: 500 })),
  ]);
  for (const m of messageLists.flat()) {
    if (!see(m.sender_id)) continue;
    const d = m.history.find((h) => h.status === 'queued')?.detail?.decision as { allowed?: boolean; checks?: unknown[] } | undefined;
    const what = m.template_name ? `template ${m.template_name} (${m.category})` : `${m.type} (${m.category})`;
    events.push({
      at: iso(m.created_at)!,
      kind: 'decision',
      sender: m.sender_id,
      what: `gate ${d?.allowed === false ? 'denied' : 'allowed'} ${m.id}`,
      detail: d ? `${d.checks?.length ?? 0} checks passed` : '',
    });
    for (const h of m.history) {
      if (h.status === 'queued') continue;
      const err = (h.detail as { error?: { code?: unknown; title?: unknown } } | undefined)?.error;
      events.push({
        at: iso(h.at)!,
        kind: 'outbound',
        sender: m.sender_id,
        what: `${what} ${h.status}`,
        detail: `${m.id}${err ? ` error ${String(err.code ?? '')} ${String(err.title ?? '')}` : ''}`,
      });
    }
  }
  for (const w of windows) {
    if (!see(w.sender_id)) continue;
    events.push({
      at: iso(w.last_inbound_at)!,
      kind: 'inbound',
      sender: w.sender_id,
      what: 'last inbound message (opens the 24 h window)',
      detail: `window until ${iso(w.last_inbound_at + CARE_WINDOW_MS)}`,
    });
  }
  for (const a of audits) {
    const detail = a.detail as Record<string, unknown>;
    const sender = typeof detail.sender === 'string' ? detail.sender : null;
    if (!see(sender)) continue;
    const kind = a.action.startsWith('consent')
      ? 'consent'
      : a.action.startsWith('customer.update')
        ? 'profile'
        : a.action.startsWith('customer.')
          ? 'inbound'
          : 'other';
    const parts = Object.entries(detail)
      .filter(([k, v]) => k !== 'sender' && v !== null && typeof v !== 'object')
      .map(([k, v]) => `${k}=${String(v)}`);
    events.push({ at: iso(a.at)!, kind, sender, what: `${a.action} by ${a.actor}`, detail: parts.join(' ').slice(0, 300) });
  }
  events.sort((x, y) => (x.at < y.at ? 1 : x.at > y.at ? -1 : 0));
  return { wa_id: phoneFor(p, wa_id) ?? wa_id, events };
}

const csvCell = (v: string) => {
  // A leading = + - @ would run as a formula in a spreadsheet: prefix it with a quote.
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

export function timelineCsv(events: TimelineEvent[]): string {
  const rows = [['at', 'kind', 'sender', 'what', 'detail'], ...events.map((e) => [e.at, e.kind, e.sender ?? '', e.what, e.detail])];
  return `${rows.map((r) => r.map(csvCell).join(',')).join('\r\n')}\r\n`;
}

export async function acknowledgeAlert(ctx: AppContext, p: Principal, id: string, actor: string): Promise<Record<string, unknown>> {
  const alert = (await ctx.store.listAlerts({ limit: 1000 })).find((a) => a.id === id);
  if (!alert || (alert.sender_id && !allSenders(p) && !senderAllowed(ctx, p, alert.sender_id)))
    throw appError('ALERT_NOT_FOUND', `No alert with id "${id}".`);
  await ctx.store.acknowledgeAlert({ alert_id: id, at: ctx.now(), actor });
  const [ack] = await ctx.store.listAlertAcks([id]);
  return { id, acknowledged_at: iso(ack?.at), acknowledged_by: ack?.actor ?? null };
}

/** Open dead letters matching the filter (the caller's senders only), replayed or discarded one by one. */
export async function bulkDeadLetters(
  ctx: AppContext,
  p: Principal,
  input: { action: 'replay' | 'discard'; sender?: string; reason_code?: string; ids?: string[]; limit?: number },
  actor: string,
): Promise<Record<string, unknown>> {
  const sender_id = input.sender ? ctx.senders.resolve(input.sender).id : undefined;
  const limit = Math.min(Math.max(input.limit ?? 100, 1), 500);
  let list: DeadLetter[] = await ctx.store.listDeadLetters({ state: 'open', sender_id, limit: 1000 });
  if (input.ids) {
    const ids = new Set(input.ids);
    list = list.filter((d) => ids.has(d.id));
  }
  if (input.reason_code) list = list.filter((d) => d.reason_code === input.reason_code);
  list = list.filter((d) => allSenders(p) || senderAllowed(ctx, p, d.sender_id)).slice(0, limit);
  const results: Record<string, unknown>[] = [];
  for (const d of list) {
    try {
      if (input.action === 'discard') {
        await discardDeadLetter(ctx, d.id, actor);
        results.push({ id: d.id, ok: true, state: 'discarded' });
      } else {
        const r = await replayDeadLetter(ctx, d.id, actor);
        results.push({
          id: d.id,
          ok: r.result.http_status < 300,
          state: r.dead_letter.state,
          message_id: r.result.id ?? null,
          reason_code: r.result.decision.reason_code,
        });
      }
    } catch (err) {
      results.push({ id: d.id, ok: false, error: (err as Error).message });
    }
  }
  return { action: input.action, matched: list.length, done: results.filter((r) => r.ok).length, results };
}
