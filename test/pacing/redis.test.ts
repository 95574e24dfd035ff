import { describe, it, expect, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisPacer, PacerUnavailableError } from '../../src/pacing/redis.ts';
import { senderCapacity } from '../../src/pacing/buckets.ts';
import { pacingContract, sleep } from './contract.ts';
import { startPrivateRedis } from './private-redis.ts';
import { REDIS_URL as URL, missing } from '../support/services.ts';

// The shared Redis (WAGATE_REDIS_URL) and, for recovery, a private redis-server: without them those
// tests skip (test/support/services.ts).
const noRedis = missing('redis');
const prefix = `wagate-test-${randomBytes(4).toString('hex')}`;

async function deleteKeys(): Promise<void> {
  const r = new Redis(URL);
  const keys = await r.keys(`${prefix}*`);
  if (keys.length) await r.del(...keys);
  await r.quit();
}

describe.skipIf(noRedis)('on the shared Redis', () => {
  pacingContract(
    'redis',
    async () => new RedisPacer({ url: URL, prefix }),
    async (p) => {
      await p.close();
      await deleteKeys();
    },
  );
});

describe('RedisPacer', () => {
  const extra: RedisPacer[] = [];
  afterAll(async () => {
    for (const p of extra) await p.close();
    if (!noRedis) await deleteKeys();
  });

  it.skipIf(noRedis)('two instances share one rate (Redis clock, one bucket)', async () => {
    const a = new RedisPacer({ url: URL, prefix });
    const b = new RedisPacer({ url: URL, prefix });
    extra.push(a, b);
    const s = `shared-${randomBytes(4).toString('hex')}`;
    const mps = 100;
    const t0 = performance.now();
    let granted = 0;
    const run = async (p: RedisPacer, tag: string) => {
      let i = 0;
      while (performance.now() - t0 < 800) {
        const r = await p.tryAcquire(s, mps, `${tag}${i++}`);
        if (r.ok) granted++;
        else await sleep(r.wait_ms);
      }
    };
    await Promise.all([run(a, 'a'), run(b, 'b')]);
    const elapsed = performance.now() - t0;
    expect(granted).toBeLessThanOrEqual(senderCapacity(mps) + (mps * elapsed) / 1000 + 1);
    expect(granted).toBeGreaterThanOrEqual((0.7 * (mps * elapsed)) / 1000);
  });

  it.skipIf(noRedis)('keeps its keys in one hash slot per sender and lets them expire', async () => {
    const p = new RedisPacer({ url: URL, prefix });
    extra.push(p);
    const s = `slot-${randomBytes(4).toString('hex')}`;
    expect((await p.tryAcquire(s, 80, '15551234567')).ok).toBe(true);
    const r = new Redis(URL);
    const keys = await r.keys(`${prefix}:pace:{${s}}*`);
    expect(keys.length).toBe(2);
    expect(keys.join(' ')).not.toContain('15551234567'); // the recipient is hashed
    for (const k of keys) {
      const ttl = await r.pttl(k);
      expect(ttl).toBeGreaterThan(0);
    }
    await r.quit();
  });

  it('fails fast with PacerUnavailableError when Redis is not there', async () => {
    const p = new RedisPacer({ url: 'redis://127.0.0.1:1', prefix, connect_timeout_ms: 300 });
    extra.push(p);
    const t0 = performance.now();
    await expect(p.tryAcquire('x', 80, 'r')).rejects.toBeInstanceOf(PacerUnavailableError);
    await expect(p.tryAcquire('x', 80, 'r')).rejects.toThrow(/Redis at redis:\/\/127\.0\.0\.1:1/);
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(await p.ping()).toBe(false);
  });

  it.skipIf(missing('redis-server'))('recovers by itself when a killed Redis comes back (private server)', async () => {
    const srv = await startPrivateRedis();
    try {
      const p = new RedisPacer({ url: srv.url, prefix, connect_timeout_ms: 1_000 });
      extra.push(p);
      expect((await p.tryAcquire('s', 80, 'r')).ok).toBe(true);
      await srv.kill();
      const t0 = performance.now();
      await expect(p.tryAcquire('s', 80, 'r2')).rejects.toBeInstanceOf(PacerUnavailableError);
      expect(performance.now() - t0).toBeLessThan(1_500);
      await srv.restart();
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        ok = await p.tryAcquire('s', 80, 'r3').then(
          (r) => r.ok,
          () => false,
        );
        if (!ok) await sleep(100);
      }
      expect(ok).toBe(true);
      expect(await p.ping()).toBe(true);

      // Slow, not down: a Redis busy for 1.5 s fails the call after the 500 ms command timeout.
      const blocker = new Redis(srv.url);
      const sleeping = blocker.call('DEBUG', 'SLEEP', '1.5');
      await sleep(50);
      const t1 = performance.now();
      await expect(p.tryAcquire('s', 80, 'r4')).rejects.toBeInstanceOf(PacerUnavailableError);
      expect(performance.now() - t1).toBeLessThan(1_200);
      await sleeping;
      blocker.disconnect();
      let back = false;
      for (let i = 0; i < 50 && !back; i++) {
        back = await p.tryAcquire('s', 80, 'r5').then(
          (r) => r.ok,
          () => false,
        );
        if (!back) await sleep(100);
      }
      expect(back).toBe(true);
    } finally {
      await srv.stop();
    }
  });
});
