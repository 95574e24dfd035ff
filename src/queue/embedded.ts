// DeliveryQueue on its own SQLite file (better-sqlite3), for one wagate process.
//
// One row per job. A lease is a token plus an expiry written into `available_at`: a leased job
// simply becomes ready again when its lease runs out, so a job leased by a process that died is
// handed out again after its lease with no sweeper, and a restart (reopening the file) loses nothing.
// Acked and dead-lettered ids go to `done_ids` for DONE_TTL_MS so a late duplicate enqueue is refused.
// WAL + synchronous=NORMAL: a killed process loses nothing committed; an OS crash / power loss may
// lose the last few commits (use `synchronous: 'full'` to fsync every commit at a throughput cost).
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import type { DeliveryJob, DeliveryQueue, Lease, QueueStats } from './port.ts';
import { checkJob, checkPull } from './job.ts';

/** Ids of finished jobs are remembered this long: a second enqueue of the same id returns false. */
export const DONE_TTL_MS = 24 * 60 * 60 * 1000;
/** Pruning of done ids runs at most this often (cheap: indexed range delete). */
const PRUNE_EVERY_MS = 60_000;
/** Pull waits at most this long between re-checks even without a wake-up (other processes on the file). */
const MAX_SLEEP_MS = 1_000;

export interface EmbeddedQueueOptions {
  /** SQLite file path, or ':memory:'. */
  path: string;
  synchronous?: 'normal' | 'full';
}

interface Handle {
  token: string;
}

interface Row {
  id: string;
  sender_id: string;
  attempts: number;
  enqueued_at: number;
  deliveries: number;
  job: string;
}

export class EmbeddedQueue implements DeliveryQueue {
  private readonly db: Database.Database;
  private readonly tokenPrefix = randomBytes(6).toString('hex');
  private tokenSeq = 0;
  private closed = false;
  private lastPrune = 0;
  /** In-process pullers waiting for work, per sender: woken on enqueue / retry / expiry timer. */
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly st: ReturnType<EmbeddedQueue['prepare']>;
  private readonly pending: { op: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];

