// Chaos on the production backends: a PRIVATE nats-server (own port, own store dir) or a PRIVATE
// redis-server (no persistence) is killed with SIGKILL while wagate is delivering, then restarted. The
// sandbox ledger (Meta's own count) shows every message sent exactly once: zero lost, zero duplicate;
// while Redis is down nothing is sent at all. The other services are the shared local ones, under
// this run's own namespace.
import { describe, it, expect } from 'vitest';
import { startHarness, orderUpdate, recipient, waitFor, countLedger, type Harness } from '../delivery/harness.ts';
import { dropNamespace, leftovers, startPrivateNats, useServers } from './backends.ts';
import { startPrivateRedis } from '../pacing/private-redis.ts';
import { missing } from '../support/services.ts';

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

interface Server {
  url: string;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * One wagate on a private server: submit N, kill -9 the server once a quarter is sent, run `outage`
 * (what to observe while it is down), restart it, and count the ledger. Cleans up in any case.
 */
async function underChaos(
  which: 'redis' | 'nats',
  server: Server,
  outage: (h: Harness) => Promise<Record<string, number>>,
): Promise<{ before: number; seen: Record<string, number>; lost: number; duplicates: number }> {
  let h: Harness | null = null;
  try {
    h = await useServers({ [which]: server.url }, () => startHarness({ production: true, mps: MPS }));
    expect(which === 'redis' ? h.ctx.config.redis_url : h.ctx.config.nats_url).toBe(server.url);
    // app.ts wires the reseed: an empty Redis is refilled from the durable store.
    const ids = await submitAll(h);
    await waitFor('a quarter sent', async () => (await h!.ledger()).length >= N / 4, 30_000, 20);
    const before = (await h.ledger()).length;
    await server.kill();
    const seen = await outage(h);
    await server.restart();
    await waitFor(`all ${N} in the ledger`, async () => (await h!.ledger()).length >= N, 60_000, 250);
    await sleep(1_000); // a late redelivery would show up here
    const { lost, duplicates } = countLedger(ids, await h.ledger());
    console.log(JSON.stringify({ chaos: `${which} kill -9`, messages: N, sent_before_kill: before, ...seen, lost, duplicates }));
    return { before, seen, lost, duplicates };
  } finally {
    if (h) await h.close();
    await server.stop();
    if (h) {
      await dropNamespace(h.namespace);
      expect(await leftovers(h.namespace)).toEqual({ redis_keys: 0, streams: [], schema: false });
    }
  }
}

describe.skipIf(missing('postgres', 'redis', 'nats'))('production chaos', () => {
  it.skipIf(missing('nats-server'))(
    'nats-server killed -9 mid-delivery and restarted: zero lost, zero duplicate',
    async () => {
      const r = await underChaos('nats', await startPrivateNats(), async () => {
        await sleep(1_500);
        return {};
      });
      expect(r.before).toBeLessThan(N * 0.75); // the kill really happened mid-load
      expect({ lost: r.lost, duplicates: r.duplicates }).toEqual({ lost: 0, duplicates: 0 });
    },
    120_000,
  );

  it.skipIf(missing('redis-server'))(
    'redis-server killed -9 mid-delivery: sends stop while it is down, resume when it returns empty, none lost or doubled',
    async () => {
      // No persistence: it comes back empty (gate state and pacing buckets gone).
      const r = await underChaos('redis', await startPrivateRedis(), async (h) => {
        await sleep(1_000); // sends already past the pacer finish
        const down = (await h.ledger()).length;
        // A submit while the gate's Redis is down: fail closed with 503 GATE_UNAVAILABLE, nothing stored.
        const refused = await h.post(orderUpdate(recipient(9_999)));
        expect(refused.status).toBe(503);
        expect(refused.json.decision.reason_code).toBe('GATE_UNAVAILABLE');
        await sleep(2_000);
        return { sent_while_down: (await h.ledger()).length - down };
      });
      expect(r.before).toBeLessThan(N * 0.75);
      expect(r.seen.sent_while_down).toBe(0);
      expect({ lost: r.lost, duplicates: r.duplicates }).toEqual({ lost: 0, duplicates: 0 });
    },
    120_000,
  );
});
