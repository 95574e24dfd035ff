// One wagate on the production backends (Redis gate + pacing, JetStream queue, PostgreSQL store):
// a send goes through all three to the sandbox exactly once, a denial is decided by the Redis gate,
// and the run leaves nothing behind on the shared services.
import { describe, it, expect } from 'vitest';
import { startHarness, orderUpdate, recipient, waitFor, countLedger } from '../delivery/harness.ts';
import { dropNamespace, leftovers } from './backends.ts';
import { missing } from '../support/services.ts';

describe.skipIf(missing('postgres', 'redis', 'nats'))('production backends, one instance', () => {
  it('sends through JetStream + Redis + PostgreSQL to the sandbox, once each; the Redis gate denies', async () => {
    const h = await startHarness({ production: true, mps: 40 });
    try {
      expect(h.ctx.backends).toMatchObject({ gate: 'redis', pacing: 'redis', store: 'postgres', queue: 'jetstream' });
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const r = await h.post(orderUpdate(recipient(i), i));
        expect(r.status, JSON.stringify(r.json)).toBe(202);
        ids.push(r.json.id);
      }
      // Free-form text with no window: the Redis gate refuses it before anything is queued.
      const denied = await h.post({ to: recipient(99), type: 'text', text: { body: 'hi' } });
      expect(denied.status).toBe(422);
      expect(denied.json.decision.reason_code).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
      await waitFor('all 20 in the ledger', async () => (await h.ledger()).length >= 20, 30_000);
      await waitFor(
        'all 20 marked sent',
        async () => {
          for (const id of ids) {
            const m = await h.get(`/v1/messages/${id}`);
            if (!['sent', 'delivered', 'read'].includes(m.json?.status)) return false;
          }
          return true;
        },
        30_000,
      );
      const { lost, duplicates } = countLedger(ids, await h.ledger());
      expect({ lost, duplicates }).toEqual({ lost: 0, duplicates: 0 });
      // The tier counted 20 unique recipients in Redis (messaging_limit null still counts usage).
      expect(await h.ctx.gate.tierUsage('delivery-test', Date.now())).toBe(20);
    } finally {
      await h.close();
      await dropNamespace(h.namespace);
    }
    expect(await leftovers(h.namespace)).toEqual({ redis_keys: 0, streams: [], schema: false });
  }, 60_000);
});
