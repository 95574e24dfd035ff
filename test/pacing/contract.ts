// Pacer contract: written once, run unchanged against every adapter (memory.test.ts, redis.test.ts).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { PAIR_BURST, PAIR_INTERVAL_MS, type Pacer } from '../../src/pacing/port.ts';
import { PAIR_CAPACITY, senderCapacity } from '../../src/pacing/buckets.ts';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uid = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;

export function pacingContract(name: string, make: () => Promise<Pacer>, destroy: (p: Pacer) => Promise<void> = (p) => p.close()): void {
  describe(`Pacer contract: ${name}`, () => {
    let pacer: Pacer;
    beforeAll(async () => {
      pacer = await make();
    });
    afterAll(async () => {
      await destroy(pacer);
    });

    it('answers ping', async () => {
      expect(await pacer.ping()).toBe(true);
    });

    it('grants a full sender bucket, then says exactly how long to wait', async () => {
      const s = uid('s');
      const mps = 10; // capacity max(1, 10 × 0.2) = 2 tokens, one every 100 ms
      expect(senderCapacity(mps)).toBe(2);
      expect((await pacer.tryAcquire(s, mps, 'r1')).ok).toBe(true);
      expect((await pacer.tryAcquire(s, mps, 'r2')).ok).toBe(true);
      const denied = await pacer.tryAcquire(s, mps, 'r3');
      expect(denied.ok).toBe(false);
      expect(denied.limited_by).toBe('sender');
      expect(denied.wait_ms).toBeGreaterThan(0);
      expect(denied.wait_ms).toBeLessThanOrEqual(100);
      // Timers may fire a fraction of a millisecond before the clock the bucket reads has moved on.
      await sleep(denied.wait_ms + 2);
      const after = await pacer.tryAcquire(s, mps, 'r3');
      expect(after).toEqual({ ok: true, wait_ms: 0 });
    });

    it('never grants more than capacity + rate × elapsed, and reaches the rate (at least 70%)', async () => {
      const s = uid('s');
      const mps = 100;
      const t0 = performance.now();
      let granted = 0;
      let i = 0;
      while (performance.now() - t0 < 800) {
        const r = await pacer.tryAcquire(s, mps, `r${i++}`);
        if (r.ok) granted++;
        else await sleep(r.wait_ms);
      }
      const elapsed = performance.now() - t0;
      const ceiling = senderCapacity(mps) + (mps * elapsed) / 1000 + 1;
      expect(granted).toBeLessThanOrEqual(ceiling);
      expect(granted).toBeGreaterThanOrEqual((0.7 * (mps * elapsed)) / 1000);
    });

    it('concurrent callers share one bucket: no token is granted twice', async () => {
      const s = uid('s');
      const mps = 20; // capacity 4
      const t0 = performance.now();
      const results = await Promise.all(Array.from({ length: 60 }, (_, i) => pacer.tryAcquire(s, mps, `r${i}`)));
      const elapsed = performance.now() - t0;
      const granted = results.filter((r) => r.ok).length;
      expect(granted).toBeGreaterThanOrEqual(4);
      expect(granted).toBeLessThanOrEqual(4 + Math.ceil((mps * elapsed) / 1000));
      for (const r of results.filter((x) => !x.ok)) expect(r.wait_ms).toBeGreaterThan(0);
    });

    it(`limits one recipient to a burst just under Meta's ${PAIR_BURST}, then one per ${PAIR_INTERVAL_MS} ms; others unaffected`, async () => {
      const s = uid('s');
      expect(PAIR_CAPACITY).toBeLessThan(PAIR_BURST);
      expect(PAIR_CAPACITY).toBeGreaterThanOrEqual(PAIR_BURST - 2);
      let granted = 0;
      for (let i = 0; i < PAIR_BURST + 5; i++) if ((await pacer.tryAcquire(s, 1000, 'same')).ok) granted++;
      expect(granted).toBe(PAIR_CAPACITY);
      const denied = await pacer.tryAcquire(s, 1000, 'same');
      expect(denied.ok).toBe(false);
      expect(denied.limited_by).toBe('recipient');
      expect(denied.wait_ms).toBeGreaterThan(PAIR_INTERVAL_MS - 1000);
      expect(denied.wait_ms).toBeLessThanOrEqual(PAIR_INTERVAL_MS);
      expect((await pacer.tryAcquire(s, 1000, 'other')).ok).toBe(true);
    });

    it('takes from both buckets or neither: a blocked pair costs the sender nothing', async () => {
      const s = uid('s');
      await pacer.penalize(s, 10_000, 'blocked');
      const d = await pacer.tryAcquire(s, 1, 'blocked'); // mps 1: capacity is a single token
      expect(d.ok).toBe(false);
      expect(d.limited_by).toBe('penalty');
      expect(d.wait_ms).toBeGreaterThan(9_000);
      expect((await pacer.tryAcquire(s, 1, 'free')).ok).toBe(true); // the single token was still there
      const d2 = await pacer.tryAcquire(s, 1, 'free2');
      expect(d2.ok).toBe(false);
      expect(d2.limited_by).toBe('sender');
    });

    it('takes from both buckets or neither: an empty sender costs the pair nothing', async () => {
      const s = uid('s');
      await pacer.penalize(s, 150);
      for (let i = 0; i < 20; i++) expect((await pacer.tryAcquire(s, 1000, 'same')).ok).toBe(false);
      await sleep(200);
      let granted = 0;
      for (let i = 0; i < PAIR_BURST + 3; i++) if ((await pacer.tryAcquire(s, 1000, 'same')).ok) granted++;
      expect(granted).toBe(PAIR_CAPACITY);
    });

    it('penalize blocks the sender for the given time, and only that sender', async () => {
      const s = uid('s');
      const other = uid('s');
      expect((await pacer.tryAcquire(s, 80, 'a')).ok).toBe(true);
      const t0 = Date.now();
      await pacer.penalize(s, 300);
      const d = await pacer.tryAcquire(s, 80, 'b');
      const elapsed = Date.now() - t0; // a loaded machine may take a while between the two calls
      expect(d.ok).toBe(false);
      expect(d.limited_by).toBe('penalty');
      expect(d.wait_ms).toBeGreaterThanOrEqual(300 - elapsed - 5);
      expect(d.wait_ms).toBeLessThanOrEqual(300);
      expect((await pacer.tryAcquire(other, 80, 'b')).ok).toBe(true);
      await sleep(d.wait_ms + 2); // timers may fire a fraction of a millisecond early
      expect((await pacer.tryAcquire(s, 80, 'b')).ok).toBe(true);
    });

    it('penalize with a recipient blocks only that pair; a shorter penalty never shortens a longer one', async () => {
      const s = uid('s');
      await pacer.penalize(s, 8_000, 'x');
      await pacer.penalize(s, 10, 'x');
      const d = await pacer.tryAcquire(s, 80, 'x');
      expect(d.ok).toBe(false);
      expect(d.limited_by).toBe('penalty');
      expect(d.wait_ms).toBeGreaterThan(7_000);
      expect(d.wait_ms).toBeLessThanOrEqual(8_000);
      expect((await pacer.tryAcquire(s, 80, 'y')).ok).toBe(true);
    });

    it('a pair penalty also empties the pair bucket (Meta says its bucket is empty): next token one interval later', async () => {
      const s = uid('s');
      expect((await pacer.tryAcquire(s, 80, 'x')).ok).toBe(true);
      await pacer.penalize(s, 100, 'x');
      const d = await pacer.tryAcquire(s, 80, 'x');
      expect(d.ok).toBe(false);
      expect(d.limited_by).toBe('recipient');
      expect(d.wait_ms).toBeGreaterThan(PAIR_INTERVAL_MS - 1000);
      expect(d.wait_ms).toBeLessThanOrEqual(PAIR_INTERVAL_MS);
    });

    it('rejects bad input with a clear error', async () => {
      await expect(pacer.tryAcquire(uid('s'), 0, 'r')).rejects.toThrow(/throughput_mps must be a positive number/);
      await expect(pacer.tryAcquire(uid('s'), Number.NaN, 'r')).rejects.toThrow(/throughput_mps/);
      await expect(pacer.tryAcquire(uid('s'), 80, '')).rejects.toThrow(/recipient is empty/);
      await expect(pacer.penalize(uid('s'), -5)).rejects.toThrow(/non-negative/);
    });
  });
}
