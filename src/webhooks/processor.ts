// The webhook processor: takes a verified POST body, persists it (store.saveWebhookBatch) so the route
// can answer 200 at once, then applies its events one batch at a time, in arrival order, and deletes
// the batch once applied. start() re-applies any batch a crash left behind.
//
// Exactly-once effect without a transaction around "mark seen + apply":
//  - normal path: store.markEventSeen(key) first; a key seen before is a duplicate and is skipped;
//  - recovery path (a batch left by a crash or a store outage): we cannot tell whether the event that
//    was in flight got applied, so every event of that batch is applied again. That is safe because
//    every effect here is idempotent and order-safe on its own: statuses are monotonic (applyStatus),
//    windows keep the newest inbound, consent changes carry Meta's timestamp and never override a newer
//    decision, a state already in place is not rewritten (no second audit row), the confirmation reply
//    carries an Idempotency-Key, alerts are deduplicated by key.
//
// Poison batches: a batch whose body cannot be read (not JSON) or whose apply keeps failing while the
// store answers (a constraint, an encoding the database refuses, a bug) is SET ASIDE after a few tries
// (store.setAsideWebhookBatch: kept with its body and error, listed by GET /v1/webhooks/failed,
// replayable) and the batches after it go on. Only an unreachable store makes a batch wait (and retry
// forever): nothing else may block the queue.
import { createHash } from 'node:crypto';
import { EngineError, type AppContext } from '../engine/context.ts';
import type { FailedWebhookBatch } from '../store/port.ts';
import { recordInbound, setConsent, updateCustomer } from '../engine/customers.ts';
import type { Category, CustomerRecord, MessageRecord, MessageStatus, SenderConfig, StatusEvent, TemplateRecord, TemplateStatus } from '../domain/types.ts';
import { newId } from '../domain/ids.ts';
import { classify, parseWebhookError } from '../domain/errors/index.ts';
import type { GraphError } from '../meta/types.ts';
import { maskPhone } from '../observability/log.ts';
import { canonicalWaId } from '../domain/phone.ts';
import { createKeywordMatcher, STOP_CATEGORIES, type KeywordMatcher } from './keywords.ts';
import { extractEvents, isObj, metaTime, replyTexts, str, type Obj, type InboundMessageEvent, type StatusEvent_, type UserPreferenceEvent, type ValueEvent, type WebhookEvent } from './events.ts';
import { verifySignature, type SignatureCheck } from './signature.ts';
import { applyForwardOrNone } from '../store/forward.ts';
import { errorText } from '../shared/error-text.ts';

/** Meta's wa_id/from → wagate's state key (canonical: Brazil's old 8-digit and Mexico's "521" forms meet the number a business types). */
const digits = (v: unknown): string | null => {
  const s = canonicalWaId(str(v) ?? '');
  return s.length >= 5 ? s : null;
};

/** Result of one event, also the `result` label of wagate_webhook_events_total. */
export type EventResult = 'applied' | 'unchanged' | 'stale' | 'duplicate' | 'pending' | 'ignored' | 'stored' | 'error';

export interface BatchSummary {
  batch_id: string;
  events: number;
  results: Partial<Record<EventResult, number>>;
}

/** A status whose message is not known yet (its wamid not recorded): kept until the message appears. */
interface PendingStatus {
  key: string;
  wamid: string;
  event: StatusEvent_;
  parked_at: number;
}

const PENDING_SETTING = 'webhooks.pending_statuses';
/** Meta retries webhooks for up to 7 days: a status still orphaned after that will never match. */
const PENDING_TTL_MS = 7 * 24 * 3_600_000;
const PENDING_MAX = 50_000;
const SWEEP_MS = 2_000;
/** A stored batch this old and not applied is taken as left by a killed instance (see adoptOrphans). */
const ORPHAN_AFTER_MS = 30_000;
const ORPHAN_SWEEP_MS = 10_000;
/** How long start() waits for the start-up recovery before it goes on in the background. */
const START_RECOVERY_WAIT_MS = 10_000;
/** Batches accepted but not applied yet, held in memory: past this, POSTs get 503 and Meta retries
 * later (back-pressure instead of unbounded memory while the store is slow or down). */
export const MAX_BACKLOG = 2_000;
/** A Meta timestamp more than this far in the future is a clock problem: use our clock instead. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const AUDIT_VALUE_MAX = 8_192;
/** The embedded store answers synchronously, so an apply loop would otherwise never yield: give the
 * event loop (new POSTs, API calls) a turn after this much work. */
const YIELD_EVERY_MS = 4;
/** Batches applied together at most (one dedupe statement, one delete). */
const GROUP_MAX = 200;
/** Statuses of different messages applied at once: a few overlap round trips; more only takes pool connections the workers need (and the server has a connection limit). */
const STATUS_CONCURRENCY = 4;
/** Further tries of a batch that failed with the store up before it is set aside (a transient error, a deadlock, gets these). */
const POISON_RETRIES = 2;
/** Longest error message kept with a set-aside batch. */
const ERROR_MAX = 2_000;
/** Forward statuses applied in one statement at most (see applyForwardRun). */
const FORWARD_RUN_MAX = 500;
/** A status in its batchable form (Store.applyStatusesForward). */
interface ForwardItem {
  id: string;
  ev: StatusEvent;
  pricing?: unknown;
}
const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

const STATUS_MAP: Record<string, MessageStatus> = { sent: 'sent', delivered: 'delivered', read: 'read', failed: 'failed', played: 'read' };

/** Meta's template events → the status the gate acts on; null = no change of sendability. */
const TEMPLATE_EVENT: Record<string, TemplateStatus | null> = {
  APPROVED: 'APPROVED',
  REINSTATED: 'APPROVED',
  PENDING: 'PENDING',
  REJECTED: 'REJECTED',
  PAUSED: 'PAUSED',
  DISABLED: 'DISABLED',
  IN_APPEAL: 'IN_APPEAL',
  PENDING_DELETION: 'PENDING_DELETION',
  DELETED: 'DELETED',
  ARCHIVED: 'DELETED', // archived templates cannot be sent
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  FLAGGED: null, // quality warning: still sendable until Meta pauses it
  LOCKED: null, // cannot be edited; still sendable
};

/** account_update events after which Meta stops the account sending (cloud-api.md §7.8). */
const ACCOUNT_STOP_EVENTS = new Set(['DISABLED_UPDATE', 'ACCOUNT_VIOLATION', 'ACCOUNT_DELETED', 'PARTNER_APP_UNINSTALLED']);

export class BacklogFullError extends Error {
  constructor(readonly backlog: number) {
    super(`${backlog} webhook batches are waiting to be applied`);
    this.name = 'BacklogFullError';
  }
}

export class WebhookProcessor {
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  /** Batches queued or applied by this process: recovery must not apply them a second time. */
  private readonly known = new Set<string>();
  private readonly pending = new Map<string, PendingStatus[]>();
  private pendingDirty = false;
  private sweepTimer: NodeJS.Timeout | null = null;
  private orphanTimer: NodeJS.Timeout | null = null;
  /** The start-up recovery (possibly still running in the background). */
  private recovery: Promise<void> = Promise.resolve();
  private stopping = false;
  /** Ends a retry wait early (stop()). */
  private wake: (() => void) | null = null;
  private readonly matcher: KeywordMatcher;
  private readonly onMessageStatus = (m: MessageRecord) => {
    if (this.pending.size > 0 && m?.wamid && this.pending.has(m.wamid)) this.enqueue(() => this.resolvePendingNow(m.wamid!));
  };

