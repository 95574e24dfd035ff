// The Meta sandbox: a local Graph API emulator on its own port (node:http, no framework on the hot
// path: it must take ≥ 5,000 sends/s on 2 cores and never be the bottleneck). Graph routes under
// /{version}/..., the public control API under /_sandbox (README.md beside this file).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { syncError, unknownObject, unknownPath, type SyncError } from './errors.ts';
import {
  DEFAULT_RULES,
  DEFAULT_STATUS_OPTIONS,
  SandboxState,
  isObj,
  type Fault,
  type HttpAnswer,
  type Rules,
  type SandboxNumberInput,
  type StatusOptions,
  type TokenStateName,
} from './state.ts';
import { WebhookSender, type WebhookOptions } from './webhooks.ts';
import { templateView } from './templates.ts';
import { MAX_MEDIA_BYTES, parseMultipart } from './media.ts';

export const SANDBOX_DEFAULT_NUMBER: SandboxNumberInput = {
  phone_number_id: '106540352242922',
  waba_id: '102290129340398',
  display_phone_number: '+1 555 010 0001',
  throughput_mps: 80,
};
export const SANDBOX_DEFAULT_TOKEN = 'sandbox-token-main';

export interface SandboxOptions {
  /** 0 = any free port. */
  port: number;
  host?: string;
  app_secret: string;
  /** Graph app id (debug_token's app_id; the app token is "<app_id>|<app_secret>"). */
  app_id?: string;
  webhook_url?: string;
  numbers?: SandboxNumberInput[];
  tokens?: string[];
  logger?: Logger;
  /** Rule overrides (window mode, marketing cap, pair limit, US pause, template review delay...). */
  rules?: Partial<Rules>;
  /** Status webhook timing and quirks (delays, duplicates, out-of-order, skip delivered). */
  statuses?: Partial<StatusOptions>;
  /** Webhook batching, retry and signing options. */
  webhooks?: Partial<WebhookOptions>;
  /** Injected clock (ms) for the rules; webhook timing always uses real time. */
  now?: () => number;
}

export interface SandboxHandle {
  url: string;
  port: number;
  app_secret: string;
  setWebhookUrl(url: string): void;
  state: SandboxState;
  close(): Promise<void>;
}

const MAX_BODY = 3 * 1024 * 1024;
const VERSION_RE = /^v\d+\.\d+$/;
const JSON_HEADERS = { 'content-type': 'application/json; charset=UTF-8' };

class BadRequest extends Error {}
/** Shared, never mutated: most sends carry no query string. */
const NO_QUERY = new URLSearchParams();

function send(res: ServerResponse, a: HttpAnswer, extra?: Record<string, string>): void {
  const body = JSON.stringify(a.body);
  // Flat header array: no per-response object merging on the hot path.
  const headers = ['content-type', JSON_HEADERS['content-type'], 'content-length', String(Buffer.byteLength(body))];
  if (extra) for (const [k, v] of Object.entries(extra)) headers.push(k, v);
  res.writeHead(a.status, headers);
  res.end(body);
}

function ctlError(status: number, code: string, message: string, fix: string): HttpAnswer {
  return { status, body: { error: { code, message, fix } } };
}

/** Options whose value has another type than the default's (a string where a number belongs...). */
function mistyped(b: Record<string, unknown>, defaults: object): string[] {
  const d = defaults as Record<string, unknown>;
  return Object.keys(b).filter(
    (k) => k in d && (typeof b[k] !== typeof d[k] || (typeof b[k] === 'number' && (!Number.isFinite(b[k]) || (b[k] as number) < 0))),
  );
}

