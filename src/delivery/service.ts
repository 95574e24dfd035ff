// Delivery workers: one consumer per sender, pull → pace → dispatch-time re-check → send → classify → act.
//
// Guarantees (DESIGN.md "Delivery guarantees"):
// - Nothing is lost: a job leaves the queue only by ack (Meta accepted it, or it already reached a
//   final status) or by dead letter (written to the Store first). Pacing waits, pauses, halts and
//   shutdowns put the job back without counting an attempt.
// - Nothing is sent twice blindly: before each send the message's `attempts` is raised to
//   job.attempts + 1; the queue raises job.attempts only after a settled outcome. A job pulled with
//   message.attempts > job.attempts therefore had a send whose outcome is unknown (crash, lease
//   expiry): it becomes in_doubt and waits `in_doubt_grace_ms` for its status webhook before a resend.
// - Never faster than Meta allows: a send happens only after the pacer granted a token.
import { setMaxListeners } from 'node:events';
import type { AppContext } from '../engine/context.ts';
import { haltAll, pauseSender } from '../engine/senders.ts';
import { prepareMessage, type Prepared } from '../engine/compliance.ts';
import { classify } from '../domain/errors/index.ts';
import type { Classification } from '../domain/errors/types.ts';
import type { GraphError, SendResult } from '../meta/types.ts';
import type { Lease } from '../queue/port.ts';
import type { GateOutcome } from '../gate/port.ts';
import { dispatchRecheckCode, type ErrorCode } from '../shared/errors/registry.ts';
import type { DeadLetter, ForwardStatus } from '../store/port.ts';
import { STATUS_RANK, type MessageRecord, type SenderConfig, type SenderStatus, type StatusEvent } from '../domain/types.ts';
import { createBatcher, type Batcher } from '../shared/batcher.ts';
import { applyForwardOrNone } from '../store/forward.ts';
import { newId } from '../domain/ids.ts';
import { maskPhone } from '../observability/log.ts';
import {
  backoffMs,
  continueTransientRun,
  formatDuration,
  recheckVerdict,
  transientBudgetSpent,
  transientElapsedMs,
  transientRunFields,
  HOLD_PACING_WAIT_MS,
} from './policy.ts';
import { noteBusinessReply } from '../engine/fep.ts';
import { holdDirectSend, holdPortfolio } from '../engine/restrictions.ts';
import { endpointFor } from '../engine/marketing.ts';
import { WEBHOOKS_REFUSED_SETTING } from '../shared/settings.ts';
import type { MessageStatusChange } from '../engine/bus.ts';

/** Resolves true when `signal` fired before `ms` elapsed. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      clearTimeout(t);
      signal?.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onAbort = () => done(true);
    const t = setTimeout(() => done(false), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** After stop(), how long a worker keeps retrying the write of a send Meta accepted (see recordAcceptedUntilStored). */
const ACCEPTED_WRITE_STOP_MS = 5_000;

/** A rebuilt request decided on the key the submit decided on (a BSUID's linked phone, say). */
function keyedAs(p: Prepared, key: string): Prepared {
  return p.ok && p.req.to !== key ? { ...p, req: { ...p.req, to: key } } : p;
}

/** A stored webhook batch unapplied for this long means the statuses are behind: in-doubt resends wait. */
const WEBHOOKS_BEHIND_MS = 5_000;
const WEBHOOKS_BEHIND_RECHECK_MS = 5_000;
/** A webhook POST refused this recently means Meta may still hold statuses for in-doubt sends. */
const WEBHOOKS_REFUSED_RECENT_MS = 60_000;
/** How long past the grace an in-doubt resend waits at most for webhooks that are behind. */
const IN_DOUBT_BEHIND_MAX_MS = 30 * 60_000;

/** Messages polling the pacer at once per sender (see SenderWorker.pace). */
const PACE_PIPELINE = 16;

/** A status write as the workers read it back: what the bus tells, and whether it changed anything. */
type StatusWrite = { message: MessageStatusChange; changed: boolean } | null;
type PaceOutcome = { kind: 'ok' } | { kind: 'later'; at: number; reason: string } | { kind: 'interrupted' };
type Pace = (sender: SenderConfig, to: string) => Promise<PaceOutcome>;

/** The registry's META_<code> for a Graph error (kept META_-1 for no answer, as dead letters always named it). */
const metaCode = (code: number): ErrorCode => `META_${code}`;

interface DeadLetterInput {
  reason_code: ErrorCode;
  explanation: string;
  fix: string | null;
  meta_error: Record<string, unknown> | null;
}

function graphErrorRecord(e: GraphError): Record<string, unknown> {
  return {
    code: e.code,
    subcode: e.subcode,
    message: e.message,
    title: e.title,
    details: e.details,
    fbtrace_id: e.fbtrace_id,
    http_status: e.http_status,
    source: e.source,
  };
}

export interface DeliveryStats {
  senders: { sender_id: string; running: boolean; in_flight: number }[];
}

/** One sender's consumer loop with bounded concurrency. */
class SenderWorker {
  private running = false;
  private loop: Promise<void> | null = null;
  /** Aborted when this sender stops being active or the service stops: pacing waits end at once. */
  private abort = SenderWorker.controller();
  private readonly tasks = new Set<Promise<void>>();
  private wake: (() => void) | null = null;

