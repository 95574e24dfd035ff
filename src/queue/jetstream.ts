// DeliveryQueue on NATS JetStream (client nats 2.29, built for nats-server 2.9: no per-message TTL,
// no scheduled messages, no batch heartbeats; NAK with a delay and MSG.GET next_by_subj do exist).
//
// Shape: one work-queue stream (`stream`, subjects `${subject_prefix}.*`, file storage) and one
// durable pull consumer per sender (filter `${subject_prefix}.${sender}`), created idempotently, so
// any number of wagate instances share them. A message leaves the stream when acked or termed.
//
// - Dedupe: the job id is the `Nats-Msg-Id`. JetStream remembers ids for the stream's duplicate
//   window (DEFAULT_DUPLICATE_WINDOW_MS, 1 h; the server keeps the ids in memory, so a longer window
//   costs RAM at high rates). After the window the same id is accepted again: the Store's message
//   record (status past `queued`) is then the guard, and the worker re-checks it before sending.
// - Lease = the consumer's ack_wait. It is set from the lease_ms of the first pull for that sender
//   and updated when a pull asks for a different one (workers use one constant lease, so this is
//   rare). extendLease = +WPI ("working"): it restarts ack_wait, whatever lease_ms says.
// - Retry at a time = NAK with a delay. JetStream's delivery count grows on every NAK, so it cannot
//   say how many real sends failed: the attempt count lives in the job payload (its value at
//   enqueue) and, once a real attempt failed, in a small KV bucket `${stream}_attempts` keyed by job
//   id (written BEFORE the NAK, removed on ack/dead-letter, aged out after a week if orphaned), read
//   when a job is redelivered or was already in the stream when we (re)connected (see markSuspects). A pacing wait
//   (count_attempt false) touches only the NAK. Consumers use max_deliver -1: wagate,
//   not JetStream, decides when a job is dead (by attempts).
// - enqueue(not_before): header `Wagate-Not-Before`; a pull that meets it early NAKs it with the
//   remaining delay instead of handing it out (2.9 has no scheduled messages).
// - deadLetter = +TERM (removes it from a work-queue stream; the caller wrote the dead letter first).
// - Every ack/nak/term/working waits for the server's confirmation: a lost ack means redelivery.
import { redactUrl } from '../observability/log.ts';
import {
  connect,
  createInbox,
  headers as natsHeaders,
  nanos,
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  type NatsConnection,
  type JetStreamClient,
  type JetStreamManager,
  type KV,
  type Msg,
} from 'nats';
import type { DeliveryJob, DeliveryQueue, Lease, QueueStats } from './port.ts';
import { checkJob, checkPull } from './job.ts';
import { BackendUnavailableError } from '../shared/backend-unavailable.ts';

export const DEFAULT_DUPLICATE_WINDOW_MS = 60 * 60 * 1000;
/** Orphaned attempt counters (a crash between KV put and ack) disappear after this. */
const ATTEMPTS_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** ack_wait for consumers created before any pull said which lease it wants. */
const DEFAULT_LEASE_MS = 30_000;
const NOT_BEFORE = 'Wagate-Not-Before';

export interface JetStreamQueueOptions {
  url: string;
  stream: string;
  subject_prefix: string;
  senders: string[];
  duplicate_window_ms?: number;
  /** Timeout of each JetStream API call and ack confirmation (default 5,000 ms). */
  timeout_ms?: number;
}

/** JetStream could not be reached or refused the call: nothing was changed; retry later. */
export class QueueUnavailableError extends BackendUnavailableError {
  declare readonly code: 'QUEUE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(
      'QUEUE_UNAVAILABLE',
      'Check that NATS with JetStream answers at WAGATE_NATS_URL (nats-server -js); wagate reconnects by itself.',
      message,
      options,
    );
    this.name = 'QueueUnavailableError';
  }
}

interface Handle {
  reply: string;
  /** True when an attempts counter for this job exists in KV (must be removed when done). */
  counted: boolean;
}

interface ConsumerState {
  durable: string;
  subject: string;
  ackWaitMs: number;
}

const te = new TextEncoder();
const td = new TextDecoder();

/** A subject token / durable name from any sender id: [A-Za-z0-9_-] kept, the rest as =XX bytes. */
function token(s: string): string {
  return Array.from(te.encode(s), (b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9_-]/.test(c) ? c : `=${b.toString(16).padStart(2, '0')}`;
  }).join('');
}

