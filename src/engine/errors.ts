// Engine functions over the Meta error catalog: explainError for the faces (MCP explain_error, HTTP,
// CLI), and classifyMetaError for the delivery worker (classifies and counts codes the catalog lacks).
import type { AppContext } from './context.ts';
import { appError } from '../shared/errors/app-error.ts';
import { classify, explain, type Classification, type ClassifyOptions, type Explanation } from '../domain/errors/index.ts';
import type { GraphError } from '../meta/types.ts';

/** What the faces show for a Meta error code (the catalog's explain()). */
export type ErrorExplanation = Explanation;

/** Accepts 131056, "131056", "#131056", "(#131056)": what people paste from a log or Meta's message. */
function toCode(v: unknown, field: string): number | null {
  if (v === undefined || v === null || v === '') return null;
  const s =
    typeof v === 'number'
      ? String(v)
      : typeof v === 'string'
        ? v
            .trim()
            .replace(/^\(?#?/, '')
            .replace(/\)$/, '')
        : '';
  if (!/^-?\d{1,9}$/.test(s)) {
    throw appError('INVALID_ERROR_CODE', `${field} must be an integer Meta error code (got ${JSON.stringify(v)?.slice(0, 40)}).`, {
      details: { field },
    });
  }
  return Number(s);
}

export function explainError(ctx: AppContext | null, input: { code: number; subcode?: number | null }): ErrorExplanation {
  const code = toCode(input?.code, 'code');
  if (code === null)
    throw appError('INVALID_ERROR_CODE', 'code is required.', {
      fix: 'Pass the Meta error code, e.g. {"code": 131047}.',
      details: { field: 'code' },
    });
  const subcode = toCode(input.subcode, 'subcode');
  const x = explain(code, subcode);
  if (!x.known) ctx?.log.debug({ code }, 'explain_error: code not in the catalog');
  return x;
}

/**
 * Classifies a Meta error for the delivery worker and counts codes the catalog does not know
 * (wagate_meta_unknown_errors_total), logging them once per code so the catalog can be extended.
 */
export function classifyMetaError(ctx: AppContext, err: GraphError, opts: ClassifyOptions = {}): Classification {
  const c = classify(err, opts);
  if (!c.known) {
    ctx.metrics.unknownErrors.inc({ code: String(err.code) });
    if (!seenUnknown.has(err.code) && seenUnknown.size < 1000) {
      seenUnknown.add(err.code);
      ctx.log.warn(
        { code: err.code, http_status: err.http_status, source: err.source, fbtrace_id: err.fbtrace_id, action: c.action },
        'Meta error code not in the catalog: safe default applied',
      );
    }
  }
  return c;
}
const seenUnknown = new Set<number>();
