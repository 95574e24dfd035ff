// Dispatch-time re-check, dead letters and replay through the gate.
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { startHarness, recipient, orderUpdate, waitFor, countLedger, type Harness } from './harness.ts';
import { setConsent } from '../../src/engine/customers.ts';
import { STATUS_RANK } from '../../src/domain/types.ts';
import { newId } from '../../src/domain/ids.ts';

let h: Harness;
beforeAll(async () => {
  // Workers off: messages wait in the queue until the test starts delivery.
  h = await startHarness({ mps: 80, workers: false });
});
afterAll(async () => {
  await h?.close();
});

async function post(body: unknown): Promise<string> {
  const r = await h.post(body);
  expect(r.status, JSON.stringify(r.json)).toBe(202);
  return r.json.id;
}

describe('dispatch-time re-check and dead letters', () => {
  it('an opt-out while queued dead-letters the message with the reason and releases its reservation; replay is then denied', async () => {
    const optedOut = recipient(7001);
    const fine = recipient(7002);
    const a = await post({
      to: optedOut,
      type: 'template',
      template: {
        name: 'spring_sale',
        language: { code: 'en_US' },
        components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }] }],
      },
    });
    const b = await post(orderUpdate(fine));
    expect(await h.ctx.gate.marketingCount(optedOut, Date.now())).toBe(1);
    await setConsent(h.ctx, { wa_id: optedOut, category: 'marketing', state: 'opted_out', source: 'test' });

    // A crash between "persist queued" and "enqueue": a queued message with no queue job.
    const orphan = newId('msg');
    const tb = (await h.ctx.store.getMessage(b))!;
    await h.ctx.store.insertMessage({
      ...tb,
      id: orphan,
      to: recipient(7003),
      payload: { ...tb.payload, to: recipient(7003), biz_opaque_callback_data: orphan },
      idempotency_key: null,
      history: [{ status: 'queued', at: Date.now(), source: 'gate' }],
    });

    await h.app.delivery.start();
    await waitFor('both settled', async () => {
      const [ma, mb] = [await h.ctx.store.getMessage(a), await h.ctx.store.getMessage(b)];
      return ma!.status === 'dead_lettered' && STATUS_RANK[mb!.status] >= STATUS_RANK.accepted;
    });
    // Start-up recovery enqueued the orphan: it goes out once.
    await waitFor('orphan recovered', async () => STATUS_RANK[(await h.ctx.store.getMessage(orphan))!.status] >= STATUS_RANK.accepted);
    const ledger = countLedger([a, b, orphan], await h.ledger());
    expect(ledger.byId.get(orphan)).toBe(1);
    expect(ledger.byId.get(a) ?? 0).toBe(0);
    expect(ledger.byId.get(b)).toBe(1);
    // Reservation given back: the marketing slot no longer counts.
    expect(await h.ctx.gate.marketingCount(optedOut, Date.now())).toBe(0);

    const dls = (await h.get('/v1/dead-letters')).json.dead_letters as any[];
    const dl = dls.find((d) => d.message_id === a);
    expect(dl.reason_code).toBe('DISPATCH_RECHECK:OPTED_OUT');
    expect(dl.explanation).toMatch(/before sending/i);

    const replay = (id: string) =>
      fetch(`${h.base}/v1/dead-letters/${id}/replay`, { method: 'POST' }).then(async (r) => ({
        status: r.status,
        json: (await r.json()) as any,
      }));
    const denied = await replay(dl.id);
    expect(denied.status).toBe(422);
    expect(denied.json.decision.reason_code).toBe('OPTED_OUT');
    expect(denied.json.dead_letter.state).toBe('open');

    // The customer opts back in: the replay passes the gate as a NEW message and is sent once.
    await setConsent(h.ctx, { wa_id: optedOut, category: 'marketing', state: 'opted_in', source: 'test' });
    const ok = await replay(dl.id);
    expect(ok.status, JSON.stringify(ok.json)).toBe(202);
    expect(ok.json.id).not.toBe(a);
    expect(ok.json.dead_letter.state).toBe('replayed');
    await waitFor('replay accepted', async () => STATUS_RANK[(await h.ctx.store.getMessage(ok.json.id))!.status] >= STATUS_RANK.accepted);
    const l2 = countLedger([ok.json.id, a], await h.ledger());
    expect(l2.byId.get(ok.json.id)).toBe(1);
    expect(l2.byId.get(a) ?? 0).toBe(0);
    const twice = await replay(dl.id);
    expect(twice.status).toBe(409);
    expect(twice.json.error.code).toBe('DEAD_LETTER_CLOSED');
  });
});
