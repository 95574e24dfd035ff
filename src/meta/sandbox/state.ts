// The sandbox's in-process state and Meta's rules over it: numbers, tokens, templates, care windows,
// opt-outs, buckets, the ledger, and the status webhooks each accepted send produces.
// HTTP lives in server.ts; everything here is callable directly (tests read `handle.state`).
import { createHash } from 'node:crypto';
import parsePhoneNumber from 'libphonenumber-js/max';
import type { Logger } from 'pino';
import { asyncError, syncError, tokenError, unknownObject, type SyncError } from './errors.ts';
import { validateSend } from './validate.ts';
import {
  checkTemplateSend,
  seedTemplates,
  templateView,
  validateCreate,
  type Quality,
  type SandboxTemplate,
  type TplCategory,
  type TplStatus,
} from './templates.ts';
import { Scheduler } from './scheduler.ts';
import { MediaStore } from './media.ts';
import type { WebhookSender, Change } from './webhooks.ts';
import {
  inboundMessage,
  messagesValue,
  metadata,
  newConversationId,
  newWamid,
  pricingFor,
  statusValue,
  unixSeconds,
  userPreferencesValue,
  contactOf,
  type Identity,
  type NumberMeta,
} from './payloads.ts';

const DAY = 24 * 3600_000;

export interface SandboxNumberInput {
  phone_number_id: string;
  waba_id: string;
  display_phone_number: string;
  throughput_mps?: number;
  verified_name?: string;
  quality_rating?: Quality | 'NA';
  messaging_limit?: string;
  /** Business portfolio the WABA belongs to; BSUIDs are scoped to it. Default `sandbox-business` (one portfolio). */
  business_id?: string;
}

export const SANDBOX_DEFAULT_BUSINESS = 'sandbox-business';

/** A simulated customer's identity settings (POST /_sandbox/users/:wa_id). */
export interface SandboxUser {
  username: string | null;
  /** false: a username-only customer. No webhook shows their phone; they are reached only by BSUID. */
  phone_shared: boolean;
}

export interface NumberState extends NumberMeta {
  waba_id: string;
  business_id: string;
  display_phone_number: string;
  verified_name: string;
  throughput_mps: number;
  quality_rating: string;
  messaging_limit: string;
  name_status: string;
  code_verification_status: string;
  status: string;
  bucket: { tokens: number; last: number };
  /** Coexistence number disconnected from Cloud API (ACCOUNT_OFFBOARDED): sends fail with 133010 until reconnected. */
  offboarded?: boolean;
  /** Meta's account restrictions on this number (ACCOUNT_RESTRICTION), enforced on its sends until they end. */
  restrictions: SandboxRestriction[];
}

/** One ACCOUNT_RESTRICTION the sandbox holds: its type and when it ends (epoch ms, on the sandbox clock). */
export interface SandboxRestriction {
  type: string;
  until: number;
  remediation: string | null;
}

export type TokenStateName = 'valid' | 'revoked' | 'expiring';
export interface TokenState {
  token: string;
  state: TokenStateName;
  /** Unix seconds; 0 = never expires. */
  expires_at: number;
  issued_at: number;
  subcode: number | null;
  /** Permissions granted (default: business_management, whatsapp_business_management, whatsapp_business_messaging). */
  scopes: string[];
  /** WABAs the token's system user has asset access to; null = every WABA. */
  waba_ids: string[] | null;
}

export const ALL_SCOPES = ['business_management', 'whatsapp_business_management', 'whatsapp_business_messaging'];

export interface Rules {
  /** Free-form outside the care window: "async" (200, then a failed status 131047, Meta's usual) or "sync". */
  window_mode: 'async' | 'sync';
  window_ms: number;
  /** Delivered marketing templates per user per `marketing_cap_window_ms`, across businesses; 0 = off. */
  marketing_cap: number;
  marketing_cap_window_ms: number;
  /** Marketing templates to US (+1, US area code) numbers fail with 131049 (paused since 1 Apr 2025). */
  us_marketing_pause: boolean;
  pair_interval_ms: number;
  pair_burst: number;
  /** Highest throughput a number may be given. */
  max_throughput_mps: number;
  /** Time a created template stays PENDING before it is APPROVED (with the status webhook). */
  template_review_ms: number;
  /** Whether an inbound reaction opens the care window (Meta does not say; default yes). */
  reactions_open_window: boolean;
  /** Management calls per WABA per rolling hour (Meta: 200, or 5,000 for a WABA with a registered number) → 80007. */
  waba_calls_per_hour: number;
  /**
   * Error code for a business-initiated template past the number's messaging limit (async failed
   * status); 0 = not enforced (default). Meta documents no code for it: choose what a test needs.
   */
  messaging_limit_code: number;
  /** Memory guard for long soaks: past this many entries the oldest 10% are dropped (and counted). */
  ledger_max: number;
  /**
   * When a send answer's `contacts[]` carries `user_id`: "recipient" (only on sends addressed to a BSUID,
   * as Dualhook and whatsapp-api-js read Meta) or "always" (on phone sends too).
   */
  response_user_id: 'recipient' | 'always';
  /**
   * Free service messages per number per calendar month (UTC) once service messages are charged
   * (sends from 1 Oct 2026; changes-2026.md §2, reported as 1,000): inside it a service message's
   * pricing is billable false, past it billable true at the utility rate.
   */
  service_free_allowance: number;
  /**
   * The WABAs' disable_marketing_messages_on_cloud_api (changes-2026 §4): marketing templates on
   * /messages fail with 131063; /marketing_messages (the Marketing Messages API) still takes them.
   */
  disable_marketing_messages_on_cloud_api: boolean;
  /** Meta blocked Direct Send for the numbers (changes-2026 §6): a message with a category fails with 139200. */
  direct_send_blocked: boolean;
  /**
   * Parent BSUIDs enabled (changes-2026 §1.1): every customer also has a parent id ("GB.ENT.…", the same
   * in every sandbox portfolio: they are all linked), shown as parent_user_id / from_parent_user_id /
   * parent_recipient_user_id and accepted as a recipient.
   */
  parent_user_ids: boolean;
}

export interface StatusOptions {
  sent_ms: number;
  delivered_ms: number;
  read_ms: number;
  /** The user has read receipts on: a `read` status follows `delivered`. */
  read: boolean;
  /** `read` arrives without `delivered` (user had the chat open). */
  skip_delivered: boolean;
  /** Probability (0..1) that each status webhook is sent twice. */
  duplicates: number;
  /** Statuses of one message leave in reverse order (read, delivered, sent). */
  out_of_order: boolean;
  /** Turn status webhooks off entirely (e.g. a pure send benchmark). */
  enabled: boolean;
}

export const DEFAULT_RULES: Rules = {
  window_mode: 'async',
  window_ms: DAY,
  marketing_cap: 2,
  marketing_cap_window_ms: DAY,
  us_marketing_pause: true,
  pair_interval_ms: 6000,
  pair_burst: 45,
  max_throughput_mps: 1000,
  template_review_ms: 1000,
  reactions_open_window: true,
  ledger_max: 2_000_000,
  waba_calls_per_hour: 5000,
  messaging_limit_code: 0,
  response_user_id: 'recipient',
  service_free_allowance: 1000,
  disable_marketing_messages_on_cloud_api: false,
  direct_send_blocked: false,
  parent_user_ids: false,
};

const TIER_USERS: Record<string, number> = {
  TIER_50: 50,
  TIER_250: 250,
  TIER_1K: 1000,
  TIER_2K: 2000,
  TIER_10K: 10_000,
  TIER_100K: 100_000,
  TIER_UNLIMITED: Infinity,
};

export const DEFAULT_STATUS_OPTIONS: StatusOptions = {
  sent_ms: 20,
  delivered_ms: 60,
  read_ms: 150,
  read: true,
  skip_delivered: false,
  duplicates: 0,
  out_of_order: false,
  enabled: true,
};

export interface LedgerEntry {
  wamid: string;
  to: string;
  /** The customer's BSUID in the sending number's portfolio. */
  user_id: string;
  /** How the send was addressed: `to` (a phone) or `recipient` (a BSUID). */
  via: 'to' | 'recipient';
  type: string;
  biz_opaque_callback_data: string | null;
  /** Epoch ms (the control API shows it as an ISO string). */
  at: number;
  phone_number_id: string;
  template?: string;
  category: string;
  /** The async error code this send will fail with (131047, 131049, ...), or null. */
  outcome: number | null;
  /** Present when the send did not go through /messages: "marketing_messages" (the Marketing Messages API). */
  endpoint?: 'marketing_messages';
  /** A Direct Send (text or interactive with category "utility"), and its TTL when given. */
  direct_send?: { ttl_seconds: number | null };
}

export interface Fault {
  /** HTTP status to answer (ignored for hang). */
  status: number;
  /** Graph error code in the body; default by status (500 → 131000, 503 → 2, 429 → 4). */
  code?: number;
  /** Fail this many requests (default 1 when neither count nor seconds is given). */
  count?: number;
  /** Fail every request until this time (ms). */
  until?: number;
  /** Hold the request open and never answer (until `hang_ms`, then drop the connection). */
  hang?: boolean;
  hang_ms?: number;
  /** Process the send anyway (ledger, webhooks) before failing/hanging: Meta got it, the answer was lost. */
  accept?: boolean;
  /** Which requests: message sends (default) or every Graph call. */
  scope?: 'messages' | 'all';
  phone_number_id?: string;
}

