// Port Store: the durable records. Adapters: sqlite.ts (embedded, default) and postgres.ts.
// Both run the same contract suite (test/store/contract.ts) and share versioned migrations.
import type {
  Category,
  ConsentState,
  CustomerRecord,
  MessageRecord,
  MessageStatus,
  SenderStatus,
  StatusEvent,
  TemplateRecord,
  WindowRecord,
} from '../domain/types.ts';
import type { GateSeed } from '../gate/port.ts';
import type { AlertAck, RollupPoint } from './rollup-store.ts';
import type { SessionRecord } from './session-store.ts';

export type { AlertAck, RollupPoint } from './rollup-store.ts';
export type { SessionRecord } from './session-store.ts';

export interface AuditEntry {
  id?: number;
  at: number;
  actor: string; // "api:key-name", "mcp", "webhook", "worker", "cli"
  action: string; // "consent.opt_out", "message.denied", "sender.halted", ...
  subject: string | null; // message id, wa_id (store hashes/masks nothing: it is the system of record)
  detail: Record<string, unknown>;
}

export interface DeadLetter {
  id: string; // dead-letter id
  message_id: string;
  sender_id: string;
  reason_code: string; // e.g. "META_131047", "MAX_ATTEMPTS", "DISPATCH_RECHECK:OPTED_OUT"
  explanation: string;
  fix: string | null;
  meta_error: Record<string, unknown> | null;
  attempts: number;
  created_at: number;
  /** "open" until replayed or discarded. */
  state: 'open' | 'replayed' | 'discarded';
}

/**
 * A webhook batch that could not be parsed or applied with the store up, set aside (moved out of the
 * pending batches) so it never blocks the batches after it; kept with its raw body for a replay.
 */
export interface FailedWebhookBatch {
  id: string;
  /** When the batch was received (persisted before the 200). */
  received_at: number;
  /** The last time it failed. */
  failed_at: number;
  /** Why it failed the last time (the error message). */
  error: string;
  /** How many times it was set aside (a replay that fails again counts one more). */
  attempts: number;
  /** "open" until replayed successfully or discarded. */
  state: 'open' | 'replayed' | 'discarded';
  /** When the state last changed. */
  updated_at: number;
  /** Characters of the raw body. */
  body_length: number;
  /** The raw body as Meta sent it: only from getFailedWebhookBatch. */
  body?: string;
}

export interface AlertRecord {
  id: string;
  kind: string; // "credentials_invalid", "sender_paused", ...
  severity: 'info' | 'warning' | 'critical';
  dedupe_key: string;
  sender_id: string | null;
  title: string;
  body: string;
  detail: Record<string, unknown>;
  created_at: number;
  last_sent_at: number | null;
  resolved_at: number | null;
}

export interface SenderHealthRecord {
  sender_id: string;
  data: Record<string, unknown>; // token validity, expiry, scopes, quality, limit, throughput, last error...
  updated_at: number;
}

/** What the relay needs to hand a stored message to the delivery queue. */
export interface UnenqueuedMessage {
  id: string;
  sender_id: string;
  attempts: number;
  created_at: number;
}

export interface MessageFilter {
  sender_id?: string;
  to?: string;
  status?: MessageStatus[];
  since?: number;
  limit?: number;
  offset?: number;
}

/** One forward status change for Store.applyStatusesForward; wamid/attempts/pricing set when given. */
export interface ForwardStatus {
  id: string;
  ev: StatusEvent;
  pricing?: unknown;
  wamid?: string;
  attempts?: number;
}

/**
 * What a batched status write reads back (applyStatusesForward, applyStatusesNotForward): the facts
 * its callers act on, without the message's payload and history. Read back for every status, those two
 * were most of the bytes the store sent (PostgreSQL turned a growing jsonb history into text for each).
 */
export interface MovedMessage {
  id: string;
  sender_id: string;
  to: string;
  category: MessageRecord['category'];
  status: MessageStatus;
  wamid: string | null;
  attempts: number;
  last_error: MessageRecord['last_error'];
  pricing: MessageRecord['pricing'];
  updated_at: number;
  /** Delivered or read events in its history: 1 when this status is its first delivery. */
  deliveries: number;
  /** The time of its first delivered or read event; null when it has none. */
  delivered_at: number | null;
}

