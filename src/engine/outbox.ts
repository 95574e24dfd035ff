// The outbox: the store is the source of truth for what must be sent. A message stored as `queued` is
// the promise behind a 202, and it carries `enqueued = 0` until the delivery queue confirmed its job.
// The relay below runs on every instance, all the time: it hands every such message to the queue
// (which dedupes by message id), so an outage between the store and the queue (NATS away, a
// PostgreSQL blip between the insert and the enqueue, a crash in between) delays a send and never
// loses or strands it.
//
// It also settles submits whose insert had no clear outcome (the connection dropped around the
// commit): their gate reservation is kept until the store can say whether the row is there. A row
// that is there is relayed like any other and stays counted against the tier and the caps; one that
// is not releases its reservation.
import type { AppContext } from './context.ts';

export interface OutboxOptions {
  /** How often the relay looks for messages the queue has no job for. */
  interval_ms: number;
  /**
   * A message is the relay's only once it is this old: younger ones are still on their way through the
   * submit path (insert, then enqueue). Must exceed a slow enqueue; a double hand-over is harmless
   * (the queue dedupes by id), this only saves the work.
   */
  grace_ms: number;
  /** Messages handed over per store read. */
  batch: number;
}

/** How long after an unclear insert the store is asked whether the row is there. */
const UNSURE_SETTLE_MS = 2_000;
/**
 * A hand-over is recorded in the store this long after it (at most a quarter of the relay's grace):
 * by then a worker has usually claimed the message, and the claim records it in the same row write,
 * so the mark writes nothing (one row update fewer per message: issue 18).
 */
const MARK_DELAY_MS = 1_000;

export const OUTBOX_DEFAULTS: OutboxOptions = { interval_ms: 1_000, grace_ms: 5_000, batch: 500 };

type Ctx = Pick<AppContext, 'store' | 'queue' | 'gate' | 'log' | 'now' | 'bus'>;

export class Outbox {
  private readonly opts: OutboxOptions;
  /** Enqueued, but the store has not recorded it yet (the mark failed): tried again on every pass. */
  private readonly unmarked = new Set<string>();
  /** Submits whose insert had no clear outcome: id → when it failed. */
  private readonly unsure = new Map<string, number>();
  /** Handed over by the submit path, to be recorded after MARK_DELAY_MS (one statement for all). */
  private readonly toMark = new Set<string>();
  private markTimer: NodeJS.Timeout | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = true;
  /** When the last hand-over failed: the submit path skips the queue for a moment and leaves it to the relay. */
  private queueFailedAt = -Infinity;
  private lastWarnAt = -Infinity;
  /** Messages the relay handed over since start (tests and metrics read it). */
  relayed = 0;

  constructor(
    private readonly ctx: Ctx,
    opts: Partial<OutboxOptions> = {},
  ) {
    this.opts = { ...OUTBOX_DEFAULTS, ...opts };
  }

  /** One UPDATE for the marks gathered since the last; a failed mark is kept and written on the next pass. */
  private async flushMarks(): Promise<void> {
    if (this.markTimer) clearTimeout(this.markTimer);
    this.markTimer = null;
    if (this.toMark.size === 0) return;
    const ids = [...this.toMark];
    this.toMark.clear();
    try {
      await this.ctx.store.markEnqueued(ids);
    } catch (err) {
      for (const id of ids) this.unmarked.add(id);
      this.warn(err, 'recording enqueued messages failed; the relay writes them later');
    }
  }

  /**
   * The submit path's hand-over, right after the insert. False when the queue did not take it (down,
   * or it failed a moment ago): the message stays in the outbox and the relay hands it over later.
   * Never throws: once stored, the message is accepted whatever the queue says.
   */
  async handOver(job: { id: string; sender_id: string; attempts: number; enqueued_at: number }): Promise<boolean> {
    if (this.ctx.now() - this.queueFailedAt < this.opts.interval_ms) return false;
    try {
      await this.ctx.queue.enqueue(job);
    } catch (err) {
      this.queueFailedAt = this.ctx.now();
      this.warn(err, 'the delivery queue did not take a stored message; the outbox relay hands it over when the queue is back');
      return false;
    }
    this.toMark.add(job.id);
    if (!this.markTimer) {
      this.markTimer = setTimeout(() => void this.flushMarks(), Math.min(MARK_DELAY_MS, Math.floor(this.opts.grace_ms / 4)));
      this.markTimer.unref?.();
    }
    return true;
  }