  constructor(
    private readonly svc: DeliveryService,
    private readonly ctx: AppContext,
    readonly senderId: string,
  ) {}

  /** Every pacing waiter listens on the signal: up to concurrency_per_sender listeners is normal. */
  private static controller(): AbortController {
    const c = new AbortController();
    setMaxListeners(0, c.signal);
    return c;
  }

  /**
   * Tokens are handed out in (nearly) arrival order: at most PACE_PIPELINE messages poll the pacer at
   * once, the others wait in line behind them (no thundering herd, no starved message). One poll at a
   * time would cap the rate at 1 / (pacer round trip): with the Redis pacer (~1 ms under load) that
   * alone held production at ~300 mps. The bucket itself lives in the pacer (atomic Lua on Redis), so
   * overlapping polls can never hand out more tokens than the rate allows. Only the sender's own
   * bucket is worth waiting for in line; a recipient (pair) limit or a penalty sends the message back
   * to the queue until then, so one busy recipient never holds up everyone else.
   */
  private paceActive = 0;
  private readonly paceLine: (() => void)[] = [];
  readonly pace: Pace = async (sender, to) => {
    const signal = this.abort.signal;
    if (this.paceActive >= PACE_PIPELINE) await new Promise<void>((r) => this.paceLine.push(r));
    else this.paceActive++;
    try {
      for (;;) {
        if (signal.aborted) return { kind: 'interrupted' };
        const r = await this.ctx.pacer.tryAcquire(sender.id, sender.throughput_mps, to);
        if (r.ok) return { kind: 'ok' };
        const by = r.limited_by ?? 'sender';
        this.ctx.metrics.pacingWaits.inc({ sender: sender.id, bucket: by });
        const wait = Math.max(1, r.wait_ms);
        if (by !== 'sender' || wait > HOLD_PACING_WAIT_MS) return { kind: 'later', at: this.ctx.now() + wait, reason: `pacing:${by}` };
        if (await sleep(wait, signal)) return { kind: 'interrupted' };
      }
    } finally {
      // Hand the slot straight to the next in line (keeps arrival order), or free it.
      const next = this.paceLine.shift();
      if (next) next();
      else this.paceActive--;
    }
  };

  get inFlight(): number {
    return this.tasks.size;
  }

  get isRunning(): boolean {
    return this.loop !== null;
  }

  private active(): boolean {
    return this.running && this.ctx.senders.status(this.senderId).state === 'active';
  }

  /** Start (or resume) consuming if the sender is active. */
  start(): void {
    this.running = true;
    if (!this.active()) return;
    // A fresh signal also when the loop is still winding down (a resume right after a pause): that loop
    // goes on while the sender is active, and with the aborted signal every send came back interrupted.
    if (this.abort.signal.aborted) this.abort = SenderWorker.controller();
    if (this.loop) return;
    this.loop = this.run().finally(() => {
      this.loop = null;
      // State may have flipped back to active while the loop was winding down.
      if (this.active()) this.start();
    });
  }

  /** The sender was paused/halted: stop pulling and send pacing-waiters back to the queue now. */
  interrupt(): void {
    this.abort.abort();
    this.kick();
  }

  kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    const d = this.ctx.config.delivery;
    const concurrency = d.concurrency_per_sender;
    const minBatch = Math.max(1, Math.min(32, Math.floor(concurrency / 8)));
    while (this.active()) {
      const free = concurrency - this.tasks.size;
      if (free <= 0) {
        // Every slot busy: a finishing task (or a halt) kicks us.
        await this.idle(1_000);
        continue;
      }
      if (free < minBatch && this.tasks.size > 0) {
        // Let a few slots free up: one pull for many jobs, not one queue round-trip per job.
        await sleep(2);
        if (concurrency - this.tasks.size < minBatch) await sleep(3);
      }
      let leases: Lease[];
      try {
        // Batch pulls: one queue round-trip fills every free slot (1,000 mps needs it).
        leases = await this.ctx.queue.pull(this.senderId, concurrency - this.tasks.size, { lease_ms: d.lease_ms, wait_ms: 100 });
      } catch (err) {
        this.ctx.log.error({ err, sender: this.senderId }, 'queue pull failed; retrying in 1 s');
        await this.idle(1_000);
        continue;
      }
      if (leases.length === 0) {
        await this.idle(50);
        continue;
      }
      for (const lease of leases) {
        const p: Promise<void> = this.svc
          .handle(lease, this.abort.signal, this.pace)
          .catch((err) =>
            this.ctx.log.error(
              { err, message_id: lease.job.id },
              'delivery task failed; the job stays leased and is redelivered after its lease',
            ),
          )
          .finally(() => {
            this.tasks.delete(p);
            this.kick();
          });
        this.tasks.add(p);
      }
    }
  }

  /** Stop pulling, send waiters back, let sends on the wire finish. */
  async stop(): Promise<void> {
    this.running = false;
    this.interrupt();
    await this.loop;
    await Promise.allSettled([...this.tasks]);
  }
}

