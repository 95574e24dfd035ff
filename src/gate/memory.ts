// The embedded gate state: in-process maps. checkAndReserve builds the snapshot, runs the pure
// decide() and records the reservation in ONE synchronous step (no await between read and write), so
// two concurrent sends can never both take the last slot. Sliding 24h windows are a time-ordered
// timeline of reservations, pruned as time moves. Rebuilt from the durable store with load(seed).
import { decide, type GateSnapshot, type SnapshotCustomer } from '../domain/decide.ts';
import type { Policies } from '../domain/policies.ts';
import {
  CATEGORIES,
  DAY_MS,
  FEP_WINDOW_MS,
  CARE_WINDOW_MS,
  type Category,
  type SenderConfig,
  type SenderStatus,
  type TemplateRecord,
} from '../domain/types.ts';
import type { SenderRestriction } from '../domain/restrictions.ts';
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

interface Res extends Reservation {
  business_id: string;
  live: boolean; // false once released or pruned
}

interface Win {
  last_inbound_at: number;
  referral_at: number | null;
  fep_opened_at: number | null;
}

const K = '\u0000';

function blankCustomer(): SnapshotCustomer {
  const c = {} as SnapshotCustomer['consent'];
  for (const cat of CATEGORIES) c[cat] = { state: 'unknown', at: null };
  return { consent: c, tags: [], time_zone: null, undeliverable_at: null, marketing_limited_at: null };
}

export class MemoryGateState implements GateState {
  private policies: Policies;
  private readonly businessOf = new Map<string, string>();
  private customers = new Map<string, SnapshotCustomer>();
  private windows = new Map<string, Win>();
  private lastInbound = new Map<string, number>();
  private templates = new Map<string, TemplateRecord>();
  private templateLangs = new Map<string, Set<string>>();
  private approved = new Map<string, string[] | null>();
  private senders = new Map<string, SenderStatus>();
  private restrictions = new Map<string, SenderRestriction[]>();
  private portfolioLimits = new Map<string, { limit: number | null; at: number }>();
  private reservations = new Map<string, Res>();
  private marketing = new Map<string, Res[]>(); // wa_id → marketing-slot reservations, oldest first
  private tier = new Map<string, Map<string, Res[]>>(); // business_id → wa_id → tier-slot reservations
  private timeline: Res[] = []; // every live reservation, oldest first
  private head = 0;

  constructor(opts: { policies: Policies; senders: SenderConfig[] }) {
    this.policies = opts.policies;
    for (const s of opts.senders) this.businessOf.set(s.id, s.business_id);
  }

  /** Policies can be reloaded without a restart. */
  setPolicies(p: Policies): void {
    this.policies = p;
  }

  // ---------- decisions ----------

  async check(req: GateRequest, now: number, opts: CheckOptions = {}): Promise<GateOutcome> {
    const r = decide({ req, snapshot: this.snapshot(req, now), policies: this.policies, now, explain: opts.explain });
    return { decision: r.decision, category: r.category, new_tier_recipient: r.decision.allowed && r.new_tier_recipient };
  }

  async checkAndReserve(req: GateRequest, now: number): Promise<GateOutcome> {
    return this.reserveSync(req, now);
  }

  /** The atomic step, synchronous on purpose: nothing can interleave between snapshot and record. */
  reserveSync(req: GateRequest, now: number): GateOutcome {
    const r = decide({ req, snapshot: this.snapshot(req, now), policies: this.policies, now });
    if (!r.decision.allowed) return { decision: r.decision, category: r.category };
    const existing = this.reservations.get(req.message_id);
    if (existing?.live) {
      // Same message reserved before (a retried submit): keep the first reservation, count nothing twice.
      return { decision: r.decision, category: r.category, reservation: strip(existing) };
    }
    const res: Res = {
      message_id: req.message_id,
      sender_id: req.sender.id,
      to: req.to,
      category: r.category as Category,
      marketing_slot: r.takes_marketing_slot,
      tier_slot: r.takes_tier_slot,
      at: now,
      business_id: req.sender.business_id,
      live: true,
    };
    this.insert(res);
    // A reply within 24h of a click-to-WhatsApp referral opens the 72h free-entry-point window (cost only).
    const w = this.windows.get(req.sender.id + K + req.to);
    if (
      w &&
      w.referral_at != null &&
      w.fep_opened_at == null &&
      now < w.referral_at + CARE_WINDOW_MS &&
      now < w.last_inbound_at + CARE_WINDOW_MS
    )
      w.fep_opened_at = now;
    return { decision: r.decision, category: r.category, reservation: strip(res) };
  }

