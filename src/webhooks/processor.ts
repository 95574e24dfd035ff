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
import type { AppContext } from '../engine/context.ts';
import { appError } from '../shared/errors/app-error.ts';
import type { SenderConfig } from '../domain/types.ts';
import type { MessageStatusChange } from '../engine/bus.ts';
import type { FailedWebhookBatch } from '../store/port.ts';
import { newId } from '../domain/ids.ts';
import { extractEvents, type IdentityLink, type Obj, type StatusUpdateEvent, type WebhookEvent } from './events.ts';
import { verifySignature, type SignatureCheck } from './signature.ts';
import { errorText } from '../shared/error-text.ts';
import { createBatcher } from '../shared/batcher.ts';
import { WEBHOOKS_REFUSED_SETTING } from '../shared/settings.ts';
import { audit, clip, eventTime, senderOf, storeUnknown, type EventResult } from './handlers/shared.ts';
import { InboundHandler } from './handlers/inbound.ts';
import { IdentityBook } from './handlers/identities.ts';
import { StatusHandler, type ForwardItem } from './handlers/statuses.ts';
import { applyUserPreference } from './handlers/preferences.ts';
import { applyTemplate } from './handlers/templates.ts';
import { CallHandler } from './handlers/calls.ts';
import { applyAccount, applySystemErrors } from './handlers/account.ts';

export type { EventResult } from './handlers/shared.ts';

export interface BatchSummary {
  batch_id: string;
  events: number;
  results: Partial<Record<EventResult, number>>;
}

const SWEEP_MS = 2_000;
/** A stored batch this old and not applied is taken as left by a killed instance (see adoptOrphans). */
const ORPHAN_AFTER_MS = 30_000;
const ORPHAN_SWEEP_MS = 10_000;
/** How long start() waits for the start-up recovery before it goes on in the background. */
const START_RECOVERY_WAIT_MS = 10_000;
/** Batches accepted but not applied yet, held in memory: past this, POSTs get 503 and Meta retries
 * later (back-pressure instead of unbounded memory while the store is slow or down). */