function readBody(req: IncomingMessage, max = MAX_BODY): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        reject(new BadRequest(`request body over ${Math.round(max / 1024 / 1024)} MB`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Parses a Graph request body: JSON, or form-encoded (Meta accepts both; values may be JSON). */
function parseGraphBody(raw: Buffer, contentType: string | undefined): unknown {
  const text = raw.toString('utf8');
  if (contentType?.includes('application/x-www-form-urlencoded')) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of new URLSearchParams(text)) {
      try {
        out[k] = /^[[{]/.test(v) ? JSON.parse(v) : v;
      } catch {
        out[k] = v;
      }
    }
    return out;
  }
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequest('body is not valid JSON');
  }
}

function bearer(req: IncomingMessage, q: URLSearchParams): string | null {
  const h = req.headers.authorization;
  if (h) {
    const m = /^(?:Bearer|OAuth)\s+(.+)$/i.exec(h);
    if (m) return m[1].trim();
  }
  return q.get('access_token');
}

function faultAnswer(f: Fault): HttpAnswer {
  // Default code by status, the way Meta's table pairs them (§2.2).
  const code =
    f.code ?? ({ 503: 2, 429: 4, 401: 190, 403: 10, 404: 100 } as Record<number, number>)[f.status] ?? (f.status >= 500 ? 131000 : 100);
  const e: SyncError = syncError(code, { http: f.status, details: 'Injected by the sandbox (/_sandbox/faults).' });
  return e;
}

export async function startSandbox(opts: SandboxOptions): Promise<SandboxHandle> {
  const log = opts.logger;
  const numbers = opts.numbers?.length ? opts.numbers : [SANDBOX_DEFAULT_NUMBER];
  const tokens = opts.tokens?.length ? opts.tokens : [SANDBOX_DEFAULT_TOKEN];
  const webhooks = new WebhookSender(opts.app_secret, opts.webhook_url ?? null, opts.webhooks ?? {}, log);
  const state = new SandboxState(
    {
      app_secret: opts.app_secret,
      app_id: opts.app_id ?? '100000000000000',
      numbers,
      tokens,
      rules: { ...DEFAULT_RULES, ...opts.rules },
      statuses: { ...DEFAULT_STATUS_OPTIONS, ...opts.statuses },
      now: opts.now ?? Date.now,
    },
    webhooks,
    log,
  );
  const hung = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  /** Holds a request open: the client sees a timeout, never an answer (in-doubt tests). */
  function hang(res: ServerResponse, f: Fault): void {
    hung.add(res);
    res.on('close', () => hung.delete(res));
    if (f.hang_ms !== undefined) {
      setTimeout(() => {
        hung.delete(res);
        res.socket?.destroy();
      }, f.hang_ms).unref();
    }
  }

  async function graph(req: IncomingMessage, res: ServerResponse, path: string, q: URLSearchParams): Promise<void> {
    const method = req.method ?? 'GET';
    const parts = path.split('/').filter(Boolean);
    let version = 'v25.0'; // no version in the path: Meta uses the app's own (wagate's default is v25.0)
    if (parts.length && VERSION_RE.test(parts[0])) version = parts.shift()!;
    else if (parts.length && /^v\d/.test(parts[0])) return send(res, unknownPath(parts[0]));
    const id = parts[0] ?? '';
    const edge = parts[1] ?? null;
    if (parts.length > 2 || !id) return send(res, unknownPath(path));
    // /marketing_messages: Meta's Marketing Messages API, the same body as /messages (marketing templates only).
    const isMessages = (edge === 'messages' || edge === 'marketing_messages') && method === 'POST';

    const token = bearer(req, q);
    if (id === 'debug_token' && method === 'GET') return send(res, state.debugToken(q.get('input_token'), token));
    const tokErr = state.checkToken(token);
    if (tokErr) {
      state.counters.rejected++;
      state.counters.by_code['190'] = (state.counters.by_code['190'] ?? 0) + 1;
      return send(res, tokErr);
    }

    // Permissions and asset access of a valid token (M-TOK): messaging for sends, management otherwise.
    const targetWaba = state.numbers.get(id)?.waba_id ?? (state.wabas.has(id) ? id : (state.templates.get(id)?.waba_id ?? null));
    const accessErr = state.checkAccess(
      token!,
      targetWaba,
      isMessages || edge === 'media' ? 'whatsapp_business_messaging' : 'whatsapp_business_management',
    );
    if (accessErr) return send(res, accessErr);

    const fault = state.takeFault(isMessages, state.numbers.has(id) ? id : null);
    if (fault && !fault.accept) {
      if (fault.hang) return hang(res, fault);
      return send(res, faultAnswer(fault));
    }

    // WABA management calls share an hourly budget per WABA (§4.3): usage header on each, 80007 past it.
    const budgetWaba =
      edge === 'message_templates' || edge === 'phone_numbers' || edge === 'subscribed_apps' || (edge === null && method === 'GET')
        ? state.wabas.has(id)
          ? id
          : null
        : null;
    let usage: Record<string, string> | undefined;
    if (budgetWaba) {
      const u = state.wabaCall(budgetWaba);
      usage = {
        'x-business-use-case-usage': JSON.stringify({
          [budgetWaba]: [
            {
              type: 'whatsapp_business_management',
              call_count: u.pct,
              total_cputime: Math.min(100, Math.ceil(u.pct / 4)),
              total_time: Math.min(100, Math.ceil(u.pct / 4)),
              estimated_time_to_regain_access: u.regain_min,
            },
          ],
        }),
      };
      if (u.over)
        return send(
          res,
          syncError(80007, {
            details: `The WhatsApp Business Account has reached its rate limit of ${state.rules.waba_calls_per_hour} calls per hour. Estimated time to regain access: ${u.regain_min} minutes.`,
          }),
          usage,
        );
    }

    let answer: HttpAnswer;
    if (isMessages) {
      const raw = await readBody(req);
      answer = state.numbers.has(id)
        ? state.send(id, version, parseGraphBody(raw, req.headers['content-type']), edge === 'marketing_messages' ? edge : 'messages')
        : unknownObject(id, 'post');
    } else if (edge === 'message_templates') {
      if (!state.wabas.has(id)) answer = unknownObject(id, method === 'DELETE' ? 'delete' : method === 'POST' ? 'post' : 'get');
      else if (method === 'GET') answer = state.listTemplates(id, q);
      else if (method === 'POST') answer = state.createTemplate(id, parseGraphBody(await readBody(req), req.headers['content-type']));
      else if (method === 'DELETE') answer = state.deleteTemplate(id, q.get('name'), q.get('hsm_id'));
      else answer = unknownPath(path);
    } else if (edge === 'phone_numbers' && method === 'GET') {
      answer = state.wabas.has(id) ? state.phoneNumbersOf(id, q) : unknownObject(id, 'get');
    } else if (edge === 'subscribed_apps') {
      answer = !state.wabas.has(id)
        ? unknownObject(id, 'get')
        : method === 'GET'
          ? {
              status: 200,
              body: { data: [{ whatsapp_business_api_data: { id: opts.app_id ?? '100000000000000', name: 'wagate sandbox' } }] },
            }
          : { status: 200, body: { success: true } };
    } else if (edge === 'unpause' && method === 'POST') {
      const t = state.templates.get(id);
      if (!t) answer = unknownObject(id, 'post');
      else {
        if (t.status === 'PAUSED')
          state.updateTemplate(t.name, { status: 'APPROVED', waba_id: t.waba_id, language: t.language, reason: 'NONE' });
        answer = { status: 200, body: { success: true } };
      }
    } else if (edge === 'media' && method === 'POST') {
      answer = state.numbers.has(id)
        ? uploadMedia(id, await readBody(req, MAX_MEDIA_BYTES), req.headers['content-type'] ?? '')
        : unknownObject(id, 'post');
    } else if (edge === null && state.media.items.has(id) && (method === 'GET' || method === 'DELETE')) {
      if (method === 'DELETE') {
        state.media.items.delete(id);
        answer = { status: 200, body: { success: true } };
      } else answer = { status: 200, body: state.media.describe(state.media.items.get(id)!, handle.url, state.now()) };
    } else if (edge === null && method === 'POST' && state.templates.has(id)) {
      answer = state.editTemplate(id, parseGraphBody(await readBody(req), req.headers['content-type']));
    } else if (edge === null && method === 'GET') {
      const fields =
        q
          .get('fields')
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean) ?? null;
      const n = state.numbers.get(id);
      const t = state.templates.get(id);
      if (n) answer = { status: 200, body: state.numberView(n, fields) };
      else if (state.wabas.has(id)) answer = { status: 200, body: state.wabaView(id) };
      else if (t) {
        const v = templateView(t);
        answer = {
          status: 200,
          body: fields ? Object.fromEntries(Object.entries(v).filter(([k]) => k === 'id' || fields.includes(k))) : v,
        };
      } else answer = unknownObject(id, 'get');
    } else {
      answer = unknownPath(path);
    }
    if (fault?.accept) {
      // Meta processed the request, but the answer is lost (hang) or replaced by an error.
      if (fault.hang) return hang(res, fault);
      return send(res, faultAnswer(fault));
    }
    send(res, answer, usage);
  }

  async function control(req: IncomingMessage, res: ServerResponse, path: string, q: URLSearchParams): Promise<void> {
    const method = req.method ?? 'GET';
    const parts = path.split('/').filter(Boolean).slice(1); // drop "_sandbox"
    const route = `${method} /${parts[0] ?? ''}`;
    const body = async (): Promise<Record<string, unknown>> => {
      const raw = await readBody(req);
      if (raw.length === 0) return {};
      let v: unknown;
      try {
        v = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new BadRequest('body is not valid JSON');
      }
      if (!isObj(v)) throw new BadRequest('body must be a JSON object');
      return v;
    };
    switch (route) {
      case 'GET /':
      case 'GET /health':
        return send(res, {
          status: 200,
          body: {
            ok: true,
            url: handle.url,
            numbers: [...state.numbers.keys()],
            webhook_url: webhooks.getUrl(),
            counters: state.counters,
            webhooks: { ...webhooks.stats, backlog: webhooks.backlog() },
          },
        });
      case 'POST /inbound':
        return send(res, state.inbound(await body()));
      case 'GET /ledger':
        return send(res, { status: 200, body: state.ledgerView(q) });
      case 'DELETE /ledger':
        state.ledger = [];
        return send(res, { status: 200, body: { success: true } });
      case 'GET /tokens':
        return send(res, { status: 200, body: { tokens: [...state.tokens.values()].map((t) => ({ ...t, token: maskToken(t.token) })) } });
      case 'POST /tokens': {
        const b = await body();
        const st = b.state as TokenStateName;
        if (st !== 'valid' && st !== 'revoked' && st !== 'expiring')
          return send(
            res,
            ctlError(
              400,
              'bad_state',
              'state must be "valid", "revoked" or "expiring"',
              'e.g. {"token":"sandbox-token-main","state":"revoked","subcode":460}',
            ),
          );
        if (b.token !== undefined && typeof b.token !== 'string')
          return send(res, ctlError(400, 'bad_token', 'token must be a string', 'omit it to change every token'));
        if (b.subcode !== undefined && !Number.isInteger(b.subcode))
          return send(
            res,
            ctlError(400, 'bad_subcode', 'subcode must be an integer (458, 459, 460, 463, 464, 467, 492)', 'e.g. {"subcode":463}'),
          );
        if (
          b.expires_at !== undefined &&
          typeof b.expires_at !== 'number' &&
          (typeof b.expires_at !== 'string' || Number.isNaN(Date.parse(b.expires_at)))
        )
          return send(
            res,
            ctlError(
              400,
              'bad_expires_at',
              'expires_at must be unix seconds, epoch ms or an ISO date',
              'e.g. {"expires_at":"2030-01-01T00:00:00Z"}',
            ),
          );
        const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
        if (b.scopes !== undefined && !strings(b.scopes))
          return send(
            res,
            ctlError(400, 'bad_scopes', 'scopes must be an array of permission names', 'e.g. {"scopes":["whatsapp_business_management"]}'),
          );
        if (b.waba_ids !== undefined && b.waba_ids !== null && !strings(b.waba_ids))
          return send(
            res,
            ctlError(
              400,
              'bad_waba_ids',
              'waba_ids must be an array of WABA ids, or null for every WABA',
              'e.g. {"waba_ids":["102290129340398"]}',
            ),
          );
        const out = state.setToken({
          token: b.token as string | undefined,
          state: st,
          expires_at: b.expires_at as number | string | undefined,
          subcode: b.subcode as number | undefined,
          scopes: b.scopes as string[] | undefined,
          waba_ids: b.waba_ids as string[] | null | undefined,
        });
        return send(res, { status: 200, body: { tokens: out.map((t) => ({ ...t, token: maskToken(t.token) })) } });
      }
      case 'GET /numbers':
        return send(res, {
          status: 200,
          body: {
            numbers: [...state.numbers.values()].map((n) => ({
              ...state.numberView(n, [
                'display_phone_number',
                'verified_name',
                'quality_rating',
                'throughput',
                'messaging_limit_tier',
                'status',
              ]),
              waba_id: n.waba_id,
              throughput_mps: n.throughput_mps,
            })),
          },
        });
      case 'POST /numbers':
        if (!parts[1])
          return send(res, ctlError(400, 'missing_id', 'POST /_sandbox/numbers/:phone_number_id', 'put the phone number id in the path'));
        return send(res, state.updateNumber(decodeURIComponent(parts[1]), await body()));
      case 'GET /faults':
        return send(res, { status: 200, body: { faults: state.faults } });
      case 'DELETE /faults':
        state.faults = [];
        return send(res, { status: 200, body: { faults: [] } });
      case 'POST /faults': {
        const b = await body();
        const hangIt = b.hang === true || b.status === 'hang';
        const status = hangIt ? 0 : Number(b.status);
        if (!hangIt && (!Number.isInteger(status) || status < 400 || status > 599))
          return send(
            res,
            ctlError(
              400,
              'bad_status',
              'status must be an HTTP error status (400-599), or "hang"',
              'e.g. {"status":503,"count":3} or {"status":"hang","seconds":10}',
            ),
          );
        const f: Fault = {
          status,
          hang: hangIt || undefined,
          accept: b.accept === true || (hangIt && b.accept !== false) || undefined,
          scope: b.scope === 'all' ? 'all' : 'messages',
        };
        const badNum = ['code', 'count', 'seconds', 'hang_ms'].filter(
          (k) => b[k] !== undefined && (typeof b[k] !== 'number' || !Number.isFinite(b[k]) || (b[k] as number) < 0),
        );
        if (badNum.length)
          return send(
            res,
            ctlError(
              400,
              'bad_fault',
              `${badNum.join(', ')} must be non-negative numbers`,
              'e.g. {"status":503,"count":3} or {"status":500,"seconds":10}',
            ),
          );
        if (b.code !== undefined) f.code = Number(b.code);
        if (b.count !== undefined) f.count = Math.max(0, Math.floor(Number(b.count)));
        if (b.seconds !== undefined) f.until = state.now() + Number(b.seconds) * 1000;
        if (f.count === undefined && f.until === undefined) f.count = 1;
        if (b.hang_ms !== undefined) f.hang_ms = Number(b.hang_ms);
        if (typeof b.phone_number_id === 'string') f.phone_number_id = b.phone_number_id;
        state.faults.push(f);
        return send(res, { status: 200, body: { faults: state.faults } });
      }
      case 'GET /templates':
        return send(res, {
          status: 200,
          body: { templates: [...state.templates.values()].map((t) => ({ ...templateView(t), waba_id: t.waba_id })) },
        });
      case 'POST /templates':
        if (!parts[1])
          return send(res, ctlError(400, 'missing_name', 'POST /_sandbox/templates/:name', 'put the template name in the path'));
        return send(res, state.updateTemplate(decodeURIComponent(parts[1]), await body()));
      case 'GET /users': {
        const wa = (parts[1] ?? '').replace(/\D/g, '');
        if (!wa)
          return send(res, ctlError(400, 'missing_wa_id', 'GET /_sandbox/users/:wa_id', 'put the user phone number (digits) in the path'));
        return send(res, { status: 200, body: state.userView(wa) });
      }
      case 'POST /users': {
        // POST /_sandbox/users/:wa_id {marketing?: "stop"|"resume", undeliverable?: boolean, phone_number_id?}
        const wa = (parts[1] ?? '').replace(/\D/g, '');
        if (!wa)
          return send(res, ctlError(400, 'missing_wa_id', 'POST /_sandbox/users/:wa_id', 'put the user phone number (digits) in the path'));
        const b = await body();
        return send(res, userUpdate(wa, b));
      }
      case 'POST /optout': {
        const b = await body();
        const wa = String(b.wa_id ?? b.from ?? '').replace(/\D/g, '');
        if (!wa) return send(res, ctlError(400, 'missing_wa_id', 'wa_id is required', 'e.g. {"wa_id":"447700900123","value":"stop"}'));
        return send(res, userUpdate(wa, { marketing: b.value ?? 'stop', phone_number_id: b.phone_number_id }));
      }
      case 'POST /undeliverable': {
        const b = await body();
        const wa = String(b.wa_id ?? '').replace(/\D/g, '');
        if (!wa)
          return send(res, ctlError(400, 'missing_wa_id', 'wa_id is required', 'e.g. {"wa_id":"447700900123","undeliverable":true}'));
        return send(res, userUpdate(wa, { undeliverable: b.undeliverable ?? true }));
      }
      case 'GET /rules':
        return send(res, { status: 200, body: { rules: state.rules } });
      case 'POST /rules': {
        const b = await body();
        const unknown = Object.keys(b).filter((k) => !Object.hasOwn(DEFAULT_RULES, k));
        if (unknown.length)
          return send(
            res,
            ctlError(400, 'unknown_rule', `unknown rule(s): ${unknown.join(', ')}`, `known: ${Object.keys(DEFAULT_RULES).join(', ')}`),
          );
        if (b.window_mode !== undefined && b.window_mode !== 'async' && b.window_mode !== 'sync')
          return send(res, ctlError(400, 'bad_rule', 'window_mode must be "async" or "sync"', 'e.g. {"window_mode":"sync"}'));
        if (b.response_user_id !== undefined && b.response_user_id !== 'recipient' && b.response_user_id !== 'always')
          return send(
            res,
            ctlError(400, 'bad_rule', 'response_user_id must be "recipient" or "always"', 'e.g. {"response_user_id":"always"}'),
          );
        const badRules = mistyped(b, DEFAULT_RULES);
        if (badRules.length)
          return send(
            res,
            ctlError(
              400,
              'bad_rule',
              `wrong type for: ${badRules.join(', ')}`,
              'numbers must be non-negative numbers, flags booleans (see GET /_sandbox/rules)',
            ),
          );
        Object.assign(state.rules, b);
        return send(res, { status: 200, body: { rules: state.rules } });
      }
      case 'GET /webhooks':
        if (parts[1] === 'log')
          return send(res, {
            status: 200,
            body: {
              url: webhooks.getUrl(),
              stats: webhooks.stats,
              backlog: webhooks.backlog(),
              log: webhooks.logEntries({
                limit: Number(q.get('limit') ?? 100),
                bodies: q.get('bodies') === '1' || q.get('bodies') === 'true',
              }),
            },
          });
        return send(res, { status: 200, body: { url: webhooks.getUrl(), statuses: state.statusOpts, delivery: webhooks.opts } });
      case 'POST /webhooks': {
        const b = await body();
        if (parts[1] === 'verify') {
          if (typeof b.verify_token !== 'string')
            return send(res, ctlError(400, 'missing_verify_token', 'verify_token is required', 'e.g. {"verify_token":"..."}'));
          return send(res, { status: 200, body: await webhooks.verify(b.verify_token) });
        }
        if (parts[1] === 'emit') {
          // Any webhook field Meta sends (account_update, account_alerts, business_capability_update...).
          if (typeof b.field !== 'string' || !isObj(b.value))
            return send(
              res,
              ctlError(
                400,
                'bad_event',
                'field (string) and value (object) are required',
                'e.g. {"field":"account_update","value":{"event":"DISABLED_UPDATE","ban_info":{"waba_ban_state":"DISABLE"}}}',
              ),
            );
          const waba = typeof b.waba_id === 'string' ? b.waba_id : [...state.wabas.keys()][0];
          state.webhooks.enqueue(waba, { field: b.field, value: b.value }, b.field !== 'messages' && b.field !== 'user_preferences');
          return send(res, { status: 200, body: { queued: true, waba_id: waba } });
        }
        // POST /_sandbox/webhooks {url?, statuses options..., delivery options...}
        const statusKeys = Object.keys(DEFAULT_STATUS_OPTIONS);
        const deliveryKeys = Object.keys(webhooks.opts);
        const unknown = Object.keys(b).filter((k) => k !== 'url' && !statusKeys.includes(k) && !deliveryKeys.includes(k));
        if (unknown.length)
          return send(
            res,
            ctlError(
              400,
              'unknown_option',
              `unknown option(s): ${unknown.join(', ')}`,
              `known: url, ${[...statusKeys, ...deliveryKeys].join(', ')}`,
            ),
          );
        if (b.signature !== undefined && !['valid', 'invalid', 'none'].includes(String(b.signature)))
          return send(res, ctlError(400, 'bad_option', 'signature must be valid, invalid or none', 'e.g. {"signature":"invalid"}'));
        const badOpts = [...mistyped(b, DEFAULT_STATUS_OPTIONS), ...mistyped(b, webhooks.opts)];
        if (typeof b.duplicates === 'number' && b.duplicates > 1) badOpts.push('duplicates');
        if (b.url !== undefined && (typeof b.url !== 'string' || !/^https?:\/\/\S+$/.test(b.url))) badOpts.push('url');
        if (badOpts.length)
          return send(
            res,
            ctlError(
              400,
              'bad_option',
              `wrong value for: ${badOpts.join(', ')}`,
              'delays are non-negative numbers (ms), flags booleans, duplicates a probability 0..1, url an http(s) URL (see GET /_sandbox/webhooks)',
            ),
          );
        for (const k of statusKeys) if (k in b) (state.statusOpts as unknown as Record<string, unknown>)[k] = b[k];
        const d: Record<string, unknown> = {};
        for (const k of deliveryKeys) if (k in b) d[k] = b[k];
        webhooks.setOptions(d as Partial<WebhookOptions>);
        if (typeof b.url === 'string') webhooks.setUrl(b.url);
        return send(res, { status: 200, body: { url: webhooks.getUrl(), statuses: state.statusOpts, delivery: webhooks.opts } });
      }
      case 'POST /reset':
        state.reset();
        return send(res, { status: 200, body: { success: true } });
      case 'GET /media':
        return downloadMedia(req, res, decodeURIComponent(parts[1] ?? ''), q);
      default:
        return send(
          res,
          ctlError(
            404,
            'unknown_control_route',
            `no sandbox control route ${method} ${path}`,
            'see src/meta/sandbox/README.md for the list',
          ),
        );
    }
  }

  /** POST /{pnid}/media: multipart with messaging_product, file and type (the MIME type). */
  function uploadMedia(pnid: string, raw: Buffer, contentType: string): HttpAnswer {
    const parts = contentType.includes('multipart/form-data') ? parseMultipart(raw, contentType) : null;
    if (!parts) return syncError(100, { details: 'Upload media as multipart/form-data with the fields messaging_product, file and type.' });
    if (parts.get('messaging_product')?.data.toString() !== 'whatsapp')
      return syncError(100, { details: 'The parameter messaging_product is required.' });
    const file = parts.get('file');
    if (!file || file.data.length === 0) return syncError(100, { details: 'The parameter file is required.' });
    const type = parts.get('type')?.data.toString().trim() || file.type;
    if (!type) return syncError(100, { details: 'The parameter type is required.' });
    return { status: 200, body: { id: state.media.add(pnid, type, Buffer.from(file.data)).id } };
  }

  /** GET /_sandbox/media/:id: the download URL of GET /{media_id} (bearer token required, 5-minute ticket). */
  function downloadMedia(req: IncomingMessage, res: ServerResponse, id: string, q: URLSearchParams): void {
    const tokErr = state.checkToken(bearer(req, q));
    if (tokErr) {
      send(res, tokErr);
      return;
    }
    const ticket = q.get('ticket');
    const r = state.media.download(id, ticket, state.now());
    if (r === 'unknown' || (ticket !== null && r === 'expired')) {
      send(
        res,
        ctlError(
          404,
          'media_not_found',
          `media ${id} does not exist or its URL expired`,
          'URLs from GET /{media_id} last 5 minutes: ask for a new one',
        ),
      );
      return;
    }
    const item = state.media.items.get(id)!;
    res.writeHead(200, { 'content-type': item.mime_type, 'content-length': item.bytes.length });
    res.end(item.bytes);
  }

  function userUpdate(wa: string, b: Record<string, unknown>): HttpAnswer {
    const out: Record<string, unknown> = { wa_id: wa };
    if (b.username !== undefined) {
      // WhatsApp usernames: letters, digits, "." and "_", shown with a leading "@" (the sandbox keeps what it is given).
      if (b.username !== null && (typeof b.username !== 'string' || !/^@?[A-Za-z0-9._]{3,35}$/.test(b.username)))
        return ctlError(
          400,
          'bad_username',
          'username must be 3-35 letters, digits, "." or "_" (an optional leading "@"), or null to clear it',
          'e.g. {"username":"@ana"}',
        );
    }
    if (b.phone_shared !== undefined && typeof b.phone_shared !== 'boolean')
      return ctlError(400, 'bad_phone_shared', 'phone_shared must be true or false', 'e.g. {"username":"@ana","phone_shared":false}');
    if (b.username !== undefined || b.phone_shared !== undefined) {
      const err = state.setUser(wa, {
        username: b.username as string | null | undefined,
        phone_shared: b.phone_shared as boolean | undefined,
      });
      if (err) return ctlError(400, 'needs_username', err, 'e.g. {"username":"@ana","phone_shared":false}');
    }
    if (b.marketing !== undefined) {
      if (b.marketing !== 'stop' && b.marketing !== 'resume')
        return ctlError(400, 'bad_value', 'marketing must be "stop" or "resume"', 'e.g. {"marketing":"stop"}');
      const r = state.setMarketingPreference(wa, b.marketing, typeof b.phone_number_id === 'string' ? b.phone_number_id : undefined);
      if (r.status !== 200) return r;
      out.marketing = b.marketing;
    }
    if (b.change_user_id !== undefined) {
      if (b.change_user_id !== true)
        return ctlError(
          400,
          'bad_change_user_id',
          'change_user_id must be true (Meta gives the customer a new BSUID)',
          'e.g. {"change_user_id":true}',
        );
      const r = state.changeUserId(wa, typeof b.phone_number_id === 'string' ? b.phone_number_id : undefined);
      if (r.status !== 200) return r;
      out.user_id_changed = (r.body as Record<string, unknown>).user_id_changed;
    }
    if (b.undeliverable !== undefined) {
      if (b.undeliverable) state.undeliverable.add(wa);
      else state.undeliverable.delete(wa);
      out.undeliverable = Boolean(b.undeliverable);
    }
    return { status: 200, body: { ...out, ...state.userView(wa) } };
  }

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const path = qi === -1 ? url : url.slice(0, qi);
    const q = qi === -1 ? NO_QUERY : new URLSearchParams(url.slice(qi + 1));
    const p = path.startsWith('/_sandbox') ? control(req, res, path, q) : graph(req, res, path, q);
    p.catch((err: unknown) => {
      if (res.headersSent) return;
      if (err instanceof BadRequest) {
        if (path.startsWith('/_sandbox'))
          return send(res, ctlError(400, 'bad_request', err.message, 'send a JSON object body with content-type application/json'));
        return send(res, syncError(100, { details: `Invalid request: ${err.message}.` }));
      }
      log?.error({ err }, 'sandbox request failed');
      send(res, syncError(131000, { http: 500 }));
    });
  });
  server.keepAliveTimeout = 30_000;
  server.headersTimeout = 35_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = !opts.host || opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  const url = `http://${host}:${port}`;
  state.baseUrl = url;
  log?.info({ url, numbers: numbers.length }, 'meta sandbox listening');

  const handle: SandboxHandle = {
    url,
    port,
    app_secret: opts.app_secret,
    setWebhookUrl: (u: string) => webhooks.setUrl(u),
    state,
    async close() {
      state.close();
      for (const r of hung) r.socket?.destroy();
      hung.clear();
      await webhooks.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections?.();
        for (const s of sockets) s.destroy();
      });
    },
  };
  return handle;
}

/** "sandbox-token-main" → "sand…main": enough to tell tokens apart, not to use one. */
export function maskToken(t: string): string {
  return t.length <= 8 ? '•'.repeat(t.length) : `${t.slice(0, 4)}…${t.slice(-4)}`;
}
