// The gate state shared by every wagate instance on one Redis. checkAndReserve is ONE Lua script, one
// round trip (decide.lua, EVALSHA with a NOSCRIPT fallback through ioredis defineCommand): it reads the
// decision's state, settles the racy rules (opt-out, window, marketing cap, tier budget, sender state)
// and records the reservation atomically; decide() then states the full rules on the snapshot the
// script returned, so the rules are written once (src/domain/decide.ts) and the shared case table runs
// unchanged against memory and Redis. When decide() refuses on a rule the script does not evaluate
// (parameters, quiet hours, tags, policy) a reservation the script just took is rolled back: for that
// short moment a concurrent send may see one slot fewer (a false denial, never a false allowance).
//
// Clock: the caller's `now` (see decide.lua's header for why). Keys: `<prefix>:gate:{<prefix>}:…`,
// one hash tag for the namespace, so every decision's keys are in one slot (Redis Cluster works; the
// gate of one namespace lives on one shard, which at tens of thousands of decisions/s is not the limit).
//
// Redis down or slow: no offline queue, a short command timeout; decisions come back GATE_UNAVAILABLE
// (nothing is sent, the delivery worker retries), feeders throw GateUnavailableError, and the client
// reconnects by itself in the background.
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { decide, type GateSnapshot, type SnapshotCustomer } from '../domain/decide.ts';
import { deny } from '../domain/decision.ts';
import { templateCategory } from '../domain/categories.ts';
import type { Policies } from '../domain/policies.ts';
import { CATEGORIES, DAY_MS, FEP_WINDOW_MS, type Category, type ConsentState, type SenderConfig, type SenderStatus, type TemplateRecord } from '../domain/types.ts';
import { FailFastRedis } from '../observability/redis-client.ts';
import type { GateCustomerUpdate, GateOutcome, GateRequest, GateSeed, GateState, Reservation } from './port.ts';

const lua = (name: string) => readFileSync(new URL(`./${name}`, import.meta.url), 'utf8');
const DECIDE = lua('decide.lua');
const RELEASE = lua('release.lua');
const FEED = lua('feed.lua');

/** Reservations and counters outlive their 24 h by an hour (caller clocks, late releases). */
const TTL_MS = DAY_MS + 3_600_000;
/** Care windows are read up to the 72 h free-entry-point window after the last inbound. */
const WINDOW_TTL_MS = FEP_WINDOW_MS + DAY_MS;

/** A gate feeder could not reach Redis in time: the change was not applied; retry it. */
export class GateUnavailableError extends Error {
  readonly code = 'GATE_UNAVAILABLE';
  readonly fix = 'Check that Redis answers at WAGATE_REDIS_URL (redis-cli ping); wagate reconnects by itself when it does.';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GateUnavailableError';
  }
}

export interface RedisGateOptions {
  url: string;
  /** Namespace of the keys (config `namespace`); several wagate deployments can share one Redis. */
  prefix: string;
  policies: Policies;
  senders: SenderConfig[];
  /** Per-command timeout (default 500 ms): a slow Redis denies fast instead of stalling senders. */
  command_timeout_ms?: number;
  /** How long a call waits for the very first connection (default 2,000 ms). */
  connect_timeout_ms?: number;
  /** Where the state is rebuilt from when Redis comes back empty (see setReseed). */
  reseed?: () => Promise<GateSeed>;
  /**
   * What load(seed) does when the namespace's state is already loaded: "replace" (default, the port's
   * contract: wipe and load) or "if_empty" (keep it: for several instances, where one restarting must
   * not wipe the live state every other instance decides on, nor the reservations they hold).
   */
  load?: 'replace' | 'if_empty';
}

type Cmd = (...args: (string | number)[]) => Promise<unknown>;
type Scripted = Redis & { wgDecide: Cmd; wgRelease: Cmd; wgFeed: Cmd };
type Raw = [string | null, string[], (string | null)[], string | null, string | null, string[], string[], number, number | null, number, number, number | null, number, (string | null)[] | null];

const enc = encodeURIComponent;
/** Denials whose suggested action lists the WABA's approved templates. */
const SUGGESTS_TEMPLATES = new Set(['WINDOW_CLOSED_TEMPLATE_REQUIRED', 'TEMPLATE_NOT_FOUND', 'TEMPLATE_PAUSED', 'TEMPLATE_NOT_APPROVED']);

