// Chaos on the production backends: a PRIVATE nats-server (own port, own store dir) is killed with
// SIGKILL while wagate is delivering, then restarted on the same dir. The sandbox ledger (Meta's own
// count) shows every message sent exactly once: zero lost, zero duplicate. Redis and PostgreSQL are
// the shared local ones, under this run's own namespace.
import { describe, it, expect } from 'vitest';
import { startHarness, orderUpdate, recipient, waitFor, countLedger, type Harness } from '../delivery/harness.ts';
import { dropNamespace, leftovers, startPrivateNats } from './backends.ts';

const N = 200;
/** Slow enough (10 s of sending) that the kill lands mid-delivery even on a loaded machine. */
const MPS = 20;

describe('production chaos', () => {
  it('nats-server killed -9 mid-delivery and restarted: zero lost, zero duplicate', async () => {
    const nats = await startPrivateNats();
    const saved = process.env.WAGATE_NATS_URL;
    let h: Harness | null = null;
    try {
      process.env.WAGATE_NATS_URL = nats.url; // the harness reads it when it builds the config
      h = await startHarness({ production: true, mps: MPS });
      if (saved === undefined) delete process.env.WAGATE_NATS_URL;
      else process.env.WAGATE_NATS_URL = saved;
      const ids: string[] = [];
      await Promise.all(
        Array.from({ length: 10 }, async (_, lane) => {
          for (let i = lane; i < N; i += 10) {
            const r = await h!.post(orderUpdate(recipient(i), i));
            if (r.status !== 202) throw new Error(`submit ${i}: ${r.status} ${JSON.stringify(r.json)}`);
            ids.push(r.json.id);
          }
        }),
      );
      await waitFor('a quarter sent', async () => (await h!.ledger()).length >= N / 4, 30_000, 20);
      const beforeKill = (await h.ledger()).length;
      await nats.kill();
      await new Promise((r) => setTimeout(r, 1_500));
      await nats.restart();
      await waitFor(`all ${N} in the ledger`, async () => (await h!.ledger()).length >= N, 60_000, 250);
      await new Promise((r) => setTimeout(r, 1_000)); // a late redelivery would show up here
      const { lost, duplicates } = countLedger(ids, await h.ledger());
      console.log(JSON.stringify({ chaos: 'nats kill -9', messages: N, sent_before_kill: beforeKill, lost, duplicates }));
      expect(beforeKill).toBeLessThan(N * 0.75); // the kill really happened mid-load
      expect({ lost, duplicates }).toEqual({ lost: 0, duplicates: 0 });
    } finally {
      if (saved === undefined) delete process.env.WAGATE_NATS_URL;
      else process.env.WAGATE_NATS_URL = saved;
      if (h) await h.close();
      await nats.stop();
      if (h) await dropNamespace(h.namespace);
    }
    expect(await leftovers(h!.namespace)).toEqual({ redis_keys: 0, streams: [], schema: false });
  }, 120_000);
});