export interface Store {
  // Customers and consent
  getCustomer(wa_id: string): Promise<CustomerRecord | null>;
  /** The customers among these keys that have a record (batch read; the others are absent). */
  getCustomers(wa_ids: readonly string[]): Promise<CustomerRecord[]>;
  /** Creates the customer when missing; patches only the given fields. */
  upsertCustomer(
    wa_id: string,
    patch: Partial<Pick<CustomerRecord, 'profile_name' | 'tags' | 'time_zone' | 'undeliverable_at' | 'marketing_limited_at'>>,
    now: number,
  ): Promise<CustomerRecord>;
  setConsent(wa_id: string, category: Category, state: ConsentState, source: string, at: number): Promise<CustomerRecord>;
  listCustomers(opts?: { limit?: number; offset?: number }): Promise<CustomerRecord[]>;

  // Customer-service windows
  recordInbound(sender_id: string, wa_id: string, at: number, opts?: { referral?: boolean }): Promise<WindowRecord>;
  /** Marks the 72h free-entry-point window opened by the business's reply to a referral. */
  markFepOpened(sender_id: string, wa_id: string, at: number): Promise<void>;
  getWindows(wa_id: string): Promise<WindowRecord[]>;
  /**
   * Batch read: the windows, among these (sender, customer) pairs, that have a referral
   * (referral_at set); pairs without a window or without a referral are simply absent.
   */
  getReferralWindows(pairs: { sender_id: string; wa_id: string }[]): Promise<WindowRecord[]>;
  listWindows(opts?: { sender_id?: string; active_since?: number; limit?: number; offset?: number }): Promise<WindowRecord[]>;

  // Templates
  upsertTemplate(t: TemplateRecord): Promise<void>;
  getTemplate(waba_id: string, name: string, language: string): Promise<TemplateRecord | null>;
  listTemplates(opts?: { waba_id?: string; status?: string }): Promise<TemplateRecord[]>;

  // Messages
  insertMessage(m: MessageRecord): Promise<void>;
  getMessage(id: string): Promise<MessageRecord | null>;
  getMessageByWamid(wamid: string): Promise<MessageRecord | null>;
  getMessageByIdempotencyKey(key: string): Promise<MessageRecord | null>;
  /**
   * Applies a status change monotonically (STATUS_RANK): only a higher-rank status replaces the current
   * one (failed/dead_lettered are terminal). A lower-or-equal-rank status is appended to history only
   * when that status is not in history yet (e.g. `delivered` arriving after `read`: kept for its time),
   * so duplicates never pile up. `patch` is applied either way. Atomic per message. Returns the record
   * after the change and whether the current status changed; null when the message is unknown.
   */
  applyStatus(
    id: string,
    ev: StatusEvent,
    patch?: Partial<Pick<MessageRecord, 'wamid' | 'attempts' | 'last_error' | 'pricing'>>,
  ): Promise<{ message: MessageRecord; changed: boolean } | null>;
  /** Patches fields without a status change (attempts, wamid, last_error). */
  updateMessage(
    id: string,
    patch: Partial<Pick<MessageRecord, 'wamid' | 'attempts' | 'last_error' | 'pricing'>>,
    now: number,
  ): Promise<void>;
  listMessages(filter: MessageFilter): Promise<MessageRecord[]>;
  countMessagesByStatus(): Promise<Record<string, number>>;

  // Audit
  appendAudit(e: AuditEntry): Promise<void>;
  /** Many audit rows in one statement (a webhook list's new identity links). */
  appendAudits(entries: readonly AuditEntry[]): Promise<void>;
  listAudit(opts?: { subject?: string; action?: string; limit?: number }): Promise<AuditEntry[]>;