export class RedisGateState implements GateState {
  private policies: Policies;
  private readonly businessOf = new Map<string, string>();
  private readonly conn: FailFastRedis;
  private readonly redis: Scripted;
  private readonly base: string;

  constructor(opts: RedisGateOptions) {
    this.policies = opts.policies;
    this.reseed = opts.reseed ?? null;
    this.loadMode = opts.load ?? 'replace';
    for (const s of opts.senders) this.businessOf.set(s.id, s.business_id);
    this.base = `${opts.prefix}:gate:{${opts.prefix.replace(/[{}]/g, '_')}}`;
    this.conn = new FailFastRedis({
      url: opts.url,
      label: 'gate',
      unavailable: (message, cause) => new GateUnavailableError(message, { cause }),
      command_timeout_ms: opts.command_timeout_ms,
      connect_timeout_ms: opts.connect_timeout_ms,
      // Concurrent decisions issued in one tick go out as one write (one syscall, one read on Redis).
      extra: { enableAutoPipelining: true },
    });
    this.redis = this.conn.redis as Scripted;
    // defineCommand sends EVALSHA and falls back to EVAL on NOSCRIPT (first call, Redis restart, flush).
    this.redis.defineCommand('wgDecide', { numberOfKeys: 12, lua: DECIDE });
    this.redis.defineCommand('wgRelease', { numberOfKeys: 1, lua: RELEASE });
    this.redis.defineCommand('wgFeed', { lua: FEED });
  }

  /** Policies can be reloaded without a restart. */
  setPolicies(p: Policies): void {
    this.policies = p;
  }

  /**
   * The durable store's seed, for when Redis comes back EMPTY (restarted without persistence, flushed,
   * failed over to an empty replica). Decisions meanwhile fail closed (an empty state would forget
   * opt-outs); the first one that finds the state empty starts one reload. Without it, decisions stay
   * GATE_UNAVAILABLE until load() is called again.
   */
  setReseed(fn: () => Promise<GateSeed>): void {
    this.reseed = fn;
  }
  private reseed: (() => Promise<GateSeed>) | null = null;
  private readonly loadMode: 'replace' | 'if_empty';
  private reloading: Promise<void> | null = null;

  private reloadOnce(): void {
    if (this.reloading || !this.reseed) return;
    const fn = this.reseed;
    this.reloading = fn()
      .then((seed) => this.load(seed))
      .catch(() => undefined) // the next decision finds the state still empty and tries again
      .finally(() => {
        this.reloading = null;
      });
  }

  // ---------- keys ----------

  private k(...parts: string[]): string {
    return `${this.base}:${parts.map(enc).join(':')}`;
  }
  private windowKey(sender_id: string, wa_id: string): string {
    return this.k('W', sender_id, wa_id);
  }
  private tierKeys(business_id: string, wa_id: string): [string, string] {
    return [this.k('TU', business_id), this.k('TR', business_id, wa_id)];
  }

  /** Keys that depend on the sender and template only (S, T, TL, TA, TU, L), built once per pair. */
  private readonly fixed = new Map<string, string[]>();
  private fixedKeys(s: SenderConfig, t: GateRequest['template']): string[] {
    const id = `${s.id}\u0000${s.waba_id}\u0000${s.business_id}\u0000${t ? `${t.name}\u0000${t.language}` : ''}`;
    let keys = this.fixed.get(id);
    if (!keys) {
      if (this.fixed.size >= 10_000) this.fixed.clear();
      keys = [
        this.k('S', s.id),
        t ? this.k('T', s.waba_id, t.name, t.language) : this.k('T', s.waba_id, '-'),
        t ? this.k('TL', s.waba_id, t.name) : this.k('TL', s.waba_id, '-'),
        this.k('TA', s.waba_id),
        this.k('TU', s.business_id),
        this.k('L'),
      ];
      this.fixed.set(id, keys);
    }
    return keys;
  }

  // ---------- decisions ----------

  check(req: GateRequest, now: number): Promise<GateOutcome> {
    return this.run('check', req, now);
  }

  checkAndReserve(req: GateRequest, now: number): Promise<GateOutcome> {
    return this.run('reserve', req, now);
  }

