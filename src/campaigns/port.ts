// Port CampaignStore: the durable records of campaigns, their recipients (one row each, with its state
// and outcome) and scheduled messages. One adapter over the shared Kysely connection for SQLite and
// PostgreSQL (src/store/campaign-store.ts), run by one contract suite (test/campaigns/store-contract.ts).
// The claims are atomic in the store: several instances split a campaign, or the due scheduled
// messages, with no coordinator of wagate's own.
import type { Category } from '../domain/types.ts';

export type CampaignStatus = 'draft' | 'scheduled' | 'running' | 'paused' | 'completed' | 'cancelled';
export const CAMPAIGN_STATUSES: readonly CampaignStatus[] = ['draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled'];
export const TERMINAL_CAMPAIGN: readonly CampaignStatus[] = ['completed', 'cancelled'];

/** A filter over known customers (the store's customers table). */
export interface AudienceFilter {
  /** Every tag must be on the customer. */
  tags?: string[];
  /** None of these tags may be on the customer. */
  exclude_tags?: string[];
  /** Consent for the campaign's category must be one of these (default: anything but opted_out). */
  consent?: ('opted_in' | 'unknown')[];
  /** ISO country codes (from the phone number). */
  country?: string[];
  /** Only customers who wrote since this time (epoch ms): to `sender` when given, else to the campaign's sender. */
  last_inbound_since?: number;
  /** Only customers who have written to this sender (its id) at least once. */
  sender?: string;
}

export interface InvalidRow {
  /** 0-based index in the list (JSON), or the 1-based row number of the file (CSV/JSON lines). */
  index: number;
  reason: string;
}

export interface CampaignAudience {
  kind: 'list' | 'filter';
  filter?: AudienceFilter;
  /** The first invalid rows (at most 1,000 kept), with the reason; `invalid_count` has them all. */
  invalid: InvalidRow[];
  invalid_count: number;
}

export interface CampaignOptions {
  /** Quality guard: pause when this share of finished sends failed (default 0.2). */
  max_failure_rate?: number;
  /** Quality guard: pause when this share of reached recipients opted out (default 0.05). */
  max_opt_out_rate?: number;
  /** The guard needs at least this many finished sends before it judges (default 50). */
  guard_min_sample?: number;
  /** Quality guard: pause when the template's quality is this or worse (default "YELLOW": any drop from GREEN; "RED": only the worst). */
  pause_on_quality?: 'YELLOW' | 'RED';
  /** Send each recipient at this local time ("HH:MM" in their zone) on or after deliver_at. */
  local_time?: string | null;
  /** Messages per second for this campaign (default: the sender's throughput). */
  rate_mps?: number | null;
}

export interface CampaignRecord {
  id: string;
  name: string;
  sender_id: string;
  template_name: string;
  template_language: string;
  /** From the template record, never from the caller. */
  category: Exclude<Category, 'service'>;
  status: CampaignStatus;
  deliver_at: number | null;
  audience: CampaignAudience;
  options: CampaignOptions;
  /** Valid recipients stored. */
  total: number;
  /** Why it is paused, cancelled or waiting ("paused by api:ops", "quality guard: ..."). */
  status_reason: string | null;
  /** Dispatch waits for the tier budget (or quiet hours) until then. */
  waiting_until: number | null;
  actor: string;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
}

/** pending: to dispatch (at not_before); claimed: an instance holds it until claim_until; queued: its
 * message was accepted by the gate and stored; denied: the gate refused it (reason_code); cancelled. */
export type RecipientState = 'pending' | 'claimed' | 'queued' | 'denied' | 'cancelled';

export interface NewRecipient {
  seq: number;
  /** Phone digits (E.164 without "+") or a business-scoped user id. */
  recipient: string;
  variables: string[] | Record<string, string> | null;
}

export interface RecipientRecord extends NewRecipient {
  campaign_id: string;
  state: RecipientState;
  not_before: number;
  claim_until: number | null;
  claimed_by: string | null;
  /** Bumped when a queued message is withdrawn (pause) so the next submit has a new idempotency key. */
  gen: number;
  message_id: string | null;
  /** The customer key the gate decided on (phone digits, or the BSUID when no phone is linked). */
  wa_id: string | null;
  reason_code: string | null;
  detail: string | null;
  updated_at: number;
}

/** A recipient with its message's status (the outcome). */
export interface RecipientOutcome extends RecipientRecord {
  message_status: string | null;
  message_error: Record<string, unknown> | null;
}

/** How an instance leaves a claimed recipient (only if it still holds the claim). */
export interface RecipientSettle {
  seq: number;
  state: 'pending' | 'queued' | 'denied' | 'cancelled';
  message_id?: string | null;
  wa_id?: string | null;
  reason_code?: string | null;
  detail?: string | null;
  /** With pending: when to try again. */
  not_before?: number;
  gen?: number;
}

export interface RecipientTally {
  /** Recipients per state. */
  states: Record<string, number>;
  /** Denied recipients per reason code. */
  denied: Record<string, number>;
  /** Queued recipients per status of their message. */
  messages: Record<string, number>;
  /** Failed and dead-lettered messages per error code (Meta's code, or wagate's reason). */
  failed_by_code: Record<string, number>;
  /** Recipients who opted out of the campaign's category since it started. */
  opted_out_during: number;
}

export type ScheduledState = 'scheduled' | 'claimed' | 'submitted' | 'denied' | 'cancelled';

