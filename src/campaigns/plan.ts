// The pure part of campaigns: the state machine, audience rows and their validation, what a gate
// decision means for a recipient at dispatch (send, wait, deny, or pause the whole campaign), the
// progress counters and the quality guard. No I/O: unit-tested on its own (test/campaigns/plan.test.ts).
import type { Decision } from '../domain/decision.ts';
import { isBsuid } from '../domain/identity.ts';
import { normalisePhone } from '../domain/phone.ts';
import { checkTemplateParams } from '../domain/templates.ts';
import { localMinuteOfDay, parseHHMM } from '../domain/timezone.ts';
import type { TemplateRecord } from '../domain/types.ts';
import { RecipientSet } from './recipient-set.ts';
import type { AudienceFilter, CampaignOptions, CampaignStatus, CustomerFacts, InvalidRow, NewRecipient, RecipientTally } from './port.ts';

// ---------------------------------------------------------------------------------------------
// State machine

export type CampaignAction = 'start' | 'pause' | 'resume' | 'cancel' | 'complete' | 'schedule_due';

/** Each action: the states it is allowed from, and where it leads. */
export const TRANSITIONS: Record<CampaignAction, { from: readonly CampaignStatus[]; to: CampaignStatus }> = {
  start: { from: ['draft', 'scheduled'], to: 'running' },
  /** A scheduled campaign whose deliver_at came (the dispatcher). */
  schedule_due: { from: ['scheduled'], to: 'running' },
  pause: { from: ['running', 'scheduled'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  cancel: { from: ['draft', 'scheduled', 'running', 'paused'], to: 'cancelled' },
  complete: { from: ['running'], to: 'completed' },
};

export const isTerminal = (s: CampaignStatus): boolean => s === 'completed' || s === 'cancelled';

// ---------------------------------------------------------------------------------------------
// Audience rows

export type Vars = string[] | Record<string, string>;

export interface RawRow {
  to?: unknown;
  recipient?: unknown;
  variables?: unknown;
}

export const MAX_RECIPIENTS = 1_000_000;
export const MAX_INVALID_KEPT = 1000;

/** Variables as given: an array of strings, an object of strings, or a JSON string of either. */
export function parseVariables(v: unknown): { ok: true; vars: Vars | null } | { ok: false; reason: string } {
  if (v === undefined || v === null || v === '') return { ok: true, vars: null };
  let x = v;
  if (typeof x === 'string') {
    try {
      x = JSON.parse(x);
    } catch {
      return { ok: false, reason: 'variables: not valid JSON (give an array of strings or an object of strings)' };
    }
  }
  if (Array.isArray(x)) {
    if (x.length > 100) return { ok: false, reason: 'variables: more than 100 values' };
    const bad = x.findIndex((e) => typeof e !== 'string' && typeof e !== 'number');
    if (bad >= 0) return { ok: false, reason: `variables[${bad}]: must be a string` };
    return { ok: true, vars: x.map(String) };
  }
  if (x && typeof x === 'object') {
    const out: Record<string, string> = {};
    for (const [k, e] of Object.entries(x)) {
      if (typeof e !== 'string' && typeof e !== 'number') return { ok: false, reason: `variables.${k}: must be a string` };
      out[k] = String(e);
    }
    return { ok: true, vars: out };
  }
  return { ok: false, reason: 'variables: must be an array of strings or an object of strings' };
}

/**
 * One audience row: `to` (a phone number) or `recipient` (a business-scoped user id), and its
 * variables. The recipient comes back as the gate keys it (E.164 digits, or the BSUID as given).
 */
export function parseRow(row: unknown): { ok: true; recipient: string; variables: Vars | null } | { ok: false; reason: string } {
  if (!row || typeof row !== 'object' || Array.isArray(row))
    return { ok: false, reason: 'not an object: give {"to": "+447700900123", "variables": [...]} or {"recipient": "<user id>"}' };
  const r = row as RawRow;
  let recipient: string;
  if (r.to !== undefined && r.to !== null && r.to !== '') {
    const p = normalisePhone(r.to);
    if (!p.ok) return { ok: false, reason: `to: ${p.reason}` };
    recipient = p.digits;
  } else if (r.recipient !== undefined && r.recipient !== null && r.recipient !== '') {
    if (isBsuid(r.recipient)) recipient = r.recipient;
    else {
      const p = normalisePhone(r.recipient);
      if (!p.ok)
        return { ok: false, reason: 'recipient: neither a business-scoped user id (e.g. "US.13491208655302741918") nor a phone number' };
      recipient = p.digits;
    }
  } else return { ok: false, reason: 'no recipient: give "to" (a phone number) or "recipient" (a business-scoped user id)' };
  const v = parseVariables(r.variables);
  if (!v.ok) return v;
  return { ok: true, recipient, variables: v.vars };
}

/** Collects valid rows (deduplicated by recipient: the first wins) and invalid ones, never stopping. */
export class AudienceBuilder {
  readonly rows: NewRecipient[] = [];
  readonly invalid: InvalidRow[] = [];
  invalid_count = 0;
  /** Valid rows so far (also those already taken out of `rows` to be stored): the next seq. */
  accepted = 0;
  private readonly seen = new RecipientSet();
  constructor(private readonly check?: (vars: Vars | null) => string | null) {}

  add(row: unknown, index: number): void {
    const unreadable = (row as { __invalid?: unknown } | null)?.__invalid;
    if (typeof unreadable === 'string') {
      this.reject(index, unreadable);
      return;
    }
    const p = parseRow(row);
    if (!p.ok) {
      this.reject(index, p.reason);
      return;
    }
    if (this.seen.has(p.recipient)) {
      this.reject(index, 'duplicate: this recipient is already in the audience (sent once)');
      return;
    }
    const problem = this.check?.(p.variables) ?? null;
    if (problem) {
      this.reject(index, problem);
      return;
    }
    if (this.accepted >= MAX_RECIPIENTS) {
      this.reject(index, `over ${MAX_RECIPIENTS.toLocaleString('en')} recipients, the limit`);
      return;
    }
    this.seen.add(p.recipient);
    this.rows.push({ seq: this.accepted++, recipient: p.recipient, variables: p.variables });
  }

  reject(index: number, reason: string): void {
    this.invalid_count++;
    if (this.invalid.length < MAX_INVALID_KEPT) this.invalid.push({ index, reason });
  }
}

/** The variables of one recipient against the template's parameters: null when they fit. */
export function variablesProblem(t: TemplateRecord, components: unknown[]): string | null {
  const r = checkTemplateParams(t, components);
  return r.ok ? null : `variables do not fit template "${t.name}" (${t.language}): ${r.component}: ${r.problem}`;
}

/** Does a known customer match the filter (consent for the campaign's category)? */
export function matchesFilter(c: CustomerFacts, f: AudienceFilter, countryOf: (wa_id: string) => string | null): boolean {
  if (c.consent === 'opted_out') return false;
  if (f.consent?.length && !f.consent.includes(c.consent)) return false;
  if (f.tags?.length && !f.tags.every((t) => c.tags.includes(t))) return false;
  if (f.exclude_tags?.length && f.exclude_tags.some((t) => c.tags.includes(t))) return false;
  // c.last_inbound_at is the customer's last message to the filter's sender (or the campaign's).
  if (f.sender !== undefined && c.last_inbound_at === null) return false;
  if (f.last_inbound_since !== undefined && (c.last_inbound_at === null || c.last_inbound_at < f.last_inbound_since)) return false;
  if (f.country?.length) {
    const cc = countryOf(c.wa_id);
    if (!cc || !f.country.map((x) => x.toUpperCase()).includes(cc)) return false;
  }
  return true;
}

/**
 * With options.local_time: when a recipient in `zone` is sent, looked at from `at`. Within the first
 * 59 minutes after that local time it is `at` itself; otherwise the next time the clock there says it.
 */
export function localSendAt(local_time: string, zone: string, at: number): number {
  const since = (localMinuteOfDay(zone, at) - parseHHMM(local_time) + 1440) % 1440;
  // Later: at the start of that minute (zone offsets are whole minutes), not at the seconds of `at`.
  return since < 60 ? at : at - (at % 60_000) + ((1440 - since) % 1440) * 60_000;
}

// ---------------------------------------------------------------------------------------------
// What a decision at dispatch means for the recipient and the campaign

export type Verdict =
  | { kind: 'queued' }
  /** Try this recipient again at `at` (quiet hours: the next allowed local time). */
  | { kind: 'defer'; at: number; reason: string }
  /** The whole campaign waits until `at` (the tier budget frees room); the recipient goes back. */
  | { kind: 'wait'; at: number; reason: string }
  /** Nothing can go until an operator acts (template paused, sender paused or halted): pause the campaign. */
  | { kind: 'pause'; reason: string }
  | { kind: 'deny'; reason: string };

/** Reasons that stop every recipient alike: the campaign pauses instead of denying them all. */
const CAMPAIGN_WIDE = new Set([
  'TEMPLATE_NOT_FOUND',
  'TEMPLATE_NOT_APPROVED',
  'TEMPLATE_PAUSED',
  'SENDER_PAUSED',
  'SENDER_RESTRICTED',
  'CREDENTIALS_INVALID',
  'UNKNOWN_SENDER',
]);

export function verdictOf(http_status: number, d: Decision, now: number): Verdict {
  if (http_status === 202) return { kind: 'queued' };
  const reason = d.reason_code ?? 'UNKNOWN';
  const retryMs = Math.max(1000, (d.retry_after_s ?? 60) * 1000);
  if (http_status === 503 || reason === 'GATE_UNAVAILABLE') return { kind: 'defer', at: now + 1000, reason };
  if (reason === 'TIER_LIMIT') return { kind: 'wait', at: now + retryMs, reason };
  if (reason === 'POLICY_QUIET_HOURS') return { kind: 'defer', at: now + retryMs, reason };
  if (CAMPAIGN_WIDE.has(reason)) return { kind: 'pause', reason };
  return { kind: 'deny', reason };
}

// ---------------------------------------------------------------------------------------------
// Counters and the quality guard

export interface CampaignCounts {
  total: number;
  pending: number;
  /** Accepted by the gate, stored, not yet sent to Meta. */
  queued: number;
  /** Meta accepted or sent it (not yet delivered). */
  sent: number;
  delivered: number;
  read: number;
  failed: number;
  failed_by_code: Record<string, number>;
  denied: number;
  denied_by_reason: Record<string, number>;
  cancelled: number;
  opted_out_during_campaign: number;
}

export function countsOf(t: RecipientTally): CampaignCounts {
  const m = t.messages;
  const s = t.states;
  return {
    total: Object.values(s).reduce((a, b) => a + b, 0),
    pending: (s.pending ?? 0) + (s.claimed ?? 0),
    queued: (m.queued ?? 0) + (m.sending ?? 0) + (m.in_doubt ?? 0),
    sent: (m.accepted ?? 0) + (m.sent ?? 0),
    delivered: m.delivered ?? 0,
    read: m.read ?? 0,
    failed: (m.failed ?? 0) + (m.dead_lettered ?? 0),
    failed_by_code: t.failed_by_code,
    denied: s.denied ?? 0,
    denied_by_reason: t.denied,
    cancelled: s.cancelled ?? 0,
    opted_out_during_campaign: t.opted_out_during,
  };
}

export const GUARD_DEFAULTS = { max_failure_rate: 0.2, max_opt_out_rate: 0.05, guard_min_sample: 50, pause_on_quality: 'YELLOW' } as const;

/** Meta's template quality ratings, best first; UNKNOWN (a new template, not rated yet) is no drop. */
const QUALITY_RANK: Record<string, number> = { GREEN: 0, YELLOW: 1, RED: 2 };

/** Whether the template's quality rating is at or below options.pause_on_quality (default YELLOW: any drop from GREEN). */
export function qualityTrips(quality: string | null | undefined, o: CampaignOptions): boolean {
  const rank = QUALITY_RANK[String(quality ?? '').toUpperCase()];
  return rank !== undefined && rank >= QUALITY_RANK[o.pause_on_quality ?? GUARD_DEFAULTS.pause_on_quality];
}

/** Why the quality guard pauses the campaign now, or null. */
export function guardTrips(c: CampaignCounts, o: CampaignOptions): string | null {
  const maxFail = o.max_failure_rate ?? GUARD_DEFAULTS.max_failure_rate;
  const maxOpt = o.max_opt_out_rate ?? GUARD_DEFAULTS.max_opt_out_rate;
  const min = o.guard_min_sample ?? GUARD_DEFAULTS.guard_min_sample;
  const finished = c.sent + c.delivered + c.read + c.failed;
  if (finished >= min && c.failed / finished > maxFail)
    return `quality guard: ${c.failed} of ${finished} sends failed (${pct(c.failed / finished)}), over max_failure_rate ${pct(maxFail)}`;
  const reached = c.sent + c.delivered + c.read;
  if (reached >= min && c.opted_out_during_campaign / reached > maxOpt)
    return `quality guard: ${c.opted_out_during_campaign} of ${reached} recipients opted out during the campaign (${pct(c.opted_out_during_campaign / reached)}), over max_opt_out_rate ${pct(maxOpt)}`;
  return null;
}

const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;

/** The idempotency key that ties a recipient to at most one message (per generation: see pause). */
export const recipientKey = (campaign_id: string, seq: number, gen: number): string => `campaign:${campaign_id}:${seq}:${gen}`;
