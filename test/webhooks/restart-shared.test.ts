// Two instances on one store: an instance that (re)starts while another keeps receiving webhooks
// re-applies only the batches persisted before its start. Before, start() re-applied every pending
// batch in the store, including the ones the live instance kept adding, and under load it never
// finished: the restarted instance stayed not ready (seen in the soak, issue 17).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebhookProcessor } from '../../src/webhooks/processor.ts';
import { CUSTOMER, makeCtx, textMsg, type TestCtx } from './helpers.ts';

let t: TestCtx;
let proc: WebhookProcessor | null = null;
beforeEach(async () => {
  t = await makeCtx();
});
afterEach(async () => {
  await proc?.stop();
  await t.close();
});

describe('webhook processor start with another live instance', () => {
  it('re-applies what was left before the start and finishes while the other instance keeps persisting batches', async () => {
    await t.ctx.store.saveWebhookBatch('wh_left_1', JSON.stringify(textMsg('wamid.LEFT1', 'hello', t.clock.t - 1000)), t.clock.t - 5);
    let started = false;
    let n = 0;
    // The other instance: a new batch every millisecond or so, each a little later on the clock.
    const writer = (async () => {
      while (!started && n < 6_000) {
        for (let k = 0; k < 20; k++) {
          t.clock.t += 10;
          await t.ctx.store.saveWebhookBatch(`wh_live_${n++}`, JSON.stringify(textMsg(`wamid.LIVE${n}`, 'hi', t.clock.t)), t.clock.t);
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    proc = new WebhookProcessor(t.ctx);
    await proc.start();
    started = true;
    await writer;
    expect(n).toBeLessThan(6_000); // start() finished while batches were still coming in
    expect((await t.ctx.store.listPendingWebhookBatches(10_000)).some((b) => b.id === 'wh_left_1')).toBe(false);
  });

  it('finishes while its own webhook route keeps accepting batches during the start (the route is up before the processor)', async () => {
    for (let i = 0; i < 50; i++)
      await t.ctx.store.saveWebhookBatch(`wh_left_${i}`, JSON.stringify(textMsg(`wamid.L${i}`, 'hello', t.clock.t - 1000)), t.clock.t - 5);
    proc = new WebhookProcessor(t.ctx);
    const p = proc;
    let started = false;
    let n = 0;
    const route = (async () => {
      while (!started && n < 6_000) {
        for (let k = 0; k < 50; k++) {
          const body = textMsg(`wamid.R${n++}`, 'hi', t.clock.t);
          await p.accept(JSON.stringify(body), body);
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    await p.start();
    started = true;
    await route;
    expect(n).toBeLessThan(6_000);
    expect((await t.ctx.store.listPendingWebhookBatches(10_000)).some((b) => b.id.startsWith('wh_left_'))).toBe(false);
  });

  it('applies a batch another instance persisted and left unapplied (killed) once it is 30 s old, not before', async () => {
    proc = new WebhookProcessor(t.ctx, { orphan_sweep_ms: 20 });
    await proc.start();
    // The other instance persisted this batch, then died before applying it.
    await t.ctx.store.saveWebhookBatch('wh_orphan_1', JSON.stringify(textMsg('wamid.ORPHAN1', 'hello', t.clock.t - 1000)), t.clock.t);
    await new Promise((r) => setTimeout(r, 200));
    // Young: its owner may still be applying it.
    expect((await t.ctx.store.listPendingWebhookBatches(10)).map((b) => b.id)).toEqual(['wh_orphan_1']);
    expect(proc.adopted).toBe(0);
    t.clock.t += 31_000;
    const end = Date.now() + 5_000;
    while ((await t.ctx.store.listPendingWebhookBatches(10)).length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(await t.ctx.store.listPendingWebhookBatches(10)).toEqual([]);
    expect(proc.adopted).toBe(1);
    // Applied, not just deleted: the customer (profile name from the batch) is recorded.
    expect((await t.ctx.store.getCustomer(CUSTOMER))?.profile_name).toBe('Sheena Nelson');
  });
});