  private async run(mode: 'check' | 'reserve', req: GateRequest, now: number): Promise<GateOutcome> {
    const s = req.sender;
    const fixed = this.fixedKeys(s, req.template);
    const keys = [
      fixed[0],
      this.k('C', req.to),
      this.windowKey(s.id, req.to),
      this.k('LI', req.to),
      fixed[1],
      fixed[2],
      fixed[3],
      this.k('M', req.to),
      fixed[4],
      this.k('TR', s.business_id, req.to),
      this.k('R', req.message_id),
      fixed[5],
    ];
    const args = [mode, now, req.message_id, req.kind, this.policies.marketing_cap_per_24h, s.messaging_limit ?? '', req.to, s.id, s.business_id, DAY_MS, TTL_MS, '0'];
    let raw: Raw;
    try {
      await this.ready();
      raw = (await this.redis.wgDecide(...keys, ...args)) as Raw;
    } catch (err) {
      return unavailable(this.describe(err));
    }
    if ((raw as unknown[])[0] === 'unloaded') {
      this.reloadOnce();
      return unavailable(`the gate state in Redis at ${this.conn.where} is empty or being loaded (Redis restarted without persistence, or was flushed)${this.reseed ? '; it is being reloaded from the store' : ''}`);
    }
    const snapshot = this.toSnapshot(raw);
    let r = decide({ req, snapshot, policies: this.policies, now });
    if (SUGGESTS_TEMPLATES.has(r.decision.reason_code ?? '')) {
      // Denials that name approved templates read the list then (the allowed path never carries it).
      try {
        snapshot.approved_templates = (await this.redis.hkeys(keys[6])).sort();
        r = decide({ req, snapshot, policies: this.policies, now });
      } catch {
        // Redis went away in between: the denial stands, without suggestions.
      }
    }
    const reserved = raw[12];
    const held = raw[13];
    if (mode === 'check') return { decision: r.decision, category: r.category };
    if (!r.decision.allowed) {
      // The script took slots for a message decide() refused on a stateless rule: give them back.
      if (reserved === 1) await this.releaseRaw(req.message_id, true).catch(() => undefined); // expires with its TTL otherwise (fail safe)
      return { decision: r.decision, category: r.category };
    }
    if (reserved === 0 || !held) {
      // decide() allowed what the script refused: the two statements of the stateful rules disagree.
      // Fail closed rather than send without a reservation.
      return unavailable(`the gate script and decide() disagree about message ${req.message_id} (a wagate bug: please report it)`);
    }
    const reservation: Reservation = {
      message_id: req.message_id,
      sender_id: s.id,
      to: req.to,
      category: held[0] as Category,
      marketing_slot: held[1] === '1',
      tier_slot: held[2] === '1',
      at: Number(held[3]),
    };
    return { decision: r.decision, category: r.category, reservation };
  }

  async release(message_id: string): Promise<void> {
    await this.releaseRaw(message_id, false);
  }

  private async releaseRaw(message_id: string, rollback: boolean): Promise<void> {
    await this.call(() => this.redis.wgRelease(this.k('R', message_id), message_id, rollback ? '1' : '0'));
  }

  // ---------- state feeders ----------

  async recordInbound(sender_id: string, wa_id: string, at: number, opts?: { referral?: boolean }): Promise<void> {
    await this.call(() => this.redis.wgFeed(...this.inboundArgs(sender_id, wa_id, at, opts?.referral ? at : null, null)));
  }

  private inboundArgs(sender_id: string, wa_id: string, at: number, referral_at: number | null, fep: number | null): (string | number)[] {
    return [2, this.windowKey(sender_id, wa_id), this.k('LI', wa_id), 'inbound', at, referral_at ?? '', fep ?? '', FEP_WINDOW_MS, WINDOW_TTL_MS];
  }

  async updateCustomer(u: GateCustomerUpdate): Promise<void> {
    const { set, del } = customerFields(u, Date.now());
    const key = this.k('C', u.wa_id);
    await this.call(() => {
      const m = this.redis.multi().hset(key, set);
      if (del.length) m.hdel(key, ...del);
      return m.exec();
    });
  }

  async upsertTemplate(t: TemplateRecord): Promise<void> {
    await this.call(() => this.redis.wgFeed(...this.templateArgs(t)));
  }