  private readonly maxBacklog: number;
  private readonly poisonRetries: number;

  private readonly orphanSweepMs: number;

  constructor(private readonly ctx: AppContext, opts: { max_backlog?: number; poison_retries?: number; orphan_sweep_ms?: number } = {}) {
    this.maxBacklog = opts.max_backlog ?? MAX_BACKLOG;
    this.orphanSweepMs = opts.orphan_sweep_ms ?? ORPHAN_SWEEP_MS;
    this.poisonRetries = opts.poison_retries ?? POISON_RETRIES;
    const w = ctx.config.webhooks;
    this.matcher = createKeywordMatcher({ opt_out: w.opt_out_keywords, opt_in: w.opt_in_keywords });
    // Subscribed at construction: a message recorded before start() may already resolve a pending status.
    ctx.bus.on('message.status', this.onMessageStatus);
  }

  // ---- receiving -------------------------------------------------------------------------------

  /** The app secrets a signature may be made with: the current one first, then previous ones. */
  verify(raw: Buffer, header: string | string[] | undefined): SignatureCheck {
    const m = this.ctx.config.meta;
    return verifySignature(raw, header, [m.app_secret, ...(m.app_secrets_previous ?? [])]);
  }

  /**
   * Persists the raw batch (durable before the route answers 200) and schedules it. Throws only when
   * the store cannot save it (or the backlog is full): the route then answers 503 and Meta retries.
   * `unusable` (the body is not JSON): the batch is kept and set aside at its turn, never applied.
   */
  async accept(raw: string, parsed: unknown, opts: { unusable?: string } = {}): Promise<{ batch_id: string }> {
    const backlog = this.backlog() + this.saveBuf.length;
    if (backlog >= this.maxBacklog) throw new BacklogFullError(backlog);
    const now = this.ctx.now();
    const batch_id = newId('wh', now);
    await this.persist(batch_id, raw, now);
    this.known.add(batch_id);
    this.schedule(batch_id, parsed, false, opts.unusable);
    return { batch_id };
  }

  /**
   * Group commit: POSTs that arrive while a save is in flight are saved together in ONE multi-row
   * insert (one round trip and one commit for many), and each POST is answered only after the
   * statement holding its batch committed, so durability is unchanged. An idle processor saves at
   * once (no added wait). Resolution follows arrival order, so batches are scheduled in that order.
   */
  private readonly saveBuf: { id: string; body: string; at: number; done: (err?: unknown) => void }[] = [];
  private saving = false;
  private persist(id: string, body: string, at: number): Promise<void> {
    const store = this.ctx.store;
    if (!store.saveWebhookBatches) return store.saveWebhookBatch(id, body, at);
    return new Promise<void>((resolve, reject) => {
      this.saveBuf.push({ id, body, at, done: (err) => (err === undefined ? resolve() : reject(err)) });
      if (!this.saving) void this.flushSaves();
    });
  }

  private async flushSaves(): Promise<void> {
    this.saving = true;
    try {
      while (this.saveBuf.length > 0) {
        const rows = this.saveBuf.splice(0, GROUP_MAX);
        try {
          await this.ctx.store.saveWebhookBatches!(rows);
        } catch (err) {
          for (const r of rows) r.done(err ?? new Error('webhook batch not saved'));
          continue;
        }
        for (const r of rows) r.done();
      }
    } finally {
      this.saving = false;
    }
  }

  /** Resolves once every batch accepted so far (and every pending-status retry) has been applied. */
  async whenIdle(): Promise<void> {
    while (this.queued > 0) await this.chain;
  }

  /** Batches (and pending-status jobs) waiting to be applied. */
  backlog(): number {
    return this.queued + this.ready.length;
  }