  // Webhook dedupe: true when the key is new (and now recorded), false when seen before.
  markEventSeen(key: string, at: number): Promise<boolean>;
  /** Raw webhook batches persisted before acknowledging (durability), removed once applied. */
  saveWebhookBatch(id: string, body: string, at: number): Promise<void>;
  deleteWebhookBatch(id: string): Promise<void>;
  /** Oldest first; `at_most`: only batches persisted at or before that time. */
  listPendingWebhookBatches(limit: number, opts?: { at_most?: number }): Promise<{ id: string; body: string; at: number }[]>;
  /** When the oldest batch still waiting to be applied was persisted (null: none waits). */
  oldestPendingWebhookBatchAt(): Promise<number | null>;
  /**
   * Sets a pending batch aside with the error (state open): it leaves the pending list, its body is
   * kept. An id already set aside (a replay that failed again) gets the new error and one more attempt.
   * Does nothing when the id is in neither list.
   */
  setAsideWebhookBatch(id: string, error: string, at: number): Promise<void>;
  /** Set-aside batches, newest failure first, without their bodies (default state: every state). */
  listFailedWebhookBatches(opts?: { state?: FailedWebhookBatch['state']; limit?: number; offset?: number }): Promise<FailedWebhookBatch[]>;
  /** One set-aside batch with its raw body. */
  getFailedWebhookBatch(id: string): Promise<FailedWebhookBatch | null>;
  setFailedWebhookBatchState(id: string, state: FailedWebhookBatch['state'], at: number): Promise<void>;
  /** Batch forms: one statement for many rows (group commit under load). */
  /** The keys (of `keys`) that were new and are now recorded. */
  markEventsSeen(keys: string[], at: number): Promise<Set<string>>;
  saveWebhookBatches(rows: { id: string; body: string; at: number }[]): Promise<void>;
  deleteWebhookBatches(ids: string[]): Promise<void>;
  /**
   * The common case of applyStatus for several DIFFERENT messages in one statement: each
   * item moves its message forward (a status of higher rank than the current one, its event appended
   * to history, `pricing` set when given) exactly as applyStatus would. Returns, per item and in
   * order, the message after the change (MovedMessage), or null when that item did not move its message forward
   * (unknown message, lower/equal rank, terminal): the caller applies those with applyStatus, which
   * handles every other case. Ids must be distinct.
   */
  applyStatusesForward(items: readonly ForwardStatus[]): Promise<(MovedMessage | null)[]>;
  /**
   * applyStatus's other step for several DIFFERENT messages in one statement: for each item whose
   * message already holds a status of equal or higher rank (a duplicate, `delivered` after `read`, a
   * batch applied again after a crash), its event is recorded once in history for its time and
   * `pricing` set when given; the current status stays. Returns, per item and in order, the record
   * (changed or not), or null when the message is unknown or the status would move it forward: the
   * caller applies those with applyStatus. Ids must be distinct; `wamid` and `attempts` are ignored.
   */
  applyStatusesNotForward(items: readonly ForwardStatus[]): Promise<(MovedMessage | null)[]>;
  /** claimAttempt for several messages in one statement; the ids that were claimed. A claim also marks the
   * message enqueued (a worker got its job from the queue), so the outbox's own mark then writes nothing. */
  claimAttempts(items: readonly { id: string; expected_attempts: number; attempts: number }[], now: number): Promise<Set<string>>;
  /**
   * Sets `attempts` only if the message is still `queued` with `expected_attempts` (one
   * conditional write instead of a read and a write). True when it was set.
   */
  claimAttempt(id: string, expected_attempts: number, attempts: number, now: number): Promise<boolean>;

  // Identities (Meta 2026): a business-scoped user id (BSUID) and the phone of the same person, per
  // business portfolio (a BSUID means nothing to another portfolio).
  /**
   * Records that `user_id` is the person with phone `wa_id` in `business_id`. True when this is new
   * (unknown, or it named another phone: the newer link wins).
   */
  linkIdentity(l: { business_id: string; user_id: string; wa_id: string; at: number }): Promise<boolean>;
  /** linkIdentity for many pairs in one statement: the pairs that were new (or moved), in no set order. */
  linkIdentities(
    links: readonly { business_id: string; user_id: string; wa_id: string; at: number }[],
  ): Promise<{ business_id: string; user_id: string; wa_id: string }[]>;
  /** The phone linked to this BSUID in this portfolio, or null. */
  getLinkedPhone(business_id: string, user_id: string): Promise<string | null>;
  /** The BSUIDs linked to this phone in this portfolio. */
  listLinkedUserIds(business_id: string, wa_id: string): Promise<string[]>;