  constructor(opts: EmbeddedQueueOptions) {
    if (!opts || typeof opts.path !== 'string' || opts.path.length === 0) {
      throw new TypeError("EmbeddedQueue: `path` is required (a file path such as ./data/queue.db, or ':memory:')");
    }
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS jobs (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        id           TEXT NOT NULL UNIQUE,
        sender_id    TEXT NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        enqueued_at  INTEGER NOT NULL,
        -- ready when available_at <= now; while leased it holds the lease expiry
        available_at INTEGER NOT NULL,
        lease_token  TEXT,
        deliveries   INTEGER NOT NULL DEFAULT 0,
        last_reason  TEXT,
        job          TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (sender_id, available_at, seq);
      CREATE TABLE IF NOT EXISTS done_ids (id TEXT PRIMARY KEY, done_at INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS done_ids_at ON done_ids (done_at);
    `);
    this.st = this.prepare();
  }

  private prepare() {
    const db = this.db;
    return {
      isDone: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM done_ids WHERE id = ?'),
      insert: db.prepare('INSERT OR IGNORE INTO jobs (id, sender_id, attempts, enqueued_at, available_at, job) VALUES (?, ?, ?, ?, ?, ?)'),
      lease: db.prepare<[number, string, string, number, number, number], Row & { available_at: number; seq: number }>(`
        UPDATE jobs SET available_at = ?, lease_token = ?, deliveries = deliveries + 1
        WHERE seq IN (SELECT seq FROM jobs WHERE sender_id = ? AND available_at <= ? ORDER BY available_at, seq LIMIT ?)
          AND available_at <= ?
        RETURNING id, sender_id, attempts, enqueued_at, deliveries, job, available_at, seq`),
      nextAt: db.prepare<[string], { at: number | null }>('SELECT MIN(available_at) AS at FROM jobs WHERE sender_id = ?'),
      del: db.prepare('DELETE FROM jobs WHERE id = ?'),
      markDone: db.prepare('INSERT OR REPLACE INTO done_ids (id, done_at) VALUES (?, ?)'),
      retry: db.prepare(
        'UPDATE jobs SET available_at = ?, lease_token = NULL, attempts = attempts + ?, last_reason = ? WHERE id = ? AND lease_token = ?',
      ),
      extend: db.prepare('UPDATE jobs SET available_at = ? WHERE id = ? AND lease_token = ?'),
      prune: db.prepare('DELETE FROM done_ids WHERE done_at < ?'),
      statsAll: db.prepare<[number, number, number], QueueStats>(`
        SELECT COUNT(*) AS depth,
               COALESCE(SUM(available_at <= ?), 0) AS ready,
               COALESCE(SUM(lease_token IS NOT NULL AND available_at > ?), 0) AS in_flight,
               COALESCE(? - MIN(enqueued_at), 0) AS oldest_age_ms
        FROM jobs`),
      statsOne: db.prepare<[number, number, number, string], QueueStats>(`
        SELECT COUNT(*) AS depth,
               COALESCE(SUM(available_at <= ?), 0) AS ready,
               COALESCE(SUM(lease_token IS NOT NULL AND available_at > ?), 0) AS in_flight,
               COALESCE(? - MIN(enqueued_at), 0) AS oldest_age_ms
        FROM jobs WHERE sender_id = ?`),
    };
  }

  async enqueue(job: DeliveryJob, opts: { not_before?: number } = {}): Promise<boolean> {
    this.assertOpen();
    checkJob(job);
    const now = Date.now();
    const at = Math.max(now, opts.not_before ?? 0);
    const body = JSON.stringify(job);
    const added = await this.write(() => {
      if (this.st.isDone.get(job.id)) return false;
      return this.st.insert.run(job.id, job.sender_id, job.attempts ?? 0, job.enqueued_at ?? now, at, body).changes === 1;
    });
    if (added) this.wake(job.sender_id);
    return added;
  }

  async pull(sender_id: string, max: number, opts: { lease_ms: number; wait_ms?: number }): Promise<Lease[]> {
    this.assertOpen();
    checkPull(max, opts);
    const deadline = Date.now() + Math.max(0, opts.wait_ms ?? 0);
    for (;;) {
      if (this.closed) return [];
      // Look before leasing: a read is a few µs, while the leasing UPDATE is a write transaction with
      // its own commit even when it finds nothing (~50 µs measured: one per message at low load, when
      // every pull after a job comes back empty). The UPDATE stays the only claim.
      let next = this.st.nextAt.get(sender_id)?.at ?? Infinity;
      if (next <= Date.now()) {
        const got = this.take(sender_id, max, opts.lease_ms);
        if (got.length > 0) return got;
        next = this.st.nextAt.get(sender_id)?.at ?? Infinity; // taken by another process meanwhile
      }
      const now = Date.now();
      if (now >= deadline) return [];
      // Sleep until woken by an enqueue/retry here, or until the next job (delay or lease expiry) is due.
      const sleep = Math.min(deadline - now, Math.max(1, next - now), MAX_SLEEP_MS);
      await this.waitFor(sender_id, sleep);
    }
  }

  private take(sender_id: string, max: number, lease_ms: number): Lease[] {
    const now = Date.now();
    const token = `${this.tokenPrefix}.${++this.tokenSeq}`;
    // One statement: select the oldest ready rows and lease them. SQLite serialises writers, so two
    // pullers (even in two processes) can never lease the same row at once.
    const rows = this.st.lease.all(now + lease_ms, token, sender_id, now, max, now);
    rows.sort((a, b) => a.seq - b.seq);
    const handle: Handle = { token };
    return rows.map((r) => ({
      job: { ...(JSON.parse(r.job) as DeliveryJob), id: r.id, sender_id: r.sender_id, attempts: r.attempts, enqueued_at: r.enqueued_at },
      handle,
      deliveries: r.deliveries,
    }));
  }

  /** Ack is final whoever holds the lease now: the job was done, so it must not go out again. */
  async ack(lease: Lease): Promise<void> {
    this.assertOpen();
    await this.finish(lease.job.id);
  }

  async deadLetter(lease: Lease, _reason: string): Promise<void> {
    this.assertOpen();
    await this.finish(lease.job.id);
  }

  private finish(id: string): Promise<void> {
    return this.write(() => {
      const now = Date.now();
      this.st.del.run(id);
      this.st.markDone.run(id, now);
      if (now - this.lastPrune > PRUNE_EVERY_MS) {
        this.lastPrune = now;
        this.st.prune.run(now - DONE_TTL_MS);
      }
    });
  }

  /**
   * Group commit: enqueues and acks issued in the same tick share one transaction (one WAL commit
   * instead of one each), each op inside its own savepoint so one failure fails only its caller.
   * A caller's promise resolves only after the commit that holds its write.
   */
  private write<T>(op: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ op, resolve: resolve as (v: unknown) => void, reject });
      if (this.pending.length === 1) queueMicrotask(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    const results: { ok: boolean; value: unknown }[] = [];
    try {
      this.db.transaction(() => {
        for (const b of batch) {
          try {
            results.push({ ok: true, value: this.db.transaction(b.op)() });
          } catch (err) {
            results.push({ ok: false, value: err });
          }
        }
      })();
    } catch (err) {
      for (const b of batch) b.reject(err);
      return;
    }
    batch.forEach((b, i) => (results[i].ok ? b.resolve(results[i].value) : b.reject(results[i].value)));
  }

  /** Only the current lease holder may put a job back; a stale holder's retry is ignored. */
  async retry(lease: Lease, at: number, opts: { count_attempt: boolean; reason: string }): Promise<void> {
    this.assertOpen();
    if (!Number.isFinite(at)) throw new RangeError(`queue.retry: at must be a time in ms, got ${String(at)}`);
    const r = this.st.retry.run(Math.floor(at), opts.count_attempt ? 1 : 0, opts.reason ?? null, lease.job.id, tokenOf(lease));
    if (r.changes === 1) this.wake(lease.job.sender_id);
  }

  async extendLease(lease: Lease, lease_ms: number): Promise<void> {
    this.assertOpen();
    this.st.extend.run(Date.now() + lease_ms, lease.job.id, tokenOf(lease));
  }

  async stats(sender_id?: string): Promise<QueueStats> {
    this.assertOpen();
    const now = Date.now();
    const row = sender_id === undefined ? this.st.statsAll.get(now, now, now) : this.st.statsOne.get(now, now, now, sender_id);
    return {
      depth: row!.depth,
      ready: row!.ready,
      in_flight: row!.in_flight,
      oldest_age_ms: Math.max(0, row!.depth ? row!.oldest_age_ms : 0),
    };
  }

  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      this.db.prepare('SELECT 1').get();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    for (const set of this.waiters.values()) for (const w of set) w();
    this.waiters.clear();
    this.db.close();
  }

  private wake(sender_id: string): void {
    const set = this.waiters.get(sender_id);
    if (!set) return;
    this.waiters.delete(sender_id);
    for (const w of set) w();
  }

  private waitFor(sender_id: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(sender_id);
      if (!set) this.waiters.set(sender_id, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        this.waiters.get(sender_id)?.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('EmbeddedQueue is closed');
  }
}

function tokenOf(lease: Lease): string {
  const h = lease.handle as Handle | undefined;
  if (!h || typeof h.token !== 'string') throw new TypeError('queue: this lease did not come from EmbeddedQueue.pull');
  return h.token;
}
