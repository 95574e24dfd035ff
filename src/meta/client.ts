// The Graph API client: one undici Agent (a keep-alive Pool per origin) for every call wagate makes to
// Meta. The one rule that matters most lives in send(): a failure before the request left this machine
// is `not_sent` (safe to retry), a failure after it may have reached Meta is `in_doubt` (resolve via the
// status webhook before any resend). Tokens go in the Authorization header only and are scrubbed from
// every string this client returns.
import { Agent, type Dispatcher } from 'undici';
import type {
  DebugTokenInfo,
  GraphError,
  MetaClient,
  MetaResult,
  PhoneNumberInfo,
  SendEndpoint,
  SendResult,
  SenderCredentials,
} from './types.ts';
import { parseGraphError, transportError } from '../domain/errors/parse.ts';
import { scrubSecrets } from '../observability/log.ts';

export interface GraphClientOptions {
  api_url: string;
  api_version: string;
  connect_timeout_ms: number;
  request_timeout_ms: number;
}

/** Errors raised before a single byte of the request could reach the server: safe to send again. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'EADDRINUSE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_INVALID_ARG',
  'ERR_INVALID_URL',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
]);

const DESCRIBE: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found (DNS)',
  EAI_AGAIN: 'DNS lookup failed temporarily',
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  UND_ERR_CLOSED: 'client closed',
  UND_ERR_DESTROYED: 'client destroyed',
  UND_ERR_HEADERS_TIMEOUT: 'no response before the request timeout',
  UND_ERR_BODY_TIMEOUT: 'response body stalled past the request timeout',
  UND_ERR_SOCKET: 'socket closed by the other side',
  ECONNRESET: 'connection reset',
  EPIPE: 'broken pipe',
};

/** Meta ids are digits; the sandbox may use other safe characters. Anything else could rewrite the path. */
const SAFE_ID = /^[A-Za-z0-9_.-]{1,64}$/;
/** A bearer token is printable ASCII without spaces: anything else could inject headers. */
const SAFE_TOKEN = /^[\x21-\x7e]{1,4096}$/;
const MAX_CALLBACK_DATA = 512;

/**
 * Returns a copy of a Meta message body carrying wagate's message id in `biz_opaque_callback_data`,
 * which Meta echoes in every status webhook: the key that resolves an in-doubt send (DESIGN: delivery
 * guarantees). The delivery worker calls this; the client itself never adds anything to a body.
 */
export function withCallbackData(body: Record<string, unknown>, messageId: string): Record<string, unknown> {
  if (typeof messageId !== 'string' || messageId.length === 0 || messageId.length > MAX_CALLBACK_DATA) {
    throw new TypeError(
      `withCallbackData: messageId must be a non-empty string of at most ${MAX_CALLBACK_DATA} characters (got ${typeof messageId === 'string' ? `${messageId.length} characters` : typeof messageId}).`,
    );
  }
  return { ...body, biz_opaque_callback_data: messageId };
}

/** "v23.0" | "23.0" | "23" → "v23.0"; "" → no version segment (Meta then uses the app's latest). */
export function normalizeVersion(v: string): string {
  const t = (v ?? '').trim();
  if (!t) return '';
  const m = t.match(/^v?(\d+)(?:\.(\d+))?$/i);
  if (!m) throw new TypeError(`meta.api_version "${t}" is not a Graph API version: use the form "v23.0".`);
  return `v${m[1]}.${m[2] ?? '0'}`;
}

type Raw = { kind: 'response'; status: number; text: string } | { kind: 'not_sent'; reason: string } | { kind: 'in_doubt'; reason: string };

interface CallOptions {
  method: 'GET' | 'POST' | 'DELETE';
  path: string[];
  token: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
}

function errCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown }; errors?: { code?: unknown }[] };
  if (typeof e?.code === 'string') return e.code;
  if (typeof e?.cause?.code === 'string') return e.cause.code;
  const inner = Array.isArray(e?.errors) ? e.errors.find((x) => typeof x?.code === 'string') : undefined;
  return typeof inner?.code === 'string' ? inner.code : 'UNKNOWN';
}