function kvKey(id: string): string {
  return Buffer.from(id).toString('base64url') || '_';
}

export async function createJetStreamQueue(opts: JetStreamQueueOptions): Promise<DeliveryQueue> {
  const q = new JetStreamQueue(opts);
  await q.start();
  return q;
}

/** Removes the stream and its attempts bucket (tests, teardown). */
export async function deleteJetStreamQueue(opts: { url: string; stream: string }): Promise<void> {
  const nc = await connect({ servers: opts.url });
  try {
    const jsm = await nc.jetstreamManager();
    for (const name of [opts.stream, `KV_${opts.stream}_attempts`]) await jsm.streams.delete(name).catch(() => false);
  } finally {
    await nc.close();
  }
}

class JetStreamQueue implements DeliveryQueue {
  private nc!: NatsConnection;
  private js!: JetStreamClient;
  private jsm!: JetStreamManager;
  private kv!: KV;
  private readonly consumers = new Map<string, Promise<ConsumerState>>();
  private readonly timeout: number;
  private readonly where: string;
  private closed = false;
  private down = false;
  private suspectSeq = Number.MAX_SAFE_INTEGER;

  constructor(private readonly opts: JetStreamQueueOptions) {
    this.timeout = opts.timeout_ms ?? 5_000;
    this.where = redactUrl(opts.url);
    if (!/^[A-Za-z0-9_-]+$/.test(opts.stream))
      throw new TypeError(`queue: stream name "${opts.stream}" may only hold letters, digits, _ and -`);
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(opts.subject_prefix))
      throw new TypeError(`queue: subject_prefix "${opts.subject_prefix}" must be dot-separated tokens of letters, digits, _ and -`);
  }

  async start(): Promise<void> {
    try {
      this.nc = await connect({
        servers: this.opts.url,
        name: 'wagate-queue',
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        timeout: 3_000,
        // No Error captured per request (each publish ack, each fetch) for a stack on a later
        // timeout: nats.js built one per awaited ack, 2% of the process's CPU at 1,000 msg/s. Our
        // errors name the operation themselves (QueueUnavailableError).
        noAsyncTraces: true,
      });
    } catch (err) {
      throw new QueueUnavailableError(`queue: cannot connect to NATS at ${this.where}: ${(err as Error).message}`, { cause: err });
    }
    // Track the link: while NATS is away, calls fail at once instead of waiting out their timeout.
    void (async () => {
      for await (const st of this.nc.status()) {
        if (st.type === 'disconnect') {
          this.down = true;
          this.suspectSeq = Number.MAX_SAFE_INTEGER;
        } else if (st.type === 'reconnect') {
          this.down = false;
          void this.markSuspects();
        }
      }
    })().catch(() => {});
    this.js = this.nc.jetstream({ timeout: this.timeout });
    this.jsm = await this.nc.jetstreamManager({ timeout: this.timeout });
    await this.ensureStream();
    this.kv = await this.js.views.kv(`${this.opts.stream}_attempts`, { history: 1, ttl: ATTEMPTS_TTL_MS, storage: StorageType.File });
    await Promise.all(this.opts.senders.map((s) => this.consumer(s)));
    await this.markSuspects();
  }

  /**
   * After a server restart JetStream 2.9 may have lost consumer state, so a job's delivery count can
   * start again at 1 although an attempt was counted. Every message already in the stream when we
   * (re)connected is therefore "suspect" and gets its counter looked up; newer ones only when
   * redelivered (a counted retry always means a redelivery). This keeps KV reads off the hot path.
   */
  private async markSuspects(): Promise<void> {
    this.suspectSeq = Number.MAX_SAFE_INTEGER;
    for (let i = 0; i < 20 && !this.closed; i++) {
      try {
        this.suspectSeq = (await this.jsm.streams.info(this.opts.stream)).state.last_seq;
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** Creates the stream, or accepts the existing one when it covers our subjects (another instance made it). */
  private async ensureStream(): Promise<void> {
    const { stream, subject_prefix } = this.opts;
    const subjects = [`${subject_prefix}.*`];
    const info = await this.jsm.streams.info(stream).catch(() => null);
    if (info) {
      if (info.config.retention !== RetentionPolicy.Workqueue || !info.config.subjects?.includes(subjects[0])) {
        throw new TypeError(
          `queue: JetStream stream "${stream}" exists but is not a work-queue stream on ${subjects[0]}; delete it (nats stream rm ${stream}) or pick another namespace`,
        );
      }
      return;
    }
    try {
      await this.jsm.streams.add({
        name: stream,
        subjects,
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        duplicate_window: nanos(this.opts.duplicate_window_ms ?? DEFAULT_DUPLICATE_WINDOW_MS),
        num_replicas: 1,
      });
    } catch (err) {
      // Two instances starting together: the loser finds the winner's stream.
      if (!(await this.jsm.streams.info(stream).catch(() => null))) throw this.unavailable('create stream', err);
    }
  }

  /** The durable consumer of a sender, created on first use; its ack_wait follows the asked lease. */
  private consumer(sender_id: string, lease_ms?: number): Promise<ConsumerState> {
    let p = this.consumers.get(sender_id);
    if (!p) {
      p = this.createConsumer(sender_id, lease_ms ?? DEFAULT_LEASE_MS);
      this.consumers.set(sender_id, p);
      p.catch(() => this.consumers.delete(sender_id));
    }
    if (lease_ms === undefined) return p;
    return p.then((c) => (c.ackWaitMs === lease_ms ? c : this.retune(sender_id, c, lease_ms)));
  }

  private async createConsumer(sender_id: string, ackWaitMs: number): Promise<ConsumerState> {
    const { stream, subject_prefix } = this.opts;
    const durable = `wagate_${token(sender_id)}`;
    const subject = `${subject_prefix}.${token(sender_id)}`;
    const existing = await this.jsm.consumers.info(stream, durable).catch(() => null);
    if (existing) return { durable, subject, ackWaitMs: Math.round((existing.config.ack_wait ?? nanos(DEFAULT_LEASE_MS)) / 1e6) };
    try {
      await this.jsm.consumers.add(stream, {
        durable_name: durable,
        filter_subject: subject,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(ackWaitMs),
        max_deliver: -1, // pacing waits redeliver; wagate dead-letters by real attempts
        max_ack_pending: 20_000, // delayed retries stay "pending": leave room for fresh jobs
        max_waiting: 512,
      });
    } catch (err) {
      const again = await this.jsm.consumers.info(stream, durable).catch(() => null);
      if (!again) throw this.unavailable(`create consumer for sender ${sender_id}`, err);
      return { durable, subject, ackWaitMs: Math.round((again.config.ack_wait ?? nanos(DEFAULT_LEASE_MS)) / 1e6) };
    }
    return { durable, subject, ackWaitMs };
  }

  private async retune(sender_id: string, c: ConsumerState, lease_ms: number): Promise<ConsumerState> {
    const p = (async () => {
      await this.jsm.consumers.update(this.opts.stream, c.durable, { ack_wait: nanos(lease_ms) }).catch((err) => {
        throw this.unavailable(`set lease ${lease_ms} ms for sender ${sender_id}`, err);
      });
      return { ...c, ackWaitMs: lease_ms };
    })();
    this.consumers.set(sender_id, p);
    p.catch(() => this.consumers.set(sender_id, Promise.resolve(c)));
    return p;
  }

  async enqueue(job: DeliveryJob, opts: { not_before?: number } = {}): Promise<boolean> {
    this.assertOpen();
    checkJob(job);
    const c = await this.consumer(job.sender_id);
    const h = natsHeaders();
    if (opts.not_before !== undefined && opts.not_before > Date.now()) h.set(NOT_BEFORE, String(Math.floor(opts.not_before)));
    const body = te.encode(JSON.stringify({ ...job, attempts: job.attempts ?? 0, enqueued_at: job.enqueued_at ?? Date.now() }));
    try {
      const ack = await this.js.publish(c.subject, body, { msgID: job.id, headers: h, timeout: this.timeout });
      return !ack.duplicate;
    } catch (err) {
      throw this.unavailable(`enqueue ${job.id}`, err);
    }
  }

  async pull(sender_id: string, max: number, opts: { lease_ms: number; wait_ms?: number }): Promise<Lease[]> {
    this.assertOpen();
    checkPull(max, opts);
    const c = await this.consumer(sender_id, Math.round(opts.lease_ms));
    const deadline = Date.now() + Math.max(0, opts.wait_ms ?? 0);
    for (;;) {
      // First what is there now (no_wait). A server-side pull with a batch > 1 and an expiry would
      // hold until the batch is full, so waiting is done with batch 1, then the rest with no_wait.
      let msgs = await this.fetch(c, max, 0);
      const left = deadline - Date.now();
      if (msgs.length === 0 && left > 0) {
        msgs = await this.fetch(c, 1, left);
        if (msgs.length > 0 && max > 1) msgs.push(...(await this.fetch(c, max - 1, 0)));
      }
      const leases = await this.toLeases(msgs);
      // Everything fetched may have been a not-yet-due job (NAKed back): keep waiting if time is left.
      if (leases.length > 0 || msgs.length === 0 || Date.now() >= deadline || this.closed) return leases;
    }
  }

  /**
   * One pull request on the raw API. We listen until the server ends it (all messages, or a 404/408
   * status) and never stop early: a message delivered to an inbox nobody reads would sit leased.
   */
  private async fetch(c: ConsumerState, batch: number, wait_ms: number): Promise<Msg[]> {
    const inbox = createInbox();
    const sub = this.nc.subscribe(inbox, { max: batch + 1 });
    const req = wait_ms > 0 ? { batch, expires: nanos(wait_ms) } : { batch, no_wait: true };
    // Safety net only (server gone): the server's own expiry normally ends the request first.
    const guard = setTimeout(() => sub.unsubscribe(), wait_ms + this.timeout);
    const out: Msg[] = [];
    try {
      this.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${this.opts.stream}.${c.durable}`, te.encode(JSON.stringify(req)), { reply: inbox });
      for await (const m of sub) {
        const code = m.headers?.code ?? 0;
        if (code >= 400 || (code > 0 && m.data.length === 0 && !m.reply)) break; // 404/408/409: the request is over
        out.push(m);
        if (out.length >= batch) break;
      }
    } catch (err) {
      if (out.length === 0) throw this.unavailable(`pull for ${c.durable}`, err);
    } finally {
      clearTimeout(guard);
      sub.unsubscribe();
    }
    if (out.length === 0 && this.nc.isClosed() && !this.closed)
      throw this.unavailable(`pull for ${c.durable}`, new Error('connection closed'));
    return out;
  }

  private async toLeases(msgs: Msg[]): Promise<Lease[]> {
    const now = Date.now();
    const settled = await Promise.allSettled(
      msgs.map(async (m): Promise<Lease | null> => {
        const reply = m.reply ?? '';
        const { deliveries, sseq } = parseAck(reply);
        const nb = Number(m.headers?.get(NOT_BEFORE) || 0);
        if (nb > now) {
          await this.ackOp(reply, `-NAK ${JSON.stringify({ delay: nanos(nb - now) })}`).catch(() => {});
          return null;
        }
        let job: DeliveryJob;
        try {
          job = JSON.parse(td.decode(m.data)) as DeliveryJob;
          checkJob(job);
        } catch {
          // Not a wagate job (someone published garbage on our subject): it can never be sent.
          await this.ackOp(reply, '+TERM').catch(() => {});
          return null;
        }
        const e = deliveries > 1 || sseq <= this.suspectSeq ? await this.kv.get(kvKey(job.id)) : null;
        let counted = false;
        if (e && e.operation === 'PUT') {
          job.attempts = Math.max(job.attempts, Number(td.decode(e.value)) || 0);
          counted = true;
        }
        const handle: Handle = { reply, counted };
        return { job, handle, deliveries };
      }),
    );
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) {
      // Without its true attempt count a job must not go out: hand the whole batch back now.
      await Promise.all(msgs.map((m) => this.ackOp(m.reply ?? '', '-NAK').catch(() => {})));
      throw this.unavailable('read attempt counters', (failed as PromiseRejectedResult).reason);
    }
    return settled.map((r) => (r as PromiseFulfilledResult<Lease | null>).value).filter((l): l is Lease => l !== null);
  }

  async ack(lease: Lease): Promise<void> {
    this.assertOpen();
    await this.finish(lease, '+ACK', 'ack');
  }

  async deadLetter(lease: Lease, _reason: string): Promise<void> {
    this.assertOpen();
    // +TERM without the reason: 2.9 does not parse a reason after it (the Store holds the reason).
    await this.finish(lease, '+TERM', 'dead-letter');
  }

  private async finish(lease: Lease, op: string, what: string): Promise<void> {
    const h = handleOf(lease);
    await this.ackOp(h.reply, op).catch((err) => {
      throw this.unavailable(`${what} ${lease.job.id}`, err);
    });
    if (h.counted)
      await this.jsm.streams
        .purge(`KV_${this.opts.stream}_attempts`, { filter: `$KV.${this.opts.stream}_attempts.${kvKey(lease.job.id)}` })
        .catch(() => {});
  }

  async retry(lease: Lease, at: number, opts: { count_attempt: boolean; reason: string }): Promise<void> {
    this.assertOpen();
    if (!Number.isFinite(at)) throw new RangeError(`queue.retry: at must be a time in ms, got ${String(at)}`);
    const h = handleOf(lease);
    if (opts.count_attempt) {
      // Counter first, then NAK: a crash in between redelivers after the lease with the attempt counted.
      try {
        await this.kv.put(kvKey(lease.job.id), te.encode(String(lease.job.attempts + 1)));
        h.counted = true;
      } catch (err) {
        throw this.unavailable(`count attempt of ${lease.job.id}`, err);
      }
    }
    const delay = Math.floor(at - Date.now());
    await this.ackOp(h.reply, delay > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delay) })}` : '-NAK').catch((err) => {
      throw this.unavailable(`retry ${lease.job.id}`, err);
    });
  }

  async extendLease(lease: Lease, _lease_ms: number): Promise<void> {
    this.assertOpen();
    await this.ackOp(handleOf(lease).reply, '+WPI').catch((err) => {
      throw this.unavailable(`extend lease of ${lease.job.id}`, err);
    });
  }

  async stats(sender_id?: string): Promise<QueueStats> {
    this.assertOpen();
    try {
      const now = Date.now();
      if (sender_id !== undefined) {
        const c = await this.consumer(sender_id);
        const ci = await this.jsm.consumers.info(this.opts.stream, c.durable);
        const depth = ci.num_pending + ci.num_ack_pending;
        return {
          depth,
          ready: ci.num_pending,
          in_flight: ci.num_ack_pending,
          oldest_age_ms: depth ? await this.oldestAge(c.subject, now) : 0,
        };
      }
      const si = await this.jsm.streams.info(this.opts.stream);
      let ready = 0;
      let in_flight = 0;
      for await (const ci of this.jsm.consumers.list(this.opts.stream)) {
        ready += ci.num_pending;
        in_flight += ci.num_ack_pending;
      }
      const depth = si.state.messages;
      const first = si.state.first_ts ? Date.parse(si.state.first_ts) : now;
      return { depth, ready, in_flight, oldest_age_ms: depth ? Math.max(0, now - first) : 0 };
    } catch (err) {
      throw this.unavailable('stats', err);
    }
  }

  /** Age of the oldest message still in the stream for one subject (MSG.GET next_by_subj, 2.9). */
  private async oldestAge(subject: string, now: number): Promise<number> {
    const r = await this.nc.request(
      `$JS.API.STREAM.MSG.GET.${this.opts.stream}`,
      te.encode(JSON.stringify({ seq: 1, next_by_subj: subject })),
      { timeout: this.timeout },
    );
    const body = JSON.parse(td.decode(r.data)) as { message?: { time: string } };
    return body.message ? Math.max(0, now - Date.parse(body.message.time)) : 0;
  }

  async ping(): Promise<boolean> {
    if (this.closed || this.down || this.nc.isClosed()) return false;
    try {
      await this.jsm.getAccountInfo();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.nc.close();
  }

  /** An ack-family operation on a delivered message, confirmed by the server. */
  private async ackOp(reply: string, op: string): Promise<void> {
    if (!reply) throw new Error('message has no ack subject');
    await this.nc.request(reply, te.encode(op), { timeout: this.timeout });
  }

  private unavailable(what: string, err: unknown): QueueUnavailableError {
    return new QueueUnavailableError(
      `queue: ${what} failed on NATS JetStream at ${this.where}: ${(err as Error)?.message ?? String(err)}`,
      { cause: err },
    );
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('JetStream queue is closed');
    if (this.down) throw this.unavailable('call', new Error('disconnected; reconnecting in the background'));
  }
}

/** `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>` (or the 12-token form with domain and account). */
function parseAck(reply: string): { deliveries: number; sseq: number } {
  const t = reply.split('.');
  const o = t.length >= 12 ? 6 : 4;
  const n = Number(t[o]);
  const seq = Number(t[o + 1]);
  // Unparseable: assume the worst (redelivered, old) so the counter is looked up.
  return { deliveries: Number.isFinite(n) && n > 0 ? n : 2, sseq: Number.isFinite(seq) ? seq : 0 };
}

function handleOf(lease: Lease): Handle {
  const h = lease.handle as Handle | undefined;
  if (!h || typeof h.reply !== 'string') throw new TypeError('queue: this lease did not come from the JetStream queue');
  return h;
}
