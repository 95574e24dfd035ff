// The Meta error catalog, one import for everyone: parse (layer 1), catalog (layer 2), classify (layer 3)
// and explain() for the faces (MCP explain_error, HTTP, CLI).
import { lookup, lookupSubcode, SUBCODES_190 } from './catalog.ts';
import { unknownEntry } from './classify.ts';
import type { CatalogEntry, ErrorAction, ErrorScope } from './types.ts';

export * from './types.ts';
export { CATALOG, SUBCODES_190, TOKEN_FIX_STEPS, lookup, lookupSubcode } from './catalog.ts';
export { parseGraphError, parseWebhookError, transportError } from './parse.ts';
export { classify, delayFor, durationFromDetails, unknownEntry, type ClassifyOptions } from './classify.ts';

export interface Explanation {
  code: number;
  subcode: number | null;
  title: string;
  meaning: string;
  action: ErrorAction;
  scope: ErrorScope;
  explanation: string;
  fix: string;
  known: boolean;
  http_status: number | null;
  where: 'sync' | 'async' | 'both';
  /** For 190 with a subcode: Meta's name and meaning of the subcode. */
  subcode_name?: string;
  // The reference's explain_error fields, kept so its callers keep working.
  category: ErrorCategory;
  can_retry: boolean;
  human_explanation: string;
  suggested_action: string;
}

export type ErrorCategory =
  | 'authorization'
  | 'integrity'
  | 'throttling'
  | 'template'
  | 'recipient'
  | 'account'
  | 'server'
  | 'request'
  | 'unexpected';

/** A coarse family for dashboards and the reference's `category` field. */
export function categoryOf(entry: CatalogEntry): ErrorCategory {
  if (entry.section === 'default') return 'unexpected';
  if (entry.section === '3.2' || entry.action === 'halt_all') return 'authorization';
  if (entry.section === '3.3') return 'integrity';
  if (entry.section === '3.4' || entry.section === '4.3') return 'throttling';
  if (entry.scope === 'template' || (entry.code >= 132000 && entry.code < 133000)) return 'template';
  if (entry.scope === 'recipient') return 'recipient';
  if (entry.action === 'pause_sender') return 'account';
  if (entry.action === 'retry') return 'server';
  return 'request';
}

/** Everything wagate knows about a Meta error code (and 190 subcode), for a human. */
export function explain(code: number, subcode?: number | null): Explanation {
  const sub = subcode ?? null;
  const entry =
    lookup(code) ??
    unknownEntry({
      code,
      subcode: sub,
      message: `Meta error ${code}`,
      title: null,
      details: null,
      fbtrace_id: null,
      http_status: null,
      source: 'sync',
    });
  const known = entry.section !== 'default';
  const out: Explanation = {
    code,
    subcode: sub,
    title: entry.title,
    meaning: entry.meaning,
    action: entry.action,
    scope: entry.scope,
    explanation: entry.explanation,
    fix: entry.fix,
    known,
    http_status: entry.http_status,
    where: entry.where,
    category: categoryOf(entry),
    can_retry: entry.action === 'retry' || entry.action === 'retry_after',
    human_explanation: '',
    suggested_action: '',
  };
  if (!known) {
    out.explanation = `Code ${code} is not in wagate's catalog of Meta errors. Unknown codes are classified by HTTP status (5xx/429 retried, 4xx need a fix).`;
  }
  if (code === 190 && sub !== null) {
    const s = lookupSubcode(sub);
    if (s) {
      out.subcode_name = s.name;
      out.meaning = `${entry.meaning} Subcode ${sub} (${s.name}): ${s.meaning}`;
      out.fix = s.fix;
    } else {
      out.meaning = `${entry.meaning} Subcode ${sub} is not one of Meta's documented 190 subcodes (${SUBCODES_190.map((x) => x.subcode).join(', ')}); treat it as an invalid token.`;
    }
  }
  out.human_explanation = out.explanation;
  out.suggested_action = out.fix;
  return out;
}
