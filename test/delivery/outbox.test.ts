// The outbox on the embedded backends, with the failures placed exactly (issue 17, defects 1 and 2):
// the real SQLite store and queue, one of their calls made to fail at a chosen moment, the way a
// dropped connection fails it. What a 202 promises must hold, and the gate must count exactly the
// messages that will be sent (no more: a message certainly not stored frees its reservation; no less:
// a stored one keeps it, so the marketing cap and the tier still see it).
import { afterEach, describe, expect, it } from 'vitest';
import { countLedger, orderUpdate, recipient, startHarness, waitFor, type Harness } from './harness.ts';

const marketing = (to: string) => ({
  to,
  type: 'template',
  template: {
    name: 'spring_sale',
    language: { code: 'en_US' },
    components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }] }],
  },
});

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

describe('outbox (embedded)', () => {
  it('a queue that refuses the enqueue: still 202, and the relay sends each message once', async () => {
    h = await startHarness({ delivery: { relay_interval_ms: 100, relay_grace_ms: 200 } });
    const queue = h.ctx.queue;
    const real = queue.enqueue.bind(queue);
    let refusals = 0;
    queue.enqueue = async (job, opts) => {
      if (refusals < 5) {
        refusals++;
        throw new Error('queue unavailable (test)');
      }
      return real(job, opts);
    };
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await h.post(orderUpdate(recipient(i), i));
      expect(r.status).toBe(202);
      ids.push(r.json.id);
    }
    expect(refusals).toBeGreaterThan(0);
    await waitFor('all 10 in the ledger', async () => (await h!.ledger()).length >= 10, 15_000);
    expect(countLedger(ids, await h.ledger())).toMatchObject({ lost: 0, duplicates: 0 });
    expect(h.ctx.outbox.relayed).toBeGreaterThan(0);
    expect(await h.ctx.store.listUnenqueued({ created_before: Date.now(), limit: 10 })).toEqual([]);
  });

  it('an insert that committed but reported a failure: 503, the retry with the same key gets it, it is sent once and still counts against the marketing cap', async () => {
    h = await startHarness({ delivery: { relay_interval_ms: 100, relay_grace_ms: 200 } });
    const store = h.ctx.store;
    const real = store.insertMessage.bind(store);
    let cut = true;
    const realLookup = store.getMessageByIdempotencyKey.bind(store);
    let down = false;
    store.insertMessage = async (m) => {
      await real(m);
      if (cut) {
        cut = false;
        down = true; // the connection is gone: the next call of this submit fails too
        throw new Error('Connection terminated unexpectedly');
      }
    };
    store.getMessageByIdempotencyKey = async (k) => {
      if (down) {
        down = false;
        throw new Error('Connection terminated unexpectedly');
      }
      return realLookup(k);
    };
    const to = recipient(500);
    const first = await h.post(marketing(to), { 'idempotency-key': 'cut-after-commit' });
    expect(first.status).toBe(503);
    expect(first.json.error.code).toBe('STORE_UNAVAILABLE');
    const retry = await h.post(marketing(to), { 'idempotency-key': 'cut-after-commit' });
    expect(retry.status).toBe(202);
    expect(retry.json.replayed).toBe(true);
    await waitFor('sent', async () => (await h!.ledger()).some((s) => s.biz_opaque_callback_data === retry.json.id), 15_000);
    // The cap is 2 a day: the stored message is one of them, so one more is allowed and then no more.
    expect((await h.post(marketing(to))).status).toBe(202);
    const third = await h.post(marketing(to));
    expect(third.status).toBe(422);
    expect(third.json.decision.reason_code).toBe('FREQUENCY_CAP');
    expect(countLedger([retry.json.id], await h.ledger()).byId.get(retry.json.id)).toBe(1);
  });

  it('an insert that failed before the commit: 503, and its reservation is released once the store can tell', async () => {
    h = await startHarness({ delivery: { relay_interval_ms: 100, relay_grace_ms: 200 } });
    const store = h.ctx.store;
    const real = store.insertMessage.bind(store);
    let cut = true;
    store.insertMessage = async (m) => {
      if (cut) {
        cut = false;
        throw new Error('Connection terminated unexpectedly');
      }
      return real(m);
    };
    const to = recipient(501);
    const first = await h.post(marketing(to));
    expect(first.status).toBe(503);
    expect(first.json.error.fix).toMatch(/Idempotency-Key/);
    // Until the store says the row is not there, the reservation stands (cap 2: one more allowed).
    await waitFor('the unsure insert settled', async () => h!.ctx.outbox.pendingInMemory === 0, 10_000);
    expect((await h.post(marketing(to))).status).toBe(202);
    expect((await h.post(marketing(to))).status).toBe(202);
    expect((await h.post(marketing(to))).json.decision.reason_code).toBe('FREQUENCY_CAP');
  });

  it('a crash between insert and enqueue: the next start hands the stored message over', async () => {
    h = await startHarness({ workers: false });
    const queue = h.ctx.queue;
    queue.enqueue = async () => {
      throw new Error('process about to die (test)');
    };
    const r = await h.post(orderUpdate(recipient(7), 7));
    expect(r.status).toBe(202);
    const dataDir = h.dataDir;
    await h.close({ keepData: true });
    h = null;
    h = await startHarness({ dataDir });
    await waitFor('sent after the restart', async () => (await h!.ledger()).some((s) => s.biz_opaque_callback_data === r.json.id), 15_000);
  });

  it('Meta accepted but the store refused the accepted write (a dropped connection): the write is retried, the message is sent once and ends accepted, not in doubt', async () => {
    // Lease shorter than the outage and a short in-doubt grace: dropping the wamid would resend it.
    h = await startHarness({ delivery: { lease_ms: 1_000, in_doubt_grace_ms: 500 } });
    await h.sandbox('POST', '/_sandbox/webhooks', { enabled: false }); // no status webhook to rescue it
    const store = h.ctx.store;
    const refusing =
      (fn: (...a: any[]) => Promise<any>) =>
      async (...a: any[]) => {
        if (Date.now() < refuseUntil) {
          refused++;
          throw new Error('Connection terminated unexpectedly');
        }
        return fn(...a);
      };
    let refuseUntil = 0;
    let refused = 0;
    const realForward = store.applyStatusesForward?.bind(store);
    if (realForward) store.applyStatusesForward = refusing(realForward) as typeof realForward;
    const realApply = store.applyStatus.bind(store);
    store.applyStatus = (async (id: string, ev: any, patch: any) =>
      ev.status === 'accepted' ? refusing(realApply)(id, ev, patch) : realApply(id, ev, patch)) as typeof realApply;
    // Every accepted write for 2.5 s from the submit fails.
    const sent = h.ledger.bind(h);
    refuseUntil = Date.now() + 2_500;
    const r = await h.post(orderUpdate(recipient(42), 42));
    expect(r.status).toBe(202);
    await waitFor('sent once', async () => (await sent()).some((s) => s.biz_opaque_callback_data === r.json.id), 10_000, 10);
    await waitFor('accepted', async () => (await h!.get(`/v1/messages/${r.json.id}`)).json.status === 'accepted', 15_000, 100);
    expect(refused).toBeGreaterThan(0);
    await new Promise((res) => setTimeout(res, 2_000)); // past lease and grace: a resend would show now
    expect(countLedger([r.json.id], await h.ledger()).byId.get(r.json.id)).toBe(1);
    const m = (await h.get(`/v1/messages/${r.json.id}`)).json;
    expect(m.status).toBe('accepted');
    expect(m.history.map((e: { status: string }) => e.status)).not.toContain('in_doubt');
  });

  it('the attempt claim landed but its answer was lost (a dropped connection): the claim is read back and the message goes at once, never in doubt', async () => {
    // A long in-doubt grace: a message wrongly held in doubt would not be sent within this test.
    h = await startHarness({ delivery: { in_doubt_grace_ms: 120_000 } });
    const store = h.ctx.store;
    const realClaim = store.claimAttempts.bind(store);
    let lost = 0;
    store.claimAttempts = (async (items, now) => {
      const got = await realClaim(items, now);
      if (lost === 0) {
        lost++;
        throw new Error('Connection terminated unexpectedly'); // written, but the client never heard
      }
      return got;
    }) as typeof realClaim;
    const r = await h.post(orderUpdate(recipient(43), 43));
    expect(r.status).toBe(202);
    await waitFor('sent', async () => (await h!.ledger()).some((s) => s.biz_opaque_callback_data === r.json.id), 8_000, 10);
    expect(lost).toBe(1);
    await new Promise((res) => setTimeout(res, 500));
    expect(countLedger([r.json.id], await h.ledger()).byId.get(r.json.id)).toBe(1);
    const m = (await h.get(`/v1/messages/${r.json.id}`)).json;
    expect(m.history.map((e: { status: string }) => e.status)).not.toContain('in_doubt');
    expect(m.attempts).toBe(1);
  });
});
