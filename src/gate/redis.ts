// The gate state shared by every wagate instance on one Redis. checkAndReserve is ONE Lua script, one
// round trip (checkAndReserve-6.lua, EVALSHA with a NOSCRIPT fallback to EVAL): it reads the
// decision's state, settles the racy rules (opt-out, window, marketing cap, tier budget, sender state)
// and records the reservation atomically; decide() then states the full rules on the snapshot the
// script returned, so the rules are written once (src/domain/decide.ts) and the shared case table runs
// unchanged against memory and Redis. When decide() refuses on a rule the script does not evaluate
// (parameters, quiet hours, tags, policy) a reservation the script just took is rolled back
// (rollbackReservation-1.lua): for that short moment a concurrent send may see one slot fewer (a false denial, never a false allowance).
//
// Speed (bench:gate): the script touches six keys and returns a flat reply; per sender/template key
// names are built once; the parsed sender status and template record are cached by their stored text;
// concurrent decisions share socket writes (the socket is corked for the rest of the tick); EVALSHA is
// sent as a plain command with our own NOSCRIPT fallback.
//
// Scripts (beside this file, named as BullMQ names its own: <verb><Noun>-<numKeys>.lua, one operation
// each, loaded by src/shared/lua.ts): checkGate-5 (check), checkAndReserve-6, releaseReservation-1,
// rollbackReservation-1, recordInbound-2, upsertTemplate-3; includes/ holds the steps two share.
//
// Clock: the caller's `now` (see checkAndReserve-6.lua's header for why). Keys: `<prefix>:gate:{<prefix>}:…`,
// one hash tag for the namespace, so every decision's keys are in one slot (Redis Cluster works; the
// gate of one namespace lives on one shard, which at tens of thousands of decisions/s is not the limit).
//
// Redis down or slow: no offline queue, a short command timeout; decisions come back GATE_UNAVAILABLE
// (nothing is sent, the delivery worker retries), feeders throw GateUnavailableError, and the client
// reconnects by itself in the background.
import type { Redis } from 'ioredis';
import { decide, type GateSnapshot, type SnapshotCustomer } from '../domain/decide.ts';
import { deny } from '../domain/decision.ts';
import { templateCategory } from '../domain/categories.ts';
import type { Policies } from '../domain/policies.ts';
import {
  CATEGORIES,
  DAY_MS,
  FEP_WINDOW_MS,
  type Category,
  type ConsentState,
  type SenderConfig,
  type SenderStatus,
  type TemplateRecord,
} from '../domain/types.ts';
import type { SenderRestriction } from '../domain/restrictions.ts';
import { FailFastRedis } from '../observability/redis-client.ts';
import {
  linkedPhones,
  type GateCustomerUpdate,
  type CheckOptions,
  type GateOutcome,
  type GateRequest,
  type GateSeed,
  type GateState,
  type IdentityMerge,
  type Reservation,
} from './port.ts';
import { BackendUnavailableError } from '../shared/backend-unavailable.ts';
import { loadLua, type LuaScript } from '../shared/lua.ts';

const lua = (name: string) => loadLua(new URL('./', import.meta.url), name);
const CHECK = lua('checkGate-5.lua');
const CHECK_AND_RESERVE = lua('checkAndReserve-6.lua');
const RELEASE = lua('releaseReservation-1.lua');
const ROLLBACK = lua('rollbackReservation-1.lua');
const RECORD_INBOUND = lua('recordInbound-2.lua');
const UPSERT_TEMPLATE = lua('upsertTemplate-3.lua');
const MERGE_IDENTITIES = lua('mergeIdentities-0.lua');

/** Reservations and counters outlive their 24 h by an hour (caller clocks, late releases). */
const TTL_MS = DAY_MS + 3_600_000;
/** Care windows are read up to the 72 h free-entry-point window after the last inbound. */
const WINDOW_TTL_MS = FEP_WINDOW_MS + DAY_MS;