interface ClaimItem {
  id: string;
  expected_attempts: number;
  attempts: number;
}

export class DeliveryService {
  private readonly workers = new Map<string, SenderWorker>();
  private started = false;
  /** Message ids being handled by this process (a duplicate job for one of them waits). */
  private readonly handling = new Set<string>();
  private readonly onState = (s: SenderStatus) => {
    const w = this.workers.get(s.sender_id);
    if (!w || !this.started) return;
    if (s.state === 'active') w.start();
    else w.interrupt();
  };
  private readonly onKick = (e: { sender_id?: string } | undefined) => {
    if (e?.sender_id) this.workers.get(e.sender_id)?.kick();
    else for (const w of this.workers.values()) w.kick();
  };

  constructor(private readonly ctx: AppContext) {
    const store = ctx.store;
    // Group commit of the two writes every send makes (the attempt mark before it, `accepted` after):
    // concurrent workers share one statement per batch instead of one round trip each.
    this.claims = createBatcher(async (items: ClaimItem[]) => {
      const seen = new Set<string>();
      const first = new Set(items.filter((it) => !seen.has(it.id) && seen.add(it.id)));
      const got = await store.claimAttempts([...first], ctx.now());
      // A repeated id (never expected: `handling` keeps one task per message) loses, like a second claimer.
      return items.map((it) => first.has(it) && got.has(it.id));
    });
    this.accepts = createBatcher(async (items: ForwardStatus[]) => {
      const moved = await applyForwardOrNone(store, items);
      const out: StatusWrite[] = [];
      for (let i = 0; i < items.length; i++) {
        const it = items[i];
        const m = moved[i];
        // Not moved forward (a status webhook got there first, unknown, the batch failed): the full path records it.
        out.push(
          m
            ? { message: m, changed: true }
            : await store.applyStatus(it.id, it.ev, {
                ...(it.wamid !== undefined ? { wamid: it.wamid } : {}),
                ...(it.attempts !== undefined ? { attempts: it.attempts } : {}),
              }),
        );
      }
      return out;
    });
  }

  private readonly claims: Batcher<ClaimItem, boolean>;
  private readonly accepts: Batcher<ForwardStatus, StatusWrite>;

  /** Marks attempt `attempts` as started if the message is still queued with `expected` attempts. */
  private claim(id: string, expected: number, attempts: number): Promise<boolean> {
    return this.claims.add({ id, expected_attempts: expected, attempts });
  }

  /**
   * The claim, when its answer is lost (a connection cut mid-statement: the update may have landed).
   * Nothing has left yet, so the message is not in doubt: read back what the store holds while the lease
   * is ours. Our attempt number there means the claim landed (only this lease's holder claims with these
   * numbers); the old one means it did not, and the claim is tried again. Without this, the next delivery
   * of the job saw attempts > job.attempts and held a never-sent message in doubt for the whole grace.
   * A store still down when half the lease is gone throws, as before (the job comes back later).
   */
  private async claimOrReadBack(id: string, expected: number, attempt: number): Promise<boolean> {
    const { ctx } = this;
    const until = Date.now() + Math.floor(ctx.config.delivery.lease_ms / 2);
    let lastErr: unknown;
    for (let failures = 0; ; failures++) {
      try {
        if (failures === 0) return await this.claim(id, expected, attempt);
        const m = await ctx.store.getMessage(id);
        if (m?.status !== 'queued') return false;
        if (m.attempts === attempt) return true;
        if (m.attempts !== expected) return false;
        return await this.claim(id, expected, attempt);
      } catch (err) {
        lastErr = err;
        if (Date.now() >= until) throw lastErr;
        if (failures === 0) ctx.log.warn({ err: (err as Error)?.message, message_id: id }, 'attempt claim unanswered; reading it back');
        await sleep(Math.min(1_000, 50 * 2 ** Math.min(failures, 5)));
      }
    }
  }

  /**
   * Whether status webhooks are behind: a stored batch has waited over WEBHOOKS_BEHIND_MS to be
   * applied, or a webhook POST was refused (503) within WEBHOOKS_REFUSED_RECENT_MS. Read at most once a second.
   */
  private behind: { at: number; value: Promise<boolean> } | null = null;
  private webhooksBehind(): Promise<boolean> {
    const now = this.ctx.now();
    if (!this.behind || now - this.behind.at >= 1_000) {
      const store = this.ctx.store;
      const value = Promise.all([store.oldestPendingWebhookBatchAt(), store.getSetting(WEBHOOKS_REFUSED_SETTING)])
        .then(
          ([oldest, refused]) =>
            (oldest !== null && oldest <= now - WEBHOOKS_BEHIND_MS) || Number(refused ?? 0) >= now - WEBHOOKS_REFUSED_RECENT_MS,
        )
        .catch(() => true); // the store cannot tell: the resend waits (it is put back, not lost)
      this.behind = { at: now, value };
    }
    return this.behind.value;
  }

  /** Records Meta's acceptance (status, wamid, attempts). */
  private recordAccepted(id: string, ev: StatusEvent, wamid: string, attempts: number): Promise<StatusWrite> {
    return this.accepts.add({ id, ev, wamid, attempts });
  }

