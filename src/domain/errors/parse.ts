// Layer 1: turn whatever Meta (or a proxy in between) answered into a GraphError. Never throws: garbage
// becomes code -1 with a message that says what was expected. Secrets are scrubbed from every string.
import type { GraphError } from './types.ts';

const MAX_TEXT = 1_000;
const GRAPH_SHAPE = 'expected {"error": {"code": <int>, "message": "...", "error_data": {"details": "..."}, "fbtrace_id": "..."}}';

// Local copy of the token scrubber (domain/ imports nothing with I/O; log.ts pulls in pino).
function scrub(text: string): string {
  return text
    .replace(/EAA[A-Za-z0-9]{20,}/g, 'EAA[redacted]')
    .replace(/(access_token|input_token)=[^&\s"]+/g, '$1=[redacted]')
    .replace(/(Bearer\s+)[^\s"]+/gi, '$1[redacted]');
}

function str(v: unknown): string | null {
  if (typeof v === 'string') return v.length ? scrub(v.slice(0, MAX_TEXT)) : null;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

/** Meta sends integers; some proxies and BSPs re-serialise them as strings ("131056"). */
function int(v: unknown): number | null {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d{1,12}$/.test(v.trim())) return Number(v.trim());
  return null;
}

function obj(v: unknown): Record<string, unknown> | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** A body may arrive as text (undici gives a string when the content type is wrong) or a Buffer. */
function asValue(body: unknown): unknown {
  if (typeof body === 'string' || body instanceof Uint8Array) {
    const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return body;
}

function snippet(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  s = scrub(s.replace(/\s+/g, ' ').trim());
  return s.length > 200 ? `${s.slice(0, 200)}…` : s || '(empty)';
}

/** "(#130429) Rate limit hit" → "Rate limit hit": Meta puts the code's title in `message`. */
function titleFromMessage(message: string | null): string | null {
  const m = message?.match(/^\(#\d+\)\s*(.+)$/);
  return m ? m[1]!.trim() : null;
}

/** error_data is an object on WhatsApp errors, a JSON string on some Graph errors. */
function detailsOf(errorData: unknown): string | null {
  const d = obj(errorData) ?? obj(asValue(errorData));
  if (d) return str(d.details);
  return typeof errorData === 'string' ? str(errorData) : null;
}

function garbage(httpStatus: number | null, source: GraphError['source'], what: string): GraphError {
  return { code: -1, subcode: null, message: what, title: null, details: null, fbtrace_id: null, http_status: httpStatus, source };
}

/**
 * A synchronous Graph API error: `{"error": {message, type, code, error_subcode, error_data: {details},
 * error_user_title, error_user_msg, fbtrace_id}}` with its HTTP status (§2.1).
 */
export function parseGraphError(httpStatus: number, body: unknown): GraphError {
  const status = Number.isInteger(httpStatus) && httpStatus > 0 ? httpStatus : null;
  const value = asValue(body);
  const root = obj(value);
  const e = obj(root?.error);
  const code = e ? int(e.code) : null;
  if (!e || code === null) {
    const why = !root
      ? 'a body that is not a JSON object'
      : !e
        ? 'a JSON body without an "error" object'
        : 'an "error" object without an integer "code"';
    return garbage(status, 'sync', `Graph API answered HTTP ${status ?? '?'} with ${why} (${GRAPH_SHAPE}); got: ${snippet(value)}`);
  }
  const message = str(e.message) ?? `Graph error ${code}`;
  const details = detailsOf(e.error_data) ?? str(e.error_user_msg);
  return {
    code,
    subcode: int(e.error_subcode),
    message,
    title: str(e.error_user_title) ?? titleFromMessage(message),
    details,
    fbtrace_id: str(e.fbtrace_id),
    http_status: status,
    source: 'sync',
  };
}

/**
 * One item of a webhook `errors[]` (statuses[].errors, messages[].errors or value.errors):
 * `{code, title, message, error_data: {details}, href}` (§2.3).
 */
export function parseWebhookError(item: unknown): GraphError {
  const e = obj(asValue(item));
  const code = e ? int(e.code) : null;
  if (!e || code === null) {
    return garbage(
      null,
      'webhook',
      `Webhook error item is not {"code": <int>, "title": "...", "message": "...", "error_data": {"details": "..."}}; got: ${snippet(item)}`,
    );
  }
  const title = str(e.title);
  return {
    code,
    subcode: int(e.error_subcode),
    message: str(e.message) ?? title ?? `Webhook error ${code}`,
    title,
    details: detailsOf(e.error_data),
    fbtrace_id: str(e.fbtrace_id),
    http_status: null,
    source: 'webhook',
  };
}

/** A failure below HTTP (connect refused, timeout, reset): for MetaResult errors of management calls. */
export function transportError(reason: string): GraphError {
  return garbage(null, 'transport', scrub(reason));
}