/** A gate feeder could not reach Redis in time: the change was not applied; retry it. */
export class GateUnavailableError extends BackendUnavailableError {
  declare readonly code: 'GATE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(
      'GATE_UNAVAILABLE',
      'Check that Redis answers at WAGATE_REDIS_URL (redis-cli ping); wagate reconnects by itself when it does.',
      message,
      options,
    );
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
type Scripted = Redis & { wgRecordInbound: Cmd; wgUpsertTemplate: Cmd };
/** checkGate-5.lua's and checkAndReserve-6.lua's reply (see their headers); Lua false arrives as null. */
type Raw = [
  string | null,
  string | null,
  string[],
  string | null,
  string | null,
  string | null,
  number,
  number | null,
  number,
  number,
  number | null,
  number,
  string | null,
  string | null,
  string | null,
];

/** Per sender and template: what every decision for that pair sends, built once. */
interface Fixed {
  sField: string;
  tField: string;
  tu: string;
  tierPrefix: string;
  encBiz: string;
  encSender: string;
}

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
    });
    this.redis = this.conn.redis as Scripted;
    // The feeders run in load()'s pipelines too, where defineCommand's EVAL-once-per-batch is right.
    this.redis.defineCommand('wgRecordInbound', { lua: RECORD_INBOUND.lua, numberOfKeys: RECORD_INBOUND.numberOfKeys });
    this.redis.defineCommand('wgUpsertTemplate', { lua: UPSERT_TEMPLATE.lua, numberOfKeys: UPSERT_TEMPLATE.numberOfKeys });
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
  private get gKey(): string {
    return `${this.base}:G`;
  }
  private windowKey(sender_id: string, wa_id: string): string {
    return this.k('W', sender_id, wa_id);
  }
  private static templateField(waba_id: string, name: string, language: string): string {
    return `t:${enc(waba_id)}:${enc(name)}:${enc(language)}`;
  }
  private static senderField(sender_id: string): string {
    return `s:${enc(sender_id)}`;
  }
  /** Meta's restrictions on a sender: `r:` + what follows `s:` in its status field (readGateState.lua derives it so). */
  private static restrictionsField(sender_id: string): string {
    return `r:${enc(sender_id)}`;
  }

  private readonly fixed = new Map<string, Fixed>();
  private fixedOf(s: SenderConfig, t: GateRequest['template']): Fixed {
    const id = t ? `${s.id}\u0000${s.waba_id}\u0000${s.business_id}\u0000${t.name}\u0000${t.language}` : `${s.id}\u0000${s.business_id}`;
    let f = this.fixed.get(id);
    if (!f) {
      if (this.fixed.size >= 10_000) this.fixed.clear();
      const encBiz = enc(s.business_id);
      f = {
        sField: RedisGateState.senderField(s.id),
        tField: t ? RedisGateState.templateField(s.waba_id, t.name, t.language) : '',
        tu: `${this.base}:TU:${encBiz}`,
        tierPrefix: `t:${encBiz}:`,
        encBiz,
        encSender: enc(s.id),
      };
      this.fixed.set(id, f);
    }
    return f;
  }

  // ---------- decisions ----------

  check(req: GateRequest, now: number, opts: CheckOptions = {}): Promise<GateOutcome> {
    return this.run('check', req, now, opts.explain);
  }

  checkAndReserve(req: GateRequest, now: number): Promise<GateOutcome> {
    return this.run('reserve', req, now);
  }

  private async run(mode: 'check' | 'reserve', req: GateRequest, now: number, explain?: boolean): Promise<GateOutcome> {
    const s = req.sender;
    const f = this.fixedOf(s, req.template);
    const to = enc(req.to);
    const b = this.base;
    let raw: Raw;
    // Alone (nothing else in flight), write at once; with others in flight, share the tick's write.
    this.inflight++;
    try {
      if (!this.conn.isReady) await this.ready();
      if (this.inflight > 1) this.cork();
      raw = (await (mode === 'check'
        ? this.evalScript(CHECK, [
            `${b}:G`,
            `${b}:C:${to}`,
            `${b}:W:${f.encSender}:${to}`,
            `${b}:Z:${to}`,
            f.tu,
            now,
            req.message_id,
            s.messaging_limit ?? '',
            f.sField,
            f.tField,
            f.tierPrefix,
            DAY_MS,
          ])
        : this.evalScript(CHECK_AND_RESERVE, [
            `${b}:G`,
            `${b}:C:${to}`,
            `${b}:W:${f.encSender}:${to}`,
            `${b}:Z:${to}`,
            f.tu,
            `${b}:R:${enc(req.message_id)}`,
            now,
            req.message_id,
            req.direct_send ? 'direct_send' : req.kind,
            this.policies.marketing_cap_per_24h,
            s.messaging_limit ?? '',
            f.sField,
            f.tField,
            f.tierPrefix,
            `${f.encBiz}|${to}|${f.encSender}`,
            DAY_MS,
            TTL_MS,
          ]))) as Raw;
    } catch (err) {
      return unavailable(this.describe(err));
    } finally {
      this.inflight--;
    }
    if ((raw as unknown[])[0] === 'unloaded') {
      this.reloadOnce();
      return unavailable(
        `the gate state in Redis at ${this.conn.where} is empty or being loaded (Redis restarted without persistence, or was flushed)${this.reseed ? '; it is being reloaded from the store' : ''}`,
      );
    }
    const snapshot = this.toSnapshot(raw);
    let r = decide({ req, snapshot, policies: this.policies, now, explain });
    if (SUGGESTS_TEMPLATES.has(r.decision.reason_code ?? '')) {
      // Denials that name templates read the WABA's approved names (and, for an unknown template, the
      // languages it exists in) then: the allowed path never carries them.
      try {
        const [approved, langs] = await Promise.all([
          this.redis.hkeys(this.k('TA', s.waba_id)),
          req.kind === 'template' && !snapshot.template ? this.redis.smembers(this.k('TL', s.waba_id, req.template?.name ?? '-')) : [],
        ]);
        snapshot.approved_templates = approved.sort();
        snapshot.template_languages = langs.sort();
        r = decide({ req, snapshot, policies: this.policies, now, explain });
      } catch {
        // Redis went away in between: the denial stands, without suggestions.
      }
    }
    const reserved = raw[11];
    const held = raw[12];
    if (mode === 'check')
      return { decision: r.decision, category: r.category, new_tier_recipient: r.decision.allowed && r.new_tier_recipient };
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
    // "<cat>|<m>|<t>|<at>|..."
    const p1 = held.indexOf('|');
    const reservation: Reservation = {
      message_id: req.message_id,
      sender_id: s.id,
      to: req.to,
      category: held.slice(0, p1) as Category,
      marketing_slot: held[p1 + 1] === '1',
      tier_slot: held[p1 + 3] === '1',
      at: Number(held.slice(p1 + 5, held.indexOf('|', p1 + 5))),
    };
    return { decision: r.decision, category: r.category, reservation };
  }

  /**
   * Decisions issued in the same tick (concurrent sends) leave in one socket write: the socket is
   * corked until the end of the tick. Cheaper than ioredis auto-pipelining (no pipeline object, no
   * setImmediate hop), and a lone decision is delayed by nothing but a nextTick.
   */
  private corked = false;
  private inflight = 0;
  private cork(): void {
    if (this.corked) return;
    const stream = (this.redis as unknown as { stream?: { cork(): void; uncork(): void } }).stream;
    if (!stream) return;
    this.corked = true;
    stream.cork();
    process.nextTick(() => {
      this.corked = false;
      stream.uncork();
    });
  }

  /** EVALSHA as a plain command (it shares auto-pipelined writes); the script itself on NOSCRIPT. */
  private async evalScript(script: LuaScript, keysThenArgs: (string | number)[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(script.sha, script.numberOfKeys, ...keysThenArgs);
    } catch (err) {
      // First call on this Redis, or after a restart / SCRIPT FLUSH.
      if (!String((err as Error)?.message).includes('NOSCRIPT')) throw err;
      return await this.redis.eval(script.lua, script.numberOfKeys, ...keysThenArgs);
    }
  }

  async release(message_id: string): Promise<void> {
    await this.releaseRaw(message_id, false);
  }

  private async releaseRaw(message_id: string, rollback: boolean): Promise<void> {
    await this.call(() => this.evalScript(rollback ? ROLLBACK : RELEASE, [this.k('R', message_id), message_id, this.base]));
  }

  // ---------- state feeders ----------

  async recordInbound(sender_id: string, wa_id: string, at: number, opts?: { referral?: boolean }): Promise<void> {
    await this.call(() => this.redis.wgRecordInbound(...this.inboundArgs(sender_id, wa_id, at, opts?.referral ? at : null, null)));
  }

  private inboundArgs(sender_id: string, wa_id: string, at: number, referral_at: number | null, fep: number | null): (string | number)[] {
    return [this.windowKey(sender_id, wa_id), this.k('C', wa_id), at, referral_at ?? '', fep ?? '', FEP_WINDOW_MS, WINDOW_TTL_MS];
  }

  async mergeIdentities(links: IdentityMerge[]): Promise<void> {
    const args = links.filter((l) => l.user_id !== l.wa_id).flatMap((l) => [enc(l.business_id), enc(l.user_id), enc(l.wa_id)]);
    if (!args.length) return;
    await this.call(() => this.evalScript(MERGE_IDENTITIES, [this.base, TTL_MS, ...args]));
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
    await this.call(() => this.redis.wgUpsertTemplate(...this.templateArgs(t)));
  }

  private templateArgs(t: TemplateRecord): (string | number)[] {
    // The record, not the caller, gives the category; an unreadable one is marketing, the strictest.
    const cat = templateCategory(t.category) ?? 'marketing';
    return [
      this.gKey,
      this.k('TL', t.waba_id, t.name),
      this.k('TA', t.waba_id),
      JSON.stringify(t),
      t.status,
      cat,
      t.language,
      t.name,
      RedisGateState.templateField(t.waba_id, t.name, t.language),
    ];
  }

  async setPortfolioLimit(business_id: string, limit: number | null, at: number): Promise<void> {
    await this.call(() => this.redis.hset(this.gKey, `pl:${enc(business_id)}`, `${limit ?? -1}|${at}`));
  }

  async setSenderRestrictions(sender_id: string, restrictions: SenderRestriction[]): Promise<void> {
    const field = RedisGateState.restrictionsField(sender_id);
    await this.call(() =>
      restrictions.length ? this.redis.hset(this.gKey, field, JSON.stringify(restrictions)) : this.redis.hdel(this.gKey, field),
    );
  }

  async setSenderStatus(s: SenderStatus): Promise<void> {
    await this.call(() => this.redis.hset(this.gKey, RedisGateState.senderField(s.sender_id), JSON.stringify(s)));
  }

  async tierUsage(business_id: string, now: number): Promise<number> {
    return Number(await this.call(() => this.redis.zcount(this.k('TU', business_id), `(${now - DAY_MS}`, '+inf')));
  }

  async marketingCount(wa_id: string, now: number): Promise<number> {
    const live = await this.call(() => this.redis.zrangebyscore(this.k('Z', wa_id), `(${now - DAY_MS}`, '+inf'));
    return live.filter((m) => m.startsWith('m:')).length;
  }

  /**
   * Replaces this namespace's gate state with the seed (from the durable store, the source of truth).
   * A second instance starting later reloads the same facts; reservations another instance took but
   * has not yet stored are dropped for that moment (the store is written before a send is queued).
   */
  async load(seed: GateSeed): Promise<void> {
    await this.call(async () => {
      if (this.loadMode === 'if_empty' && (await this.redis.hexists(this.gKey, 'L'))) return;
      // The marker goes first and comes back last: decisions fail closed while the state is partial.
      await this.redis.hdel(this.gKey, 'L');
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
        (p as unknown as Scripted).wgRecordInbound(
          ...this.inboundArgs(w.sender_id, w.wa_id, w.last_inbound_at, w.referral_at, w.fep_opened_at ?? null),
        );
        await flush();
      }
      for (const t of seed.templates) {
        (p as unknown as Scripted).wgUpsertTemplate(...this.templateArgs(t));
        await flush();
      }
      for (const s of seed.senders) {
        p.hset(this.gKey, RedisGateState.senderField(s.sender_id), JSON.stringify(s));
        await flush();
      }
      for (const l of seed.portfolio_limits ?? []) {
        p.hset(this.gKey, `pl:${enc(l.business_id)}`, `${l.limit ?? -1}|${l.at}`);
        await flush();
      }
      for (const r of seed.restrictions ?? []) {
        if (!r.restrictions.length) continue;
        p.hset(this.gKey, RedisGateState.restrictionsField(r.sender_id), JSON.stringify(r.restrictions));
        await flush();
      }
      const seen = new Set<string>();
      const phoneOf = linkedPhones(seed.identity_links);
      for (const r of [...seed.reservations].sort((a, b) => a.at - b.at)) {
        if (seen.has(r.message_id)) continue;
        seen.add(r.message_id);
        const business = this.businessOf.get(r.sender_id) ?? r.sender_id;
        const recipient = phoneOf(business, r.to) ?? r.to;
        const biz = enc(business);
        const to = enc(recipient);
        const z = this.k('Z', recipient);
        const tail = `${biz}|${to}|${enc(r.sender_id)}`;
        p.set(
          this.k('R', r.message_id),
          `${r.category}|${r.marketing_slot ? 1 : 0}|${r.tier_slot ? 1 : 0}|${r.at}|0|${tail}`,
          'PX',
          TTL_MS,
        );
        if (r.marketing_slot) p.zadd(z, r.at, `m:${r.message_id}`).pexpire(z, TTL_MS);
        if (r.tier_slot) p.zadd(z, r.at, `t:${biz}:${r.message_id}`).pexpire(z, TTL_MS).zadd(`${this.base}:TU:${biz}`, 'GT', r.at, to);
        await flush();
      }
      await flush(true);
      await this.redis.hset(this.gKey, 'L', String(Date.now()));
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

  /** Parsed template records and sender statuses by their stored text: a campaign sends one template
   * from one sender many times. Read-only: decide() never changes them. */
  private readonly parsed = new Map<string, TemplateRecord | SenderStatus | SenderRestriction[]>();

  private parseCached<T extends TemplateRecord | SenderStatus | SenderRestriction[]>(text: string, from = 0): T {
    let v = this.parsed.get(text);
    if (!v) {
      if (this.parsed.size >= 1_000) this.parsed.clear();
      v = JSON.parse(from ? text.slice(from) : text) as T;
      this.parsed.set(text, v);
    }
    return v as T;
  }

  private toSnapshot(raw: Raw): GateSnapshot {
    const [sjson, tpl, cflat, li, ra, fep, mCount, mOldest, tUsed, tCounted, tOldest, , , rjson, pljson] = raw;
    let customer: SnapshotCustomer | null = null;
    let lastAny: number | null = null;
    if (cflat.length) {
      const h: Record<string, string> = {};
      for (let i = 0; i < cflat.length; i += 2) h[cflat[i]] = cflat[i + 1];
      lastAny = num(h.li);
      if (h.x) {
        const consent = {} as SnapshotCustomer['consent'];
        for (const cat of CATEGORIES)
          consent[cat] = { state: (h[`cs:${cat}`] as ConsentState | undefined) ?? 'unknown', at: num(h[`ca:${cat}`]) };
        customer = {
          consent,
          tags: h.tags ? (JSON.parse(h.tags) as string[]) : [],
          time_zone: h.tz ?? null,
          undeliverable_at: num(h.und),
          marketing_limited_at: num(h.mla),
        };
      }
    }
    return {
      sender_status: sjson ? this.parseCached<SenderStatus>(sjson) : null,
      restrictions: rjson ? this.parseCached<SenderRestriction[]>(rjson) : [],
      portfolio_limit: pljson ? portfolioLimit(pljson) : null,
      customer,
      window: li == null ? null : { last_inbound_at: Number(li), referral_at: num(ra), fep_opened_at: num(fep) },
      last_inbound_any_at: lastAny,
      // "<status>|<category>|<record JSON>": the JSON starts after the second "|".
      template: tpl ? this.parseCached<TemplateRecord>(tpl, tpl.indexOf('|', tpl.indexOf('|') + 1) + 1) : null,
      template_languages: [],
      approved_templates: [],
      marketing_count_24h: mCount,
      marketing_oldest_at: mOldest,
      tier_used: tUsed,
      tier_recipient_counted: tCounted === 1,
      tier_oldest_at: tOldest,
    };
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

/** A G field pl:<business>: "<limit, -1 unlimited>|<at>". */
function portfolioLimit(v: string): { limit: number | null; at: number } {
  const [l, at] = v.split('|');
  const n = Number(l);
  return { limit: n === -1 ? null : n, at: Number(at) };
}

const num = (v: string | number | null | undefined): number | null => (v === null || v === undefined || v === '' ? null : Number(v));