  /**
   * Meta accepted the send and we hold its wamid: that knowledge must reach the store, or the message
   * looks in doubt and may be sent again (seen with PostgreSQL connections cut: the accepted write
   * failed, the lease expired, the message was resent after in_doubt_grace_ms). So the write is
   * retried with backoff, the lease kept alive, for as long as the service runs, and for
   * ACCEPTED_WRITE_STOP_MS more once it stops; only a process that dies (or a store down past that)
   * leaves it to the in-doubt path, where its status webhook resolves it.
   */
  private async recordAcceptedUntilStored(
    lease: Lease,
    id: string,
    ev: StatusEvent,
    wamid: string,
    attempts: number,
  ): Promise<StatusWrite> {
    const { ctx } = this;
    const lease_ms = ctx.config.delivery.lease_ms;
    let keepAlive: NodeJS.Timeout | null = null;
    let stopDeadline = Number.POSITIVE_INFINITY;
    try {
      for (let failures = 1; ; failures++) {
        try {
          return await this.recordAccepted(id, ev, wamid, attempts);
        } catch (err) {
          if (!this.started) stopDeadline = Math.min(stopDeadline, Date.now() + ACCEPTED_WRITE_STOP_MS);
          if (Date.now() >= stopDeadline) throw err;
          if (failures === 1) {
            ctx.log.warn(
              { err: (err as Error)?.message, message_id: id },
              'Meta accepted a send but the store did not take it; retrying the write (the wamid is kept)',
            );
            keepAlive = setInterval(
              () => void ctx.queue.extendLease(lease, lease_ms).catch(() => {}),
              Math.max(250, Math.floor(lease_ms / 2)),
            );
          }
          await sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
        }
      }
    } finally {
      if (keepAlive) clearInterval(keepAlive);
    }
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    // Every stored message the queue has no job for (a crash between insert and enqueue, a queue
    // outage) is handed over now and then all the time, by the outbox relay.
    this.ctx.outbox.start();
    this.ctx.senders.on('state', this.onState);
    this.ctx.bus.on('delivery.kick', this.onKick);
    for (const s of this.ctx.senders.list()) {
      const w = new SenderWorker(this, this.ctx, s.id);
      this.workers.set(s.id, w);
      w.start();
    }
  }

  /** Graceful: stop pulling, put pacing-waiters back, wait for sends already on the wire. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.ctx.senders.off('state', this.onState);
    this.ctx.bus.off('delivery.kick', this.onKick);
    await this.ctx.outbox.stop();
    await Promise.all([...this.workers.values()].map((w) => w.stop()));
    this.workers.clear();
  }

  stats(): DeliveryStats {
    return { senders: [...this.workers.values()].map((w) => ({ sender_id: w.senderId, running: w.isRunning, in_flight: w.inFlight })) };
  }

  // ---------------------------------------------------------------------------------------------
  // One job, start to finish. Every exit path either acks, dead-letters or retries the lease; an
  // exception leaves the lease to expire (the job comes back, and is then treated as in doubt if a
  // send had started).

  /** @internal called by the sender workers. */
  async handle(lease: Lease, signal: AbortSignal, pace: Pace): Promise<void> {
    const id = lease.job.id;
    if (this.handling.has(id)) {
      // Usually the same job just put back by its own task (which has not returned yet); otherwise a
      // redelivery while a slow send is still on the wire. Either way: look again shortly.
      await this.ctx.queue.retry(lease, this.ctx.now() + 250, { count_attempt: false, reason: 'duplicate_in_flight' });
      return;
    }
    this.handling.add(id);
    try {
      await this.dispatch(lease, signal, pace);
    } finally {
      this.handling.delete(id);
    }
  }

  private async putBack(lease: Lease, reason: string, at = this.ctx.now()): Promise<void> {
    await this.ctx.queue.retry(lease, at, { count_attempt: false, reason });
  }