function asObject(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function jsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function strOrUndef(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The fields wagate reads from a phone number (v24+ adds the portfolio-level messaging limit). */
function phoneFields(version: string): string {
  const base = [
    'id',
    'display_phone_number',
    'verified_name',
    'quality_rating',
    'throughput',
    'messaging_limit_tier',
    'name_status',
    'status',
    'code_verification_status',
    'platform_type',
  ];
  const major = Number(version.match(/^v(\d+)/)?.[1] ?? 99);
  // whatsapp_business_manager_messaging_limit exists from v24.0; asking for it earlier is error 100.
  if (major >= 24) base.push('whatsapp_business_manager_messaging_limit');
  return base.join(',');
}

export function toPhoneNumberInfo(raw: unknown): PhoneNumberInfo {
  const o = asObject(raw);
  const tp = asObject(o.throughput);
  const info: PhoneNumberInfo = { id: String(o.id ?? '') };
  const set = <K extends keyof PhoneNumberInfo>(k: K, v: PhoneNumberInfo[K] | undefined) => {
    if (v !== undefined) info[k] = v;
  };
  set('display_phone_number', strOrUndef(o.display_phone_number));
  set('verified_name', strOrUndef(o.verified_name));
  set('quality_rating', strOrUndef(o.quality_rating));
  // v24+: messaging_limit_tier is deprecated and the portfolio limit is the one that counts.
  set('messaging_limit_tier', strOrUndef(o.whatsapp_business_manager_messaging_limit) ?? strOrUndef(o.messaging_limit_tier));
  if (typeof tp.level === 'string') info.throughput = { level: tp.level };
  set('name_status', strOrUndef(o.name_status));
  set('status', strOrUndef(o.status));
  return info;
}

export function toDebugTokenInfo(raw: unknown): DebugTokenInfo {
  const d = asObject(asObject(raw).data);
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const info: DebugTokenInfo = {
    is_valid: d.is_valid === true,
    expires_at: num(d.expires_at) ?? 0,
    scopes: Array.isArray(d.scopes) ? d.scopes.filter((s): s is string => typeof s === 'string') : [],
    granular_scopes: Array.isArray(d.granular_scopes)
      ? d.granular_scopes
          .map(asObject)
          .filter((g) => typeof g.scope === 'string')
          .map((g) => {
            const ids = Array.isArray(g.target_ids) ? g.target_ids.map(String) : undefined;
            return ids ? { scope: g.scope as string, target_ids: ids } : { scope: g.scope as string };
          })
      : [],
  };
  if (typeof d.app_id === 'string' || typeof d.app_id === 'number') info.app_id = String(d.app_id);
  if (typeof d.type === 'string') info.type = d.type;
  const dae = num(d.data_access_expires_at);
  if (dae !== undefined) info.data_access_expires_at = dae;
  const e = asObject(d.error);
  if (typeof e.code === 'number') {
    info.error = { code: e.code, message: scrubSecrets(String(e.message ?? '')) };
    if (typeof e.subcode === 'number') info.error.subcode = e.subcode;
  }
  return info;
}

export class GraphClient implements MetaClient {
  private readonly base: string;
  private readonly version: string;
  private readonly agent: Agent;

  constructor(private readonly opts: GraphClientOptions) {
    const url = new URL(opts.api_url); // throws a clear TypeError on a bad meta.api_url
    this.base = url.origin + url.pathname.replace(/\/+$/, '');
    this.version = normalizeVersion(opts.api_version);
    this.agent = new Agent({
      connect: { timeout: opts.connect_timeout_ms },
      // headersTimeout runs from the moment the request is written: past it, the send is in doubt.
      headersTimeout: opts.request_timeout_ms,
      bodyTimeout: opts.request_timeout_ms,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 60_000,
      connections: 256,
      pipelining: 1,
      maxResponseSize: 16 * 1024 * 1024, // a Graph answer is small; a runaway body must not eat memory
    });
  }

  // ── transport ──────────────────────────────────────────────────────────────────────────────────

  private url(path: string[], query?: CallOptions['query']): string {
    const segs = this.version ? [this.version, ...path] : path;
    const u = `${this.base}/${segs.map(encodeURIComponent).join('/')}`;
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) q.set(k, String(v));
    const qs = q.toString();
    return qs ? `${u}?${qs}` : u;
  }

  /** Removes the token (whatever its shape) and anything token-like from text leaving this client. */
  private clean(text: string, token: string): string {
    const t = token && token.length >= 4 ? text.split(token).join('[redacted]') : text;
    return scrubSecrets(t);
  }

  private async call(o: CallOptions): Promise<Raw> {
    const headers: Record<string, string> = { authorization: `Bearer ${o.token}`, accept: 'application/json' };
    let body: string | undefined;
    if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] = 'application/json';
    }
    const full = new URL(this.url(o.path, o.query));
    const opts: Dispatcher.RequestOptions = { origin: full.origin, path: full.pathname + full.search, method: o.method, headers, body };
    try {
      const res = await this.agent.request(opts);
      const text = await res.body.text();
      return { kind: 'response', status: res.statusCode, text };
    } catch (err) {
      const code = errCode(err);
      const what = DESCRIBE[code] ?? this.clean(String((err as Error)?.message ?? err), o.token);
      if (NOT_SENT_CODES.has(code)) return { kind: 'not_sent', reason: `${what} (${code}); the request never left this machine` };
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
        return { kind: 'in_doubt', reason: `${what} (${this.opts.request_timeout_ms} ms, ${code}); Meta may have accepted it` };
      }
      return { kind: 'in_doubt', reason: `${what} (${code}) after the request was written; Meta may have accepted it` };
    }
  }

  /** Shared path of every management call: 2xx → map the JSON; otherwise a GraphError. */
  private async result<T>(o: CallOptions, map: (json: unknown) => T): Promise<MetaResult<T>> {
    const bad = this.checkInputs(o.token, o.path);
    if (bad) return { ok: false, error: bad };
    const raw = await this.call(o);
    if (raw.kind !== 'response')
      return { ok: false, error: transportError(`${raw.kind === 'not_sent' ? 'not sent' : 'in doubt'}: ${raw.reason}`) };
    if (raw.status >= 200 && raw.status < 300) {
      const json = jsonOrNull(raw.text);
      if (json === null) return { ok: false, error: this.scrubError(parseGraphError(raw.status, raw.text), o.token) };
      return { ok: true, value: map(json) };
    }
    return { ok: false, error: this.scrubError(parseGraphError(raw.status, raw.text), o.token) };
  }

  private scrubError(e: GraphError, token: string): GraphError {
    return {
      ...e,
      message: this.clean(e.message, token),
      details: e.details && this.clean(e.details, token),
      title: e.title && this.clean(e.title, token),
    };
  }

  /** Refuses locally what Meta would refuse anyway, or what could inject into the path or headers. */
  private checkInputs(token: string, path: string[]): GraphError | null {
    if (typeof token !== 'string' || !SAFE_TOKEN.test(token)) {
      // Classified as 190 (credentials): the sender halts instead of failing every message one by one.
      return {
        ...transportError(
          "No usable access token for this sender (empty or with spaces/control characters); nothing was sent. Set the sender's access_token.",
        ),
        code: 190,
      };
    }
    const badId = path.slice(0, 1).find((p) => !SAFE_ID.test(p));
    if (badId !== undefined) {
      return {
        ...transportError(
          `Invalid Graph object id "${scrubSecrets(badId).slice(0, 40)}": phone_number_id and waba_id are numeric ids from WhatsApp Manager; nothing was sent.`,
        ),
        code: 100,
      };
    }
    return null;
  }

  // ── MetaClient ─────────────────────────────────────────────────────────────────────────────────

  async sendMessage(creds: SenderCredentials, body: Record<string, unknown>, endpoint: SendEndpoint = 'messages'): Promise<SendResult> {
    const bad = this.checkInputs(creds.access_token, [creds.phone_number_id]);
    if (bad) return { kind: 'error', error: bad };
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      return {
        kind: 'error',
        error: { ...transportError("The message body must be a JSON object (Meta's /messages body); nothing was sent."), code: 100 },
      };
    }
    const raw = await this.call({ method: 'POST', path: [creds.phone_number_id, endpoint], token: creds.access_token, body });
    if (raw.kind !== 'response') return raw;
    if (raw.status >= 200 && raw.status < 300) {
      const json = asObject(jsonOrNull(raw.text));
      const msg = asObject(Array.isArray(json.messages) ? json.messages[0] : undefined);
      const contact = asObject(Array.isArray(json.contacts) ? json.contacts[0] : undefined);
      if (typeof msg.id === 'string' && msg.id) {
        return {
          kind: 'accepted',
          wamid: msg.id,
          wa_id: typeof contact.wa_id === 'string' ? contact.wa_id : null,
          http_status: raw.status,
        };
      }
      // Meta said yes but gave no wamid: it may well send it, so this is in doubt, not an error.
      return { kind: 'in_doubt', reason: `HTTP ${raw.status} without messages[0].id in the response body` };
    }
    const error = this.scrubError(parseGraphError(raw.status, raw.text), creds.access_token);
    // A gateway timeout without a Graph body means the upstream may have processed the request.
    if (raw.status === 504 && error.code === -1) return { kind: 'in_doubt', reason: 'HTTP 504 gateway timeout without a Graph error body' };
    return { kind: 'error', error };
  }

  markAsRead(creds: SenderCredentials, wamid: string): Promise<MetaResult<{ success: boolean }>> {
    return this.result(
      {
        method: 'POST',
        path: [creds.phone_number_id, 'messages'],
        token: creds.access_token,
        body: { messaging_product: 'whatsapp', status: 'read', message_id: wamid },
      },
      (j) => ({ success: asObject(j).success === true }),
    );
  }

  listTemplates(
    creds: SenderCredentials,
    opts: { limit?: number; after?: string } = {},
  ): Promise<MetaResult<{ data: Record<string, unknown>[]; after?: string }>> {
    return this.result(
      {
        method: 'GET',
        path: [creds.waba_id, 'message_templates'],
        token: creds.access_token,
        query: { limit: opts.limit, after: opts.after },
      },
      (j) => {
        const o = asObject(j);
        const data = Array.isArray(o.data) ? o.data.map(asObject) : [];
        const paging = asObject(o.paging);
        const after = strOrUndef(asObject(paging.cursors).after);
        // Meta: `next` is absent on the last page; the cursors are present either way.
        return typeof paging.next === 'string' && after ? { data, after } : { data };
      },
    );
  }

  createTemplate(
    creds: SenderCredentials,
    tpl: Record<string, unknown>,
  ): Promise<MetaResult<{ id: string; status: string; category: string }>> {
    return this.result({ method: 'POST', path: [creds.waba_id, 'message_templates'], token: creds.access_token, body: tpl }, (j) => {
      const o = asObject(j);
      return { id: String(o.id ?? ''), status: String(o.status ?? ''), category: String(o.category ?? '') };
    });
  }

  /**
   * GET /{template_id}: one template with its status, category, quality_score and components (the
   * template webhooks fetch a template wagate has not synced, or whose components changed).
   */
  getTemplate(
    creds: SenderCredentials,
    templateId: string,
    fields = 'id,name,language,status,category,quality_score,components,rejected_reason',
  ): Promise<MetaResult<Record<string, unknown>>> {
    return this.result({ method: 'GET', path: [templateId], token: creds.access_token, query: { fields } }, asObject);
  }

  deleteTemplate(creds: SenderCredentials, name: string): Promise<MetaResult<{ success: boolean }>> {
    return this.result(
      { method: 'DELETE', path: [creds.waba_id, 'message_templates'], token: creds.access_token, query: { name } },
      (j) => ({
        success: asObject(j).success === true,
      }),
    );
  }

  getPhoneNumber(creds: SenderCredentials): Promise<MetaResult<PhoneNumberInfo>> {
    return this.result(
      { method: 'GET', path: [creds.phone_number_id], token: creds.access_token, query: { fields: phoneFields(this.version || 'v99') } },
      toPhoneNumberInfo,
    );
  }

  async listPhoneNumbers(creds: SenderCredentials): Promise<MetaResult<PhoneNumberInfo[]>> {
    const all: PhoneNumberInfo[] = [];
    let after: string | undefined;
    for (let page = 0; page < 50; page++) {
      const r = await this.result(
        {
          method: 'GET',
          path: [creds.waba_id, 'phone_numbers'],
          token: creds.access_token,
          query: { fields: phoneFields(this.version || 'v99'), after },
        },
        (j) => {
          const o = asObject(j);
          const paging = asObject(o.paging);
          const next = typeof paging.next === 'string' ? strOrUndef(asObject(paging.cursors).after) : undefined;
          return { data: (Array.isArray(o.data) ? o.data : []).map(toPhoneNumberInfo), next };
        },
      );
      if (!r.ok) return r;
      all.push(...r.value.data);
      if (!r.value.next || r.value.next === after) break;
      after = r.value.next;
    }
    return { ok: true, value: all };
  }

  debugToken(token: string, appToken?: string): Promise<MetaResult<DebugTokenInfo>> {
    // The inspected token must travel as input_token (Graph has no other way); the caller's token
    // (an app token, or the same token) goes in the Authorization header. URLs are never logged.
    const auth = appToken ?? token;
    return this.result({ method: 'GET', path: ['debug_token'], token: auth, query: { input_token: token } }, toDebugTokenInfo).then((r) =>
      r.ok ? r : { ok: false, error: this.scrubError(r.error, token) },
    );
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
