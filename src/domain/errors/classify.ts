// Layer 3: what the delivery worker does with a GraphError. Known codes decide by the catalog (never
// by HTTP status, as Meta asks); unknown codes get a safe default by HTTP status and known=false so
// the caller can count them.
import { lookup } from './catalog.ts';
import type { CatalogEntry, Classification, DelayRule, ErrorAction, ErrorScope, GraphError } from './types.ts';

export interface ClassifyOptions {
  /** 1 = this is the first failure of this message with this code (drives 4^X and bounded retries). */
  attempt?: number;
}

const UNIT_MS: Record<string, number> = {
  second: 1_000,
  sec: 1_000,
  minute: 60_000,
  min: 60_000,
  hour: 3_600_000,
  hr: 3_600_000,
  day: 86_400_000,
};

/** "Try again in 12 minutes" → 720000; null when details names no duration. */
export function durationFromDetails(details: string | null): number | null {
  const m = details?.match(/(\d+(?:\.\d+)?)\s*(second|sec|minute|min|hour|hr|day)s?\b/i);
  if (!m) return null;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!.toLowerCase()]!);
}

export function delayFor(rule: DelayRule, attempt: number, details: string | null): number {
  const n = Math.max(1, Math.floor(attempt));
  switch (rule.kind) {
    case 'fixed':
      return rule.ms;
    case 'pow4': // Meta: retry after 4^X seconds, X = 0 on the first failure, +1 each time (M-PLAT).
      return Math.min(4 ** (n - 1) * 1_000, rule.cap_ms);
    case 'exponential':
      return Math.min(rule.base_ms * 2 ** (n - 1), rule.cap_ms);
    case 'details':
      return durationFromDetails(details) ?? rule.default_ms;
  }
}

/** Safe default for a code Meta did not document (or garbage): by HTTP status. */
function defaultFor(err: GraphError): { action: ErrorAction; scope: ErrorScope; why: string; transient?: true } {
  const s = err.http_status;
  if (s === null)
    return {
      action: 'retry',
      scope: 'message',
      transient: true,
      why: 'no HTTP status (transport failure or webhook): retried with backoff',
    };
  if (s === 429 || s >= 500)
    return { action: 'retry', scope: 'message', transient: true, why: `HTTP ${s} is a server or capacity error: retried with backoff` };
  // A 401 means Meta refused the credentials whatever the code: failing closed keeps every message queued.
  if (s === 401)
    return {
      action: 'halt_all',
      scope: 'all',
      why: 'HTTP 401 means the credentials were refused: every sender halts until they are valid',
    };
  if (s >= 400) return { action: 'fix_request', scope: 'message', why: `HTTP ${s} is a client error: the request must change` };
  return {
    action: 'retry',
    scope: 'message',
    why: `unexpected HTTP ${s}: retried with backoff, a bounded number of times (delivery.max_attempts)`,
  };
}

const RETRIES: readonly ErrorAction[] = ['retry', 'retry_after'];

export function unknownEntry(err: GraphError): CatalogEntry {
  const d = defaultFor(err);
  const unparsed = err.code === -1;
  return {
    code: err.code,
    title: unparsed ? 'Unreadable error from Meta' : 'Error code not in the catalog',
    http_status: err.http_status,
    where: err.source === 'webhook' ? 'async' : 'sync',
    meaning: unparsed ? err.message : `Meta returned code ${err.code}, which wagate's catalog does not list.`,
    action: d.action,
    scope: d.scope,
    explanation: `${unparsed ? 'The answer was not a Graph error body (often a proxy, load balancer or outage page).' : `Code ${err.code} is not documented in wagate's catalog (shared/meta/cloud-api.md §3).`} Safe default: ${d.why}.`,
    fix: `Read message and details${err.fbtrace_id ? ` (fbtrace_id ${err.fbtrace_id})` : ''}; look the code up at https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes. If it recurs, add it to src/domain/errors/catalog.ts.`,
    section: 'default',
  };
}

export function classify(err: GraphError, opts: ClassifyOptions = {}): Classification {
  const attempt = Math.max(1, Math.floor(opts.attempt ?? 1));
  const entry = lookup(err.code);
  if (!entry) {
    const u = unknownEntry(err);
    return { action: u.action, scope: u.scope, known: false, transient: defaultFor(err).transient === true, entry: u };
  }
  const text = `${err.details ?? ''} ${err.message ?? ''}`;
  const variant = entry.variants?.find((v) => v.match.test(text));
  const rule = variant ?? entry;
  let action: ErrorAction = rule.action;
  const scope: ErrorScope = variant?.scope ?? entry.scope;
  let retry_after_ms: number | undefined;
  if (rule.max_attempts !== undefined && attempt > rule.max_attempts && rule.exhausted) {
    action = rule.exhausted; // bounded retries: give up the way the catalog says
  } else if (rule.delay) {
    retry_after_ms = delayFor(rule.delay, attempt, err.details);
  }
  // Transient by the catalog alone (never by HTTP status): a retry or a wait with no cap of its own.
  const transient = RETRIES.includes(action) && rule.max_attempts === undefined;
  const out: Classification = { action, scope, known: true, transient, entry };
  if (retry_after_ms !== undefined && (action === 'retry_after' || action === 'retry')) out.retry_after_ms = retry_after_ms;
  if (variant) out.variant = variant.note;
  return out;
}