  private async dispatch(lease: Lease, signal: AbortSignal, pace: Pace): Promise<void> {
    const { ctx } = this;
    const d = ctx.config.delivery;
    const job = lease.job;
    // First attempt of a message this process just queued: use the record it wrote (no read back);
    // claimAttempt below re-checks, in the same write, that it is still queued and untouched.
    const local = job.attempts === 0 ? ctx.submissions.takeRecord(job.id) : undefined;
    const msg = local ?? (await ctx.store.getMessage(job.id));
    if (!msg) {
      // Cannot happen by construction (persist precedes enqueue); never loop on it.
      ctx.log.error({ message_id: job.id }, 'queued job has no message record; removing it');
      await ctx.queue.ack(lease);
      return;
    }
    // Already settled (accepted by Meta, resolved by a status webhook, failed or dead-lettered).
    if (STATUS_RANK[msg.status] >= STATUS_RANK.accepted) {
      await ctx.queue.ack(lease);
      return;
    }
    // A send started and its outcome was never recorded: in doubt.
    if (msg.attempts > job.attempts) {
      await this.markInDoubt(lease, msg, 'The process stopped (or its lease expired) while a send to Meta was in flight.');
      return;
    }
    if (msg.status === 'in_doubt') {
      const since = typeof msg.last_error?.in_doubt_since === 'number' ? (msg.last_error.in_doubt_since as number) : 0;
      if (ctx.now() < since + d.in_doubt_grace_ms) {
        await this.putBack(lease, 'in_doubt_grace', since + d.in_doubt_grace_ms);
        return;
      }
      // Grace over without a status webhook. It may still be on its way: in a batch stored and not
      // applied yet (a backlog, or an instance killed before applying it: another adopts it within a
      // minute), or held by Meta because wagate answered webhooks 503 lately (backlog full, store
      // down). Resending now would duplicate: wait while the webhooks are behind, at most
      // IN_DOUBT_BEHIND_MAX_MS (or one more grace if longer).
      if (
        ctx.now() < since + d.in_doubt_grace_ms + Math.max(d.in_doubt_grace_ms, IN_DOUBT_BEHIND_MAX_MS) &&
        (await this.webhooksBehind())
      ) {
        await this.putBack(lease, 'in_doubt_webhooks_behind', ctx.now() + WEBHOOKS_BEHIND_RECHECK_MS);
        return;
      }
      // Meta most likely never got it. Resend (below).
    }

    let sender: SenderConfig;
    try {
      sender = ctx.senders.resolve(msg.sender_id);
    } catch {
      await this.deadLetter(lease, msg, {
        reason_code: 'UNKNOWN_SENDER',
        explanation: `Sender "${msg.sender_id}" is no longer configured.`,
        fix: 'Add the sender back to the config, then replay the dead letter.',
        meta_error: null,
      });
      return;
    }
    if (signal.aborted || ctx.senders.status(sender.id).state !== 'active') {
      await this.putBack(lease, 'sender_not_active');
      return;
    }

    // Pace: wait for a token, in arrival order. A wait is not an attempt; a long wait frees the slot.
    const paced = await pace(sender, msg.to);
    if (paced.kind !== 'ok') {
      await this.putBack(lease, paced.kind === 'later' ? paced.reason : 'sender_not_active', paced.kind === 'later' ? paced.at : ctx.now());
      return;
    }

    // Dispatch-time re-check: what may have changed while the message waited.
    if (d.dispatch_recheck) {
      const stop = await this.recheck(lease, msg);
      if (stop) return;
    }
    if (signal.aborted) {
      await this.putBack(lease, 'sender_not_active');
      return;
    }

    // Bounded: repeated in-doubt resends (a Meta that never answers; each may be a duplicate) end in a
    // dead letter too. job.attempts counts only these and counted retries, never transient failures.
    if (job.attempts >= d.max_attempts) {
      await this.deadLetter(lease, msg, {
        reason_code: 'MAX_ATTEMPTS',
        explanation: `No definite answer from Meta after ${job.attempts} counted attempts, the most delivery.max_attempts (${d.max_attempts}) allows (last: ${String(msg.last_error?.code ?? '')} ${String(msg.last_error?.message ?? '')}). Meta may or may not have received it: check its status before replaying.`,
        fix: 'Check Meta status and GET /v1/messages/:id, then replay or discard the dead letter.',
        meta_error: msg.last_error,
      });
      return;
    }

    // Mark the send as started BEFORE it leaves: a crash from here on is detectable (attempts > job.attempts).
    // A plain field update, not a 'sending' status event: one cheap write per send matters at 1,000 mps,
    // and the attempt mark is what crash recovery reads.
    const attempt = job.attempts + 1;
    // Conditional whenever the record says queued (also when read from the store): a message withdrawn
    // meanwhile (a campaign paused or cancelled: src/campaigns/) must not leave after all.
    if (local || msg.status === 'queued') {
      if (!(await this.claimOrReadBack(msg.id, msg.attempts, attempt))) {
        // Changed since it was queued (e.g. discarded, or handled elsewhere): decide from the store.
        await this.putBack(lease, 'record_changed');
        return;
      }
    } else {
      await ctx.store.updateMessage(msg.id, { attempts: attempt }, ctx.now());
    }

    const keepAlive = setInterval(
      () => void ctx.queue.extendLease(lease, d.lease_ms).catch(() => {}),
      Math.max(250, Math.floor(d.lease_ms / 2)),
    );
    let res: SendResult;
    try {
      // Marketing templates go to the Marketing Messages API where the config routes them (engine/marketing.ts).
      res = await ctx.meta.sendMessage(
        { phone_number_id: sender.phone_number_id, waba_id: sender.waba_id, access_token: sender.access_token },
        msg.payload,
        endpointFor(ctx.config, sender, msg),
      );
    } catch (err) {
      // The client promises not to throw; if it does, we cannot know whether the request left.
      res = { kind: 'in_doubt', reason: `client error: ${String((err as Error)?.message ?? err)}` };
    } finally {
      clearInterval(keepAlive);
    }
    await this.act(lease, msg, sender, attempt, res);
  }