  async release(message_id: string): Promise<void> {
    const res = this.reservations.get(message_id);
    if (!res) return;
    this.reservations.delete(message_id);
    this.unindex(res);
  }

  /** Builds the decision snapshot; the reservation held by req.message_id is not counted against it. */
  snapshot(req: GateRequest, now: number): GateSnapshot {
    this.prune(now);
    const cutoff = now - DAY_MS;
    const own = req.message_id;
    const waba = req.sender.waba_id;
    let template: TemplateRecord | null = null;
    let langs: string[] = [];
    if (req.template) {
      template = this.templates.get(waba + K + req.template.name + K + req.template.language) ?? null;
      if (!template) langs = [...(this.templateLangs.get(waba + K + req.template.name) ?? [])].sort();
    }
    let mCount = 0;
    let mOldest: number | null = null;
    for (const r of this.marketing.get(req.to) ?? []) {
      if (r.message_id === own || r.at <= cutoff) continue;
      mCount++;
      if (mOldest === null || r.at < mOldest) mOldest = r.at;
    }
    const biz = this.tier.get(req.sender.business_id);
    let used = biz?.size ?? 0;
    let counted = false;
    const mine = biz?.get(req.to);
    if (mine) {
      counted = mine.some((r) => r.message_id !== own && r.at > cutoff);
      if (!counted) used--;
    }
    const pl = this.portfolioLimits.get(req.sender.business_id) ?? null;
    const limit = pl ? pl.limit : req.sender.messaging_limit;
    return {
      sender_status: this.senders.get(req.sender.id) ?? null,
      restrictions: this.restrictions.get(req.sender.id) ?? [],
      portfolio_limit: pl,
      customer: this.customers.get(req.to) ?? null,
      window: this.windows.get(req.sender.id + K + req.to) ?? null,
      last_inbound_any_at: this.lastInbound.get(req.to) ?? null,
      template,
      template_languages: langs,
      approved_templates: this.approvedNames(waba),
      marketing_count_24h: mCount,
      marketing_oldest_at: mOldest,
      tier_used: used,
      tier_recipient_counted: counted,
      tier_oldest_at: limit != null && used >= limit ? this.tierFreesAt(req.sender.business_id) : null,
    };
  }

  // ---------- state feeders ----------

  async recordInbound(sender_id: string, wa_id: string, at: number, opts?: { referral?: boolean }): Promise<void> {
    this.inbound(sender_id, wa_id, at, opts?.referral ? at : null, null);
  }

  private inbound(sender_id: string, wa_id: string, at: number, referral_at: number | null, fep_opened_at: number | null): void {
    const key = sender_id + K + wa_id;
    const w = this.windows.get(key);
    if (!w) this.windows.set(key, { last_inbound_at: at, referral_at, fep_opened_at });
    else {
      w.last_inbound_at = Math.max(w.last_inbound_at, at);
      if (referral_at != null && (w.referral_at == null || referral_at > w.referral_at)) {
        w.referral_at = referral_at;
        // A new ad click starts a new free-entry-point opportunity once the previous one ended.
        if (w.fep_opened_at != null && at >= w.fep_opened_at + FEP_WINDOW_MS) w.fep_opened_at = null;
      }
      if (fep_opened_at != null) w.fep_opened_at = fep_opened_at;
    }
    if ((this.lastInbound.get(wa_id) ?? -Infinity) < at) this.lastInbound.set(wa_id, at);
  }

  async updateCustomer(u: GateCustomerUpdate): Promise<void> {
    this.applyCustomer(u, Date.now());
  }

