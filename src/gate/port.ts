// Port GateState: the fast-path state behind every decision (windows, opt-outs, caps, tier counts,
// templates, sender state) and the ONE atomic check-and-reserve step.
// Adapters: memory.ts (embedded, one synchronous step) and redis.ts (one Lua script, one round trip).
// Both run the same contract suite (test/gate/contract.ts).
import type { Decision } from '../domain/decision.ts';
import type { GateRequest } from '../domain/decide.ts';
import type { Category, ConsentState, SenderStatus, TemplateRecord } from '../domain/types.ts';
import type { SenderRestriction } from '../domain/restrictions.ts';

/** The request type lives with the rules that judge it (src/domain/decide.ts); re-exported for the adapters. */
export type { GateRequest };

export interface Reservation {
  message_id: string;
  sender_id: string;
  to: string;
  category: Category;
  /** Did this reservation take a per-user marketing slot? */
  marketing_slot: boolean;
  /** Does this message count toward the portfolio's unique-recipient (tier) budget? True for every
   * business-initiated send outside a care window (a recipient already counted stays counted one more
   * 24h from this send, as at Meta); the unique count is derived from these. */
  tier_slot: boolean;
  at: number;
}

export interface GateOutcome {
  decision: Decision;
  /** Category the gate settled on (from the template record for templates). */
  category: Category | null;
  /** Present when allowed and reserved. */
  reservation?: Reservation;
  /** check() only: allowed, and it would add a recipient to the portfolio's 24 h unique count (a preview's tier need). */
  new_tier_recipient?: boolean;
}

export interface CheckOptions {
  /** false: only the verdict (checks[] holds a denial's own check alone; see DecideInput.explain). */
  explain?: boolean;
}

/** Customer facts the gate keeps (mirrors the durable store). */
export interface GateCustomerUpdate {
  wa_id: string;
  consent?: Partial<Record<Category, ConsentState>>;
  /** When each consent change happened (epoch ms). A free-form reply is allowed after an opt-out only
   * inside a window the customer opened AFTER it, so the gate needs the time; absent = now. */
  consent_at?: Partial<Record<Category, number>>;
  tags?: string[];
  time_zone?: string | null;
  undeliverable_at?: number | null;
  marketing_limited_at?: number | null;
}

/** What the gate is rebuilt from on start (read from the Store). */
export interface GateSeed {
  customers: GateCustomerUpdate[];
  windows: { sender_id: string; wa_id: string; last_inbound_at: number; referral_at: number | null; fep_opened_at?: number | null }[];
  templates: TemplateRecord[];
  senders: SenderStatus[];
  /** Meta's account restrictions per sender (ACCOUNT_RESTRICTION, kept in the sender health record); absent = none. */
  restrictions?: { sender_id: string; restrictions: SenderRestriction[] }[];
  /** Messaging limits Meta reported per business portfolio (business_capability_update; null = unlimited); absent = none. */
  portfolio_limits?: { business_id: string; limit: number | null; at: number }[];
  /** Reservations still inside their 24h horizon (from messages not failed/dead-lettered). */
  reservations: Reservation[];
  /** Phone links of the business-scoped user ids those reservations were sent to: a reservation taken
   * under a BSUID whose phone was learned since counts under the phone (one person, counted once). */
  identity_links?: IdentityMerge[];
}

/** One person under two keys within a business portfolio: `user_id` (a BSUID) is `wa_id` (a phone). */
export interface IdentityMerge {
  business_id: string;
  user_id: string;
  wa_id: string;
}

/** The phone a seed's identity links know for (portfolio, BSUID): what load() counts a reservation under. */
export function linkedPhones(links: IdentityMerge[] | undefined): (business_id: string, user_id: string) => string | undefined {
  const map = new Map((links ?? []).map((l) => [`${l.business_id}\u0000${l.user_id}`, l.wa_id]));
  return (business_id, user_id) => map.get(`${business_id}\u0000${user_id}`);
}

export interface GateState {
  /**
   * Decide without reserving (dry run: /v1/compliance/check, `wagate check`, and the worker's
   * dispatch-time re-check). A reservation already held by req.message_id is NOT counted against it,
   * so a queued message re-checked before sending does not deny itself on the cap it reserved.
   */
  check(req: GateRequest, now: number, opts?: CheckOptions): Promise<GateOutcome>;
  /** Decide and, when allowed, record the reservation: one atomic step. */
  checkAndReserve(req: GateRequest, now: number): Promise<GateOutcome>;
  /** Give back a reservation (message dropped before Meta accepted it). Idempotent. */
  release(message_id: string): Promise<void>;

  // State feeders (called by the engine after the durable store is updated).
  recordInbound(sender_id: string, wa_id: string, at: number, opts?: { referral?: boolean }): Promise<void>;
  updateCustomer(update: GateCustomerUpdate): Promise<void>;
  upsertTemplate(t: TemplateRecord): Promise<void>;
  setSenderStatus(s: SenderStatus): Promise<void>;
  /** Meta's account restrictions on a sender, replacing the ones it had ([] lifts them all). */
  setSenderRestrictions(sender_id: string, restrictions: SenderRestriction[]): Promise<void>;
  /** The portfolio's messaging limit Meta reported (null = unlimited): it replaces senders[].messaging_limit there. */
  setPortfolioLimit(business_id: string, limit: number | null, at: number): Promise<void>;
  /**
   * Phones learned for business-scoped user ids: the marketing and tier slots a BSUID took (sends made
   * before its phone was known) move to the phone, so the person is counted once against the per-user
   * cap and the portfolio's unique-recipient budget. Idempotent; a BSUID with no slots costs nothing.
   */
  mergeIdentities(links: IdentityMerge[]): Promise<void>;
  /** Unique business-initiated recipients for a portfolio in the rolling 24h (tier usage). */
  tierUsage(business_id: string, now: number): Promise<number>;
  /** Marketing messages counted against the per-user cap in the rolling 24h. */
  marketingCount(wa_id: string, now: number): Promise<number>;

  load(seed: GateSeed): Promise<void>;
  /** Health probe for /ready (memory: always true). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