  /** Returns true when the message must not be sent now (dead-lettered or put back). */
  private async recheck(lease: Lease, msg: MessageRecord): Promise<boolean> {
    const { ctx } = this;
    // The request decided at submit (same process), or rebuilt from the stored payload: what
    // prepareMessage built plus our callback id (which it refuses from callers).
    const cached = ctx.submissions.takeRequest(msg.id);
    const { biz_opaque_callback_data: _own, ...body } = msg.payload;
    const prep: Prepared = cached
      ? {
          ok: true,
          req: { ...cached, sender: ctx.senders.resolve(msg.sender_id) },
          payload: body,
          sender: ctx.senders.resolve(msg.sender_id),
        }
      : keyedAs(prepareMessage(ctx, { body, sender: msg.sender_id, message_id: msg.id }), msg.to);
    if (!prep.ok) {
      const v = recheckVerdict(prep.decision.reason_code);
      if (v === 'send') return false;
      if (v === 'requeue') {
        await this.putBack(lease, `recheck:${prep.decision.reason_code}`, ctx.now() + 1_000);
        return true;
      }
      await this.deadLetter(lease, msg, {
        reason_code: dispatchRecheckCode(String(prep.decision.reason_code)),
        explanation: prep.decision.explanation,
        fix: prep.decision.suggested_action,
        meta_error: null,
      });
      return true;
    }
    let outcome: GateOutcome;
    try {
      // The verdict only: a denial keeps its explanation and fix; the checks that passed are not read here.
      outcome = await ctx.gate.check(prep.req, ctx.now(), { explain: false });
    } catch (err) {
      ctx.log.warn({ err, message_id: msg.id }, 'dispatch re-check: gate unavailable; message waits');
      await this.putBack(lease, 'recheck:GATE_UNAVAILABLE', ctx.now() + 1_000);
      return true;
    }
    const v = recheckVerdict(outcome.decision.allowed ? null : outcome.decision.reason_code);
    if (v === 'send') return false;
    if (v === 'requeue') {
      await this.putBack(lease, `recheck:${outcome.decision.reason_code}`, ctx.now() + 1_000);
      return true;
    }
    await this.deadLetter(lease, msg, {
      reason_code: dispatchRecheckCode(String(outcome.decision.reason_code)),
      explanation: `Checked again right before sending: ${outcome.decision.explanation}`,
      fix: outcome.decision.suggested_action,
      meta_error: null,
    });
    return true;
  }