export interface ScheduledMessageRecord {
  id: string;
  sender_id: string;
  /** The recipient decided at schedule time (phone digits or BSUID): the body's own, never replaced. */
  recipient: string;
  /** Meta's message body as validated at schedule time. */
  body: Record<string, unknown>;
  deliver_at: number;
  state: ScheduledState;
  claim_until: number | null;
  claimed_by: string | null;
  message_id: string | null;
  /** The last decision (at schedule time, then when due). */
  decision: Record<string, unknown> | null;
  actor: string;
  created_at: number;
  updated_at: number;
}

/** What a filter audience looks at, per customer. */
export interface CustomerFacts {
  wa_id: string;
  tags: string[];
  consent: 'opted_in' | 'opted_out' | 'unknown';
  /** Last message from the customer to the campaign's sender (null: never). */
  last_inbound_at: number | null;
}

export interface CampaignStore {
  insertCampaign(c: CampaignRecord): Promise<void>;
  getCampaign(id: string): Promise<CampaignRecord | null>;
  listCampaigns(opts?: { status?: CampaignStatus[]; limit?: number; offset?: number }): Promise<CampaignRecord[]>;
  /** Campaigns in these states (the dispatcher's work list), oldest first. */
  campaignIds(status: CampaignStatus[], opts?: { due_before?: number }): Promise<string[]>;
  /**
   * The guarded transition: moves the campaign to `to` (with `patch`) only if its status is one of
   * `from`, in one conditional write. Returns the record after the change, or null (status was not in
   * `from`, or no such campaign).
   */
  transition(
    id: string,
    from: readonly CampaignStatus[],
    to: CampaignStatus,
    now: number,
    patch?: Partial<Pick<CampaignRecord, 'status_reason' | 'waiting_until' | 'started_at' | 'finished_at' | 'total' | 'audience'>>,
  ): Promise<CampaignRecord | null>;
  /** Patches fields without a status change. */
  updateCampaign(
    id: string,
    patch: Partial<Pick<CampaignRecord, 'status_reason' | 'waiting_until' | 'total' | 'audience'>>,
    now: number,
  ): Promise<void>;

  /** Stores recipients as pending (batched statements). A seq already stored is ignored. */
  addRecipients(campaign_id: string, rows: readonly NewRecipient[], now: number): Promise<void>;
  /**
   * Atomically claims up to `limit` recipients that are pending and due (not_before <= now), or
   * claimed by someone whose claim expired, in seq order; each is claimed by one caller only.
   */
  claimRecipients(campaign_id: string, limit: number, now: number, lease_ms: number, claimer: string): Promise<RecipientRecord[]>;
  /** Settles claimed recipients (one statement per chunk); only rows still claimed by `claimer` change. The seqs that changed, in order. */
  settleRecipients(campaign_id: string, items: readonly RecipientSettle[], claimer: string, now: number): Promise<number[]>;
  /** Pending and claimed recipients to cancelled (a claimer still in flight loses its settle and withdraws its message); how many. */
  cancelPending(campaign_id: string, now: number): Promise<number>;
  /** Earliest not_before among pending recipients (null: none pending). */
  nextPendingAt(campaign_id: string): Promise<number | null>;
  /** Recipients per state and denial reason: the recipients' own rows alone, cheap. */
  tallyStates(campaign_id: string): Promise<Pick<RecipientTally, 'states' | 'denied'>>;
  /**
   * What became of the queued recipients (their messages' statuses, failures by code) and who opted
   * out since the start: it reads every queued recipient's message, ten times the cost of tallyStates.
   */
  tallyOutcomes(campaign_id: string, category: Category, since: number | null): Promise<Omit<RecipientTally, 'states' | 'denied'>>;
  /** In seq order; `after_seq` pages by key (cheap at any depth), `offset` by count; `outcome: false` skips the message's status. */
  listRecipients(
    campaign_id: string,
    opts?: { state?: RecipientState[]; limit?: number; offset?: number; after_seq?: number; outcome?: boolean },
  ): Promise<RecipientOutcome[]>;
  /** Recipients queued whose message is still queued and never tried (attempts 0): what a pause holds back. */
  unsentQueued(campaign_id: string, limit: number): Promise<{ seq: number; gen: number; message_id: string }[]>;
  /**
   * Marks these messages failed with `code` only where they are still queued and never tried, in one
   * conditional write (a worker that claimed one first wins: it is being sent). The ids withdrawn.
   */
  withdrawMessages(ids: readonly string[], code: string, explanation: string, now: number): Promise<string[]>;
  /** Queued recipients whose message was withdrawn with `code` back to pending, next generation. */
  requeueWithdrawn(campaign_id: string, code: string, now: number): Promise<number>;
  /** Queued recipients whose message was withdrawn with `code` to cancelled. */
  cancelWithdrawn(campaign_id: string, code: string, now: number): Promise<number>;

  /** Known customers in wa_id order after `after` (keyset paging), for a filter audience. */
  customersPage(after: string, limit: number, sender_id: string, category: Category): Promise<CustomerFacts[]>;

  insertScheduled(m: ScheduledMessageRecord): Promise<void>;
  getScheduled(id: string): Promise<ScheduledMessageRecord | null>;
  /** Atomically claims due scheduled messages (or claims that expired); each by one caller only. */
  claimDueScheduled(now: number, limit: number, lease_ms: number, claimer: string): Promise<ScheduledMessageRecord[]>;
  /** Settles a claimed one (only while `claimer` holds it). True when it changed. */
  settleScheduled(
    id: string,
    claimer: string,
    patch: {
      state: 'scheduled' | 'submitted' | 'denied';
      message_id?: string | null;
      decision?: Record<string, unknown> | null;
      deliver_at?: number;
    },
    now: number,
  ): Promise<boolean>;
  /** scheduled → cancelled (a claimed or submitted one cannot be). True when it changed. */
  cancelScheduled(id: string, now: number): Promise<boolean>;
}