  /** A submit's insert failed without a clear outcome: keep its reservation until the store can tell. */
  insertUnsure(id: string): void {
    this.unsure.set(id, this.ctx.now());
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    // The first pass takes everything, also what is younger than the grace: nothing of this process is
    // in flight yet, and it is what recovers from a crash between an insert and its enqueue.
    this.kick(true);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await this.flushMarks();
  }

  /** One pass now (and the next one an interval after it). */
  kick(all = false): Promise<void> {
    if (this.running) return this.running;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.pass(all)
      .catch((err) => this.warn(err, 'outbox relay pass failed; trying again'))
      .finally(() => {
        this.running = null;
        if (!this.stopped) {
          this.timer = setTimeout(() => void this.kick(), this.opts.interval_ms);
          this.timer.unref?.();
        }
      });
    return this.running;
  }

  /** Number of messages still waiting in memory for the store (unsure inserts, unwritten marks). */
  get pendingInMemory(): number {
    return this.unsure.size + this.unmarked.size + this.toMark.size;
  }

  private async pass(all: boolean): Promise<void> {
    const { store, queue } = this.ctx;
    await this.settleUnsure();
    if (this.unmarked.size > 0) {
      const ids = [...this.unmarked];
      await store.markEnqueued(ids);
      for (const id of ids) this.unmarked.delete(id);
    }
    const before = all ? this.ctx.now() : this.ctx.now() - this.opts.grace_ms;
    for (;;) {
      const rows = await store.listUnenqueued({ created_before: before, limit: this.opts.batch });
      if (rows.length === 0) return;
      const done: string[] = [];
      const senders = new Set<string>();
      let queueDown: unknown = null;
      for (const m of rows) {
        try {
          await queue.enqueue({ id: m.id, sender_id: m.sender_id, attempts: m.attempts, enqueued_at: m.created_at });
        } catch (err) {
          queueDown = err;
          break;
        }
        done.push(m.id);
        senders.add(m.sender_id);
      }
      if (done.length > 0) {
        this.relayed += done.length;
        this.ctx.log.info({ count: done.length }, 'outbox relay handed stored messages to the delivery queue');
        for (const sender_id of senders) this.ctx.bus.emit('delivery.kick', { sender_id });
        try {
          await store.markEnqueued(done);
        } catch (err) {
          for (const id of done) this.unmarked.add(id);
          throw err;
        }
      }
      if (queueDown) {
        this.queueFailedAt = this.ctx.now();
        this.warn(queueDown, 'the delivery queue is unavailable; stored messages wait in the outbox');
        return;
      }
      this.queueFailedAt = -Infinity;
      if (rows.length < this.opts.batch) return;
    }
  }

  /** Unsure inserts: there → the relay's like any other; absent → the reservation is released. */
  private async settleUnsure(): Promise<void> {
    for (const [id, at] of this.unsure) {
      // A commit cut off mid-way is decided by the server a moment later: ask only after that.
      if (this.ctx.now() - at < UNSURE_SETTLE_MS) continue;
      const m = await this.ctx.store.getMessage(id);
      if (!m) await this.ctx.gate.release(id);
      this.unsure.delete(id);
    }
  }

  private warn(err: unknown, msg: string): void {
    // An outage fails every call: one line every 5 s, not one per message.
    const now = this.ctx.now();
    if (now - this.lastWarnAt < 5_000) return;
    this.lastWarnAt = now;
    this.ctx.log.warn({ err: (err as Error)?.message ?? String(err) }, msg);
  }
}