  private async act(lease: Lease, msg: MessageRecord, sender: SenderConfig, attempt: number, res: SendResult): Promise<void> {
    const { ctx } = this;
    const d = ctx.config.delivery;
    const now = ctx.now();
    switch (res.kind) {
      case 'accepted': {
        ctx.metrics.sends.inc({ sender: sender.id, outcome: 'accepted', code: '' });
        ctx.metrics.sendLatency.observe({ sender: sender.id }, Math.max(0, now - lease.job.enqueued_at) / 1000);
        const r = await this.recordAcceptedUntilStored(
          lease,
          msg.id,
          { status: 'accepted', at: now, source: 'worker', detail: { wamid: res.wamid, attempt } },
          res.wamid,
          attempt,
        );
        await ctx.queue.ack(lease);
        this.emitStatus(r);
        // A reply within 24h of a click-to-WhatsApp message opens the 72h free-entry-point window (cost, not permission).
        await noteBusinessReply(ctx, { sender_id: sender.id, wa_id: msg.to, at: now }).catch((err) =>
          ctx.log.warn({ err: (err as Error).message }, 'recording the free-entry-point window failed'),
        );
        return;
      }
      case 'not_sent':
      case 'in_doubt': {
        ctx.metrics.sends.inc({ sender: sender.id, outcome: res.kind, code: '' });
        if (res.kind === 'in_doubt') {
          await this.markInDoubt(lease, msg, `The request may have reached Meta: ${res.reason}`);
          return;
        }
        // Never left this machine (Meta unreachable from here): transient, not an attempt, so an outage
        // of our own network keeps messages queued, retried with backoff, instead of dead-lettering them.
        await this.retryTransient(lease, msg, { code: 'NOT_SENT', message: res.reason }, 'not_sent', (n) =>
          backoffMs(n, d.backoff_base_ms, d.backoff_max_ms),
        );
        return;
      }
      case 'error': {
        const err = res.error;
        // The catalog's attempt = consecutive failures with this same code (drives 4^X and bounded retries).
        const prev = msg.last_error;
        const repeat = prev && prev.code === err.code && typeof prev.repeat === 'number' ? prev.repeat + 1 : 1;
        let c: Classification;
        try {
          c = classify(err, { attempt: repeat });
        } catch (e) {
          ctx.log.error({ err: e, code: err.code }, 'error catalog failed to classify; retrying with backoff');
          await this.retryOrGiveUp(lease, msg, attempt, graphErrorRecord(err), null);
          return;
        }
        ctx.metrics.sends.inc({ sender: sender.id, outcome: c.action, code: String(err.code) });
        if (!c.known) ctx.metrics.unknownErrors.inc({ code: String(err.code) });
        const metaError = { ...graphErrorRecord(err), repeat, action: c.action, explanation: c.entry.explanation, fix: c.entry.fix };
        const dl = (): DeadLetterInput => ({
          reason_code: metaCode(err.code),
          explanation: c.entry.explanation,
          fix: c.entry.fix,
          meta_error: metaError,
        });
        ctx.log.warn(
          { message_id: msg.id, sender: sender.id, to: maskPhone(msg.to), code: err.code, action: c.action },
          'Meta refused a send',
        );
        // Transient (Meta 5xx or outage, throttling: c.transient) is never an attempt and is bounded by
        // how long the failures in a row have lasted (delivery.retry_max_age_h); a retry the catalog caps
        // (code 1) or an unknown code with an unexpected status is counted (cap, delivery.max_attempts).
        switch (c.action) {
          case 'retry': {
            const hint = c.retry_after_ms ?? 0;
            if (c.transient)
              await this.retryTransient(lease, msg, metaError, `meta_${err.code}`, (n) =>
                Math.max(hint, backoffMs(n, d.backoff_base_ms, d.backoff_max_ms)),
              );
            else await this.retryOrGiveUp(lease, msg, attempt, metaError, c.retry_after_ms ?? null);
            return;
          }
          case 'retry_after': {
            const wait = c.retry_after_ms ?? backoffMs(repeat, d.backoff_base_ms, d.backoff_max_ms);
            // Throughput (130429): slow the whole sender, by Meta's base delay (this message's own
            // escalating count must not stall every other message); pair limit (131056): this recipient.
            if (err.code === 130429) await ctx.pacer.penalize(sender.id, classify(err, { attempt: 1 }).retry_after_ms ?? wait);
            else if (err.code === 131056 || c.scope === 'recipient') await ctx.pacer.penalize(sender.id, wait, msg.to);
            // Throttling is Meta asking us to wait, not a failure of the message: no attempt counted.
            if (c.transient) await this.retryTransient(lease, msg, metaError, `meta_${err.code}`, () => wait);
            else await this.retryOrGiveUp(lease, msg, attempt, metaError, wait);
            return;
          }
          case 'fix_request':
          case 'drop':
          case 'pause_template':
            // pause_template: the template webhook blocks the rest at the gate; this one is done.
            // 139200: Meta blocked this sender's Direct Send; the gate refuses the next ones (templates still go).
            if (err.code === 139200) await holdDirectSend(ctx, sender.id, now, c.entry.fix);
            await this.deadLetter(lease, msg, dl(), attempt);
            return;
          case 'pause_sender':
            // Concurrent sends all see the same error: pause (and alert) once.
            if (ctx.senders.status(sender.id).state === 'active')
              pauseSender(ctx, sender.id, {
                reason: `${c.entry.title}: ${c.entry.explanation} ${c.entry.fix}`,
                reason_code: metaCode(err.code),
                actor: 'worker',
              });
            // 131064: the whole portfolio's business-initiated messaging is limited (as on the webhook path).
            if (err.code === 131064) await holdPortfolio(ctx, sender, now, c.entry);
            await this.settleUncounted(lease, msg, metaError, now, `meta_${err.code}`);
            return;
          case 'halt_all':
            if (ctx.senders.status(sender.id).state !== 'halted')
              haltAll(ctx, {
                reason: `${c.entry.title}: ${c.entry.explanation} ${c.entry.fix}`,
                reason_code: metaCode(err.code),
                sender_id: sender.id,
                detail: { code: err.code, subcode: err.subcode, fbtrace_id: err.fbtrace_id },
              });
            // Back to the queue unsent: Meta refused it, so resending after the fix is safe.
            await this.settleUncounted(lease, msg, metaError, now, `meta_${err.code}`);
            return;
        }
      }
    }
  }

  /** A settled refusal that does not count as an attempt: undo the attempt mark, then put it back. */
  private async settleUncounted(
    lease: Lease,
    msg: MessageRecord,
    lastError: Record<string, unknown>,
    at: number,
    reason: string,
  ): Promise<void> {
    await this.ctx.store.updateMessage(msg.id, { attempts: lease.job.attempts, last_error: lastError }, this.ctx.now());
    await this.putBack(lease, reason, at);
  }

  /**
   * A transient failure (Meta 5xx or outage, network, throttling): not an attempt, so an outage of any
   * length never dead-letters by a count. It continues the message's run of transient failures in a row
   * (kept in last_error); the one bound is how long that run has lasted, delivery.retry_max_age_h
   * from its first failure (waits for other reasons before it, such as a paused sender, do not count).
   * Past it the message is dead-lettered RETRY_AGE_EXCEEDED, saying how long it was tried and what
   * kept failing. `waitMs` gets the run's failure count (the backoff grows across codes: an outage
   * that alternates 500 and 503 still backs off).
   */
  private async retryTransient(
    lease: Lease,
    msg: MessageRecord,
    lastError: Record<string, unknown>,
    reason: string,
    waitMs: (failures: number) => number,
  ): Promise<void> {
    const { ctx } = this;
    const now = ctx.now();
    const maxAgeH = ctx.config.delivery.retry_max_age_h;
    const run = continueTransientRun(msg.last_error, now);
    const record = { ...lastError, ...transientRunFields(run) };
    if (transientBudgetSpent(run, now, maxAgeH)) {
      const what =
        lastError.code === 'NOT_SENT'
          ? 'Meta could not be reached from this machine'
          : 'Meta kept failing or throttling the send with errors that usually pass';
      const last = `${String(lastError.code ?? '')} ${String(lastError.message ?? '')}`.trim().replace(/\.$/, '');
      await this.deadLetter(lease, msg, {
        reason_code: 'RETRY_AGE_EXCEEDED',
        explanation: `${what}: tried for ${formatDuration(transientElapsedMs(run, now))} (${run.failures} failures in a row since ${new Date(run.since).toISOString()}), which reached delivery.retry_max_age_h (${maxAgeH} h). The last failure was ${last}.`,
        fix: "Check Meta status (https://metastatus.com/whatsapp-business-api) and this machine's network, then replay the dead letter if the message is still wanted; raise delivery.retry_max_age_h to keep trying longer through outages.",
        meta_error: record,
      });
      return;
    }
    await this.settleUncounted(lease, msg, record, now + waitMs(run.failures), reason);
  }