export interface SandboxConfig {
  app_secret: string;
  app_id: string;
  numbers: SandboxNumberInput[];
  tokens: string[];
  rules: Rules;
  statuses: StatusOptions;
  now: () => number;
}

export interface HttpAnswer {
  status: number;
  body: unknown;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A control-API refusal: what was wrong and an example body that works. */
function ctlBad(code: string, message: string, example: Obj): HttpAnswer {
  return { status: 400, body: { error: { code, message, fix: `e.g. ${JSON.stringify(example)}` } } };
}

function digits(s: string): string {
  return s.replace(/\D/g, '');
}

function tierFor(limit: string | number | null | undefined): string {
  if (limit === null || limit === undefined) return 'TIER_250';
  if (typeof limit === 'string') return limit.startsWith('TIER_') ? limit : `TIER_${limit.toUpperCase()}`;
  if (limit >= 1e6 || !Number.isFinite(limit)) return 'TIER_UNLIMITED';
  if (limit >= 100_000) return 'TIER_100K';
  if (limit >= 10_000) return 'TIER_10K';
  if (limit >= 2000) return 'TIER_2K';
  if (limit >= 1000) return 'TIER_1K';
  if (limit >= 250) return 'TIER_250';
  return 'TIER_50';
}

export class SandboxState {
  cfg: SandboxConfig;
  rules: Rules;
  statusOpts: StatusOptions;
  numbers = new Map<string, NumberState>();
  /** waba_id → its numbers' ids. */
  wabas = new Map<string, string[]>();
  tokens = new Map<string, TokenState>();
  templates = new Map<string, SandboxTemplate>(); // id → template
  /** `${pnid}|${wa_id}` → time of the customer's last inbound message (ms). */
  windows = new Map<string, number>();
  /** `${pnid}|${wa_id}` → click-to-WhatsApp referral time, and the FEP window end once the business replied. */
  ctwa = new Map<string, { referral_at: number; fep_until: number | null }>();
  /** `${pnid}|YYYY-MM` → service messages sent (the monthly free allowance from 1 Oct 2026). */
  serviceMonth = new Map<string, number>();
  /** `${waba}|${wa_id}`: user stopped marketing from this business (user_preferences "stop"). */
  optouts = new Set<string>();
  undeliverable = new Set<string>();
  /** wa_id → identity settings (username...). Customers not listed have no username and share their phone. */
  users = new Map<string, SandboxUser>();
  /** `${business}|${wa_id}` → BSUID, and `${business}|${bsuid}` → wa_id (every BSUID the sandbox issued). */
  private bsuidByPhone = new Map<string, string>();
  private phoneByBsuid = new Map<string, string>();
  /** How many times Meta gave a customer a new BSUID in a portfolio ("business|phone" → n; user_changed_user_id). */
  private bsuidGen = new Map<string, number>();
  /** wa_id → times of delivered marketing templates (per-user cap, across businesses). */
  marketing = new Map<string, number[]>();
  pair = new Map<string, { tokens: number; last: number }>();
  /** waba_id → (wa_id → last business-initiated template outside a window): the messaging limit. */
  reached = new Map<string, Map<string, number>>();
  /** waba_id → times of management calls in the last hour. */
  wabaCalls = new Map<string, number[]>();
  ledger: LedgerEntry[] = [];
  media = new MediaStore();
  /** Entries dropped by the ledger_max guard (so a count is never silently wrong). */
  ledgerDropped = 0;
  faults: Fault[] = [];
  counters = { accepted: 0, rejected: 0, reads: 0, inbound: 0, by_code: {} as Record<string, number> };
  private nextTemplateId = 0;
  private timers = new Set<NodeJS.Timeout>();
  readonly scheduler = new Scheduler();
  baseUrl = '';
  private sweeper: NodeJS.Timeout;