  // Pricing (Meta, 1 Oct 2026): service messages delivered per sender per calendar month (UTC
  // "YYYY-MM"), which back the monthly free allowance (src/domain/pricing-rules.ts).
  /** Adds `n` to each (sender, month) count, in one statement; repeated keys add up. */
  addServiceMessages(items: readonly { sender_id: string; month: string; n: number }[], now: number): Promise<void>;
  /** The service messages counted for the sender in the month (0 when none). */
  getServiceMessageCount(sender_id: string, month: string): Promise<number>;

  // Outbox: a queued message is the promise to send it; these find the ones the queue has no job for.
  /** Queued messages not yet handed to the delivery queue, created at or before `created_before`, oldest first. */
  listUnenqueued(opts: { created_before: number; limit: number }): Promise<UnenqueuedMessage[]>;
  /** The queue confirmed a job for each of these messages. */
  markEnqueued(ids: readonly string[]): Promise<void>;

  // Dead letters
  addDeadLetter(d: DeadLetter): Promise<void>;
  getDeadLetter(id: string): Promise<DeadLetter | null>;
  listDeadLetters(opts?: { state?: DeadLetter['state']; sender_id?: string; limit?: number; offset?: number }): Promise<DeadLetter[]>;
  setDeadLetterState(id: string, state: DeadLetter['state']): Promise<void>;

  // Alerts
  upsertAlert(a: AlertRecord): Promise<void>;
  getAlertByDedupeKey(key: string): Promise<AlertRecord | null>;
  listAlerts(opts?: { limit?: number; unresolved?: boolean }): Promise<AlertRecord[]>;

  /** Dashboard: an operator acknowledged the alert (the first acknowledgement is kept). */
  acknowledgeAlert(ack: AlertAck): Promise<void>;
  listAlertAcks(alert_ids: readonly string[]): Promise<AlertAck[]>;

  // Dashboard series: per-minute sums that add up (src/store/rollup-store.ts)
  /** Adds each point's value to its (minute, metric, sender, key) row. */
  addRollups(points: readonly RollupPoint[]): Promise<void>;
  /** since <= minute < until, oldest first; `senders`: only those senders' points and the sender-less ones. */
  listRollups(opts: { since: number; until?: number; metrics?: readonly string[]; senders?: readonly string[] }): Promise<RollupPoint[]>;
  /** Deletes minutes before `before` (the retention); returns the rows deleted. */
  pruneRollups(before: number): Promise<number>;

  // Dashboard sessions (src/store/session-store.ts): shared by every instance on this store
  createSession(s: SessionRecord): Promise<void>;
  /** The session of this cookie hash, expired or not (src/http/session.ts judges). */
  getSession(id_sha256: string): Promise<SessionRecord | null>;
  /** Sets last_seen, only forward. */
  touchSession(id_sha256: string, last_seen: number): Promise<void>;
  deleteSession(id_sha256: string): Promise<void>;
  /** Deletes sessions created before `created_before` or last seen before `seen_before`; returns how many. */
  pruneSessions(opts: { created_before: number; seen_before: number }): Promise<number>;

  // Sender health
  saveSenderHealth(h: SenderHealthRecord): Promise<void>;
  getSenderHealth(sender_id: string): Promise<SenderHealthRecord | null>;

  // Sender status (state, reason, credentials): persisted so a restart keeps a pause or halt.
  saveSenderStatus(s: SenderStatus): Promise<void>;
  listSenderStatuses(): Promise<SenderStatus[]>;

  // Key-value for small durable settings (sender paused state, replaced tokens, api keys...)
  getSetting(key: string): Promise<string | null>;
  setSetting(key: string, value: string | null): Promise<void>;

  /** Everything the gate state is rebuilt from on start (now - 24h horizon for reservations). */
  loadGateSeed(now: number): Promise<GateSeed>;

  ping(): Promise<boolean>;
  close(): Promise<void>;
}