  /**
   * A counted retry: a failure that may be the message's own (a retry the catalog caps, an unknown code
   * with an unexpected status, a catalog that failed to classify). delivery.max_attempts bounds these
   * together with in-doubt resends (see dispatch); transient failures never come here.
   */
  private async retryOrGiveUp(
    lease: Lease,
    msg: MessageRecord,
    attempt: number,
    lastError: Record<string, unknown>,
    hintMs: number | null,
  ): Promise<void> {
    const { ctx } = this;
    const d = ctx.config.delivery;
    if (attempt >= d.max_attempts) {
      await this.deadLetter(
        lease,
        msg,
        {
          reason_code: 'MAX_ATTEMPTS',
          explanation: `Meta could not take the message after ${attempt} counted attempts, the most delivery.max_attempts (${d.max_attempts}) allows (last: ${String(lastError.code ?? '')} ${String(lastError.message ?? '')}).`,
          fix: 'Check Meta status and GET /v1/messages/:id for the last error, then replay the dead letter.',
          meta_error: lastError,
        },
        attempt,
      );
      return;
    }
    const wait = Math.max(hintMs ?? 0, backoffMs(attempt, d.backoff_base_ms, d.backoff_max_ms));
    await ctx.store.updateMessage(msg.id, { last_error: lastError }, ctx.now());
    await ctx.queue.retry(lease, ctx.now() + wait, { count_attempt: true, reason: String(lastError.code ?? 'retry') });
  }

  private async markInDoubt(lease: Lease, msg: MessageRecord, reason: string): Promise<void> {
    const { ctx } = this;
    const now = ctx.now();
    const grace = ctx.config.delivery.in_doubt_grace_ms;
    const r = await ctx.store.applyStatus(
      msg.id,
      { status: 'in_doubt', at: now, source: 'worker', detail: { reason, resend_after: now + grace } },
      { last_error: { code: 'IN_DOUBT', message: reason, in_doubt_since: now } },
    );
    if (r && STATUS_RANK[r.message.status] >= STATUS_RANK.accepted) {
      // Its status webhook already arrived while we waited for the answer: resolved, nothing to resend.
      await ctx.queue.ack(lease);
      return;
    }
    ctx.log.warn({ message_id: msg.id, reason }, 'send in doubt: waiting for its status webhook before any resend');
    // Counted: a send that may have failed. Brings job.attempts level with message.attempts.
    await ctx.queue.retry(lease, now + grace, { count_attempt: true, reason: 'in_doubt' });
    this.emitStatus(r);
  }

  private async deadLetter(lease: Lease, msg: MessageRecord, dl: DeadLetterInput, attempts = lease.job.attempts): Promise<void> {
    const { ctx } = this;
    const now = ctx.now();
    const rec: DeadLetter = {
      id: newId('dl', now),
      message_id: msg.id,
      sender_id: msg.sender_id,
      reason_code: dl.reason_code,
      explanation: dl.explanation,
      fix: dl.fix,
      meta_error: dl.meta_error,
      attempts,
      created_at: now,
      state: 'open',
    };
    // Store first: once the queue forgets the job, the dead letter is the only copy.
    await ctx.store.addDeadLetter(rec);
    const r = await ctx.store.applyStatus(
      msg.id,
      {
        status: 'dead_lettered',
        at: now,
        source: 'worker',
        detail: { dead_letter_id: rec.id, reason_code: dl.reason_code, explanation: dl.explanation },
      },
      { attempts, last_error: dl.meta_error ?? { code: dl.reason_code, message: dl.explanation } },
    );
    await ctx.gate.release(msg.id).catch((err) => ctx.log.error({ err, message_id: msg.id }, 'gate release failed'));
    await ctx.queue.deadLetter(lease, dl.reason_code);
    ctx.metrics.deadLetters.inc({ sender: msg.sender_id, reason: dl.reason_code });
    ctx.log.warn({ message_id: msg.id, dead_letter_id: rec.id, reason_code: dl.reason_code }, 'message dead-lettered');
    this.emitStatus(r);
  }

  private emitStatus(r: StatusWrite): void {
    if (r?.changed) this.ctx.bus.emit('message.status', r.message);
  }
}