  private templateArgs(t: TemplateRecord): (string | number)[] {
    // The record, not the caller, gives the category; an unreadable one is marketing, the strictest.
    const cat = templateCategory(t.category) ?? 'marketing';
    return [3, this.k('T', t.waba_id, t.name, t.language), this.k('TL', t.waba_id, t.name), this.k('TA', t.waba_id), 'template', JSON.stringify(t), t.status, cat, t.language, t.name];
  }

  async setSenderStatus(s: SenderStatus): Promise<void> {
    await this.call(() => this.redis.set(this.k('S', s.sender_id), JSON.stringify(s)));
  }

  async tierUsage(business_id: string, now: number): Promise<number> {
    return Number(await this.call(() => this.redis.zcount(this.k('TU', business_id), `(${now - DAY_MS}`, '+inf')));
  }

  async marketingCount(wa_id: string, now: number): Promise<number> {
    return Number(await this.call(() => this.redis.zcount(this.k('M', wa_id), `(${now - DAY_MS}`, '+inf')));
  }

  /**
   * Replaces this namespace's gate state with the seed (from the durable store, the source of truth).
   * A second instance starting later reloads the same facts; reservations another instance took but
   * has not yet stored are dropped for that moment (the store is written before a send is queued).
   */
  async load(seed: GateSeed): Promise<void> {
    await this.call(async () => {
      if (this.loadMode === 'if_empty' && (await this.redis.exists(this.k('L')))) return;
      // The marker goes first and comes back last: decisions fail closed while the state is partial.
      await this.redis.del(this.k('L'));
      await this.wipe();
      const at = Date.now();
      let p = this.redis.pipeline();
      let n = 0;
      const flush = async (force = false) => {
        if (!force && ++n % 1_000) return;
        const res = await p.exec();
        const failed = res?.find(([e]) => e);
        if (failed) throw failed[0];
        p = this.redis.pipeline();
      };
      for (const c of seed.customers) {
        const { set, del } = customerFields(c, at);
        const key = this.k('C', c.wa_id);
        p.hset(key, set);
        if (del.length) p.hdel(key, ...del);
        await flush();
      }
      for (const w of seed.windows) {
        (p as unknown as Scripted).wgFeed(...this.inboundArgs(w.sender_id, w.wa_id, w.last_inbound_at, w.referral_at, w.fep_opened_at ?? null));
        await flush();
      }
      for (const t of seed.templates) {
        (p as unknown as Scripted).wgFeed(...this.templateArgs(t));
        await flush();
      }
      for (const s of seed.senders) {
        p.set(this.k('S', s.sender_id), JSON.stringify(s));
        await flush();
      }
      const seen = new Set<string>();
      for (const r of [...seed.reservations].sort((a, b) => a.at - b.at)) {
        if (seen.has(r.message_id)) continue;
        seen.add(r.message_id);
        const biz = this.businessOf.get(r.sender_id) ?? r.sender_id;
        const [tu, tr] = this.tierKeys(biz, r.to);
        const km = this.k('M', r.to);
        const key = this.k('R', r.message_id);
        p.hset(key, { s: r.sender_id, to: r.to, cat: r.category, m: r.marketing_slot ? '1' : '0', t: r.tier_slot ? '1' : '0', at: String(r.at), b: biz, km, ktu: tu, ktr: tr, kw: this.windowKey(r.sender_id, r.to) });
        p.pexpire(key, TTL_MS);
        if (r.marketing_slot) p.zadd(km, r.at, r.message_id).pexpire(km, TTL_MS);
        if (r.tier_slot) p.zadd(tr, r.at, r.message_id).pexpire(tr, TTL_MS).zadd(tu, 'GT', r.at, r.to);
        await flush();
      }
      await flush(true);
      await this.redis.set(this.k('L'), String(Date.now()));
    });
  }