  /** Number of statuses waiting for their message to be recorded. */
  pendingStatusCount(): number {
    let n = 0;
    for (const l of this.pending.values()) n += l.length;
    return n;
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  async start(): Promise<void> {
    this.stopping = false;
    this.ctx.bus.off('message.status', this.onMessageStatus); // once, also after a stop()
    this.ctx.bus.on('message.status', this.onMessageStatus);
    await this.loadPending();
    // Start-up recovery is awaited up to START_RECOVERY_WAIT_MS, then goes on in the background: under
    // load (several instances on one store) it can take minutes, and an instance that never finishes
    // starting runs no workers at all (seen in the soak: every restarted instance stuck, nothing sent).
    const recovery = this.recoverLeftovers().catch((err) => this.ctx.log.error({ err }, 'webhooks: start-up recovery failed; the batches stay stored for the next start'));
    this.recovery = recovery;
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([recovery.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), START_RECOVERY_WAIT_MS)))]);
    clearTimeout(timer);
    if (late) this.ctx.log.warn({ wait_ms: START_RECOVERY_WAIT_MS }, 'webhooks: batches left from before the restart are still being applied; continuing in the background');
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = setInterval(() => {
      if (this.pending.size > 0) this.enqueue(() => this.sweepPending());
    }, SWEEP_MS);
    this.sweepTimer.unref();
    if (this.orphanTimer) clearInterval(this.orphanTimer);
    this.orphanTimer = setInterval(() => {
      if (this.adopting || this.stopping) return;
      this.adopting = this.recovery
        .then(() => this.adoptOrphans())
        .catch((err) => this.ctx.log.warn({ err: errorText(err) }, 'webhooks: looking for batches left by other instances failed; trying again later'))
        .finally(() => (this.adopting = null));
    }, this.orphanSweepMs);
    this.orphanTimer.unref();
  }

  /** Applies again, in arrival order, the batches persisted before this start and not (fully) applied. */
  private async recoverLeftovers(): Promise<void> {
    // Crash safety: a batch persisted but not (fully) applied is applied again, in arrival order. Only
    // those persisted before this start: with several instances on one store, the batches another
    // live instance keeps receiving are its own to apply (re-applying them is harmless but, under load,
    // never ends, and this start would never finish).
    const n = await this.applyStored(this.ctx.now() + 1_000); // a second of slack for the clocks of other instances
    if (n > 0) this.ctx.log.info({ batches: n }, 'webhooks: re-applied batches left from before the restart');
  }

  /**
   * Batches another instance persisted and never applied: it was killed, and may not come back (or
   * come back late, its own recovery slow under load). Their status webhooks are what resolves its
   * in-doubt sends, so waiting for it would turn them into resends. Every ORPHAN_SWEEP_MS, a batch
   * persisted over ORPHAN_AFTER_MS ago that this process does not hold is applied here, in recovery
   * mode (idempotent: harmless if its owner applies it too).
   */
  private async adoptOrphans(): Promise<void> {
    const n = await this.applyStored(this.ctx.now() - ORPHAN_AFTER_MS);
    if (n > 0) {
      this.adopted += n;
      this.ctx.log.warn({ batches: n }, 'webhooks: applied batches another instance persisted and left unapplied');
    }
  }

  /** Batches adopted from other instances (adoptOrphans) since this process started. */
  adopted = 0;
  private adopting: Promise<void> | null = null;

  /** Applies, oldest first, the stored batches persisted at or before `cutoff` that this process does not hold; how many. */
  private async applyStored(cutoff: number): Promise<number> {
    const seen = new Set<string>();
    for (;;) {
      if (this.stopping) break;
      const rows = await this.ctx.store.listPendingWebhookBatches(500, { at_most: cutoff });
      const fresh = rows.filter((r) => !this.known.has(r.id) && !seen.has(r.id));
      if (fresh.length === 0) break;
      for (const r of fresh) {
        seen.add(r.id);
        this.known.add(r.id);
        let parsed: unknown;
        let unusable: string | undefined;
        try {
          parsed = JSON.parse(r.body);
        } catch (err) {
          unusable = `the stored body is not valid JSON (${errorText(err)})`; // set aside, kept as it is
        }
        this.schedule(r.id, parsed, true, unusable);
      }
      // Wait for these batches only, not for an idle queue: the webhook route is already up, and under
      // load new batches keep arriving, so the queue may never be idle (start() would never finish).
      while (fresh.some((r) => this.known.has(r.id))) await this.chain;
    }
    return seen.size;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.recovery;
    if (this.orphanTimer) clearInterval(this.orphanTimer);
    this.orphanTimer = null;
    await this.adopting;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.ctx.bus.off('message.status', this.onMessageStatus);
    this.wake?.();
    await this.whenIdle();
  }

  // ---- the serial apply queue ------------------------------------------------------------------

  private enqueue(job: () => Promise<void>): void {
    this.queued++;
    this.chain = this.chain
      .then(job)
      .catch((err) => this.ctx.log.error({ err }, 'webhooks: job failed'))
      .finally(() => {
        this.queued--;
      });
  }

  /**
   * Batches waiting for the apply queue. Under load they are applied as a GROUP (still in arrival
   * order): one dedupe statement and one delete for the whole group instead of two round trips per
   * batch, and statuses of different messages applied concurrently (see applyEvents).
   */
  private ready: ReadyBatch[] = [];
  private drainQueued = false;

  private schedule(batch_id: string, parsed: unknown, recovery: boolean, unusable?: string): void {
    let events: WebhookEvent[] = [];
    if (unusable === undefined) {
      try {
        events = extractEvents(parsed);
      } catch (err) {
        unusable = `its events could not be read: ${errorText(err)}`; // extraction never throws by design; if it does, the batch is set aside, not the route failed
      }
    }
    this.ready.push({ batch_id, events, recovery, ...(unusable !== undefined ? { unusable } : {}) });
    if (this.drainQueued) return;
    this.drainQueued = true;
    this.enqueue(() => this.runReady());
  }

  private async runReady(): Promise<void> {
    const group = this.ready.splice(0, GROUP_MAX);
    // Whatever arrives from now on (or is left over) gets its own turn after this group.
    this.drainQueued = false;
    if (this.ready.length > 0) {
      this.drainQueued = true;
      this.enqueue(() => this.runReady());
    }
    if (group.length === 0) return;
    try {
      await this.runGroupUntilApplied(group);
    } finally {
      for (const b of group) this.known.delete(b.batch_id); // applied and deleted, or left stored for the next start()
    }
  }

  private async runGroupUntilApplied(all: ReadyBatch[]): Promise<void> {
    // A batch that cannot be read has no events to keep in order with the others: set aside now.
    for (const b of all) if (b.unusable !== undefined) await this.setAsideUntilDone(b.batch_id, b.unusable);
    const group = all.filter((b) => b.unusable === undefined);
    if (group.length === 0 || this.stopping) return;
    const ids = group.map((b) => b.batch_id);
    const label = ids.length === 1 ? ids[0] : `${ids[0]}+${ids.length - 1}`;
    let attempt = 0;
    let poison = 0;
    for (;;) {
      try {
        await this.applyTagged(label, group.flatMap((b) => b.events.map((ev) => ({ ev, recovery: b.recovery }))));
        if (this.pendingDirty) await this.savePending();
        if (ids.length > 1 && this.ctx.store.deleteWebhookBatches) await this.ctx.store.deleteWebhookBatches(ids);
        else for (const id of ids) await this.ctx.store.deleteWebhookBatch(id);
        return;
      } catch (err) {
        attempt++;
        for (const b of group) b.recovery = true; // whatever got applied is applied again: idempotent
        if (await this.storeUp()) {
          // The store answers, so the batch itself is the problem (or a transient error: a deadlock).
          if (group.length > 1) {
            // Isolate it: each batch of the group on its own, in order; only the bad one is set aside.
            this.ctx.log.warn({ err, batch_id: label }, 'webhooks: a group of batches failed with the store up; applying them one by one');
            for (const b of group) {
              if (this.stopping) return;
              await this.runGroupUntilApplied([b]);
            }
            return;
          }
          if (++poison > this.poisonRetries) {
            await this.setAsideUntilDone(ids[0], errorText(err));
            return;
          }
          this.ctx.log.warn({ err, batch_id: label, attempt, retries_left: this.poisonRetries - poison + 1 }, 'webhooks: batch failed with the store up; will retry, then set it aside');
        } else {
          // The store is unreachable: keep the batch, wait, and apply it again in recovery mode
          // (blocking later batches keeps the order; nothing else can be applied anyway).
          this.ctx.log.error({ err, batch_id: label, attempt }, 'webhooks: batch not applied, will retry');
        }
        if (this.stopping) return; // still persisted: the next start() applies it
        await this.backoff(attempt);
        if (this.stopping) return;
      }
    }
  }

  private async storeUp(): Promise<boolean> {
    return this.ctx.store.ping().catch(() => false);
  }

  /** Waits before a retry; stop() ends the wait early. */
  private backoff(attempt: number): Promise<void> {
    return new Promise<void>((r) => {
      const timer = setTimeout(() => {
        this.wake = null;
        r();
      }, Math.min(30_000, 250 * 2 ** Math.min(attempt, 7)));
      this.wake = () => {
        clearTimeout(timer);
        r();
      };
    });
  }

  /** Sets a stored batch aside (retrying while the store is unreachable; stop() leaves it stored). */
  private async setAsideUntilDone(batch_id: string, error: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.setAside(batch_id, error);
        return;
      } catch (err) {
        this.ctx.log.error({ err, batch_id, attempt }, 'webhooks: could not set a batch aside, will retry');
        if (this.stopping) return;
        await this.backoff(attempt);
        if (this.stopping) return;
      }
    }
  }

  private async setAside(batch_id: string, error: string): Promise<void> {
    const message = error.slice(0, ERROR_MAX);
    await this.ctx.store.setAsideWebhookBatch(batch_id, message, this.ctx.now());
    this.ctx.metrics.webhookEvents.inc({ kind: 'batch', result: 'set_aside' });
    this.ctx.log.error({ batch_id, error: message }, 'webhooks: batch set aside (GET /v1/webhooks/failed); the batches after it go on');
    await this.audit('webhook.batch_set_aside', batch_id, { batch_id, error: message }).catch(() => {});
  }

  // ---- set-aside batches (GET /v1/webhooks/failed) ----------------------------------------------

  listFailed(opts: { state?: FailedWebhookBatch['state']; limit?: number; offset?: number } = {}): Promise<FailedWebhookBatch[]> {
    return this.ctx.store.listFailedWebhookBatches(opts);
  }

  async getFailed(id: string): Promise<FailedWebhookBatch> {
    const b = await this.ctx.store.getFailedWebhookBatch(id);
    if (!b) throw new EngineError('WEBHOOK_BATCH_NOT_FOUND', `No set-aside webhook batch with id "${id}".`, 'List them with GET /v1/webhooks/failed.', 404, { id });
    return b;
  }

  private async getOpen(id: string, what: string): Promise<FailedWebhookBatch> {
    const b = await this.getFailed(id);
    if (b.state !== 'open') {
      throw new EngineError('WEBHOOK_BATCH_NOT_OPEN', `Webhook batch "${id}" is ${b.state}; only an open batch can be ${what}.`, 'Nothing to do: list the open ones with GET /v1/webhooks/failed?state=open.', 409, { id, state: b.state });
    }
    return b;
  }

  /**
   * Applies a set-aside batch again, in turn with the other batches (recovery mode: every event is
   * applied again, each effect is idempotent). Applied: state `replayed`. Failing again with the store
   * up: still open, with the new error and one more attempt. The store unreachable: 503, nothing changed.
   */
  async replayFailed(id: string, actor: string): Promise<{ batch: FailedWebhookBatch; replayed: boolean; summary?: BatchSummary; error?: string }> {
    const b = await this.getOpen(id, 'replayed');
    let outcome!: { replayed: boolean; summary?: BatchSummary; error?: string };
    let outage: unknown;
    this.enqueue(async () => {
      let summary: BatchSummary | undefined;
      let error: string | undefined;
      try {
        const parsed: unknown = JSON.parse(b.body ?? '');
        summary = await this.applyEvents(id, extractEvents(parsed), true);
        if (this.pendingDirty) await this.savePending();
      } catch (err) {
        if (!(await this.storeUp())) {
          outage = err;
          return;
        }
        error = err instanceof SyntaxError ? `the body is not valid JSON (${errorText(err)})` : errorText(err);
      }
      try {
        if (error === undefined) {
          await this.ctx.store.setFailedWebhookBatchState(id, 'replayed', this.ctx.now());
          await this.audit('webhook.batch_replayed', id, { batch_id: id, by: actor, results: summary?.results ?? {} });
          outcome = { replayed: true, summary };
        } else {
          await this.setAside(id, error);
          outcome = { replayed: false, error };
        }
      } catch (err) {
        outage = err;
      }
    });
    await this.whenIdle();
    if (outage !== undefined) {
      throw new EngineError('STORE_UNAVAILABLE', `Webhook batch "${id}" could not be replayed: the store did not answer (${errorText(outage)}).`, 'Check the database (GET /ready), then replay again; the batch is still set aside.', 503, { id });
    }
    return { batch: await this.getFailed(id), ...outcome };
  }

  /** Marks a set-aside batch discarded (kept for the record, never applied). */
  async discardFailed(id: string, actor: string): Promise<FailedWebhookBatch> {
    await this.getOpen(id, 'discarded');
    await this.ctx.store.setFailedWebhookBatchState(id, 'discarded', this.ctx.now());
    await this.audit('webhook.batch_discarded', id, { batch_id: id, by: actor });
    return this.getFailed(id);
  }

  /** Applies a list of events (exported for the bench and tests through applyBody). */
  private applyEvents(batch_id: string, events: WebhookEvent[], recovery: boolean): Promise<BatchSummary> {
    return this.applyTagged(batch_id, events.map((ev) => ({ ev, recovery })));
  }

  /**
   * Applies events in order. Dedupe keys of the whole list are recorded in one statement when the
   * store can (the first occurrence of a key in the list counts as its arrival). Statuses of
   * DIFFERENT messages do not depend on each other (each applyStatus is atomic and monotonic on its
   * own row), so they run concurrently, up to STATUS_CONCURRENCY, letting the store overlap round
   * trips; statuses of the same message stay in arrival order, and any other event waits for every
   * earlier one and runs alone (consent, windows and templates keep strict order).
   */
  private async applyTagged(batch_id: string, events: { ev: WebhookEvent; recovery: boolean }[]): Promise<BatchSummary> {
    const summary: BatchSummary = { batch_id, events: events.length, results: {} };
    const store = this.ctx.store;
    let freshKeys: Set<string> | null = null;
    if (store.markEventsSeen && events.length > 1) freshKeys = await store.markEventsSeen(events.map((e) => e.ev.key), this.ctx.now());
    const firstSeen = new Set<string>();
    const isFresh = async (key: string): Promise<boolean> => {
      if (!freshKeys) return store.markEventSeen(key, this.ctx.now());
      if (firstSeen.has(key)) return false; // a repeat inside this very list
      firstSeen.add(key);
      return freshKeys.has(key);
    };
    const record = (ev: WebhookEvent, result: EventResult) => {
      summary.results[result] = (summary.results[result] ?? 0) + 1;
      this.ctx.metrics.webhookEvents.inc({ kind: ev.kind, result });
      this.ctx.bus.emit('webhook.applied', { kind: ev.kind, key: ev.key, result });
    };
    const one = async (ev: WebhookEvent, fresh: boolean, recovery: boolean): Promise<void> => {
      let result: EventResult;
      if (!fresh && !recovery) {
        result = 'duplicate';
      } else {
        try {
          result = await this.applyOne(ev);
        } catch (err) {
          if (!(await this.ctx.store.ping().catch(() => false))) throw err; // outage: retry the batch
          // A bad event must not block the others: keep it in the audit log with the error.
          result = 'error';
          this.ctx.log.error({ err, kind: ev.kind, batch_id }, 'webhooks: event could not be applied; kept in the audit log');
          const detail = { batch_id, kind: ev.kind, key: ev.key, error: errorText(err) };
          // The event itself may be what the store refuses (PostgreSQL refuses a NUL in jsonb): then
          // without it. Failing that too, the batch fails (and is set aside if it keeps failing).
          await this.audit('webhook.event_failed', null, { ...detail, event: clip(ev) }).catch(() => this.audit('webhook.event_failed', null, { ...detail, event: 'not storable' }));
        }
      }
      record(ev, result);
    };
    // In-flight status chains, by message (callback id, else wamid).
    const inflight = new Map<string, Promise<void>>();
    const settleAll = async () => {
      const all = [...inflight.values()];
      inflight.clear();
      const rs = await Promise.allSettled(all);
      const failed = rs.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    };
    // Forward statuses (the common case: sent/delivered/read found by our callback id) of different
    // messages are applied together, one statement for the run (Store.applyStatusesForward); whatever
    // that statement did not move forward goes through the one-by-one path, in order.
    const run: { ev: StatusEvent_; item: ForwardItem; recovery: boolean }[] = [];
    const runIds = new Set<string>();
    const flushRun = async () => {
      if (run.length === 0) return;
      await settleAll(); // an earlier status of one of these messages may still be in flight
      const items = run.splice(0);
      runIds.clear();
      await this.applyForwardRun(items, record, one);
    };
    const batchable = this.ctx.store.applyStatusesForward !== undefined;
    let slice = performance.now();
    try {
      for (const { ev, recovery } of events) {
        if (performance.now() - slice > YIELD_EVERY_MS) {
          await yieldToLoop();
          slice = performance.now();
        }
        const fresh = await isFresh(ev.key);
        const item = batchable && ev.kind === 'status' && (fresh || recovery) ? this.forwardItem(ev) : null;
        if (item) {
          if (runIds.has(item.id) || run.length >= FORWARD_RUN_MAX) await flushRun(); // a message's second status waits for its first
          run.push({ ev: ev as StatusEvent_, item, recovery });
          runIds.add(item.id);
          continue;
        }
        await flushRun();
        if (ev.kind === 'status') {
          const s = ev.status;
          const msgKey = str(s.biz_opaque_callback_data) ?? `wamid:${str(s.id) ?? ''}`;
          const prev = inflight.get(msgKey);
          if (!prev && inflight.size >= STATUS_CONCURRENCY) await settleAll();
          const p: Promise<void> = prev ? prev.then(() => one(ev, fresh, recovery)) : one(ev, fresh, recovery);
          inflight.set(msgKey, p);
          continue;
        }
        await settleAll();
        await one(ev, fresh, recovery);
      }
      await flushRun();
      await settleAll();
    } catch (err) {
      // Let the statuses still on their way finish before the caller retries the group.
      await Promise.allSettled([...inflight.values()]);
      throw err;
    }
    return summary;
  }

  /** Applies a parsed body directly, without persisting it (tests, bench). Serialised with the queue. */
  async applyBody(body: unknown, opts: { recovery?: boolean } = {}): Promise<BatchSummary> {
    let out!: BatchSummary;
    this.enqueue(async () => {
      out = await this.applyEvents('direct', extractEvents(body), opts.recovery ?? false);
      if (this.pendingDirty) await this.savePending();
    });
    await this.whenIdle();
    return out;
  }

  private applyOne(ev: WebhookEvent): Promise<EventResult> {
    switch (ev.kind) {
      case 'message':
        return this.applyInbound(ev);
      case 'status':
        return this.applyStatusEvent(ev);
      case 'user_preferences':
        return this.applyUserPreference(ev);
      case 'template_status':
      case 'template_quality':
      case 'template_category':
        return this.applyTemplate(ev);
      case 'phone_quality':
      case 'account_update':
      case 'account_alerts':
        return this.applyAccount(ev);
      case 'system_error':
        return this.applySystemErrors(ev);
      default:
        return this.storeUnknown(ev);
    }
  }

  // ---- inbound messages ------------------------------------------------------------------------

  private time(v: unknown): number {
    const now = this.ctx.now();
    const t = metaTime(v);
    if (t === null || t > now + MAX_CLOCK_SKEW_MS) return now;
    return t;
  }

  private sender(phone_number_id: string | null): SenderConfig | undefined {
    return phone_number_id ? this.ctx.senders.find(phone_number_id) : undefined;
  }

  private async applyInbound(ev: InboundMessageEvent): Promise<EventResult> {
    const m = ev.message;
    const sender = this.sender(ev.phone_number_id);
    const wa_id = digits(m.from);
    if (!sender || !wa_id) {
      await this.audit('webhook.unattributed', null, { reason: !sender ? 'unknown phone_number_id (not a configured sender)' : 'message without a valid "from"', phone_number_id: ev.phone_number_id, event: clip(ev.message) });
      return 'ignored';
    }
    const at = this.time(m.timestamp);
    const type = str(m.type) ?? 'unknown';
    if (type === 'system') return this.applySystemMessage(sender, wa_id, m, at);
    if (type === 'unsupported') {
      // A poll, an edit...: Meta does not say it opens the window (cloud-api.md §5.1) and the sandbox
      // does not; opening one here could allow a free-form send Meta refuses with 131047.
      const u = isObj(m.unsupported) ? m.unsupported : {};
      await this.audit('customer.unsupported_message', wa_id, { sender: sender.id, wamid: m.id, unsupported_type: u.type ?? null, at });
      return 'stored';
    }

    // Every user-authored type opens or refreshes the 24h window, from Meta's timestamp (§5.1).
    const referral = isObj(m.referral);
    await recordInbound(this.ctx, { sender_id: sender.id, wa_id, at, profile_name: ev.profile_name ?? undefined, referral, source: 'webhook' });
    if (referral) {
      const r = m.referral as Obj;
      await this.audit('customer.referral', wa_id, { sender: sender.id, wamid: m.id, source_type: r.source_type ?? null, source_id: r.source_id ?? null, source_url: r.source_url ?? null, headline: r.headline ?? null, ctwa_clid: r.ctwa_clid ?? null, at });
    }

    for (const text of replyTexts(m)) {
      const hit = this.matcher.match(text);
      if (!hit) continue;
      const tag = type === 'text' ? 'keyword' : 'button';
      if (hit.kind === 'opt_out') {
        const changed = await this.changeConsent(wa_id, STOP_CATEGORIES, 'opted_out', `webhook:${tag}:${hit.keyword}`, at, false);
        if (changed.length) await this.reply(sender, wa_id, this.ctx.config.webhooks.opt_out_confirmation, `webhook-optout-${str(m.id)}`);
      } else if (hit.kind === 'marketing_stop') {
        const changed = await this.changeConsent(wa_id, ['marketing'], 'opted_out', `webhook:${tag}:${hit.keyword}`, at, false);
        if (changed.length) await this.reply(sender, wa_id, this.ctx.config.webhooks.opt_out_confirmation, `webhook-optout-${str(m.id)}`);
      } else {
        // Opt-in keywords only undo an opt-out: "YES" to a question is not a new marketing opt-in.
        const changed = await this.changeConsent(wa_id, STOP_CATEGORIES, 'opted_in', `webhook:${tag}:${hit.keyword}`, at, true);
        if (changed.length) await this.reply(sender, wa_id, this.ctx.config.webhooks.opt_in_confirmation, `webhook-optin-${str(m.id)}`);
      }
      break;
    }
    return 'applied';
  }

  /** `system` messages are generated by Meta, not the user: no window. A changed number carries its
   * opt-outs to the new wa_id (an opt-out must survive a number change). */
  private async applySystemMessage(sender: SenderConfig, wa_id: string, m: Obj, at: number): Promise<EventResult> {
    const sys = isObj(m.system) ? m.system : {};
    const newId_ = digits(sys.wa_id) ?? digits(sys.new_wa_id);
    await this.audit('customer.system_message', wa_id, { sender: sender.id, type: sys.type ?? null, new_wa_id: newId_ ? maskPhone(newId_) : null, at });
    if (str(sys.type) === 'user_changed_number' && newId_ && newId_ !== wa_id) {
      const old = await this.ctx.store.getCustomer(wa_id);
      if (old) {
        await this.ctx.store.upsertCustomer(newId_, { profile_name: old.profile_name, tags: old.tags, time_zone: old.time_zone }, this.ctx.now());
        for (const cat of Object.keys(old.consent) as Category[]) {
          if (old.consent[cat].state === 'opted_out') await this.changeConsent(newId_, [cat], 'opted_out', `webhook:number_changed_from:${maskPhone(wa_id)}`, at, false);
        }
      }
    }
    return 'applied';
  }

  /**
   * Sets consent for each category unless a newer decision is already recorded (an old, retried
   * webhook never overrides it) or the state is already the target. Returns the categories changed.
   */
  private async changeConsent(wa_id: string, cats: readonly Category[], state: 'opted_in' | 'opted_out', source: string, at: number, onlyIfOptedOut: boolean): Promise<Category[]> {
    const cust: CustomerRecord | null = await this.ctx.store.getCustomer(wa_id);
    const changed: Category[] = [];
    for (const cat of cats) {
      const cur = cust?.consent?.[cat];
      if (cur && cur.at !== null && cur.at > at) continue;
      if (onlyIfOptedOut && cur?.state !== 'opted_out') continue;
      if (cur?.state === state) continue;
      await setConsent(this.ctx, { wa_id, category: cat, state, source, at, actor: 'webhook' });
      changed.push(cat);
    }
    if (changed.length) this.ctx.log.info({ to: maskPhone(wa_id), state, categories: changed, source }, 'webhooks: consent changed');
    return changed;
  }

  /** Optional confirmation (a free-form reply inside the window the customer's message just opened). */
  private async reply(sender: SenderConfig, wa_id: string, text: string | undefined, idempotency_key: string): Promise<void> {
    if (!text) return;
    try {
      const { submitMessage } = await import('../engine/messages.ts');
      const r = await submitMessage(this.ctx, { body: { to: wa_id, type: 'text', text: { body: text } }, sender: sender.id, idempotency_key, actor: 'webhook' });
      if (r.http_status !== 202) this.ctx.log.warn({ to: maskPhone(wa_id), reason: r.decision?.reason_code }, 'webhooks: confirmation reply not sent');
    } catch (err) {
      this.ctx.log.warn({ err, to: maskPhone(wa_id) }, 'webhooks: confirmation reply failed');
    }
  }

  private async applyUserPreference(ev: UserPreferenceEvent): Promise<EventResult> {
    const wa_id = digits(ev.wa_id);
    if (!wa_id) return this.storeUnknown({ ...ev, kind: 'unknown', field: 'user_preferences', value: ev } as ValueEvent);
    if (ev.category !== 'marketing_messages' || (ev.value !== 'stop' && ev.value !== 'resume')) {
      return this.storeUnknown({ kind: 'unknown', key: ev.key, field: `user_preferences:${ev.category}:${ev.value}`, value: ev, waba_id: ev.waba_id, entry_time: ev.entry_time, phone_number_id: ev.phone_number_id });
    }
    const at = ev.at !== null && ev.at <= this.ctx.now() + MAX_CLOCK_SKEW_MS ? ev.at : this.ctx.now();
    // "Offers and announcements" stop/resume is marketing only (§6.2); resume undoes that opt-out only.
    const changed = ev.value === 'stop'
      ? await this.changeConsent(wa_id, ['marketing'], 'opted_out', 'webhook:user_preferences:stop', at, false)
      : await this.changeConsent(wa_id, ['marketing'], 'opted_in', 'webhook:user_preferences:resume', at, true);
    return changed.length ? 'applied' : 'unchanged';
  }

  // ---- statuses --------------------------------------------------------------------------------

  /** The message a status belongs to, read from the store (pending statuses; the hot path avoids it). */
  private async findMessage(wamid: string, callback: unknown): Promise<MessageRecord | null> {
    const cb = str(callback);
    const byId = cb ? await this.ctx.store.getMessage(cb) : null;
    return byId ?? this.ctx.store.getMessageByWamid(wamid);
  }

  private async applyStatusEvent(ev: StatusEvent_): Promise<EventResult> {
    const s = ev.status;
    const wamid = str(s.id)!;
    const meta_status = str(s.status)!;
    const status = Object.hasOwn(STATUS_MAP, meta_status) ? STATUS_MAP[meta_status] : undefined;
    if (!status) return this.storeUnknown({ kind: 'unknown', key: ev.key, field: `status:${meta_status}`, value: s, waba_id: ev.waba_id, entry_time: ev.entry_time, phone_number_id: ev.phone_number_id });
    // biz_opaque_callback_data carries wagate's message id: apply by it directly (no read first). It
    // finds the message even before the send's response (and its wamid) was recorded. A wamid other
    // than the recorded one means an earlier attempt (in doubt, then resent) also reached Meta: its
    // statuses still tell what happened to this message (each history entry names its wamid).
    const cb = str(s.biz_opaque_callback_data);
    const byId = cb ? await this.applyToMessage({ id: cb, wamid: undefined }, ev, status) : null;
    if (byId) return byId;
    const msg = await this.ctx.store.getMessageByWamid(wamid);
    const byWamid = msg ? await this.applyToMessage(msg, ev, status) : null;
    if (byWamid) return byWamid;
    this.park(ev, wamid);
    return 'pending';
  }

  /**
   * The batchable form of a status event, or null when it needs the one-by-one path: a failed status
   * (errors to act on), no callback id (found by wamid), a status wagate does not know.
   */
  private forwardItem(ev: WebhookEvent): ForwardItem | null {
    if (ev.kind !== 'status') return null;
    const s = ev.status;
    const cb = str(s.biz_opaque_callback_data);
    const meta_status = str(s.status);
    const status = meta_status && Object.hasOwn(STATUS_MAP, meta_status) ? STATUS_MAP[meta_status] : undefined;
    if (!cb || !status || status === 'failed' || !str(s.id)) return null;
    const c = this.statusChange(ev, status);
    if (c.errors.length) return null;
    return { id: cb, ev: { status, at: c.at, source: 'webhook', detail: c.detail }, ...(c.patch.pricing !== undefined ? { pricing: c.patch.pricing } : {}) };
  }

  /** One statement for a run of forward statuses; the rest, one by one (see applyTagged). */
  private async applyForwardRun(
    run: { ev: StatusEvent_; item: ForwardItem; recovery: boolean }[],
    record: (ev: WebhookEvent, result: EventResult) => void,
    one: (ev: WebhookEvent, fresh: boolean, recovery: boolean) => Promise<void>,
  ): Promise<void> {
    // An outage rethrows (the group is retried); a row the statement could not take sends the run one
    // by one, which isolates it and still applies the others.
    const moved = await applyForwardOrNone(this.ctx.store, run.map((r) => r.item), (err) =>
      this.ctx.log.warn({ err, statuses: run.length }, 'webhooks: batched status update failed; applying one by one'),
    );
    for (let i = 0; i < run.length; i++) {
      const { ev, recovery } = run[i];
      const m = moved[i];
      if (!m) {
        await one(ev, true, recovery); // not forward, unknown id, or the batch failed: the full path decides
        continue;
      }
      if (!m.wamid) {
        // Found by callback id before the send's response was recorded: record Meta's id now.
        m.wamid = str(ev.status.id)!;
        await this.ctx.store.updateMessage(m.id, { wamid: m.wamid }, this.ctx.now());
      }
      this.ctx.bus.emit('message.status', m);
      record(ev, 'applied');
    }
  }

  /** What a status event changes on its message: time, history detail, field patch, parsed errors. */
  private statusChange(ev: StatusEvent_, status: MessageStatus) {
    const s = ev.status;
    const wamid = str(s.id)!;
    const meta_status = str(s.status)!;
    const at = this.time(s.timestamp);
    const errors: GraphError[] = Array.isArray(s.errors) ? s.errors.map((e) => parseWebhookError(e)) : [];
    const detail: Obj = { wamid, meta_status };
    if (isObj(s.pricing)) detail.pricing = s.pricing;
    if (isObj(s.conversation)) detail.conversation = s.conversation;
    if (errors.length) detail.errors = errors.map((e) => ({ code: e.code, title: e.title, details: e.details }));
    const patch: Partial<Pick<MessageRecord, 'wamid' | 'last_error' | 'pricing'>> = {};
    if (isObj(s.pricing)) patch.pricing = s.pricing;
    if (status === 'failed' && errors.length) {
      const e = errors[0];
      const c = classify(e);
      patch.last_error = { code: e.code, title: e.title, message: e.message, details: e.details, source: 'webhook', action: c.action, scope: c.scope, known: c.known, explanation: c.entry.explanation, fix: c.entry.fix };
    }
    return { wamid, at, detail, patch, errors };
  }

  /**
   * Applies one status to a message; null when the store has no such message. `target.wamid`:
   * the recorded wamid, null when none is recorded yet, undefined when not read (callback path).
   */
  private async applyToMessage(target: { id: string; wamid: string | null | undefined }, ev: StatusEvent_, status: MessageStatus): Promise<EventResult | null> {
    const { wamid, at, detail, patch, errors } = this.statusChange(ev, status);
    if (target.wamid === null) patch.wamid = wamid;
    const r = await this.ctx.store.applyStatus(target.id, { status, at, source: 'webhook', detail }, patch);
    if (!r) return null;
    if (!r.message.wamid) {
      // Found by callback id before the send's response was recorded: record Meta's id now.
      await this.ctx.store.updateMessage(target.id, { wamid }, this.ctx.now());
      r.message.wamid = wamid;
    }
    if (status === 'failed') {
      await this.actOnFailure(r.message, errors, at);
      // Matches the store's gate seed (failed messages hold no reservation): a failed message does
      // not count against the caps it reserved.
      if (r.changed) await this.ctx.gate.release(target.id);
    }
    if (r.changed) this.ctx.bus.emit('message.status', r.message);
    return r.changed ? 'applied' : 'stale';
  }

  /** What a failed status teaches about the recipient (cloud-api.md §4.6, §6.2). */
  private async actOnFailure(msg: MessageRecord, errors: GraphError[], at: number): Promise<void> {
    for (const e of errors) {
      if (e.code === 131049) {
        // Per-user marketing limit: no marketing to this user for 24h (the gate reads marketing_limited_at).
        const cur = await this.ctx.store.getCustomer(msg.to);
        if ((cur?.marketing_limited_at ?? 0) < at) await updateCustomer(this.ctx, { wa_id: msg.to, marketing_limited_at: at, actor: 'webhook:status:131049' });
      } else if (e.code === 131050) {
        await this.changeConsent(msg.to, ['marketing'], 'opted_out', 'webhook:status:131050', at, false);
      } else if (e.code === 131026) {
        const cur = await this.ctx.store.getCustomer(msg.to);
        if (!cur?.undeliverable_at) await updateCustomer(this.ctx, { wa_id: msg.to, undeliverable_at: at, actor: 'webhook:status:131026' });
      }
    }
  }

  // ---- statuses that arrive before their message ------------------------------------------------

  private park(ev: StatusEvent_, wamid: string): void {
    const list = this.pending.get(wamid) ?? [];
    if (list.some((p) => p.key === ev.key)) return;
    if (this.pendingStatusCount() >= PENDING_MAX) {
      this.ctx.log.warn({ wamid }, 'webhooks: too many statuses waiting for unknown messages; the oldest is dropped');
      const [firstKey] = this.pending.keys();
      const first = this.pending.get(firstKey)!;
      first.shift();
      if (first.length === 0) this.pending.delete(firstKey);
    }
    list.push({ key: ev.key, wamid, event: ev, parked_at: this.ctx.now() });
    this.pending.set(wamid, list);
    this.pendingDirty = true;
  }

  /** Applies the statuses kept for `wamid` now that its message may be recorded. */
  async resolvePending(wamid: string): Promise<void> {
    if (!this.pending.has(wamid)) return;
    this.enqueue(() => this.resolvePendingNow(wamid));
    await this.whenIdle();
  }

  private async resolvePendingNow(wamid: string): Promise<void> {
    const list = this.pending.get(wamid);
    if (!list) return;
    const msg = await this.findMessage(wamid, list[0].event.status.biz_opaque_callback_data);
    if (!msg) return;
    this.pending.delete(wamid);
    this.pendingDirty = true;
    for (const p of list) {
      const result = await this.applyToMessage(msg, p.event, STATUS_MAP[str(p.event.status.status)!]);
      if (result === null) this.park(p.event, wamid); // vanished again: keep waiting
      this.ctx.metrics.webhookEvents.inc({ kind: 'status', result: result === null ? 'pending' : `late_${result}` });
    }
    await this.savePending();
  }

  private async sweepPending(): Promise<void> {
    const now = this.ctx.now();
    for (const [wamid, list] of [...this.pending]) {
      if (now - list[0].parked_at > PENDING_TTL_MS) {
        this.pending.delete(wamid);
        this.pendingDirty = true;
        this.ctx.metrics.webhookEvents.inc({ kind: 'status', result: 'expired' });
        await this.audit('webhook.status_unmatched', null, { wamid, statuses: list.map((p) => p.event.status.status), parked_at: list[0].parked_at });
        continue;
      }
      await this.resolvePendingNow(wamid);
    }
    if (this.pendingDirty) await this.savePending();
  }

  private async savePending(): Promise<void> {
    const all = [...this.pending.values()].flat();
    await this.ctx.store.setSetting(PENDING_SETTING, all.length ? JSON.stringify(all) : null);
    this.pendingDirty = false;
  }

  private async loadPending(): Promise<void> {
    const raw = await this.ctx.store.getSetting(PENDING_SETTING);
    if (!raw) return;
    try {
      for (const p of JSON.parse(raw) as PendingStatus[]) {
        const list = this.pending.get(p.wamid) ?? [];
        if (!list.some((x) => x.key === p.key)) list.push(p);
        this.pending.set(p.wamid, list);
      }
    } catch (err) {
      this.ctx.log.error({ err }, 'webhooks: pending statuses setting unreadable; ignored');
    }
  }

  // ---- templates -------------------------------------------------------------------------------

  private async applyTemplate(ev: ValueEvent): Promise<EventResult> {
    const v = ev.value as Obj;
    const name = str(v.message_template_name);
    const language = str(v.message_template_language);
    const waba_id = ev.waba_id;
    if (!name || !language || !waba_id) return this.storeUnknown({ ...ev, kind: 'unknown', field: `${ev.field}:incomplete` });
    const existing = await this.ctx.store.getTemplate(waba_id, name, language);
    // Meta's entry.time orders template changes: one older than the record's last update (a sync or a
    // later webhook) is stale. Seconds vs milliseconds: within the same second the webhook wins.
    if (existing && ev.entry_time !== null && ev.entry_time + 1000 <= existing.updated_at) return 'stale';
    const rec: TemplateRecord = existing
      ? { ...existing }
      : // First news of a template: until a sync fills it in, treat it as marketing (the strictest
        // category: caps and marketing opt-outs apply) unless Meta names the category.
        { waba_id, name, language, category: 'marketing', status: 'PENDING', quality: null, components: [], meta_id: null, updated_at: 0 };
    rec.meta_id = str(v.message_template_id) ?? rec.meta_id ?? null;
    const before = { status: rec.status, quality: rec.quality ?? null, category: rec.category };
    const detail: Obj = { waba_id, name, language };

    if (ev.kind === 'template_status') {
      const event = (str(v.event) ?? '').toUpperCase();
      const next = Object.hasOwn(TEMPLATE_EVENT, event) ? TEMPLATE_EVENT[event] : undefined;
      if (next === undefined) detail.unknown_event = event;
      else if (next !== null) rec.status = next;
      const cat = category(v.message_template_category);
      if (cat) rec.category = cat;
      Object.assign(detail, { event, reason: v.reason ?? null, other_info: v.other_info ?? null, rejection_info: v.rejection_info ?? null, disable_info: v.disable_info ?? null });
    } else if (ev.kind === 'template_quality') {
      const q = str(v.new_quality_score)?.toUpperCase();
      if (q === 'GREEN' || q === 'YELLOW' || q === 'RED' || q === 'UNKNOWN') rec.quality = q;
      detail.previous_quality = v.previous_quality_score ?? null;
      detail.new_quality = v.new_quality_score ?? null;
    } else {
      // template_category_update: an impending change (correct_category + category_update_timestamp)
      // changes nothing yet (new_category is still the current one); a completed one switches it.
      const cat = category(v.new_category);
      if (v.correct_category !== undefined) detail.impending = { correct_category: v.correct_category, at: metaTime(v.category_update_timestamp) };
      if (cat) rec.category = cat;
      detail.previous_category = v.previous_category ?? null;
      detail.new_category = v.new_category ?? null;
    }
    rec.updated_at = Math.max(existing?.updated_at ?? 0, ev.entry_time ?? this.ctx.now());
    await this.ctx.store.upsertTemplate(rec);
    await this.ctx.gate.upsertTemplate(rec); // a PAUSED or DISABLED template is denied at the gate from now on
    const after = { status: rec.status, quality: rec.quality ?? null, category: rec.category };
    const changed = !existing || before.status !== after.status || before.quality !== after.quality || before.category !== after.category;
    if (changed) await this.audit(`template.${ev.kind.replace('template_', '')}`, `${waba_id}:${name}:${language}`, { ...detail, before, after });
    this.templateAlerts(rec, detail);
    return changed ? 'applied' : 'unchanged';
  }

  private templateAlerts(t: TemplateRecord, detail: Obj): void {
    const base = `template:${t.waba_id}:${t.name}:${t.language}`;
    const senderOf = this.ctx.senders.list().find((s) => s.waba_id === t.waba_id)?.id ?? null;
    if (t.status === 'PAUSED' || t.status === 'DISABLED') {
      const kind = t.status === 'PAUSED' ? 'template_paused' : 'template_disabled';
      this.ctx.alerts.raise({
        kind,
        severity: t.status === 'PAUSED' ? 'warning' : 'critical',
        dedupe_key: `${base}:${t.status}`,
        sender_id: senderOf,
        title: `Template ${t.name} (${t.language}) is ${t.status}`,
        body:
          t.status === 'PAUSED'
            ? `Meta paused template "${t.name}" (${t.language}) for low quality; wagate now denies sends of it (TEMPLATE_PAUSED). Review the content and the audience; Meta unpauses it automatically or after an edit.`
            : `Meta disabled template "${t.name}" (${t.language}); wagate denies sends of it. Create a new template with improved content, or appeal in WhatsApp Manager.`,
        detail,
      });
    } else if (t.status === 'APPROVED') {
      this.ctx.alerts.resolve(`${base}:PAUSED`);
      this.ctx.alerts.resolve(`${base}:DISABLED`);
    }
    if (t.quality === 'RED') {
      this.ctx.alerts.raise({ kind: 'quality_dropped', severity: 'warning', dedupe_key: `${base}:quality_red`, sender_id: senderOf, title: `Template ${t.name} (${t.language}) quality is RED`, body: `Meta rates template "${t.name}" low quality; it may be paused next. Review its content and who receives it.`, detail });
    } else if (t.quality) {
      this.ctx.alerts.resolve(`${base}:quality_red`);
    }
  }

  // ---- phone number quality, account updates and alerts ------------------------------------------

  private async applyAccount(ev: ValueEvent): Promise<EventResult> {
    const v = ev.value as Obj;
    const at = ev.entry_time ?? this.ctx.now();
    const inWaba = this.ctx.senders.list().filter((s) => s.waba_id === ev.waba_id);
    let targets: SenderConfig[];
    if (ev.kind === 'phone_quality') {
      const shown = digits(v.display_phone_number);
      const byNumber = shown ? inWaba.filter((s) => digits(s.display_phone_number) === shown) : [];
      targets = byNumber.length ? byNumber : inWaba.length === 1 ? inWaba : [];
    } else if (ev.kind === 'account_alerts' && str(v.entity_type) === 'PHONE_NUMBER') {
      const byId = inWaba.filter((s) => s.phone_number_id === str(v.entity_id));
      targets = byId.length ? byId : inWaba;
    } else {
      targets = inWaba;
    }
    const sender_ids = targets.map((s) => s.id);
    const parsed: Obj =
      ev.kind === 'phone_quality'
        ? { waba_id: ev.waba_id, sender_id: sender_ids[0] ?? null, sender_ids, display_phone_number: v.display_phone_number ?? null, event: v.event ?? null, current_limit: v.current_limit ?? null, old_limit: v.old_limit ?? null, max_daily_conversations_per_business: v.max_daily_conversations_per_business ?? null, at }
        : ev.kind === 'account_update'
          ? { waba_id: ev.waba_id, sender_ids, event: v.event ?? null, stop_sending: ACCOUNT_STOP_EVENTS.has(str(v.event) ?? '') && !(isObj(v.ban_info) && v.ban_info.waba_ban_state === 'REINSTATE'), ban_info: v.ban_info ?? null, violation_info: v.violation_info ?? null, at }
          : { waba_id: ev.waba_id, sender_ids, entity_type: v.entity_type ?? null, entity_id: v.entity_id ?? null, alert_info: v.alert_info ?? null, at };
    const busEvent = ev.kind === 'phone_quality' ? 'meta.phone_quality' : ev.kind === 'account_update' ? 'meta.account_update' : 'meta.account_alert';
    const healthKey = ev.kind === 'phone_quality' ? 'webhook_phone_quality' : ev.kind === 'account_update' ? 'webhook_account_update' : 'webhook_account_alert';
    for (const id of sender_ids) {
      const cur = await this.ctx.store.getSenderHealth(id);
      await this.ctx.store.saveSenderHealth({ sender_id: id, data: { ...(cur?.data ?? {}), [healthKey]: parsed }, updated_at: this.ctx.now() });
    }
    await this.audit(busEvent, ev.waba_id, { ...parsed, value: clip(v) });
    this.ctx.bus.emit(busEvent, { ...parsed, value: v });
    return sender_ids.length ? 'applied' : 'stored';
  }

  private async applySystemErrors(ev: ValueEvent): Promise<EventResult> {
    const errors = (Array.isArray(ev.value) ? ev.value : []).map((e) => parseWebhookError(e));
    const sender = this.sender(ev.phone_number_id);
    const detail = { waba_id: ev.waba_id, sender_id: sender?.id ?? null, phone_number_id: ev.phone_number_id, errors: errors.map((e) => ({ code: e.code, title: e.title, details: e.details, action: classify(e).action })) };
    await this.audit('webhook.system_error', sender?.id ?? ev.waba_id, detail);
    this.ctx.bus.emit('meta.system_error', detail);
    return 'stored';
  }

  private async storeUnknown(ev: ValueEvent): Promise<EventResult> {
    await this.audit('webhook.unknown', ev.waba_id, { field: ev.field, key: ev.key, value: clip(ev.value) });
    return 'stored';
  }

  private async audit(action: string, subject: string | null, detail: Obj): Promise<void> {
    await this.ctx.store.appendAudit({ at: this.ctx.now(), actor: 'webhook', action, subject, detail });
  }
}

/** A batch waiting for the apply queue; `unusable`: why it cannot be applied at all (set aside at its turn). */
interface ReadyBatch {
  batch_id: string;
  events: WebhookEvent[];
  recovery: boolean;
  unusable?: string;
}

function category(v: unknown): Exclude<Category, 'service'> | null {
  const c = str(v)?.toLowerCase();
  return c === 'marketing' || c === 'utility' || c === 'authentication' ? c : null;
}

/** Keeps audit rows small: a value over 8 KB of JSON is replaced by its size and a hash. */
function clip(v: unknown): unknown {
  const s = JSON.stringify(v) ?? 'null';
  if (s.length <= AUDIT_VALUE_MAX) return v;
  return { truncated: true, bytes: s.length, sha256: createHash('sha256').update(s).digest('hex'), head: s.slice(0, 1_024) };
}
