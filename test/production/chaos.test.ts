// Chaos on the production backends: a PRIVATE nats-server (own port, own store dir) or a PRIVATE
// redis-server (no persistence) is killed with SIGKILL while wagate is delivering, then restarted. The
// sandbox ledger (Meta's own count) shows every message sent exactly once: zero lost, zero duplicate;
// while Redis is down nothing is sent at all. The other services are the shared local ones, under
// this run's own namespace.
import { describe, it, expect } from 'vitest';
import { startHarness, orderUpdate, recipient, waitFor, countLedger, type Harness } from '../delivery/harness.ts';
import { dropNamespace, leftovers, startPrivateNats, useServers } from './backends.ts';
import { startPrivateRedis } from '../pacing/private-redis.ts';
import type { RedisGateState } from '../../src/gate/redis.ts';

const N = 200;
/** Slow enough (10 s of sending) that the kill lands mid-delivery even on a loaded machine. */
const MPS = 20;

/** Submits N utility templates over 10 concurrent lanes; returns the wagate ids. */
async function submitAll(h: Harness): Promise<string[]> {
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: 10 }, async (_, lane) => {
      for (let i = lane; i < N; i += 10) {
        const r = await h.post(orderUpdate(recipient(i), i));
        if (r.status !== 202) throw new Error(`submit ${i}: ${r.status} ${JSON.stringify(r.json)}`);
        ids.push(r.json.id);
      }
    }),
  );
  return ids;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('production chaos', () => {
  it('nats-server killed -9 mid-delivery and restarted: zero lost, zero duplicate', async () => {
    const nats = await startPrivateNats();
    let h: Harness | null = null;
    try {
      h = await useServers({ nats: nats.url }, () => startHarness({ production: true, mps: MPS }));
      expect(h.ctx.config.nats_url).toBe(nats.url);
      const ids = await submitAll(h);
      await waitFor('a quarter sent', async () => (await h!.ledger()).length >= N / 4, 30_000, 20);
      const beforeKill = (await h.ledger()).length;
      await nats.kill();
      await sleep(1_500);
      await nats.restart();
      await waitFor(`all ${N} in the ledger`, async () => (await h!.ledger()).length >= N, 60_000, 250);
      await sleep(1_000); // a late redelivery would show up here
      const { lost, duplicates } = countLedger(ids, await h.ledger());
      console.log(JSON.stringify({ chaos: 'nats kill -9', messages: N, sent_before_kill: beforeKill, lost, duplicates }));
      expect(beforeKill).toBeLessThan(N * 0.75); // the kill really happened mid-load
      expect({ lost, duplicates }).toEqual({ lost: 0, duplicates: 0 });
    } finally {
      if (h) await h.close();
      await nats.stop();
      if (h) await dropNamespace(h.namespace);
    }
    expect(await leftovers(h!.namespace)).toEqual({ redis_keys: 0, streams: [], schema: false });
  }, 120_000);

  it('redis-server killed -9 mid-delivery: sends stop while it is down, resume when it returns empty, none lost or doubled', async () => {
    const redis = await startPrivateRedis();
    let h: Harness | null = null;
    try {
      h = await useServers({ redis: redis.url }, () => startHarness({ production: true, mps: MPS }));
      expect(h.ctx.config.redis_url).toBe(redis.url);
      // What app.ts should wire: an empty Redis is refilled from the durable store.
      const store = h.ctx.store;
      (h.ctx.gate as RedisGateState).setReseed(() => store.loadGateSeed(Date.now()));
      const ids = await submitAll(h);
      await waitFor('a quarter sent', async () => (await h!.ledger()).length >= N / 4, 30_000, 20);
      await redis.kill();
      await sleep(1_000); // sends already past the pacer finish
      const down = (await h.ledger()).length;
      await sleep(2_000);
      const stillDown = (await h.ledger()).length;
      await redis.restart(); // empty: gate state and pacing buckets are gone
      await waitFor(`all ${N} in the ledger`, async () => (await h!.ledger()).length >= N, 60_000, 250);
      await sleep(1_000);
      const { lost, duplicates } = countLedger(ids, await h.ledger());
      console.log(JSON.stringify({ chaos: 'redis kill -9', messages: N, sent_before_kill: down, sent_while_down: stillDown - down, lost, duplicates }));
      expect(down).toBeLessThan(N * 0.75);
      expect(stillDown - down).toBe(0);
      expect({ lost, duplicates }).toEqual({ lost: 0, duplicates: 0 });
    } finally {
      if (h) await h.close();
      await redis.stop();
      if (h) await dropNamespace(h.namespace);
    }
    expect(await leftovers(h!.namespace)).toEqual({ redis_keys: 0, streams: [], schema: false });
  }, 120_000);
});