  constructor(
    cfg: SandboxConfig,
    readonly webhooks: WebhookSender,
    private log?: Logger,
  ) {
    this.cfg = cfg;
    this.rules = { ...cfg.rules };
    this.statusOpts = { ...cfg.statuses };
    this.init();
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  /** Forgets pair buckets that are full again and marketing counts past their window (bounded memory). */
  sweep(): void {
    const now = this.now();
    for (const [k, b] of this.pair)
      if (b.tokens + (now - b.last) / this.rules.pair_interval_ms >= this.rules.pair_burst) this.pair.delete(k);
    for (const reached of this.reached.values()) for (const [k, t] of reached) if (now - t >= DAY) reached.delete(k);
    const since = now - this.rules.marketing_cap_window_ms;
    for (const [k, list] of this.marketing) {
      const kept = list.filter((t) => t > since);
      if (kept.length) this.marketing.set(k, kept);
      else this.marketing.delete(k);
    }
  }

  now(): number {
    return this.cfg.now();
  }

  private init(): void {
    this.nextTemplateId = 0;
    for (const n of this.cfg.numbers) this.addNumber(n);
    for (const t of this.cfg.tokens)
      this.tokens.set(t, {
        token: t,
        state: 'valid',
        expires_at: 0,
        issued_at: Math.floor(this.now() / 1000),
        subcode: null,
        scopes: [...ALL_SCOPES],
        waba_ids: null,
      });
  }

  /** Back to the configured start: seeds only, no ledger, windows, opt-outs, faults or queued webhooks. */
  reset(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.scheduler.clear();
    this.webhooks.clear();
    for (const m of [
      this.numbers,
      this.wabas,
      this.tokens,
      this.templates,
      this.windows,
      this.ctwa,
      this.serviceMonth,
      this.optouts,
      this.undeliverable,
      this.users,
      this.bsuidByPhone,
      this.phoneByBsuid,
      this.bsuidGen,
      this.marketing,
      this.pair,
      this.wabaCalls,
      this.reached,
    ])
      m.clear();
    this.ledger = [];
    this.media.clear();
    this.ledgerDropped = 0;
    this.faults = [];
    this.counters = { accepted: 0, rejected: 0, reads: 0, inbound: 0, by_code: {} };
    this.rules = { ...this.cfg.rules };
    this.statusOpts = { ...this.cfg.statuses };
    this.init();
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.scheduler.close();
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  // ---------------------------------------------------------------- numbers, wabas, templates

  addNumber(n: SandboxNumberInput): NumberState {
    const mps = Math.min(this.rules.max_throughput_mps, Math.max(1, n.throughput_mps ?? 80));
    const st: NumberState = {
      phone_number_id: n.phone_number_id,
      waba_id: n.waba_id,
      business_id: n.business_id ?? SANDBOX_DEFAULT_BUSINESS,
      display_phone_number: n.display_phone_number,
      display_digits: digits(n.display_phone_number) || n.phone_number_id,
      verified_name: n.verified_name ?? 'Sandbox Business',
      throughput_mps: mps,
      quality_rating: n.quality_rating ?? 'GREEN',
      messaging_limit: tierFor(n.messaging_limit ?? null),
      name_status: 'APPROVED',
      code_verification_status: 'VERIFIED',
      status: 'CONNECTED',
      bucket: { tokens: mps, last: this.now() },
      restrictions: [],
    };
    this.numbers.set(n.phone_number_id, st);
    const list = this.wabas.get(n.waba_id);
    if (list) {
      if (!list.includes(n.phone_number_id)) list.push(n.phone_number_id);
    } else {
      this.wabas.set(n.waba_id, [n.phone_number_id]);
      for (const t of seedTemplates()) this.storeTemplate({ ...t, waba_id: n.waba_id, id: this.templateId() });
    }
    return st;
  }

  private templateId(): string {
    // 15-16 digit ids like Meta's, unique and safe as JS numbers (webhooks carry them as numbers).
    return String(1_000_000_000_000_000 + ++this.nextTemplateId * 7919 + Math.floor(Math.random() * 1000) * 1e9).slice(0, 16);
  }

  private storeTemplate(t: SandboxTemplate): void {
    this.templates.set(t.id, t);
  }

  findTemplate(waba: string, name: string, language?: string): SandboxTemplate | undefined {
    for (const t of this.templates.values())
      if (t.waba_id === waba && t.name === name && (language === undefined || t.language === language) && t.status !== 'DELETED') return t;
    return undefined;
  }

  templatesOf(waba: string): SandboxTemplate[] {
    return [...this.templates.values()].filter((t) => t.waba_id === waba && t.status !== 'DELETED');
  }

  // ---------------------------------------------------------------- identities (changes-2026 §1)

  /**
   * The customer's business-scoped user id in a portfolio: the phone's ISO country, a dot, 20 digits
   * derived from (business, phone), so it is stable per customer per portfolio and differs across
   * portfolios, like Meta's (e.g. "US.13491208655302741918").
   */
  bsuidOf(business: string, wa: string): string {
    const k = `${business}|${wa}`;
    let id = this.bsuidByPhone.get(k);
    if (id === undefined) {
      let cc: string | undefined;
      try {
        // Fictional ranges (UK 07700 900xxx, US 555) have no single country: take the calling code's first.
        const p = parsePhoneNumber('+' + wa);
        cc = p?.country ?? p?.getPossibleCountries()[0];
      } catch {
        cc = undefined;
      }
      const gen = this.bsuidGen.get(k) ?? 0;
      const h = createHash('sha256')
        .update(`wagate-sandbox-bsuid|${business}|${wa}${gen ? `|${gen}` : ''}`)
        .digest();
      id = `${cc ?? 'ZZ'}.${h.readBigUInt64BE(0).toString().padStart(20, '0')}`;
      this.bsuidByPhone.set(k, id);
      this.phoneByBsuid.set(`${business}|${id}`, wa);
    }
    return id;
  }

  /**
   * Control: Meta gives the customer a new BSUID in the number's portfolio (changes-2026 §1.1,
   * `user_changed_user_id`). The old one stops resolving (a send to it answers 131009), and a
   * `system` message goes to the number's WABA: `from_user_id` the old BSUID (and `from` when the
   * phone is shared), `system.user_id` the new one, no phone in `system` and no `contacts[]` (Meta's
   * system-message reference, 11 Aug 2026).
   */
  changeUserId(wa: string, pnid?: string): HttpAnswer {
    const n = pnid ? this.numbers.get(pnid) : this.numbers.values().next().value;
    if (!n)
      return ctlBad('unknown_number', `phone_number_id "${pnid}" is not a sandbox number`, {
        change_user_id: true,
        phone_number_id: [...this.numbers.keys()][0] ?? '',
      });
    const k = `${n.business_id}|${wa}`;
    const old = this.bsuidOf(n.business_id, wa);
    this.bsuidGen.set(k, (this.bsuidGen.get(k) ?? 0) + 1);
    this.bsuidByPhone.delete(k);
    this.phoneByBsuid.delete(`${n.business_id}|${old}`);
    const ident = this.identity(n, wa);
    const now = this.now();
    const msg: Obj = {};
    if (ident.wa_id !== null) msg.from = ident.wa_id;
    msg.from_user_id = old;
    if (ident.parent_user_id) msg.from_parent_user_id = ident.parent_user_id;
    msg.id = newWamid(ident.user_id);
    msg.timestamp = unixSeconds(now);
    msg.type = 'system';
    msg.system = {
      body: `User ${ident.username ?? 'Sandbox Customer'} changed from ${old} to ${ident.user_id}`,
      user_id: ident.user_id,
      ...(ident.parent_user_id ? { parent_user_id: ident.parent_user_id } : {}),
      type: 'user_changed_user_id',
    };
    this.webhooks.enqueue(n.waba_id, {
      field: 'messages',
      value: { messaging_product: 'whatsapp', metadata: metadata(n), messages: [msg] },
    });
    return { status: 200, body: { user_id_changed: { business_id: n.business_id, from: old, to: ident.user_id } } };
  }

  /** The phone behind a BSUID the sandbox issued in this portfolio (or a parent BSUID, when enabled), or undefined. */
  phoneOfBsuid(business: string, bsuid: string): string | undefined {
    const own = this.phoneByBsuid.get(`${business}|${bsuid}`);
    if (own !== undefined || !this.rules.parent_user_ids || bsuid.slice(2, 7) !== '.ENT.') return own;
    return this.phoneByBsuid.get(`parent|${bsuid}`);
  }

  /** The customer's parent BSUID: one for every (linked) sandbox portfolio, "<country>.ENT.<20 digits>". */
  parentOf(wa: string): string {
    const own = this.bsuidOf('parent', wa);
    const pid = `${own.slice(0, 2)}.ENT.${own.slice(3)}`;
    this.phoneByBsuid.set(`parent|${pid}`, wa);
    return pid;
  }

  /** How webhooks of number `n` show customer `wa`. */
  identity(n: NumberState, wa: string): Identity {
    const u = this.users.get(wa);
    const id: Identity = {
      user_id: this.bsuidOf(n.business_id, wa),
      wa_id: u?.phone_shared === false ? null : wa,
      username: u?.username ?? null,
    };
    if (this.rules.parent_user_ids) id.parent_user_id = this.parentOf(wa);
    return id;
  }

  /** Control: the customer's identity in every portfolio (GET /_sandbox/users/:wa_id). */
  userView(wa: string): Obj {
    const u = this.users.get(wa);
    const businesses = [...new Set([...this.numbers.values()].map((n) => n.business_id))];
    return {
      wa_id: wa,
      username: u?.username ?? null,
      phone_shared: u?.phone_shared ?? true,
      user_ids: Object.fromEntries(businesses.map((b) => [b, this.bsuidOf(b, wa)])),
      ...(this.rules.parent_user_ids ? { parent_user_id: this.parentOf(wa) } : {}),
    };
  }

  /**
   * Control: set or clear a customer's username ("@ana"; null clears it) and whether they share their
   * phone. Only a customer with a username can hide it (Meta: phone-less webhooks are for username users).
   */
  setUser(wa: string, input: { username?: string | null; phone_shared?: boolean }): string | null {
    const u = this.users.get(wa) ?? { username: null, phone_shared: true };
    const username = input.username !== undefined ? input.username : u.username;
    const shared = input.phone_shared ?? (username === null ? true : u.phone_shared);
    if (!shared && username === null) return 'a customer hides their phone only behind a username: give "username" too';
    u.username = username;
    u.phone_shared = shared;
    this.users.set(wa, u);
    return null;
  }

  // ---------------------------------------------------------------- tokens

  /** Null when the token may call the API; otherwise the Graph 190 error (401). */
  checkToken(token: string | null): SyncError | null {
    if (!token) return syncError(190, { message: 'An active access token must be used to query information about the current user.' });
    const t = this.tokens.get(token);
    if (!t) return tokenError(null, 'Invalid OAuth access token - Cannot parse access token');
    if (t.state === 'revoked') return tokenError(t.subcode ?? 467);
    if (t.expires_at > 0 && t.expires_at * 1000 <= this.now()) {
      const when = new Date(t.expires_at * 1000).toUTCString();
      return tokenError(
        t.subcode ?? 463,
        `Error validating access token: Session has expired on ${when}. The current time is ${new Date(this.now()).toUTCString()}.`,
      );
    }
    return null;
  }

  setToken(input: {
    token?: string;
    state: TokenStateName;
    expires_at?: number | string;
    subcode?: number;
    scopes?: string[];
    waba_ids?: string[] | null;
  }): TokenState[] {
    const targets = input.token ? [input.token] : [...this.tokens.keys()];
    const out: TokenState[] = [];
    for (const tok of targets) {
      const prev = this.tokens.get(tok);
      let expires = prev?.expires_at ?? 0;
      if (input.state === 'expiring') {
        const e = input.expires_at;
        expires =
          typeof e === 'number'
            ? e > 1e11
              ? Math.floor(e / 1000)
              : e
            : typeof e === 'string'
              ? Math.floor(Date.parse(e) / 1000)
              : Math.floor(this.now() / 1000) + 7 * 24 * 3600;
      } else if (input.state === 'valid') {
        expires = 0;
      }
      const st: TokenState = {
        token: tok,
        state: input.state,
        expires_at: expires,
        issued_at: prev?.issued_at ?? Math.floor(this.now() / 1000),
        subcode: input.subcode ?? null,
        scopes: input.scopes ?? prev?.scopes ?? [...ALL_SCOPES],
        waba_ids: input.waba_ids !== undefined ? input.waba_ids : (prev?.waba_ids ?? null),
      };
      this.tokens.set(tok, st);
      out.push(st);
    }
    return out;
  }

  /**
   * A valid token may still lack a permission (→ 10) or access to this WABA's assets (→ 200, M-TOK).
   * `scope` is the permission the call needs.
   */
  checkAccess(token: string, waba: string | null, scope: string): SyncError | null {
    const t = this.tokens.get(token);
    if (!t) return null;
    if (!t.scopes.includes(scope))
      return syncError(10, {
        details: `The access token lacks the ${scope} permission.`,
        message: '(#10) Application does not have permission for this action',
      });
    if (waba && t.waba_ids && !t.waba_ids.includes(waba))
      return syncError(200, {
        details: `The system user has no access to WhatsApp Business Account ${waba}.`,
        message: '(#200) Permissions error',
      });
    return null;
  }

  /** GET /debug_token (§8.4). The caller's own token must be valid (or the app token id|secret). */
  debugToken(input: string | null, caller: string | null): HttpAnswer {
    const appToken = `${this.cfg.app_id}|${this.cfg.app_secret}`;
    if (caller !== appToken) {
      const e = this.checkToken(caller);
      if (e) return e;
    }
    if (!input)
      return syncError(100, { details: 'The parameter input_token is required', message: '(#100) The parameter input_token is required' });
    const t = this.tokens.get(input);
    const wabas = [...this.wabas.keys()];
    if (!t) {
      return {
        status: 200,
        body: {
          data: {
            is_valid: false,
            error: { code: 190, message: 'Invalid OAuth access token - Cannot parse access token' },
            scopes: [],
            granular_scopes: [],
          },
        },
      };
    }
    const err = this.checkToken(input);
    const data: Obj = {
      app_id: this.cfg.app_id,
      type: 'SYSTEM_USER',
      application: 'wagate sandbox',
      data_access_expires_at: 0,
      expires_at: t.expires_at,
      is_valid: err === null,
      issued_at: t.issued_at,
      scopes: t.scopes,
      granular_scopes: t.scopes.filter((sc) => sc.startsWith('whatsapp_')).map((scope) => ({ scope, target_ids: t.waba_ids ?? wabas })),
      user_id: '100000000000001',
    };
    if (err) {
      const e = (err.body as { error: Obj }).error;
      data.error = { code: 190, message: e.message, subcode: e.error_subcode };
    }
    return { status: 200, body: { data } };
  }

  /** Counts one management call against the WABA's hourly budget; `over` when it must be refused. */
  wabaCall(waba: string): { pct: number; over: boolean; regain_min: number } {
    const now = this.now();
    const list = (this.wabaCalls.get(waba) ?? []).filter((t) => t > now - 3600_000);
    const limit = Math.max(1, this.rules.waba_calls_per_hour);
    const over = list.length >= limit;
    if (!over) list.push(now);
    this.wabaCalls.set(waba, list);
    const regain = over ? Math.ceil((list[0] + 3600_000 - now) / 60_000) : 0;
    return { pct: Math.min(100, Math.round((list.length / limit) * 100)), over, regain_min: regain };
  }

  // ---------------------------------------------------------------- faults

  /** The fault that applies to this request, consuming one use of it. */
  takeFault(isMessages: boolean, pnid: string | null): Fault | null {
    const now = this.now();
    this.faults = this.faults.filter((f) => (f.count === undefined || f.count > 0) && (f.until === undefined || f.until > now));
    for (const f of this.faults) {
      if ((f.scope ?? 'messages') === 'messages' && !isMessages) continue;
      if (f.phone_number_id && f.phone_number_id !== pnid) continue;
      if (f.count !== undefined) f.count--;
      return f;
    }
    return null;
  }

  // ---------------------------------------------------------------- sending

  private bump(code: number): void {
    this.counters.rejected++;
    this.counters.by_code[code] = (this.counters.by_code[code] ?? 0) + 1;
  }

  private reject(e: SyncError): HttpAnswer {
    this.bump((e.body.error as { code: number }).code);
    return e;
  }

  /** Refill-then-take on a token bucket; false when empty. */
  private take(b: { tokens: number; last: number }, ratePerMs: number, capacity: number, now: number): boolean {
    if (now > b.last) {
      b.tokens = Math.min(capacity, b.tokens + (now - b.last) * ratePerMs);
      b.last = now;
    }
    if (b.tokens < 1 - 1e-9) return false; // epsilon: 5 s + 1 s of refill must make a whole token
    b.tokens = Math.max(0, b.tokens - 1);
    return true;
  }

  /**
   * Messaging limit (§4.4): unique users reached with templates outside a care window in a moving
   * 24 h, per portfolio (the WABA here). A user already reached in the window does not count again.
   */
  private withinMessagingLimit(n: NumberState, wa: string, now: number): boolean {
    const limit = TIER_USERS[n.messaging_limit] ?? Infinity;
    let reached = this.reached.get(n.waba_id);
    if (!reached) this.reached.set(n.waba_id, (reached = new Map()));
    const last = reached.get(wa);
    if (last !== undefined && now - last < DAY) {
      reached.set(wa, now);
      return true;
    }
    if (reached.size >= limit) for (const [k, t] of reached) if (now - t >= DAY) reached.delete(k);
    if (reached.size >= limit) return false;
    reached.set(wa, now);
    return true;
  }

  /** The number's restrictions still in force (ended ones are dropped). */
  liveRestrictions(n: NumberState, now = this.now()): SandboxRestriction[] {
    if (n.restrictions.some((r) => r.until <= now)) n.restrictions = n.restrictions.filter((r) => r.until > now);
    return n.restrictions;
  }

  /** Whether a number of this WABA holds a live restriction of this type. */
  private wabaRestricted(waba: string, type: string): SandboxRestriction | undefined {
    for (const id of this.wabas.get(waba) ?? []) {
      const n = this.numbers.get(id);
      const r = n ? this.liveRestrictions(n).find((x) => x.type === type) : undefined;
      if (r) return r;
    }
    return undefined;
  }

  /**
   * What Meta answers a send that a live restriction covers (README "Account restrictions"):
   * RESTRICTED_BIZ_INITIATED_MESSAGING covers every send outside a customer service window (the
   * business starts the conversation), RESTRICTED_CUSTOMER_INITIATED_MESSAGING every send inside one
   * (a reply); both are refused with 368, Meta's integrity error, synchronously (HTTP 403).
   * RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES covers Direct Send messages: 139200.
   */
  private restrictedSend(n: NumberState, inCsw: boolean, directSend: boolean, now: number): SyncError | null {
    for (const r of this.liveRestrictions(n, now)) {
      if (r.type === 'RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES' && directSend) return syncError(139200);
      if (r.type === 'RESTRICTED_BIZ_INITIATED_MESSAGING' && !inCsw) return syncError(368);
      if (r.type === 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING' && inCsw) return syncError(368);
    }
    return null;
  }

  windowOpen(pnid: string, wa: string, now: number): boolean {
    const at = this.windows.get(`${pnid}|${wa}`);
    return at !== undefined && now - at < this.rules.window_ms;
  }

  private usCache = new Map<string, boolean>();
  private isUsNumber(wa: string): boolean {
    if (!wa.startsWith('1')) return false;
    let us = this.usCache.get(wa);
    if (us === undefined) {
      try {
        us = parsePhoneNumber('+' + wa)?.country === 'US';
      } catch {
        us = false;
      }
      if (this.usCache.size > 100_000) this.usCache.clear();
      this.usCache.set(wa, us);
    }
    return us;
  }

  /** POST /{pnid}/messages with a parsed body. The token was checked by the caller. */
  /**
   * POST /{pnid}/messages, or /{pnid}/marketing_messages (Meta's Marketing Messages API: marketing
   * templates only, 131055 otherwise; the same body and answer).
   */
  send(pnid: string, version: string, body: unknown, endpoint: 'messages' | 'marketing_messages' = 'messages'): HttpAnswer {
    const n = this.numbers.get(pnid);
    if (!n) return this.reject(unknownObject(pnid, 'post'));
    if (n.offboarded)
      return this.reject(syncError(133010, { details: 'The phone number is disconnected from Cloud API (offboarded); reconnect it.' }));
    const v = validateSend(body, n.display_digits);
    if (!v.ok) return this.reject(v.err);
    if (v.kind === 'read') {
      if (endpoint === 'marketing_messages') return this.reject(syncError(131055));
      this.counters.reads++;
      return { status: 200, body: { success: true } };
    }
    const ds = directSendOf(body as Obj, v.type, v.template !== null);
    if (ds.error) return this.reject(ds.error);
    const directSend = ds.direct;
    if (directSend && this.rules.direct_send_blocked) return this.reject(syncError(139200));
    const now = this.now();
    // A send addressed to a BSUID reaches the customer behind it, in this number's portfolio only.
    let via: 'to' | 'recipient' = 'to';
    let wa = v.wa_id;
    if (wa === null) {
      wa = this.phoneOfBsuid(n.business_id, v.recipient!) ?? null;
      if (wa === null)
        return this.reject(
          syncError(131009, {
            details: `Param recipient (${v.recipient}) is not a business-scoped user ID of this number's business portfolio.`,
          }),
        );
      via = 'recipient';
    }
    // Request checks first: a refused request takes no throughput or pair token.
    let category = 'service';
    let tpl: SandboxTemplate | undefined;
    if (v.template) {
      tpl = this.findTemplate(n.waba_id, v.template.name, v.template.language);
      if (!tpl)
        return this.reject(syncError(132001, { details: `template name (${v.template.name}) does not exist in ${v.template.language}` }));
      const e = checkTemplateSend(tpl, v.template);
      if (e) return this.reject(e);
      category = tpl.category.toLowerCase();
      // Marketing through Cloud API can be switched off per WABA; the Marketing Messages API takes marketing only.
      if (endpoint === 'messages' && category === 'marketing' && this.rules.disable_marketing_messages_on_cloud_api)
        return this.reject(syncError(131063));
      // Authentication templates need a phone number (changes-2026 §1.1).
      if (via === 'recipient' && tpl.category === 'AUTHENTICATION') return this.reject(syncError(131062));
    }
    if (endpoint === 'marketing_messages' && category !== 'marketing') return this.reject(syncError(131055));
    if (directSend) category = 'utility';
    // A group is no person: its statuses name the group id (recipient_type "group"), no BSUID.
    const ident: Identity = v.group ? { user_id: '', wa_id: v.to, username: null, group: true } : this.identity(n, wa);
    // A username-only customer (phone_shared: false) is reached only by BSUID: sending to the phone is refused
    // (sync, so no webhook ever names the phone). Meta documents no code for this; 131026 reads "undeliverable".
    if (ident.wa_id === null && via === 'to')
      return this.reject(
        syncError(131026, {
          details: 'This user does not share their phone number: send to their business-scoped user ID (recipient) instead.',
        }),
      );
    const inCsw = this.windowOpen(pnid, wa, now);
    // Meta's account restrictions refuse what they cover while they last (before any window check).
    const restricted = this.restrictedSend(n, inCsw, directSend, now);
    if (restricted) return this.reject(restricted);
    // Direct Send is business-initiated (utility): no window needed, like a template.
    const initiated = v.template !== null || directSend;
    if (!initiated && !inCsw && this.rules.window_mode === 'sync') return this.reject(syncError(131047));

    // Throughput: one bucket per number, capacity one second of tokens (§4.1).
    if (!this.take(n.bucket, n.throughput_mps / 1000, n.throughput_mps, now)) return this.reject(syncError(130429));
    // Pair limit: 1 per pair_interval with a burst of pair_burst that borrows from the future (§4.2).
    const pk = `${pnid}|${wa}`;
    let pb = this.pair.get(pk);
    if (!pb) {
      pb = { tokens: this.rules.pair_burst, last: now };
      this.pair.set(pk, pb);
    }
    if (!this.take(pb, 1 / this.rules.pair_interval_ms, this.rules.pair_burst, now)) return this.reject(syncError(131056));

    // Free entry point: a reply within 24 h of a click-to-WhatsApp message opens 72 h of free messages (§5.3).
    let inFep = false;
    const c = this.ctwa.get(pk);
    if (c) {
      if (c.fep_until === null && now - c.referral_at < DAY) c.fep_until = now + 3 * DAY;
      inFep = c.fep_until !== null && now < c.fep_until;
    }

    // Async outcomes: Meta accepts the request (200) and reports the failure in a status webhook.
    let outcome: number | null = null;
    let details: string | undefined;
    if (this.undeliverable.has(wa)) outcome = 131026;
    else if (!initiated && !inCsw) outcome = 131047;
    else if (initiated && !inCsw && !inFep && this.rules.messaging_limit_code > 0 && !this.withinMessagingLimit(n, wa, now)) {
      outcome = this.rules.messaging_limit_code;
      details = `Business-initiated messages exceeded the messaging limit (${n.messaging_limit}) of unique users in 24 hours.`;
    } else if (category === 'marketing') {
      if (this.optouts.has(`${n.waba_id}|${wa}`)) outcome = 131050;
      else if (this.rules.us_marketing_pause && this.isUsNumber(wa)) {
        outcome = 131049;
        details = 'Marketing template messages to US phone numbers are paused.';
      } else if (this.rules.marketing_cap > 0 && !inCsw && !inFep) {
        // Per-user cap across businesses; messages sent inside the user's care window do not count.
        const since = now - this.rules.marketing_cap_window_ms;
        const list = (this.marketing.get(wa) ?? []).filter((t) => t > since);
        if (list.length >= this.rules.marketing_cap) outcome = 131049;
        else list.push(now);
        this.marketing.set(wa, list);
      }
    }

    const wamid = newWamid(ident.wa_id ?? ident.user_id);
    const biz = v.biz;
    this.ledger.push({
      wamid,
      to: wa,
      user_id: ident.user_id,
      via,
      type: v.type,
      biz_opaque_callback_data: biz,
      at: now,
      phone_number_id: pnid,
      template: tpl?.name,
      category,
      outcome,
      ...(endpoint === 'marketing_messages' ? { endpoint } : {}),
      ...(directSend
        ? { direct_send: { ttl_seconds: typeof (body as Obj).ttl_seconds === 'number' ? ((body as Obj).ttl_seconds as number) : null } }
        : {}),
    });
    if (this.ledger.length > this.rules.ledger_max) {
      const drop = Math.ceil(this.rules.ledger_max / 10);
      this.ledger.splice(0, drop);
      this.ledgerDropped += drop;
      this.log?.warn({ dropped: this.ledgerDropped }, 'sandbox ledger over ledger_max: oldest entries dropped');
    }
    this.counters.accepted++;
    if (outcome !== null) this.counters.by_code[`async_${outcome}`] = (this.counters.by_code[`async_${outcome}`] ?? 0) + 1;
    if (this.statusOpts.enabled)
      this.scheduleStatuses(n, version, wamid, ident, via, v.type, biz, category, inCsw, inFep, outcome, details);

    const msg: Obj = { id: wamid };
    if (v.template) msg.message_status = 'accepted';
    if (v.group) msg.group_id = v.to;
    // contacts[]: `input` as given, `wa_id` only for a phone send, `user_id` on a BSUID send (or always, by rule).
    const contact: Obj = v.group
      ? { input: v.to }
      : via === 'recipient'
        ? { input: v.recipient, user_id: ident.user_id }
        : this.rules.response_user_id === 'always'
          ? { input: v.to, wa_id: wa, user_id: ident.user_id }
          : { input: v.to, wa_id: wa };
    return { status: 200, body: { messaging_product: 'whatsapp', contacts: [contact], messages: [msg] } };
  }

  private scheduleStatuses(
    n: NumberState,
    version: string,
    wamid: string,
    ident: Identity,
    via: 'to' | 'recipient',
    type: string,
    biz: string | null,
    category: string,
    inCsw: boolean,
    inFep: boolean,
    outcome: number | null,
    details?: string,
  ): void {
    const o = this.statusOpts;
    const t0 = Date.now();
    // changes-2026 §1.1: `recipient_id` is the phone (left out when it cannot be shared),
    // `recipient_user_id` the BSUID when the send was addressed to one.
    const base: Obj = { id: wamid };
    if (ident.wa_id !== null) base.recipient_id = ident.wa_id;
    if (via === 'recipient') base.recipient_user_id = ident.user_id;
    if (via === 'recipient' && ident.parent_user_id) base.parent_recipient_user_id = ident.parent_user_id;
    if (ident.group) base.recipient_type = 'group';
    if (biz !== null) base.biz_opaque_callback_data = biz;
    const plan: { status: string; extra: Obj }[] = [];
    if (outcome !== null) {
      plan.push({ status: 'failed', extra: { errors: [asyncError(outcome, details)] } });
    } else {
      const now = this.now();
      let serviceIndex = 0;
      if (category === 'service') {
        const key = `${n.phone_number_id}|${new Date(now).toISOString().slice(0, 7)}`;
        serviceIndex = this.serviceMonth.get(key) ?? 0;
        this.serviceMonth.set(key, serviceIndex + 1);
      }
      const pricing = pricingFor(category, inCsw, inFep, now, serviceIndex < this.rules.service_free_allowance);
      const major = Number(/^v(\d+)/.exec(version)?.[1] ?? 23);
      // v24+: no conversation object except in free-entry-point windows; before: one per message (§7.6).
      const conv = major < 24 || inFep ? { id: newConversationId(), origin: { type: inFep ? 'referral_conversion' : category } } : null;
      const sentExtra: Obj = { pricing };
      if (conv) sentExtra.conversation = { ...conv, expiration_timestamp: unixSeconds(Date.now() + DAY) };
      plan.push({ status: 'sent', extra: sentExtra });
      if (type !== 'reaction') {
        // Pricing (and conversation) ride on `sent` and on exactly one of delivered/read.
        const pricedExtra: Obj = { pricing };
        if (conv) pricedExtra.conversation = conv;
        if (!o.skip_delivered) plan.push({ status: 'delivered', extra: pricedExtra });
        if (o.read) plan.push({ status: 'read', extra: o.skip_delivered ? pricedExtra : {} });
      }
    }
    const delays = [o.sent_ms, o.skip_delivered ? o.read_ms : o.delivered_ms, o.read_ms];
    const order = o.out_of_order ? [...plan].reverse() : plan;
    order.forEach((p, i) => {
      const due = t0 + delays[Math.min(i, delays.length - 1)];
      const emit = () => {
        const st: Obj = { ...base, status: p.status, timestamp: unixSeconds(this.now()), ...p.extra };
        // contacts[] on sent/delivered/read (username only on delivered/read), never on failed.
        const contacts = p.status === 'failed' || ident.group ? undefined : [contactOf(ident, undefined, p.status !== 'sent')];
        this.webhooks.enqueue(n.waba_id, { field: 'messages', value: statusValue(n, st, contacts) });
      };
      this.scheduler.at(due, emit);
      if (o.duplicates > 0 && Math.random() < o.duplicates) this.scheduler.at(due + 5, emit);
    });
  }

  // ---------------------------------------------------------------- inbound and events

  /** The customer `from` sends a message to number `pnid`: a signed messages webhook; opens the window. */
  inbound(input: Obj): HttpAnswer {
    const pnid = String(input.phone_number_id ?? '');
    const n = pnid ? this.numbers.get(pnid) : this.numbers.values().next().value;
    if (!n)
      return {
        status: 404,
        body: {
          error: {
            code: 'unknown_number',
            message: `phone_number_id "${pnid}" is not a sandbox number`,
            fix: `use one of: ${[...this.numbers.keys()].join(', ')}`,
          },
        },
      };
    const from = typeof input.from === 'string' ? digits(input.from) : '';
    if (input.group_id !== undefined && (typeof input.group_id !== 'string' || !/^[A-Za-z0-9_.=-]{1,128}$/.test(input.group_id)))
      return {
        status: 400,
        body: {
          error: {
            code: 'bad_group_id',
            message: '`group_id` must be 1-128 letters, digits, "_", ".", "=" or "-"',
            fix: 'e.g. "group_id": "Y2FwaV9ncm91cDoxNTU1MDEwMDAwMToxMjAzNjM0MDUyMzQ1Njc4OQ"',
          },
        },
      };
    if (from.length < 7 || from.length > 15)
      return {
        status: 400,
        body: {
          error: {
            code: 'bad_from',
            message: '`from` must be the customer phone number (7-15 digits)',
            fix: 'e.g. "from": "447700900123"',
          },
        },
      };
    const ident = this.identity(n, from);
    let msg: Obj;
    try {
      msg = inboundMessage(
        {
          ...input,
          from,
          from_user_id: ident.user_id,
          from_parent_user_id: ident.parent_user_id ?? undefined,
          hide_from: ident.wa_id === null,
        },
        this.now(),
        this.baseUrl,
      );
    } catch (err) {
      return {
        status: 400,
        body: {
          error: { code: 'bad_inbound', message: (err as Error).message, fix: 'see src/meta/sandbox/README.md, POST /_sandbox/inbound' },
        },
      };
    }
    if (!/^\d{9,11}$/.test(String(msg.timestamp)))
      return {
        status: 400,
        body: {
          error: {
            code: 'bad_timestamp',
            message: 'timestamp must be unix seconds',
            fix: 'e.g. "timestamp": 1767225600, or omit it for now',
          },
        },
      };
    const type = String(msg.type);
    const m = msg[type] as Obj | undefined;
    if (m && typeof m.mime_type === 'string' && typeof m.id === 'string') {
      // Inbound media resolves through GET /{media_id} like an upload; its sha256 is the real one.
      const item = this.media.add(n.phone_number_id, m.mime_type, Buffer.from(`sandbox ${type} ${m.id}`), m.id);
      if (!isObj(input[type]) || (input[type] as Obj).sha256 === undefined) m.sha256 = item.sha256;
    }
    const atMs = Number(msg.timestamp) * 1000;
    const opens = type !== 'system' && type !== 'unsupported' && (type !== 'reaction' || this.rules.reactions_open_window);
    // A group message opens the group's window, never a 1:1 window with its author (changes-2026 §10).
    const group = typeof msg.group_id === 'string' ? msg.group_id : null;
    const key = group ? `${n.phone_number_id}|group:${group}` : `${n.phone_number_id}|${from}`;
    if (opens && (this.windows.get(key) ?? 0) < atMs) this.windows.set(key, atMs);
    if (msg.referral && !group) this.ctwa.set(key, { referral_at: atMs, fep_until: null });
    this.counters.inbound++;
    const profile = typeof input.profile_name === 'string' ? input.profile_name : 'Sandbox Customer';
    this.webhooks.enqueue(n.waba_id, { field: 'messages', value: messagesValue(n, ident, profile, [msg]) });
    const body: Obj = { id: msg.id, message: msg, window_open: this.windowOpen(n.phone_number_id, from, this.now()) };
    if (group) body.group_window_open = this.windowOpen(n.phone_number_id, `group:${group}`, this.now());
    return { status: 200, body };
  }

  /** user_preferences stop/resume from a user for one business: suppresses (or restores) its marketing. */
  setMarketingPreference(waId: string, value: 'stop' | 'resume', pnid?: string): HttpAnswer {
    const n = pnid ? this.numbers.get(pnid) : this.numbers.values().next().value;
    if (!n)
      return {
        status: 404,
        body: {
          error: {
            code: 'unknown_number',
            message: `phone_number_id "${pnid}" is not a sandbox number`,
            fix: 'omit it or use a configured number',
          },
        },
      };
    const key = `${n.waba_id}|${waId}`;
    if (value === 'stop') this.optouts.add(key);
    else this.optouts.delete(key);
    const ident = this.identity(n, waId);
    this.webhooks.enqueue(n.waba_id, { field: 'user_preferences', value: userPreferencesValue(n, ident, value, this.now()) });
    return { status: 200, body: { wa_id: waId, user_id: ident.user_id, waba_id: n.waba_id, marketing: value } };
  }

  /** A management-field webhook (template, quality, account...) for a WABA. */
  emit(waba: string, change: Change): void {
    this.webhooks.enqueue(waba, change, true);
  }

  templateStatusEvent(t: SandboxTemplate, event: string, reason: string | null = 'NONE', extra: Obj = {}): void {
    this.emit(t.waba_id, {
      field: 'message_template_status_update',
      value: {
        event,
        message_template_id: Number(t.id),
        message_template_name: t.name,
        message_template_language: t.language,
        reason,
        message_template_category: t.category,
        ...extra,
      },
    });
  }

  /**
   * message_template_components_update (Meta's reference): the edited template's body text, text
   * header, footer and URL / phone-number buttons, each only when the template has it.
   */
  componentsUpdateEvent(t: SandboxTemplate): void {
    const comp = (type: string) => t.components.find((c) => String(c.type).toUpperCase() === type);
    const value: Obj = {
      message_template_id: Number(t.id),
      message_template_name: t.name,
      message_template_language: t.language,
      message_template_element: String(comp('BODY')?.text ?? ''),
    };
    const header = comp('HEADER');
    if (header && String(header.format ?? 'TEXT').toUpperCase() === 'TEXT' && typeof header.text === 'string')
      value.message_template_title = header.text;
    const footer = comp('FOOTER');
    if (footer && typeof footer.text === 'string') value.message_template_footer = footer.text;
    const buttons = (Array.isArray(comp('BUTTONS')?.buttons) ? (comp('BUTTONS')!.buttons as unknown[]) : [])
      .filter(isObj)
      .filter((b) => b.type === 'URL' || b.type === 'PHONE_NUMBER')
      .map((b) => {
        const o: Obj = { message_template_button_type: b.type, message_template_button_text: b.text };
        if (b.type === 'URL') o.message_template_button_url = b.url;
        else o.message_template_button_phone_number = b.phone_number;
        return o;
      });
    if (buttons.length) value.message_template_buttons = buttons;
    this.emit(t.waba_id, { field: 'message_template_components_update', value });
  }

  /** Control: change a template's status, quality or category, with the webhook Meta sends for each. */
  updateTemplate(name: string, input: Obj): HttpAnswer {
    const matches = [...this.templates.values()].filter(
      (t) =>
        t.name === name &&
        t.status !== 'DELETED' &&
        (input.waba_id === undefined || t.waba_id === input.waba_id) &&
        (input.language === undefined || t.language === input.language),
    );
    if (matches.length === 0)
      return {
        status: 404,
        body: {
          error: {
            code: 'unknown_template',
            message: `no template named "${name}"`,
            fix: 'create it with POST /{version}/{waba_id}/message_templates, or check waba_id/language',
          },
        },
      };
    const STATUSES: TplStatus[] = [
      'APPROVED',
      'PENDING',
      'REJECTED',
      'PAUSED',
      'DISABLED',
      'IN_APPEAL',
      'PENDING_DELETION',
      'DELETED',
      'LIMIT_EXCEEDED',
      'ARCHIVED',
      'LOCKED',
    ];
    const status = input.status === undefined ? undefined : String(input.status).toUpperCase();
    // UNARCHIVED is an event, not a status: the template goes back to the status it had before ARCHIVED.
    if (status !== undefined && !STATUSES.includes(status as TplStatus) && status !== 'UNARCHIVED')
      return {
        status: 400,
        body: {
          error: {
            code: 'bad_status',
            message: `status must be one of ${STATUSES.join(', ')}, or UNARCHIVED`,
            fix: 'e.g. {"status":"PAUSED"}',
          },
        },
      };
    if (input.components !== undefined && !Array.isArray(input.components))
      return {
        status: 400,
        body: {
          error: {
            code: 'bad_components',
            message: 'components must be an array',
            fix: 'e.g. {"components":[{"type":"BODY","text":"Hi {{1}}"}]}',
          },
        },
      };
    const quality = input.quality === undefined ? undefined : String(input.quality).toUpperCase();
    if (quality !== undefined && !['GREEN', 'YELLOW', 'RED', 'UNKNOWN'].includes(quality))
      return {
        status: 400,
        body: { error: { code: 'bad_quality', message: 'quality must be GREEN, YELLOW, RED or UNKNOWN', fix: 'e.g. {"quality":"RED"}' } },
      };
    const category = input.category === undefined ? undefined : String(input.category).toUpperCase();
    if (category !== undefined && !['MARKETING', 'UTILITY', 'AUTHENTICATION'].includes(category))
      return {
        status: 400,
        body: {
          error: {
            code: 'bad_category',
            message: 'category must be MARKETING, UTILITY or AUTHENTICATION',
            fix: 'e.g. {"category":"MARKETING"}',
          },
        },
      };
    for (const t of matches) {
      if (quality !== undefined && quality !== t.quality_score.score) {
        const prev = t.quality_score.score;
        t.quality_score = { score: quality as Quality, date: Math.floor(this.now() / 1000) };
        this.emit(t.waba_id, {
          field: 'message_template_quality_update',
          value: {
            previous_quality_score: prev,
            new_quality_score: quality,
            message_template_id: Number(t.id),
            message_template_name: t.name,
            message_template_language: t.language,
          },
        });
      }
      if (category !== undefined && category !== t.category) {
        const prev = t.category;
        t.previous_category = prev;
        t.category = category as TplCategory;
        this.emit(t.waba_id, {
          field: 'template_category_update',
          value: {
            message_template_id: Number(t.id),
            message_template_name: t.name,
            message_template_language: t.language,
            previous_category: prev,
            new_category: category,
          },
        });
      }
      if (Array.isArray(input.components)) {
        t.components = input.components.filter(isObj);
        this.componentsUpdateEvent(t);
      }
      if (status === 'UNARCHIVED') {
        if (t.status !== 'ARCHIVED') continue;
        t.status = t.archived_from ?? 'APPROVED';
        delete t.archived_from;
        this.templateStatusEvent(t, 'UNARCHIVED');
        continue;
      }
      if (status !== undefined && status !== t.status) {
        if (status === 'ARCHIVED') t.archived_from = t.status;
        t.status = status as TplStatus;
        const extra: Obj = {};
        if (status === 'PAUSED')
          extra.other_info = { title: 'FIRST_PAUSE', description: `Your ${t.name} template has been paused due to low quality.` };
        if (status === 'DISABLED') extra.disable_info = { disable_date: new Date(this.now()).toISOString() };
        // Meta's status reference: other_info comes with a lock. A locked template is still sent; edits are refused.
        if (status === 'LOCKED')
          extra.other_info = { title: 'TEMPLATE_LOCKED', description: `Your ${t.name} template has been locked and cannot be edited.` };
        if (status === 'REJECTED') t.rejected_reason = typeof input.reason === 'string' ? input.reason : 'INVALID_FORMAT';
        this.templateStatusEvent(
          t,
          status,
          status === 'REJECTED' ? t.rejected_reason : typeof input.reason === 'string' ? input.reason : 'NONE',
          extra,
        );
      }
    }
    return { status: 200, body: { templates: matches.map(templateView) } };
  }

  /** Control: change a number's throughput, quality or messaging limit (and add unknown numbers). */
  updateNumber(pnid: string, input: Obj): HttpAnswer {
    let n = this.numbers.get(pnid);
    if (!n) {
      if (typeof input.waba_id !== 'string')
        return {
          status: 404,
          body: {
            error: {
              code: 'unknown_number',
              message: `phone_number_id "${pnid}" is not a sandbox number`,
              fix: 'to add it, include "waba_id" (and "display_phone_number")',
            },
          },
        };
      n = this.addNumber({
        phone_number_id: pnid,
        waba_id: input.waba_id,
        display_phone_number: typeof input.display_phone_number === 'string' ? input.display_phone_number : `+${pnid}`,
      });
    }
    if (input.throughput_mps !== undefined) {
      const mps = Number(input.throughput_mps);
      if (!Number.isFinite(mps) || mps < 1 || mps > this.rules.max_throughput_mps)
        return {
          status: 400,
          body: {
            error: {
              code: 'bad_throughput',
              message: `throughput_mps must be between 1 and ${this.rules.max_throughput_mps}`,
              fix: 'e.g. {"throughput_mps": 1000}',
            },
          },
        };
      const upgraded = mps >= 1000 && n.throughput_mps < 1000;
      n.throughput_mps = mps;
      n.bucket = { tokens: mps, last: this.now() };
      // current_limit / old_limit left Meta's payload in Feb 2026 (changes-2026 §3.1).
      if (upgraded)
        this.emit(n.waba_id, {
          field: 'phone_number_quality_update',
          value: {
            display_phone_number: n.display_digits,
            event: 'THROUGHPUT_UPGRADE',
            max_daily_conversations_per_business: 'TIER_UNLIMITED',
          },
        });
    }
    if (input.quality_rating !== undefined) {
      const q = String(input.quality_rating).toUpperCase();
      if (!['GREEN', 'YELLOW', 'RED', 'NA', 'UNKNOWN'].includes(q))
        return {
          status: 400,
          body: {
            error: {
              code: 'bad_quality',
              message: 'quality_rating must be GREEN, YELLOW, RED, NA or UNKNOWN',
              fix: 'e.g. {"quality_rating":"RED"}',
            },
          },
        };
      n.quality_rating = q;
    }
    if (input.messaging_limit !== undefined) {
      const tier = tierFor(input.messaging_limit as string | number);
      if (tier !== n.messaging_limit) {
        n.messaging_limit = tier;
        // Since Oct 2025 the limit is the portfolio's, reported in business_capability_update as an
        // integer, -1 = unlimited (Meta's reference, 21 May 2026; changes-2026 §3.1). The UPGRADE /
        // DOWNGRADE quality events with current_limit are gone.
        this.emit(n.waba_id, {
          field: 'business_capability_update',
          value: {
            max_daily_conversations_per_business: Number.isFinite(TIER_USERS[tier]) ? TIER_USERS[tier] : -1,
            max_phone_numbers_per_business: 20,
          },
        });
      }
    }
    if (typeof input.status === 'string') n.status = input.status;
    if (typeof input.verified_name === 'string') n.verified_name = input.verified_name;
    // Meta's 2026 account events (account_update reference, 20 Apr 2026; changes-2026 §10).
    if (input.restriction !== undefined) {
      const bad = this.restrictNumber(n, input.restriction);
      if (bad) return bad;
    }
    if (typeof input.offboarded === 'boolean' && input.offboarded !== n.offboarded) {
      n.offboarded = input.offboarded;
      const event = input.offboarded ? 'ACCOUNT_OFFBOARDED' : 'ACCOUNT_RECONNECTED';
      const value: Obj = { phone_number: n.display_digits, event };
      if (input.offboarded)
        value.disconnection_info = {
          reason: typeof input.reason === 'string' ? input.reason : 'PRIMARY_INACTIVITY',
          initiated_by: 'SYSTEM',
        };
      this.emit(n.waba_id, { field: 'account_update', value });
    }
    return { status: 200, body: this.numberView(n, null) };
  }

  /**
   * Control: `{restriction: {type, expiration?, remediation?, lift?, silent?}}` restricts the number
   * (account_update ACCOUNT_RESTRICTION) until `expiration` (unix seconds; default a day), or lifts it
   * (`lift: true`). `silent: true` changes the state without the webhook (a webhook the gateway missed).
   */
  private restrictNumber(n: NumberState, input: unknown): HttpAnswer | null {
    const r = isObj(input) ? input : null;
    const type = r ? String(r.type ?? r.restriction_type ?? 'RESTRICTED_BIZ_INITIATED_MESSAGING').toUpperCase() : '';
    if (!r || !/^[A-Z_]{3,80}$/.test(type))
      return ctlBad('bad_restriction', '`restriction` must be an object with a Meta restriction type', {
        restriction: { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: 1767225600 },
      });
    const now = this.now();
    const nowS = Math.floor(now / 1000);
    if (r.expiration !== undefined && (typeof r.expiration !== 'number' || !Number.isInteger(r.expiration) || r.expiration <= 0))
      return ctlBad('bad_expiration', '`restriction.expiration` must be unix seconds', {
        restriction: { type, expiration: nowS + 86_400 },
      });
    const lift = r.lift === true;
    const expiration = lift ? nowS : typeof r.expiration === 'number' ? r.expiration : nowS + 86_400;
    const remediation = typeof r.remediation === 'string' ? r.remediation : null;
    n.restrictions = n.restrictions.filter((x) => x.type !== type);
    if (!lift && expiration * 1000 > now) n.restrictions.push({ type, until: expiration * 1000, remediation });
    const value: Obj = { phone_number: n.display_digits, event: 'ACCOUNT_RESTRICTION' };
    if (type === 'RESTRICTED_UTILITY_TEMPLATES') {
      // Meta's template-categorisation page: the suspension carries violation_info; its removal
      // (UTILITY_TEMPLATE_ABUSE_UNBAN) has no restriction_info.
      value.violation_info = { violation_type: lift ? 'UTILITY_TEMPLATE_ABUSE_UNBAN' : 'UTILITY_TEMPLATE_ABUSE' };
      if (!lift) this.recategoriseUtility(n.waba_id);
    }
    if (!(lift && type === 'RESTRICTED_UTILITY_TEMPLATES')) {
      const info: Obj = { restriction_type: type, expiration };
      if (remediation) info.remediation = remediation;
      value.restriction_info = [info];
    }
    if (r.silent !== true) this.emit(n.waba_id, { field: 'account_update', value });
    return null;
  }

  /** Utility suspension: every approved UTILITY template of the WABA becomes MARKETING, with Meta's category webhook. */
  private recategoriseUtility(waba: string): void {
    for (const t of this.templatesOf(waba)) {
      if (t.category !== 'UTILITY' || t.status !== 'APPROVED') continue;
      t.previous_category = t.category;
      t.category = 'MARKETING';
      this.emit(waba, {
        field: 'template_category_update',
        value: {
          message_template_id: Number(t.id),
          message_template_name: t.name,
          message_template_language: t.language,
          previous_category: 'UTILITY',
          new_category: 'MARKETING',
        },
      });
    }
  }

  // ---------------------------------------------------------------- Graph reads

  numberView(n: NumberState, fields: string[] | null): Obj {
    const all: Obj = {
      id: n.phone_number_id,
      display_phone_number: n.display_phone_number,
      verified_name: n.verified_name,
      quality_rating: n.quality_rating,
      code_verification_status: n.code_verification_status,
      name_status: n.name_status,
      platform_type: 'CLOUD_API',
      // Meta documents only STANDARD; the sandbox says HIGH once a number has the 1,000 mps upgrade.
      throughput: { level: n.throughput_mps >= 1000 ? 'HIGH' : 'STANDARD' },
      messaging_limit_tier: n.messaging_limit,
      whatsapp_business_manager_messaging_limit: n.messaging_limit,
      status: n.status,
      account_mode: 'LIVE',
      is_official_business_account: false,
      webhook_configuration: { application: this.webhooks.getUrl() ?? '' },
    };
    const want = fields ?? ['display_phone_number', 'verified_name', 'quality_rating'];
    const out: Obj = {};
    for (const f of want) if (f in all) out[f] = all[f];
    out.id = n.phone_number_id;
    return out;
  }

  createTemplate(waba: string, body: unknown): HttpAnswer {
    const v = validateCreate(body);
    if (!v.ok) return v.err;
    if (v.category === 'UTILITY') {
      const refused = this.utilitySuspended(waba);
      if (refused) return refused;
    }
    if (this.findTemplate(waba, v.name, v.language)) {
      return syncError(100, {
        subcode: 2388024,
        details: `Content in this language already exists: there is already ${v.language} content for this template.`,
      });
    }
    const t: SandboxTemplate = {
      id: this.templateId(),
      waba_id: waba,
      name: v.name,
      language: v.language,
      category: v.category,
      status: 'PENDING',
      quality_score: { score: 'UNKNOWN', date: Math.floor(this.now() / 1000) },
      parameter_format: v.parameter_format,
      components: v.components,
      rejected_reason: 'NONE',
    };
    if (v.ttl !== undefined) t.message_send_ttl_seconds = v.ttl;
    this.storeTemplate(t);
    // Review: PENDING, then APPROVED after template_review_ms, with the status webhook (a negative delay keeps it PENDING).
    if (this.rules.template_review_ms >= 0) {
      this.later(this.rules.template_review_ms, () => {
        if (t.status !== 'PENDING') return;
        t.status = 'APPROVED';
        this.templateStatusEvent(t, 'APPROVED');
      });
    }
    return { status: 200, body: { id: t.id, status: t.status, category: t.category } };
  }

  /** POST /{template_id}: edit components, category or TTL (§9.1); an edit goes back through review. */
  editTemplate(id: string, body: unknown): HttpAnswer {
    const t = this.templates.get(id)!;
    if (!isObj(body)) return syncError(100, { details: 'Request body must be a JSON object.' });
    if (!['APPROVED', 'REJECTED', 'PAUSED'].includes(t.status))
      return syncError(100, { details: `Only APPROVED, REJECTED or PAUSED templates can be edited; this one is ${t.status}.` });
    if (body.category !== undefined) {
      const cat = String(body.category).toUpperCase();
      if (t.status === 'APPROVED' && cat !== t.category)
        return syncError(100, { details: "The category of an approved template can't be edited." });
      if (cat !== 'MARKETING' && cat !== 'UTILITY' && cat !== 'AUTHENTICATION')
        return syncError(100, { details: 'Param category must be one of {AUTHENTICATION, MARKETING, UTILITY}.' });
      if (cat === 'UTILITY' && t.category !== 'UTILITY') {
        const refused = this.utilitySuspended(t.waba_id);
        if (refused) return refused;
      }
      t.category = cat;
    }
    if (body.components !== undefined) {
      const v = validateCreate({
        name: t.name,
        language: t.language,
        category: t.category,
        components: body.components,
        parameter_format: t.parameter_format,
      });
      if (!v.ok) return v.err;
      t.components = v.components; // replaced wholesale, as Meta does
      this.componentsUpdateEvent(t);
    }
    if (typeof body.message_send_ttl_seconds === 'number') t.message_send_ttl_seconds = body.message_send_ttl_seconds;
    if (body.components !== undefined || body.category !== undefined) {
      t.status = 'PENDING';
      this.later(Math.max(0, this.rules.template_review_ms), () => {
        if (t.status !== 'PENDING' || this.rules.template_review_ms < 0) return;
        t.status = 'APPROVED';
        this.templateStatusEvent(t, 'APPROVED');
      });
    }
    return { status: 200, body: { success: true } };
  }

  /** RESTRICTED_UTILITY_TEMPLATES: no new utility templates while it lasts (Meta documents no code: 100). */
  private utilitySuspended(waba: string): SyncError | null {
    const r = this.wabaRestricted(waba, 'RESTRICTED_UTILITY_TEMPLATES');
    if (!r) return null;
    return syncError(100, {
      details: `Utility template creation is restricted for this WhatsApp Business Account until ${new Date(r.until).toISOString()} (template categorisation misuse).`,
    });
  }

  deleteTemplate(waba: string, name: string | null, hsmId: string | null): HttpAnswer {
    if (!name) return syncError(100, { details: 'The parameter name is required.' });
    const matches = this.templatesOf(waba).filter((t) => t.name === name && (!hsmId || t.id === hsmId));
    if (matches.length === 0) return syncError(100, { subcode: 2593002, details: `Message template "${name}" not found.` });
    if (matches.some((t) => t.status === 'DISABLED')) return syncError(100, { details: "Disabled templates can't be deleted." });
    for (const t of matches) {
      t.status = 'DELETED';
      this.templates.delete(t.id);
      this.templateStatusEvent(t, 'DELETED');
    }
    return { status: 200, body: { success: true } };
  }

  listTemplates(waba: string, q: URLSearchParams): HttpAnswer {
    let list = this.templatesOf(waba);
    const name = q.get('name');
    const status = q.get('status');
    const category = q.get('category');
    const language = q.get('language');
    if (name) list = list.filter((t) => t.name.includes(name));
    if (status) list = list.filter((t) => status.toUpperCase().split(',').includes(t.status));
    if (category) list = list.filter((t) => category.toUpperCase().split(',').includes(t.category));
    if (language) list = list.filter((t) => t.language === language);
    const views = list.map(templateView);
    const fields = q.get('fields');
    const shaped = fields
      ? views.map((v) => Object.fromEntries(Object.entries(v).filter(([k]) => k === 'id' || fields.split(',').includes(k))))
      : views;
    return { status: 200, body: page(shaped, q) };
  }

  phoneNumbersOf(waba: string, q: URLSearchParams): HttpAnswer {
    const fields = q.get('fields')?.split(',') ?? [
      'verified_name',
      'code_verification_status',
      'display_phone_number',
      'quality_rating',
      'platform_type',
      'throughput',
      'webhook_configuration',
    ];
    const list = (this.wabas.get(waba) ?? []).map((id) => this.numberView(this.numbers.get(id)!, fields));
    return { status: 200, body: page(list, q) };
  }

  wabaView(waba: string): Obj {
    return {
      id: waba,
      name: 'Sandbox WABA',
      timezone_id: '1',
      message_template_namespace: `sandbox_${waba}`,
      currency: 'USD',
      account_review_status: 'APPROVED',
      whatsapp_business_manager_messaging_limit: this.numbers.get(this.wabas.get(waba)?.[0] ?? '')?.messaging_limit ?? 'TIER_250',
    };
  }

  ledgerView(q: URLSearchParams): Obj {
    const pnid = q.get('phone_number_id');
    const to = q.get('to');
    const biz = q.get('biz_opaque_callback_data');
    let sends: LedgerEntry[] = this.ledger;
    if (pnid) sends = sends.filter((s) => s.phone_number_id === pnid);
    if (to) sends = sends.filter((s) => s.to === digits(to) || s.user_id === to);
    if (biz) sends = sends.filter((s) => s.biz_opaque_callback_data === biz);
    return { count: sends.length, dropped: this.ledgerDropped, sends: sends.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) };
  }
}

/** Graph cursor paging: cursors are base64 offsets; `limit` (default 25), `after`, `before`. */
export function page(items: unknown[], q: URLSearchParams): Obj {
  const limit = Math.max(1, Math.min(1000, Number(q.get('limit') ?? 25) || 25));
  const dec = (c: string | null) => (c ? Number(Buffer.from(c, 'base64').toString()) : NaN);
  let start = 0;
  const after = dec(q.get('after'));
  const before = dec(q.get('before'));
  if (Number.isFinite(after)) start = after + 1;
  else if (Number.isFinite(before)) start = Math.max(0, before - limit);
  const slice = items.slice(start, start + limit);
  const enc = (i: number) => Buffer.from(String(i)).toString('base64');
  const out: Obj = { data: slice };
  if (slice.length) {
    const paging: Obj = { cursors: { before: enc(start), after: enc(start + slice.length - 1) } };
    if (start + slice.length < items.length) paging.next = `?limit=${limit}&after=${enc(start + slice.length - 1)}`;
    out.paging = paging;
  }
  return out;
}

export { isObj };

/** Direct Send's TTL bounds for utility (Meta's TTL page, 31 Jul 2026). */
const DIRECT_SEND_TTL = { min: 30, max: 43_200 };

/**
 * A message's Direct Send fields as Meta reads them (changes-2026 §6): a top-level `category` on a
 * text or interactive cta_url / button message makes it a business-initiated utility message; TTL
 * (`ttl_seconds`) only with it. Meta's answers for the wrong uses: error 100. Authentication Direct
 * Send is allow-listed by Meta: the sandbox's numbers are not (100, "not enabled").
 */
function directSendOf(body: Obj, type: string, isTemplate: boolean): { direct: boolean; error?: SyncError } {
  const cat = body.category;
  if (cat === undefined || isTemplate) {
    if (body.ttl_seconds !== undefined)
      return {
        direct: false,
        error: syncError(100, { details: 'The request included one or more unsupported or misspelled parameters: ttl_seconds.' }),
      };
    return { direct: false };
  }
  if (cat === 'authentication') return { direct: false, error: syncError(100, { details: "Direct Send isn't enabled for this account." }) };
  if (cat !== 'utility')
    return {
      direct: false,
      error: syncError(100, { details: `Param category must be one of {UTILITY, AUTHENTICATION} - got "${String(cat)}".` }),
    };
  const it = isObj(body.interactive) ? body.interactive.type : null;
  if (!(type === 'text' || (type === 'interactive' && (it === 'cta_url' || it === 'button'))))
    return {
      direct: false,
      error: syncError(100, { details: `Direct Send supports text and interactive cta_url or button messages, not ${type}.` }),
    };
  const ttl = body.ttl_seconds;
  if (ttl !== undefined) {
    if (typeof ttl !== 'number' || !Number.isInteger(ttl))
      return { direct: false, error: syncError(100, { details: 'Param ttl_seconds must be an integer.' }) };
    if (ttl > DIRECT_SEND_TTL.max)
      return {
        direct: false,
        error: syncError(100, { details: 'The time-to-live value must be lower than or equal to 43200 (TTL over 12 hours).' }),
      };
    if (ttl < DIRECT_SEND_TTL.min)
      return {
        direct: false,
        error: syncError(100, { details: 'The time-to-live value must be higher than or equal to 30 (TTL under 30 seconds).' }),
      };
  }
  return { direct: true };
}