  private applyCustomer(u: GateCustomerUpdate, defaultAt: number): void {
    let c = this.customers.get(u.wa_id);
    if (!c) {
      c = blankCustomer();
      this.customers.set(u.wa_id, c);
    }
    if (u.consent) {
      for (const [cat, state] of Object.entries(u.consent) as [Category, SnapshotCustomer['consent'][Category]['state']][]) {
        if (!state) continue;
        c.consent[cat] = { state, at: u.consent_at?.[cat] ?? defaultAt };
      }
    }
    if (u.tags !== undefined) c.tags = [...u.tags];
    if (u.time_zone !== undefined) c.time_zone = u.time_zone;
    if (u.undeliverable_at !== undefined) c.undeliverable_at = u.undeliverable_at;
    if (u.marketing_limited_at !== undefined) c.marketing_limited_at = u.marketing_limited_at;
  }

  async upsertTemplate(t: TemplateRecord): Promise<void> {
    const nameKey = t.waba_id + K + t.name;
    this.templates.set(nameKey + K + t.language, t);
    let langs = this.templateLangs.get(nameKey);
    if (!langs) this.templateLangs.set(nameKey, (langs = new Set()));
    langs.add(t.language);
    this.approved.set(t.waba_id, null);
  }

  async setSenderStatus(s: SenderStatus): Promise<void> {
    this.senders.set(s.sender_id, s);
  }

  async setPortfolioLimit(business_id: string, limit: number | null, at: number): Promise<void> {
    this.portfolioLimits.set(business_id, { limit, at });
  }

  async setSenderRestrictions(sender_id: string, restrictions: SenderRestriction[]): Promise<void> {
    if (restrictions.length)
      this.restrictions.set(
        sender_id,
        restrictions.map((r) => ({ ...r })),
      );
    else this.restrictions.delete(sender_id);
  }

  async tierUsage(business_id: string, now: number): Promise<number> {
    this.prune(now);
    return this.tier.get(business_id)?.size ?? 0;
  }

  async mergeIdentities(links: IdentityMerge[]): Promise<void> {
    for (const l of links) {
      if (l.user_id === l.wa_id) continue;
      // Only reservations holding a slot are indexed by recipient; the others count nothing.
      const moving = new Set<Res>(this.marketing.get(l.user_id) ?? []);
      for (const r of this.tier.get(l.business_id)?.get(l.user_id) ?? []) moving.add(r);
      for (const r of [...moving].sort((a, b) => a.at - b.at)) {
        if (r.business_id !== l.business_id) continue; // a BSUID is scoped to its portfolio
        this.unindex(r);
        r.to = l.wa_id;
        r.live = true;
        this.reindex(r);
      }
    }
  }

  async marketingCount(wa_id: string, now: number): Promise<number> {
    const cutoff = now - DAY_MS;
    return (this.marketing.get(wa_id) ?? []).filter((r) => r.at > cutoff).length;
  }

  async load(seed: GateSeed): Promise<void> {
    const at = Date.now();
    this.customers = new Map();
    this.windows = new Map();
    this.lastInbound = new Map();
    this.templates = new Map();
    this.templateLangs = new Map();
    this.approved = new Map();
    this.senders = new Map();
    this.restrictions = new Map();
    this.portfolioLimits = new Map();
    this.reservations = new Map();
    this.marketing = new Map();
    this.tier = new Map();
    this.timeline = [];
    this.head = 0;
    for (const c of seed.customers) this.applyCustomer(c, at);
    for (const w of seed.windows) this.inbound(w.sender_id, w.wa_id, w.last_inbound_at, w.referral_at, w.fep_opened_at ?? null);
    for (const t of seed.templates) await this.upsertTemplate(t);
    for (const s of seed.senders) await this.setSenderStatus(s);
    for (const r of seed.restrictions ?? []) await this.setSenderRestrictions(r.sender_id, r.restrictions);
    for (const l of seed.portfolio_limits ?? []) await this.setPortfolioLimit(l.business_id, l.limit, l.at);
    const phoneOf = linkedPhones(seed.identity_links);
    for (const r of [...seed.reservations].sort((a, b) => a.at - b.at)) {
      if (this.reservations.has(r.message_id)) continue;
      const business_id = this.businessOf.get(r.sender_id) ?? r.sender_id;
      this.insert({ ...r, to: phoneOf(business_id, r.to) ?? r.to, business_id, live: true });
    }
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}