  /** Deletes every key of this namespace's gate (load, and test cleanup). */
  async wipe(): Promise<void> {
    await this.ready();
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.base.replace(/[*?[\]\\]/g, '\\$&')}:*`, 'COUNT', 1_000);
      cursor = next;
      if (keys.length) await this.redis.unlink(...keys);
    } while (cursor !== '0');
  }

  ping(): Promise<boolean> {
    return this.conn.ping();
  }

  close(): Promise<void> {
    return this.conn.close();
  }

  /** Parsed template records by their stored JSON: a campaign sends one template many times. */
  private readonly templateCache = new Map<string, TemplateRecord>();

  private toSnapshot(raw: Raw): GateSnapshot {
    return toSnapshot(raw, (json) => {
      let t = this.templateCache.get(json);
      if (!t) {
        if (this.templateCache.size >= 1_000) this.templateCache.clear();
        t = JSON.parse(json) as TemplateRecord;
        this.templateCache.set(json, t);
      }
      return t;
    });
  }

  // ---------- connection ----------

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      await this.ready();
      return await fn();
    } catch (err) {
      if (err instanceof GateUnavailableError) throw err;
      throw new GateUnavailableError(this.describe(err), { cause: err });
    }
  }

  private describe(err: unknown): string {
    if (err instanceof GateUnavailableError) return err.message;
    return this.conn.describe(err);
  }

  private ready(): Promise<void> {
    return this.conn.ready();
  }
}

/** Fail closed: nothing is sent; the delivery worker puts the message back and retries. */
function unavailable(detail: string): GateOutcome {
  const decision = deny(
    'GATE_UNAVAILABLE',
    `The gate state could not be read, so nothing was sent: ${detail}.`,
    'Check that Redis answers at WAGATE_REDIS_URL (redis-cli ping); wagate reconnects by itself and queued messages are retried.',
    [{ rule: 'gate_state', passed: false, detail }],
    1,
  );
  return { decision, category: null };
}

function customerFields(u: GateCustomerUpdate, defaultAt: number): { set: Record<string, string>; del: string[] } {
  const set: Record<string, string> = { x: '1' }; // the customer exists once anything was said about it
  const del: string[] = [];
  for (const [cat, state] of Object.entries(u.consent ?? {}) as [Category, ConsentState | undefined][]) {
    if (!state) continue;
    set[`cs:${cat}`] = state;
    set[`ca:${cat}`] = String(u.consent_at?.[cat] ?? defaultAt);
  }
  if (u.tags !== undefined) set.tags = JSON.stringify(u.tags);
  const opt = (field: string, v: string | number | null | undefined) => {
    if (v === undefined) return;
    if (v === null) del.push(field);
    else set[field] = String(v);
  };
  opt('tz', u.time_zone);
  opt('und', u.undeliverable_at);
  opt('mla', u.marketing_limited_at);
  return { set, del };
}

const num = (v: string | number | null | undefined): number | null => (v === null || v === undefined || v === '' ? null : Number(v));

function toSnapshot(raw: Raw, parseTemplate: (json: string) => TemplateRecord): GateSnapshot {
  const [sjson, cflat, win, lastAny, tjson, langs, approved, mCount, mOldest, tUsed, tCounted, tOldest] = raw;
  let customer: SnapshotCustomer | null = null;
  if (cflat.length) {
    const h: Record<string, string> = {};
    for (let i = 0; i < cflat.length; i += 2) h[cflat[i]] = cflat[i + 1];
    const consent = {} as SnapshotCustomer['consent'];
    for (const cat of CATEGORIES) consent[cat] = { state: (h[`cs:${cat}`] as ConsentState | undefined) ?? 'unknown', at: num(h[`ca:${cat}`]) };
    customer = { consent, tags: h.tags ? (JSON.parse(h.tags) as string[]) : [], time_zone: h.tz ?? null, undeliverable_at: num(h.und), marketing_limited_at: num(h.mla) };
  }
  return {
    sender_status: sjson ? (JSON.parse(sjson) as SenderStatus) : null,
    customer,
    window: win[0] == null ? null : { last_inbound_at: Number(win[0]), referral_at: num(win[1]), fep_opened_at: num(win[2]) },
    last_inbound_any_at: num(lastAny),
    template: tjson ? parseTemplate(tjson) : null,
    template_languages: [...langs].sort(),
    approved_templates: [...approved].sort(),
    marketing_count_24h: Number(mCount),
    marketing_oldest_at: num(mOldest),
    tier_used: Number(tUsed),
    tier_recipient_counted: Number(tCounted) === 1,
    tier_oldest_at: num(tOldest),
  };
}