export const MAX_BACKLOG = 2_000;
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
const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

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
  private readonly identities: IdentityBook;
  private readonly inbound: InboundHandler;
  private readonly calls: CallHandler;
  private readonly statuses: StatusHandler;
  private sweepTimer: NodeJS.Timeout | null = null;
  private orphanTimer: NodeJS.Timeout | null = null;
  /** The start-up recovery (possibly still running in the background). */
  private recovery: Promise<void> = Promise.resolve();
  private stopping = false;
  /** Ends a retry wait early (stop()). */
  private wake: (() => void) | null = null;
  private readonly onMessageStatus = (m: MessageStatusChange) => {
    if (m?.wamid && this.statuses.hasPending(m.wamid)) this.enqueue(() => this.statuses.resolve(m.wamid!));
  };

  private readonly maxBacklog: number;
  private readonly poisonRetries: number;

  private readonly orphanSweepMs: number;

  constructor(
    private readonly ctx: AppContext,
    opts: { max_backlog?: number; poison_retries?: number; orphan_sweep_ms?: number } = {},
  ) {
    this.maxBacklog = opts.max_backlog ?? MAX_BACKLOG;
    this.orphanSweepMs = opts.orphan_sweep_ms ?? ORPHAN_SWEEP_MS;
    this.poisonRetries = opts.poison_retries ?? POISON_RETRIES;
    this.identities = new IdentityBook(ctx);
    this.inbound = new InboundHandler(ctx, this.identities);
    this.calls = new CallHandler(ctx, this.identities);
    this.statuses = new StatusHandler(ctx);
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
   * The backlog when it is full, else null: a POST then is refused (503, Meta retries) before its body
   * is decoded and parsed, which under a long backlog is most POSTs (87% in the 10-minute soak).
   */
  refusing(): number | null {
    const backlog = this.backlog() + this.saving;
    if (backlog < this.maxBacklog) return null;
    this.noteRefused();
    return backlog;
  }

  /**
   * Persists the raw batch (durable before the route answers 200) and schedules it. Throws only when
   * the store cannot save it (or the backlog is full): the route then answers 503 and Meta retries.
   * `unusable` (the body is not JSON): the batch is kept and set aside at its turn, never applied.
   */
  async accept(raw: string, parsed: unknown, opts: { unusable?: string } = {}): Promise<{ batch_id: string }> {
    const full = this.refusing();
    if (full !== null) throw new BacklogFullError(full);
    const now = this.ctx.now();
    const batch_id = newId('wh', now);
    try {
      await this.persist(batch_id, raw, now);
    } catch (err) {
      this.noteRefused();
      throw err;
    }
    this.known.add(batch_id);
    this.schedule(batch_id, parsed, false, opts.unusable);
    return { batch_id };
  }

  /**
   * A POST answered 503: Meta keeps its statuses and retries later, so in-doubt sends must not take
   * their silence for "never sent" (the delivery workers read this, every instance: WEBHOOKS_REFUSED_SETTING).
   * Written at most every 5 s; a store that cannot take it is down, which the workers see anyway.
   */
  private refusedNotedAt = 0;
  private noteRefused(): void {
    const now = this.ctx.now();
    if (now - this.refusedNotedAt < 5_000) return;
    this.refusedNotedAt = now;
    void this.ctx.store.setSetting(WEBHOOKS_REFUSED_SETTING, String(now)).catch(() => {});
  }

  /**
   * Group commit (shared/batcher.ts): POSTs that arrive while a save is in flight are saved together
   * in ONE multi-row insert, and each POST is answered only after the statement holding its batch
   * committed, so durability is unchanged. One save in flight at a time, so saves resolve (and
   * batches are scheduled) in arrival order; a lone POST is saved at once.
   */
  private readonly saves = createBatcher(
    async (rows: { id: string; body: string; at: number }[]) => {
      await this.ctx.store.saveWebhookBatches(rows);
      return rows.map(() => undefined);
    },
    { max_batch: GROUP_MAX, max_in_flight: 1, flush: 'busy_next_turn' },
  );
  /** Batches being saved (not yet scheduled): they count in the backlog. */
  private saving = 0;
  private async persist(id: string, body: string, at: number): Promise<void> {
    this.saving++;
    try {
      await this.saves.add({ id, body, at });
    } finally {
      this.saving--;
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

  /** Applies the statuses kept for `wamid` now that its message may be recorded. */
  async resolvePending(wamid: string): Promise<void> {
    if (!this.statuses.hasPending(wamid)) return;
    this.enqueue(() => this.statuses.resolve(wamid));
    await this.whenIdle();
  }

  /** Number of statuses waiting for their message to be recorded. */
  pendingStatusCount(): number {
    return this.statuses.pendingCount();
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  async start(): Promise<void> {
    this.stopping = false;
    this.ctx.bus.off('message.status', this.onMessageStatus); // once, also after a stop()
    this.ctx.bus.on('message.status', this.onMessageStatus);
    await this.statuses.load();
    // Start-up recovery is awaited up to START_RECOVERY_WAIT_MS, then goes on in the background: under
    // load (several instances on one store) it can take minutes, and an instance that never finishes
    // starting runs no workers at all (seen in the soak: every restarted instance stuck, nothing sent).
    const recovery = this.recoverLeftovers().catch((err) =>
      this.ctx.log.error({ err }, 'webhooks: start-up recovery failed; the batches stay stored for the next start'),
    );
    this.recovery = recovery;
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      recovery.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), START_RECOVERY_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (late)
      this.ctx.log.warn(
        { wait_ms: START_RECOVERY_WAIT_MS },
        'webhooks: batches left from before the restart are still being applied; continuing in the background',
      );
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = setInterval(() => {
      if (this.statuses.hasPending()) this.enqueue(() => this.statuses.sweep());
    }, SWEEP_MS);
    this.sweepTimer.unref();
    if (this.orphanTimer) clearInterval(this.orphanTimer);
    this.orphanTimer = setInterval(() => {
      if (this.adopting || this.stopping) return;
      this.adopting = this.recovery
        .then(() => this.adoptOrphans())
        .catch((err) =>
          this.ctx.log.warn({ err: errorText(err) }, 'webhooks: looking for batches left by other instances failed; trying again later'),
        )
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
        await this.applyTagged(
          label,
          group.flatMap((b) => b.events.map((ev) => ({ ev, recovery: b.recovery }))),
        );
        if (this.statuses.dirty) await this.statuses.save();
        if (ids.length > 1) await this.ctx.store.deleteWebhookBatches(ids);
        else await this.ctx.store.deleteWebhookBatch(ids[0]);
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
          this.ctx.log.warn(
            { err, batch_id: label, attempt, retries_left: this.poisonRetries - poison + 1 },
            'webhooks: batch failed with the store up; will retry, then set it aside',
          );
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
      const timer = setTimeout(
        () => {
          this.wake = null;
          r();
        },
        Math.min(30_000, 250 * 2 ** Math.min(attempt, 7)),
      );
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
    if (!b) throw appError('WEBHOOK_BATCH_NOT_FOUND', `No set-aside webhook batch with id "${id}".`, { details: { id } });
    return b;
  }

  private async getOpen(id: string, what: string): Promise<FailedWebhookBatch> {
    const b = await this.getFailed(id);
    if (b.state !== 'open') {
      throw appError('WEBHOOK_BATCH_NOT_OPEN', `Webhook batch "${id}" is ${b.state}; only an open batch can be ${what}.`, {
        fix: 'Nothing to do: list the open ones with GET /v1/webhooks/failed?state=open.',
        details: { id, state: b.state },
      });
    }
    return b;
  }

  /**
   * Applies a set-aside batch again, in turn with the other batches (recovery mode: every event is
   * applied again, each effect is idempotent). Applied: state `replayed`. Failing again with the store
   * up: still open, with the new error and one more attempt. The store unreachable: 503, nothing changed.
   */
  async replayFailed(
    id: string,
    actor: string,
  ): Promise<{ batch: FailedWebhookBatch; replayed: boolean; summary?: BatchSummary; error?: string }> {
    const b = await this.getOpen(id, 'replayed');
    let outcome!: { replayed: boolean; summary?: BatchSummary; error?: string };
    let outage: unknown;
    this.enqueue(async () => {
      let summary: BatchSummary | undefined;
      let error: string | undefined;
      try {
        const parsed: unknown = JSON.parse(b.body ?? '');
        summary = await this.applyEvents(id, extractEvents(parsed), true);
        if (this.statuses.dirty) await this.statuses.save();
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
      throw appError('STORE_UNAVAILABLE', `Webhook batch "${id}" could not be replayed: the store did not answer (${errorText(outage)}).`, {
        fix: 'Check the database (GET /ready), then replay again; the batch is still set aside.',
        details: { id },
      });
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
    return this.applyTagged(
      batch_id,
      events.map((ev) => ({ ev, recovery })),
    );
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
    // Statuses need no dedupe key: applying one is idempotent by construction (a message only moves
    // forward, and everything a status does happens only when it moved it), so a repeat is simply
    // 'stale'. That spares three rows per message (sent, delivered, read) in seen_events, the bulk
    // of its writes (issue 18's rows per message).
    const keyed = events.filter((e) => e.ev.kind !== 'status');
    let freshKeys: Set<string> | null = null;
    if (keyed.length > 1)
      freshKeys = await store.markEventsSeen(
        keyed.map((e) => e.ev.key),
        this.ctx.now(),
      );
    const firstSeen = new Set<string>();
    const isFresh = async (ev: WebhookEvent): Promise<boolean> => {
      if (ev.kind === 'status') return true;
      const key = ev.key;
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
          await this.audit('webhook.event_failed', null, { ...detail, event: clip(ev) }).catch(() =>
            this.audit('webhook.event_failed', null, { ...detail, event: 'not storable' }),
          );
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
    // messages are applied together, one statement per layer (Store.applyStatusesForward): a message's
    // k-th status of the run is in layer k, so its statuses stay in order while the run still takes
    // one statement for hundreds of messages (Meta sends sent, delivered and read of one message close
    // together: flushing at every repeat made it one statement per status). Whatever a statement did
    // not move forward goes through the one-by-one path, in order, before the next layer.
    type RunItem = { ev: StatusUpdateEvent; item: ForwardItem; recovery: boolean };
    const layers: RunItem[][] = [];
    const depth = new Map<string, number>();
    let runSize = 0;
    const flushRun = async () => {
      if (runSize === 0) return;
      await settleAll(); // an earlier status of one of these messages may still be in flight
      const all = layers.splice(0);
      depth.clear();
      runSize = 0;
      for (const items of all) await this.statuses.applyForwardRun(items, record, one);
    };
    const addToRun = (r: RunItem) => {
      const k = depth.get(r.item.id) ?? 0;
      depth.set(r.item.id, k + 1);
      (layers[k] ??= []).push(r);
      runSize++;
    };
    const statusLinks: { sender: SenderConfig; link: IdentityLink; at: number }[] = [];
    let slice = performance.now();
    try {
      for (const { ev, recovery } of events) {
        if (performance.now() - slice > YIELD_EVERY_MS) {
          await yieldToLoop();
          slice = performance.now();
        }
        const fresh = await isFresh(ev);
        // A status shows the recipient's phone and BSUID together (contacts[]): the links of the whole
        // list are learned together at its end, in one statement (Meta sends them on every status).
        if (ev.kind === 'status' && ev.links.length > 0 && (fresh || recovery)) {
          const sender = senderOf(this.ctx, ev.phone_number_id);
          if (sender) for (const l of ev.links) statusLinks.push({ sender, link: l, at: eventTime(this.ctx, ev.timestamp) });
        }
        const item = ev.kind === 'status' && (fresh || recovery) ? this.statuses.forwardItem(ev) : null;
        if (item) {
          if (runSize >= FORWARD_RUN_MAX) await flushRun();
          addToRun({ ev: ev as StatusUpdateEvent, item, recovery });
          continue;
        }
        await flushRun();
        if (ev.kind === 'status') {
          const msgKey = ev.callback ?? `wamid:${ev.wamid}`;
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
      if (statusLinks.length > 0) await this.identities.learnMany(statusLinks);
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
      if (this.statuses.dirty) await this.statuses.save();
    });
    await this.whenIdle();
    return out;
  }

  /** One event to its handler (one module per event family, in handlers/). */
  private applyOne(ev: WebhookEvent): Promise<EventResult> {
    switch (ev.kind) {
      case 'message':
        return this.inbound.apply(ev);
      case 'status':
        return this.statuses.apply(ev);
      case 'user_preferences':
        return applyUserPreference(this.ctx, this.identities, ev);
      case 'template_status':
      case 'template_quality':
      case 'template_category':
      case 'template_components':
        return applyTemplate(this.ctx, ev);
      case 'phone_quality':
      case 'account_update':
      case 'account_alerts':
      case 'capability':
        return applyAccount(this.ctx, ev);
      case 'call':
        return this.calls.applyCall(ev);
      case 'call_status':
        return this.calls.applyCallStatus(ev);
      case 'message_echo':
        return this.calls.applyEcho(ev);
      case 'system_error':
        return applySystemErrors(this.ctx, ev);
      case 'unknown':
        return storeUnknown(this.ctx, ev);
    }
  }

  private audit(action: string, subject: string | null, detail: Obj): Promise<void> {
    return audit(this.ctx, action, subject, detail);
  }
}

/** A batch waiting for the apply queue; `unusable`: why it cannot be applied at all (set aside at its turn). */
interface ReadyBatch {
  batch_id: string;
  events: WebhookEvent[];
  recovery: boolean;
  unusable?: string;
}