  // ---------- internals ----------

  private approvedNames(waba: string): string[] {
    let names = this.approved.get(waba);
    if (!names) {
      const set = new Set<string>();
      for (const t of this.templates.values()) if (t.waba_id === waba && t.status === 'APPROVED') set.add(t.name);
      names = [...set].sort();
      this.approved.set(waba, names);
    }
    return names;
  }

  private insert(res: Res): void {
    this.reservations.set(res.message_id, res);
    const tl = this.timeline;
    if (tl.length === this.head || tl[tl.length - 1].at <= res.at) tl.push(res);
    else {
      // Out-of-order time (a seed, an injected clock): keep the timeline sorted.
      let lo = this.head;
      let hi = tl.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (tl[mid].at <= res.at) lo = mid + 1;
        else hi = mid;
      }
      tl.splice(lo, 0, res);
    }
    this.reindex(res);
  }

  /** Indexes a live reservation's slots under its recipient. */
  private reindex(res: Res): void {
    if (res.marketing_slot) {
      const list = this.marketing.get(res.to);
      if (list) insertSorted(list, res);
      else this.marketing.set(res.to, [res]);
    }
    if (res.tier_slot) {
      let biz = this.tier.get(res.business_id);
      if (!biz) this.tier.set(res.business_id, (biz = new Map()));
      const list = biz.get(res.to);
      if (list) insertSorted(list, res);
      else biz.set(res.to, [res]);
    }
  }

  private unindex(res: Res): void {
    if (!res.live) return;
    res.live = false;
    if (res.marketing_slot) {
      const list = this.marketing.get(res.to);
      if (list) {
        removeFrom(list, res);
        if (!list.length) this.marketing.delete(res.to);
      }
    }
    if (res.tier_slot) {
      const biz = this.tier.get(res.business_id);
      const list = biz?.get(res.to);
      if (biz && list) {
        removeFrom(list, res);
        if (!list.length) biz.delete(res.to);
        if (!biz.size) this.tier.delete(res.business_id);
      }
    }
  }

  /** Drops reservations older than 24h from every index (sliding windows). */
  private prune(now: number): void {
    const cutoff = now - DAY_MS;
    const tl = this.timeline;
    while (this.head < tl.length && tl[this.head].at <= cutoff) {
      const res = tl[this.head++];
      if (res.live) {
        this.unindex(res);
        if (this.reservations.get(res.message_id) === res) this.reservations.delete(res.message_id);
      }
    }
    if (this.head > 4096 && this.head * 2 > tl.length) {
      this.timeline = tl.slice(this.head);
      this.head = 0;
    }
  }

  /** When the first recipient drops out of the portfolio's 24h count (its latest send turns 24h old). */
  private tierFreesAt(business_id: string): number | null {
    const biz = this.tier.get(business_id);
    if (!biz) return null;
    for (let i = this.head; i < this.timeline.length; i++) {
      const r = this.timeline[i];
      if (!r.live || !r.tier_slot || r.business_id !== business_id) continue;
      const list = biz.get(r.to);
      if (list && list[list.length - 1] === r) return r.at;
    }
    return null;
  }
}

function strip(r: Res): Reservation {
  return {
    message_id: r.message_id,
    sender_id: r.sender_id,
    to: r.to,
    category: r.category,
    marketing_slot: r.marketing_slot,
    tier_slot: r.tier_slot,
    at: r.at,
  };
}

function insertSorted(list: Res[], r: Res): void {
  let i = list.length;
  while (i > 0 && list[i - 1].at > r.at) i--;
  list.splice(i, 0, r);
}

function removeFrom(list: Res[], r: Res): void {
  const i = list.indexOf(r);
  if (i >= 0) list.splice(i, 1);
}
