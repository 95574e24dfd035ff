// DeliveryQueue contract: written once, run unchanged against every adapter
// (embedded.test.ts, jetstream.test.ts). `make` gives a backend; `open()` connects a new queue
// instance to it (a restart, or a second process), `destroy()` removes it.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { DeliveryJob, DeliveryQueue, Lease } from '../../src/queue/port.ts';

export interface QueueBackend {
  open(): Promise<DeliveryQueue>;
  destroy(): Promise<void>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uid = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;
const job = (sender_id: string, id = uid('m')): DeliveryJob => ({ id, sender_id, attempts: 0, enqueued_at: Date.now() });

/** Pulls until `n` leases arrived or `ms` passed. */
async function pullN(q: DeliveryQueue, sender: string, n: number, lease_ms: number, ms = 3_000): Promise<Lease[]> {
  const out: Lease[] = [];
  const end = Date.now() + ms;
  while (out.length < n && Date.now() < end)
    out.push(...(await q.pull(sender, n - out.length, { lease_ms, wait_ms: Math.min(500, end - Date.now()) })));
  return out;
}

export function queueContract(name: string, make: () => Promise<QueueBackend>): void {
  describe(`DeliveryQueue contract: ${name}`, () => {
    let backend: QueueBackend;
    let q: DeliveryQueue;
    const opened: DeliveryQueue[] = [];
    const open = async () => {
      const x = await backend.open();
      opened.push(x);
      return x;
    };
    beforeAll(async () => {
      backend = await make();
      q = await open();
    });
    afterAll(async () => {
      for (const x of opened) await x.close().catch(() => {});
      await backend.destroy();
    });

    it('answers ping', async () => {
      expect(await q.ping()).toBe(true);
    });

    it('dedupes by id, also after the job was acked', async () => {
      const s = uid('s');
      const j = job(s);
      expect(await q.enqueue(j)).toBe(true);
      expect(await q.enqueue({ ...j })).toBe(false);
      const [l] = await pullN(q, s, 1, 5_000);
      expect(l.job.id).toBe(j.id);
      await q.ack(l);
      expect(await q.enqueue({ ...j })).toBe(false);
      expect(await q.pull(s, 10, { lease_ms: 5_000, wait_ms: 300 })).toEqual([]);
    });

    it('hands out jobs of one sender in FIFO order, at most max, with their fields', async () => {
      const s = uid('s');
      const other = uid('s');
      const jobs = Array.from({ length: 5 }, (_, i) => ({ ...job(s), attempts: i === 0 ? 2 : 0 }));
      for (const j of jobs) expect(await q.enqueue(j)).toBe(true);
      expect(await q.enqueue(job(other))).toBe(true);
      const first = await pullN(q, s, 3, 5_000);
      expect(first.map((l) => l.job.id)).toEqual(jobs.slice(0, 3).map((j) => j.id));
      expect(first[0].job).toMatchObject({ id: jobs[0].id, sender_id: s, attempts: 2, enqueued_at: jobs[0].enqueued_at });
      expect(first[0].deliveries).toBe(1);
      const rest = await pullN(q, s, 5, 5_000, 800);
      expect(rest.map((l) => l.job.id)).toEqual(jobs.slice(3).map((j) => j.id));
      for (const l of [...first, ...rest]) await q.ack(l);
      const o = await pullN(q, other, 1, 5_000);
      expect(o.map((l) => l.job.sender_id)).toEqual([other]);
      await q.ack(o[0]);
    });

    it('pull with wait_ms wakes when a job arrives, and returns [] when none does', async () => {
      const s = uid('s');
      expect(await q.pull(s, 1, { lease_ms: 5_000, wait_ms: 0 })).toEqual([]);
      const t0 = Date.now();
      expect(await q.pull(s, 1, { lease_ms: 5_000, wait_ms: 300 })).toEqual([]);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      const j = job(s);
      setTimeout(() => void q.enqueue(j), 150);
      const t1 = Date.now();
      const got = await q.pull(s, 1, { lease_ms: 5_000, wait_ms: 3_000 });
      expect(got.map((l) => l.job.id)).toEqual([j.id]);
      expect(Date.now() - t1).toBeLessThan(1_500);
      await q.ack(got[0]);
    });

    it('enqueue not_before: the job is not ready before its time', async () => {
      const s = uid('s');
      const j = job(s);
      const t0 = Date.now();
      // 1.5 s of margin: on a loaded machine enqueue + the first pull alone can take hundreds of ms.
      expect(await q.enqueue(j, { not_before: t0 + 1_500 })).toBe(true);
      expect(await q.pull(s, 1, { lease_ms: 5_000, wait_ms: 0 })).toEqual([]);
      const got = await pullN(q, s, 1, 6_000);
      expect(got.map((l) => l.job.id)).toEqual([j.id]);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1_450);
      await q.ack(got[0]);
    });

    it('a lease that runs out hands the job out again; before that nobody else gets it', async () => {
      const s = uid('s');
      const j = job(s);
      await q.enqueue(j);
      const [l1] = await pullN(q, s, 1, 600);
      const t0 = Date.now();
      expect(await q.pull(s, 1, { lease_ms: 600, wait_ms: 200 })).toEqual([]);
      const [l2] = await pullN(q, s, 1, 600);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
      expect(l2.job.id).toBe(j.id);
      expect(l2.deliveries).toBe(l1.deliveries + 1);
      expect(l2.job.attempts).toBe(0); // a crash or lost lease is not a failed send
      await q.ack(l2);
    });

    it('extendLease keeps a slow job away from other pullers', async () => {
      const s = uid('s');
      await q.enqueue(job(s));
      const [l] = await pullN(q, s, 1, 600);
      for (let i = 0; i < 3; i++) {
        await sleep(300);
        await q.extendLease(l, 600);
      }
      // 900 ms after the pull: the original 600 ms lease would have run out.
      expect(await q.pull(s, 1, { lease_ms: 600, wait_ms: 200 })).toEqual([]);
      await q.ack(l);
      await sleep(700);
      expect(await q.pull(s, 1, { lease_ms: 600, wait_ms: 0 })).toEqual([]);
    });

    it('retry at a time: ready again only then; attempts count only when count_attempt', async () => {
      const s = uid('s');
      const j = job(s);
      await q.enqueue(j);
      let [l] = await pullN(q, s, 1, 5_000);
      const t0 = Date.now();
      await q.retry(l, t0 + 400, { count_attempt: false, reason: 'pacing' });
      expect(await q.pull(s, 1, { lease_ms: 5_000, wait_ms: 0 })).toEqual([]);
      [l] = await pullN(q, s, 1, 5_000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
      expect(l.job.attempts).toBe(0);
      expect(l.deliveries).toBe(2);
      await q.retry(l, Date.now(), { count_attempt: true, reason: '131000' });
      [l] = await pullN(q, s, 1, 5_000);
      expect(l.job.attempts).toBe(1);
      await q.retry(l, Date.now(), { count_attempt: false, reason: 'pacing' });
      [l] = await pullN(q, s, 1, 5_000);
      expect(l.job.attempts).toBe(1);
      await q.retry(l, Date.now(), { count_attempt: true, reason: '131000' });
      [l] = await pullN(q, s, 1, 5_000);
      expect(l.job.attempts).toBe(2);
      expect(l.deliveries).toBe(5);
      await q.ack(l);
    });

    it('deadLetter removes the job for good', async () => {
      const s = uid('s');
      const j = job(s);
      await q.enqueue(j);
      const [l] = await pullN(q, s, 1, 300);
      await q.deadLetter(l, '131026 undeliverable');
      await sleep(500); // longer than the lease: it must not come back
      expect(await q.pull(s, 1, { lease_ms: 300, wait_ms: 200 })).toEqual([]);
      expect((await q.stats(s)).depth).toBe(0);
      expect(await q.enqueue({ ...j })).toBe(false);
    });

    it('stats: depth, ready, in flight and age, per sender and overall', async () => {
      const s = uid('s');
      expect(await q.stats(s)).toEqual({ depth: 0, ready: 0, in_flight: 0, oldest_age_ms: 0 });
      const jobs = [job(s), job(s), job(s)];
      for (const j of jobs) await q.enqueue(j);
      await sleep(50);
      const [l] = await pullN(q, s, 1, 5_000);
      let st = await q.stats(s);
      expect(st).toMatchObject({ depth: 3, ready: 2, in_flight: 1 });
      expect(st.oldest_age_ms).toBeGreaterThanOrEqual(40);
      expect(st.oldest_age_ms).toBeLessThan(60_000);
      const all = await q.stats();
      expect(all.depth).toBeGreaterThanOrEqual(3);
      await q.ack(l);
      st = await q.stats(s);
      expect(st).toMatchObject({ depth: 2, ready: 2, in_flight: 0 });
      for (const x of await pullN(q, s, 2, 5_000)) await q.ack(x);
      expect(await q.stats(s)).toEqual({ depth: 0, ready: 0, in_flight: 0, oldest_age_ms: 0 });
    });

    it('survives a restart: nothing enqueued is lost, a leased job comes back after its lease', async () => {
      const s = uid('s');
      const jobs = [job(s), job(s), job(s)];
      const q1 = await open();
      for (const j of jobs) await q1.enqueue(j);
      const [leased] = await pullN(q1, s, 1, 800);
      expect(leased.job.id).toBe(jobs[0].id);
      await q1.close(); // the process "dies" holding a lease
      const q2 = await open();
      const got = await pullN(q2, s, 3, 800, 5_000);
      expect(got.map((l) => l.job.id).sort()).toEqual(jobs.map((j) => j.id).sort());
      for (const l of got) await q2.ack(l);
      expect(await q2.enqueue({ ...jobs[1] })).toBe(false); // dedupe memory survives too
      expect((await q2.stats(s)).depth).toBe(0);
    });

    it('concurrent pullers (two instances) never hold the same job at once and lose none', async () => {
      const s = uid('s');
      const n = 300;
      const ids = Array.from({ length: n }, () => uid('m'));
      for (const id of ids) await q.enqueue(job(s, id));
      const q2 = await open();
      const holding = new Set<string>();
      const seen: string[] = [];
      let overlap = 0;
      const worker = async (x: DeliveryQueue) => {
        let idle = 0;
        while (idle < 3) {
          const ls = await x.pull(s, 7, { lease_ms: 10_000, wait_ms: 200 });
          if (ls.length === 0) {
            idle++;
            continue;
          }
          idle = 0;
          for (const l of ls) {
            if (holding.has(l.job.id)) overlap++;
            holding.add(l.job.id);
          }
          await sleep(1);
          for (const l of ls) {
            seen.push(l.job.id);
            holding.delete(l.job.id);
            await x.ack(l);
          }
        }
      };
      await Promise.all([worker(q), worker(q), worker(q2), worker(q2)]);
      expect(overlap).toBe(0);
      expect(seen.length).toBe(n);
      expect(new Set(seen).size).toBe(n);
      expect((await q.stats(s)).depth).toBe(0);
    });

    it('rejects bad input with a clear error', async () => {
      await expect(q.enqueue({ id: '', sender_id: 's', attempts: 0, enqueued_at: 0 })).rejects.toThrow(/id is missing/);
      await expect(q.enqueue({ id: 'x', sender_id: '', attempts: 0, enqueued_at: 0 })).rejects.toThrow(/sender_id/);
      await expect(q.pull('s', 0, { lease_ms: 1000 })).rejects.toThrow(/max must be a positive integer/);
      await expect(q.pull('s', 1, { lease_ms: 0 })).rejects.toThrow(/lease_ms/);
    });
  });
}
