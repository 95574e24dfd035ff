// The processor against the real SQLite store: every event kind with Meta's payload shapes
// (cloud-api.md §7), dedupe, monotonic statuses, statuses before their message, crash recovery.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { BacklogFullError, WebhookProcessor } from '../../src/webhooks/processor.ts';
import type { AccountUpdateNotice, MessageStatusChange } from '../../src/engine/bus.ts';
import { noteBusinessReply } from '../../src/engine/fep.ts';
import type { MessageRecord } from '../../src/domain/types.ts';
import {
  makeCtx,
  message,
  envelope,
  messagesValue,
  inbound,
  textMsg,
  statusBody,
  st,
  CUSTOMER,
  PNID,
  WABA,
  type TestCtx,
} from './helpers.ts';

let t: TestCtx;
let proc: WebhookProcessor;
const T0 = () => t.clock.t;

async function setup(overrides: Record<string, unknown> = {}) {
  t = await makeCtx(overrides);
  proc = new WebhookProcessor(t.ctx);
  await proc.start();
}

beforeEach(async () => setup());
afterEach(async () => {
  await proc.stop();
  await t.close();
});

async function consent(wa = CUSTOMER) {
  return (await t.ctx.store.getCustomer(wa))?.consent;
}

async function metric(kind: string, result: string): Promise<number> {
  const m = await t.ctx.metrics.webhookEvents.get();
  return m.values.find((v) => v.labels.kind === kind && v.labels.result === result)?.value ?? 0;
}

describe('inbound messages', () => {
  it("open the care window from Meta's timestamp and record the profile name", async () => {
    const sentAt = T0() - 3_600_000; // the customer wrote an hour ago; the webhook arrives now
    await proc.applyBody(textMsg('wamid.IN1', 'Does it come in another color?', sentAt));
    const w = (await t.ctx.store.getWindows(CUSTOMER)).find((x) => x.sender_id === 'main');
    expect(w?.last_inbound_at).toBe(sentAt);
    expect((await t.ctx.store.getCustomer(CUSTOMER))?.profile_name).toBe('Sheena Nelson');
  });

  it('an inbound from a Brazilian legacy wa_id (no 9th digit) keys state under the number a business types', async () => {
    const legacy = '551187654321'; // wa_id from before Brazil's 9th mobile digit
    await proc.applyBody(
      inbound({ id: 'wamid.BR1', timestamp: String(Math.floor(T0() / 1000)), type: 'text', text: { body: 'oi' } }, 'Ana', legacy),
    );
    expect((await t.ctx.store.getWindows('5511987654321')).map((w) => w.sender_id)).toEqual(['main']);
    expect(await t.ctx.store.getWindows(legacy)).toEqual([]);
  });

  it('every user-authored type opens the window; system messages do not', async () => {
    const types: Record<string, unknown>[] = [
      { type: 'image', image: { id: 'm1', mime_type: 'image/jpeg', sha256: 'x', caption: 'hi' } },
      { type: 'audio', audio: { id: 'm2', mime_type: 'audio/ogg', voice: true } },
      { type: 'video', video: { id: 'm3', mime_type: 'video/mp4' } },
      { type: 'document', document: { id: 'm4', filename: 'a.pdf', mime_type: 'application/pdf' } },
      { type: 'sticker', sticker: { id: 'm5', animated: false, mime_type: 'image/webp' } },
      { type: 'location', location: { latitude: 1.5, longitude: 2.5, name: 'X' } },
      { type: 'contacts', contacts: [{ name: { formatted_name: 'A' } }] },
      { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'b1', title: 'Yes please' } } },
      { type: 'interactive', interactive: { type: 'list_reply', list_reply: { id: 'r1', title: 'Row', description: 'd' } } },
      { type: 'button', button: { payload: 'p', text: 'Track order' }, context: { from: '15550783881', id: 'wamid.T' } },
      { type: 'reaction', reaction: { message_id: 'wamid.OUT', emoji: '👍' } },
      {
        type: 'order',
        order: { catalog_id: 'c', product_items: [{ product_retailer_id: 'p', quantity: 1, item_price: 1, currency: 'USD' }] },
      },
    ];
    for (let i = 0; i < types.length; i++) {
      const wa = `1650555${String(1000 + i)}`;
      const ts = T0() - 1000 * (i + 1);
      await proc.applyBody(inbound({ id: `wamid.T${i}`, timestamp: String(Math.floor(ts / 1000)), ...types[i] }, 'N', wa));
      const w = await t.ctx.store.getWindows(wa);
      expect(w.length, `type ${String(types[i].type)}`).toBe(1);
      expect(w[0].last_inbound_at).toBe(Math.floor(ts / 1000) * 1000);
    }
    await proc.applyBody(
      inbound(
        {
          id: 'wamid.SYS',
          timestamp: String(Math.floor(T0() / 1000)),
          type: 'system',
          system: { body: 'User A changed from 1 to 2', wa_id: '16505559999', type: 'user_changed_number' },
        },
        'A',
        '16505558888',
      ),
    );
    expect(await t.ctx.store.getWindows('16505558888')).toEqual([]);
    // unsupported (a poll, an edit): not known to open the window at Meta; kept in the audit log
    const r = await proc.applyBody(
      inbound(
        {
          id: 'wamid.UNS',
          timestamp: String(Math.floor(T0() / 1000)),
          type: 'unsupported',
          errors: [{ code: 131051, title: 'Message type unknown' }],
          unsupported: { type: 'poll' },
        },
        'U',
        '16505557777',
      ),
    );
    expect(r.results.stored).toBe(1);
    expect(await t.ctx.store.getWindows('16505557777')).toEqual([]);
    expect((await t.ctx.store.listAudit({ action: 'customer.unsupported_message' })).length).toBe(1);
  });

  it('a referral (click-to-WhatsApp) is recorded, and the reply within 24h opens the 72h FEP window once', async () => {
    const at = T0() - 60_000;
    await proc.applyBody(
      textMsg('wamid.REF', 'Hi, I saw your ad', at, {
        referral: {
          source_url: 'https://fb.me/x',
          source_id: 'ad1',
          source_type: 'ad',
          headline: 'Sale',
          body: 'b',
          media_type: 'image',
          ctwa_clid: 'clid',
        },
      }),
    );
    const w = (await t.ctx.store.getWindows(CUSTOMER))[0];
    expect(w.referral_at).toBe(Math.floor(at / 1000) * 1000);
    expect((await t.ctx.store.listAudit({ action: 'customer.referral' })).length).toBe(1);
    expect(await noteBusinessReply(t.ctx, { sender_id: 'main', wa_id: CUSTOMER, at: T0() })).toBe(true);
    expect((await t.ctx.store.getWindows(CUSTOMER))[0].fep_opened_at).toBe(T0());
    expect(await noteBusinessReply(t.ctx, { sender_id: 'main', wa_id: CUSTOMER, at: T0() + 1000 })).toBe(false);
  });

  it('a reply more than 24h after the referral opens no FEP window', async () => {
    await proc.applyBody(textMsg('wamid.REF2', 'ad', T0() - 25 * 3_600_000, { referral: { source_type: 'ad', source_id: 'x' } }));
    expect(await noteBusinessReply(t.ctx, { sender_id: 'main', wa_id: CUSTOMER, at: T0() })).toBe(false);
  });

  it('a message for a number that is not a configured sender is audited, not applied', async () => {
    const body = envelope('messages', {
      messaging_product: 'whatsapp',
      metadata: { phone_number_id: '999999999' },
      messages: [{ from: CUSTOMER, id: 'wamid.X', timestamp: '1', type: 'text', text: { body: 'hi' } }],
    });
    const r = await proc.applyBody(body);
    expect(r.results.ignored).toBe(1);
    expect(await t.ctx.store.getWindows(CUSTOMER)).toEqual([]);
    expect((await t.ctx.store.listAudit({ action: 'webhook.unattributed' })).length).toBe(1);
  });
});

describe('opt-out and opt-in', () => {
  it('STOP opts out of marketing and utility (audited with its source); START opts back in', async () => {
    await proc.applyBody(textMsg('wamid.S1', '  Stop! ', T0() - 5000));
    let c = await consent();
    expect(c?.marketing.state).toBe('opted_out');
    expect(c?.utility.state).toBe('opted_out');
    expect(c?.authentication.state).toBe('unknown');
    expect(c?.service.state).toBe('unknown');
    expect(c?.marketing.source).toBe('webhook:keyword:STOP');
    const audit = await t.ctx.store.listAudit({ subject: CUSTOMER, action: 'consent.opted_out' });
    expect(audit.length).toBe(2);
    await proc.applyBody(textMsg('wamid.S2', 'start', T0() - 1000));
    c = await consent();
    expect(c?.marketing.state).toBe('opted_in');
    expect(c?.utility.state).toBe('opted_in');
  });

  it('only a whole-message keyword counts, in several languages', async () => {
    await proc.applyBody(textMsg('wamid.K1', 'please stop sending the blue one', T0() - 9000));
    expect((await consent())?.marketing.state).toBe('unknown');
    for (const [i, word] of ['BAJA', 'Parar', 'berhenti', 'बंद करो', 'Não quero mais'].entries()) {
      const wa = `1650555700${i}`;
      await proc.applyBody(
        inbound({ id: `wamid.L${i}`, timestamp: String(Math.floor(T0() / 1000) - 5), type: 'text', text: { body: word } }, 'x', wa),
      );
      expect((await consent(wa))?.marketing.state, word).toBe('opted_out');
    }
  });

  it('YES does not create an opt-in where there was no opt-out', async () => {
    await proc.applyBody(textMsg('wamid.Y', 'Yes', T0() - 1000));
    expect((await consent())?.marketing.state).toBe('unknown');
  });

  it('a configured keyword list replaces the defaults', async () => {
    await proc.stop();
    await t.close();
    await setup({ webhooks: { opt_out_keywords: ['HALT'], opt_in_keywords: ['RESUME'] } });
    await proc.applyBody(textMsg('wamid.C1', 'stop', T0() - 3000));
    expect((await consent())?.marketing.state).toBe('unknown');
    await proc.applyBody(textMsg('wamid.C2', 'halt', T0() - 2000));
    expect((await consent())?.marketing.state).toBe('opted_out');
    await proc.applyBody(textMsg('wamid.C3', 'resume', T0() - 1000));
    expect((await consent())?.utility.state).toBe('opted_in');
  });

  it('a "Stop promotions" quick-reply tap opts out of marketing only', async () => {
    await proc.applyBody(
      inbound({
        id: 'wamid.B1',
        timestamp: String(Math.floor(T0() / 1000)),
        type: 'button',
        button: { payload: 'STOP_PROMOTIONS', text: 'Stop promotions' },
        context: { from: '15550783881', id: 'wamid.TPL' },
      }),
    );
    const c = await consent();
    expect(c?.marketing.state).toBe('opted_out');
    expect(c?.marketing.source).toBe('webhook:button:STOP PROMOTIONS');
    expect(c?.utility.state).toBe('unknown');
  });

  it('user_preferences stop and resume change marketing consent', async () => {
    const pref = (value: string, ts: number) =>
      envelope(
        'user_preferences',
        messagesValue({
          contacts: [{ wa_id: CUSTOMER, profile: { name: 'S' } }],
          user_preferences: [
            {
              wa_id: CUSTOMER,
              detail: `User requested to ${value} marketing messages`,
              category: 'marketing_messages',
              value,
              timestamp: Math.floor(ts / 1000),
            },
          ],
        }),
      );
    await proc.applyBody(pref('stop', T0() - 5000));
    expect((await consent())?.marketing).toMatchObject({ state: 'opted_out', source: 'webhook:user_preferences:stop' });
    expect((await consent())?.utility.state).toBe('unknown');
    await proc.applyBody(pref('resume', T0() - 1000));
    expect((await consent())?.marketing.state).toBe('opted_in');
    await t.ctx.store.setConsent(CUSTOMER, 'marketing', 'unknown', 'api', T0() - 950);
    // A signup records a marketing opt-in with its source; an unknown value changes nothing.
    // (Webhook times are whole seconds: the signup is a clear second after the reset.)
    await proc.applyBody(pref('signup', T0() + 1500));
    expect((await consent())?.marketing).toMatchObject({ state: 'opted_in', source: 'webhook:user_preferences:signup' });
    await proc.applyBody(pref('maybe_later', T0() + 3000));
    expect((await consent())?.marketing).toMatchObject({ state: 'opted_in', source: 'webhook:user_preferences:signup' });
  });

  it('an old webhook never overrides a newer consent decision', async () => {
    await proc.applyBody(textMsg('wamid.N1', 'START', T0() - 1000)); // no-op: nothing to undo
    await t.ctx.store.setConsent(CUSTOMER, 'marketing', 'opted_in', 'api', T0() - 1000);
    await proc.applyBody(textMsg('wamid.OLD', 'STOP', T0() - 60_000)); // written a minute before the API opt-in
    const c = await consent();
    expect(c?.marketing.state).toBe('opted_in');
    expect(c?.utility.state).toBe('opted_out');
  });

  it('a number change carries opt-outs to the new wa_id', async () => {
    await proc.applyBody(textMsg('wamid.ST', 'STOP', T0() - 5000));
    await proc.applyBody(
      inbound({
        id: 'wamid.SYS2',
        timestamp: String(Math.floor(T0() / 1000)),
        type: 'system',
        system: { body: 'changed', wa_id: '16505550000', type: 'user_changed_number' },
      }),
    );
    expect((await consent('16505550000'))?.marketing.state).toBe('opted_out');
  });
});

describe('confirmation reply', () => {
  it('an opt-out sends the configured confirmation once (Idempotency-Key), through the gate and queue', async () => {
    await proc.stop();
    await t.close();
    await setup({ webhooks: { opt_out_confirmation: 'You will get no more offers. Reply START to undo.' } });
    const body = textMsg('wamid.CF', 'STOP', T0() - 1000);
    await proc.applyBody(body);
    await proc.applyBody(body, { recovery: true }); // re-applied after a crash: no second reply
    const sent = await t.ctx.store.listMessages({ to: CUSTOMER });
    expect(sent.length).toBe(1);
    expect(sent[0]).toMatchObject({ category: 'service', type: 'text', idempotency_key: 'webhook-optout-wamid.CF' });
    expect(JSON.stringify(sent[0].payload)).toContain('no more offers');
  });
});

describe('dedupe', () => {
  it('the same inbound message twice is applied once', async () => {
    const body = textMsg('wamid.D1', 'STOP', T0() - 2000);
    const a = await proc.applyBody(body);
    const b = await proc.applyBody(body);
    expect(a.results.applied).toBe(1);
    expect(b.results.duplicate).toBe(1);
    expect((await t.ctx.store.listAudit({ subject: CUSTOMER, action: 'consent.opted_out' })).length).toBe(2);
    expect(await metric('message', 'duplicate')).toBe(1);
  });

  it('the same change re-sent with its keys in another order is one event', async () => {
    const v1 = {
      event: 'APPROVED',
      message_template_id: 1,
      message_template_name: 'x',
      message_template_language: 'en_US',
      reason: 'NONE',
    };
    const v2 = {
      reason: 'NONE',
      message_template_language: 'en_US',
      message_template_name: 'x',
      message_template_id: 1,
      event: 'APPROVED',
    };
    await proc.applyBody(envelope('message_template_status_update', v1, { time: 1739321024 }));
    const r = await proc.applyBody(envelope('message_template_status_update', v2, { time: 1739321024 }));
    expect(r.results.duplicate).toBe(1);
  });
});

describe('statuses', () => {
  async function seed(id: string, over: Partial<MessageRecord> = {}) {
    await t.ctx.store.insertMessage(message(id, over));
  }

  it('sent → delivered → read, with pricing, each emitting message.status', async () => {
    await seed('msg_1', { wamid: 'wamid.A' });
    const seen: string[] = [];
    t.ctx.bus.on('message.status', (m) => seen.push(m.status));
    const pricing = { billable: true, pricing_model: 'PMP', type: 'regular', category: 'marketing' };
    await proc.applyBody(
      statusBody([st('wamid.A', 'sent', T0() - 3000, { pricing, conversation: { id: 'c', origin: { type: 'marketing' } } })]),
    );
    await proc.applyBody(statusBody([st('wamid.A', 'delivered', T0() - 2000)]));
    await proc.applyBody(statusBody([st('wamid.A', 'read', T0() - 1000)]));
    const m = await t.ctx.store.getMessage('msg_1');
    expect(m?.status).toBe('read');
    expect(m?.pricing).toEqual(pricing);
    expect(seen).toEqual(['sent', 'delivered', 'read']);
    expect(m?.history.find((h) => h.status === 'read')?.at).toBe(Math.floor((T0() - 1000) / 1000) * 1000);
  });

  it('out of order: read first, then a late delivered and a late sent never move it back', async () => {
    await seed('msg_2', { wamid: 'wamid.B' });
    const r = await proc.applyBody(
      statusBody([st('wamid.B', 'read', T0() - 1000), st('wamid.B', 'delivered', T0() - 2000), st('wamid.B', 'sent', T0() - 3000)]),
    );
    expect(r.results).toEqual({ applied: 1, stale: 2 });
    expect((await t.ctx.store.getMessage('msg_2'))?.status).toBe('read');
  });

  it('a duplicate status is applied once (it is stale: statuses need no dedupe key, their apply is idempotent)', async () => {
    await seed('msg_3', { wamid: 'wamid.C' });
    await proc.applyBody(statusBody([st('wamid.C', 'delivered', T0())]));
    const r = await proc.applyBody(statusBody([st('wamid.C', 'delivered', T0())]));
    expect(r.results).toEqual({ stale: 1 });
    expect((await t.ctx.store.getMessage('msg_3'))?.history.filter((h) => h.status === 'delivered').length).toBe(1);
  });

  it('finds the message by biz_opaque_callback_data before its wamid is recorded, and records the wamid', async () => {
    await seed('msg_4', { status: 'in_doubt', wamid: null });
    const seen: MessageStatusChange[] = [];
    t.ctx.bus.on('message.status', (m) => seen.push(m));
    await proc.applyBody(statusBody([st('wamid.D', 'sent', T0(), { biz_opaque_callback_data: 'msg_4' })]));
    const m = await t.ctx.store.getMessage('msg_4');
    expect(m?.status).toBe('sent');
    expect(m?.wamid).toBe('wamid.D');
    expect(seen[0]?.id).toBe('msg_4'); // the delivery engine resolves the in-doubt send from this
  });

  it('one POST of many statuses found by callback id: applied together, same results as one by one (order per message, stale, unknown)', async () => {
    for (let i = 0; i < 5; i++) await seed(`msg_b${i}`, { wamid: `wamid.b${i}` });
    await seed('msg_bread', { wamid: 'wamid.bread' });
    await proc.applyBody(statusBody([st('wamid.bread', 'read', T0(), { biz_opaque_callback_data: 'msg_bread' })]));
    const seen: string[] = [];
    t.ctx.bus.on('message.status', (m) => seen.push(`${m.id}:${m.status}`));
    const cb = (i: number) => ({ biz_opaque_callback_data: `msg_b${i}` });
    const r = await proc.applyBody(
      statusBody([
        st('wamid.b0', 'sent', T0() - 3000, { ...cb(0), pricing: { billable: true, category: 'utility' } }),
        st('wamid.b1', 'sent', T0() - 3000, cb(1)),
        st('wamid.b0', 'delivered', T0() - 2000, cb(0)), // same message again: after its sent
        st('wamid.b2', 'read', T0() - 1000, cb(2)),
        st('wamid.bread', 'delivered', T0() - 2000, { biz_opaque_callback_data: 'msg_bread' }), // late: stale
        st('wamid.nobody', 'sent', T0(), { biz_opaque_callback_data: 'msg_unknown' }), // no such message: kept
        st('wamid.b0', 'read', T0() - 1000, cb(0)),
      ]),
    );
    expect(r.results).toEqual({ applied: 5, stale: 1, pending: 1 });
    const m0 = await t.ctx.store.getMessage('msg_b0');
    expect(m0?.status).toBe('read');
    expect(m0?.pricing).toEqual({ billable: true, category: 'utility' });
    expect(m0?.history.map((h) => h.status)).toEqual(['sent', 'delivered', 'read']);
    expect((await t.ctx.store.getMessage('msg_b1'))?.status).toBe('sent');
    expect((await t.ctx.store.getMessage('msg_b2'))?.status).toBe('read');
    const bread = await t.ctx.store.getMessage('msg_bread');
    expect(bread?.status).toBe('read');
    expect(bread?.history.map((h) => h.status).sort()).toEqual(['delivered', 'read']); // the late one kept for its time
    expect(seen.filter((x) => x.startsWith('msg_b0'))).toEqual(['msg_b0:sent', 'msg_b0:delivered', 'msg_b0:read']);
    expect(proc.pendingStatusCount()).toBe(1);
  });

  it("a POST holding each message's sent, delivered and read together takes one statement per step, not one per status, and keeps each message's order", async () => {
    const N = 60;
    for (let i = 0; i < N; i++) await seed(`msg_l${i}`, { wamid: `wamid.l${i}` });
    const store = t.ctx.store;
    const original = store.applyStatusesForward!.bind(store);
    let calls = 0;
    store.applyStatusesForward = (items) => {
      calls++;
      return original(items);
    };
    const seen = new Map<string, string[]>();
    const onStatus = (m: MessageStatusChange) => seen.set(m.id, [...(seen.get(m.id) ?? []), m.status]);
    t.ctx.bus.on('message.status', onStatus);
    try {
      // As Meta sends them under load: each message's three statuses one after the other.
      const list = [];
      for (let i = 0; i < N; i++)
        for (const [k, s] of ['sent', 'delivered', 'read'].entries())
          list.push(st(`wamid.l${i}`, s, T0() - 3000 + k * 1000, { biz_opaque_callback_data: `msg_l${i}` }));
      const r = await proc.applyBody(statusBody(list));
      expect(r.results).toEqual({ applied: 3 * N });
      expect(calls).toBe(3);
      for (let i = 0; i < N; i++) {
        const m = await store.getMessage(`msg_l${i}`);
        expect(m?.history.map((h) => h.status)).toEqual(['sent', 'delivered', 'read']);
        expect(seen.get(`msg_l${i}`)).toEqual(['sent', 'delivered', 'read']);
      }
    } finally {
      store.applyStatusesForward = original;
      t.ctx.bus.off('message.status', onStatus);
    }
  });

  it('statuses that move nothing forward (a POST applied again, an earlier status after a later one) take one statement per step too, not two or three round trips each', async () => {
    const N = 40;
    for (let i = 0; i < N; i++) await seed(`msg_n${i}`, { wamid: `wamid.n${i}` });
    const store = t.ctx.store;
    const body = (steps: string[]) => {
      const list = [];
      for (let i = 0; i < N; i++)
        for (const s of steps)
          list.push(
            st(`wamid.n${i}`, s, T0() - 3000 + ['sent', 'delivered', 'read'].indexOf(s) * 1000, { biz_opaque_callback_data: `msg_n${i}` }),
          );
      return statusBody(list);
    };
    expect((await proc.applyBody(body(['sent', 'read']))).results).toEqual({ applied: 2 * N });
    const single = store.applyStatus.bind(store);
    const batched = store.applyStatusesNotForward.bind(store);
    let singles = 0;
    let batches = 0;
    store.applyStatus = (...a) => (singles++, single(...a));
    store.applyStatusesNotForward = (items) => (batches++, batched(items));
    const emitted: string[] = [];
    const onStatus = (m: MessageStatusChange) => emitted.push(m.id);
    t.ctx.bus.on('message.status', onStatus);
    try {
      // Meta's retry of a POST wagate had applied, with the delivered it had not sent before (late).
      const r = await proc.applyBody(body(['sent', 'delivered', 'read']));
      expect(r.results).toEqual({ stale: 3 * N });
      expect(singles).toBe(0);
      expect(batches).toBe(3);
      expect(emitted).toEqual([]); // nothing changed status
      for (let i = 0; i < N; i++) {
        const m = await store.getMessage(`msg_n${i}`);
        expect(m?.status).toBe('read');
        expect(m?.history.map((h) => h.status)).toEqual(['sent', 'delivered', 'read']); // each once, by time
      }
    } finally {
      store.applyStatus = single;
      store.applyStatusesNotForward = batched;
      t.ctx.bus.off('message.status', onStatus);
    }
  });

  it('when the batched statement fails with the store up, the statuses are applied one by one', async () => {
    for (const id of ['msg_f1', 'msg_f2']) await seed(id, { wamid: `wamid.${id}` });
    const store = t.ctx.store;
    const original = store.applyStatusesForward!.bind(store);
    let calls = 0;
    store.applyStatusesForward = async (items) => {
      calls++;
      if (calls === 1) throw new Error('deadlock detected'); // what PostgreSQL answers one of two crossing batches
      return original(items);
    };
    try {
      const r = await proc.applyBody(
        statusBody(['msg_f1', 'msg_f2'].map((id) => st(`wamid.${id}`, 'delivered', T0(), { biz_opaque_callback_data: id }))),
      );
      expect(r.results).toEqual({ applied: 2 });
      expect(calls).toBe(1);
      for (const id of ['msg_f1', 'msg_f2']) expect((await store.getMessage(id))?.status).toBe('delivered');
    } finally {
      store.applyStatusesForward = original;
    }
  });

  it('statuses of an earlier attempt (in doubt, then resent) still reach the message by its callback id', async () => {
    await seed('msg_4b', { wamid: 'wamid.SECOND' });
    await proc.applyBody(statusBody([st('wamid.FIRST', 'delivered', T0(), { biz_opaque_callback_data: 'msg_4b' })]));
    const m = await t.ctx.store.getMessage('msg_4b');
    expect(m?.status).toBe('delivered');
    expect(m?.wamid).toBe('wamid.SECOND');
    expect(m?.history.at(-1)?.detail).toMatchObject({ wamid: 'wamid.FIRST' });
  });

  it('a status for a message not recorded yet is kept (durably) and applied when the message appears', async () => {
    const r = await proc.applyBody(statusBody([st('wamid.E', 'delivered', T0() - 1000)]));
    expect(r.results.pending).toBe(1);
    expect(proc.pendingStatusCount()).toBe(1);
    expect(await t.ctx.store.getSetting('webhooks.pending_statuses')).toContain('wamid.E');
    // The delivery worker records the accept and announces it on the bus.
    await seed('msg_5', { wamid: 'wamid.E' });
    t.ctx.bus.emit('message.status', (await t.ctx.store.getMessage('msg_5'))!);
    await proc.whenIdle();
    expect((await t.ctx.store.getMessage('msg_5'))?.status).toBe('delivered');
    expect(proc.pendingStatusCount()).toBe(0);
    expect(await t.ctx.store.getSetting('webhooks.pending_statuses')).toBeNull();
  });

  it('a kept status survives a restart of the processor', async () => {
    await proc.applyBody(statusBody([st('wamid.F', 'read', T0())]));
    await proc.stop();
    proc = new WebhookProcessor(t.ctx);
    await proc.start();
    expect(proc.pendingStatusCount()).toBe(1);
    await seed('msg_6', { wamid: 'wamid.F' });
    await proc.resolvePending('wamid.F');
    expect((await t.ctx.store.getMessage('msg_6'))?.status).toBe('read');
  });

  it('failed 131049 limits marketing to the user for 24h; the error is classified on the record', async () => {
    await seed('msg_7', { wamid: 'wamid.G' });
    const err = {
      code: 131049,
      title: 'This message was not delivered to maintain healthy ecosystem engagement.',
      message: 'This message was not delivered to maintain healthy ecosystem engagement.',
      error_data: { details: 'In order to maintain a healthy ecosystem engagement, the message failed to be delivered.' },
      href: '/documentation/business-messaging/whatsapp/support/error-codes',
    };
    await proc.applyBody(statusBody([st('wamid.G', 'failed', T0() - 1000, { errors: [err] })]));
    const m = await t.ctx.store.getMessage('msg_7');
    expect(m?.status).toBe('failed');
    expect(m?.last_error).toMatchObject({ code: 131049, source: 'webhook', known: true });
    expect((await t.ctx.store.getCustomer(CUSTOMER))?.marketing_limited_at).toBe(Math.floor((T0() - 1000) / 1000) * 1000);
  });

  it('failed 131050 opts the user out of marketing; 131026 marks the number undeliverable', async () => {
    await seed('msg_8', { wamid: 'wamid.H' });
    await seed('msg_9', { wamid: 'wamid.I', to: '16505552222' });
    await proc.applyBody(
      statusBody([
        st('wamid.H', 'failed', T0(), {
          errors: [
            {
              code: 131050,
              title:
                'Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business',
              error_data: { details: '' },
            },
          ],
        }),
        st('wamid.I', 'failed', T0(), {
          recipient_id: '16505552222',
          errors: [{ code: 131026, title: 'Message undeliverable', error_data: { details: 'x' } }],
        }),
      ]),
    );
    expect((await consent())?.marketing).toMatchObject({ state: 'opted_out', source: 'webhook:status:131050' });
    expect((await t.ctx.store.getCustomer('16505552222'))?.undeliverable_at).toBe(Math.floor(T0() / 1000) * 1000);
  });

  it('"played" counts as read; an unknown status value is stored, not applied', async () => {
    await seed('msg_10', { wamid: 'wamid.J', status: 'delivered' });
    await proc.applyBody(statusBody([st('wamid.J', 'played', T0())]));
    expect((await t.ctx.store.getMessage('msg_10'))?.status).toBe('read');
    const r = await proc.applyBody(statusBody([st('wamid.J', 'warning', T0())]));
    expect(r.results.stored).toBe(1);
  });
});

describe('templates', () => {
  const tpl = (event: string, extra: Record<string, unknown> = {}) =>
    envelope(
      'message_template_status_update',
      {
        event,
        message_template_id: 594425479261596,
        message_template_name: 'spring_sale',
        message_template_language: 'en_US',
        reason: 'NONE',
        ...extra,
      },
      { time: Math.floor(T0() / 1000) },
    );

  beforeEach(async () => {
    const rec = {
      waba_id: WABA,
      name: 'spring_sale',
      language: 'en_US',
      category: 'marketing' as const,
      status: 'APPROVED' as const,
      quality: 'GREEN' as const,
      components: [{ type: 'BODY', text: 'Hi {{1}}' }],
      meta_id: '594425479261596',
      updated_at: 1,
    };
    await t.ctx.store.upsertTemplate(rec);
    await t.ctx.gate.upsertTemplate(rec);
  });

  it('PAUSED updates the record, the gate and raises an alert; REINSTATED approves it again', async () => {
    await proc.applyBody(tpl('PAUSED', { other_info: { title: 'FIRST_PAUSE', description: 'low quality' } }));
    const rec = await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US');
    expect(rec?.status).toBe('PAUSED');
    expect(rec?.components).toEqual([{ type: 'BODY', text: 'Hi {{1}}' }]); // kept
    await t.alerts.flush();
    const alerts = await t.ctx.store.listAlerts({ unresolved: true });
    expect(alerts.map((a) => a.kind)).toContain('template_paused');
    t.clock.t += 60_000;
    await proc.applyBody(tpl('REINSTATED'));
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US'))?.status).toBe('APPROVED');
  });

  it('a PAUSED template is denied at the gate at once (real MemoryGateState)', async () => {
    const { checkCompliance } = await import('../../src/engine/compliance.ts');
    const body = {
      to: CUSTOMER,
      type: 'template',
      template: {
        name: 'spring_sale',
        language: { code: 'en_US' },
        components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ann' }] }],
      },
    };
    const before = await checkCompliance(t.ctx, { body });
    expect(before.reason_code).not.toBe('TEMPLATE_PAUSED');
    await proc.applyBody(tpl('PAUSED'));
    const after = await checkCompliance(t.ctx, { body });
    expect(after.allowed).toBe(false);
    expect(after.reason_code).toBe('TEMPLATE_PAUSED');
  });

  it('DISABLED raises a critical alert', async () => {
    await proc.applyBody(tpl('DISABLED', { disable_info: { disable_date: 1 } }));
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US'))?.status).toBe('DISABLED');
    await t.alerts.flush();
    const a = (await t.ctx.store.listAlerts({})).find((x) => x.kind === 'template_disabled');
    expect(a?.severity).toBe('critical');
  });

  it('quality and category updates change the record; an impending category change does not yet', async () => {
    await proc.applyBody(
      envelope(
        'message_template_quality_update',
        {
          previous_quality_score: 'GREEN',
          new_quality_score: 'RED',
          message_template_id: 1,
          message_template_name: 'spring_sale',
          message_template_language: 'en_US',
        },
        { time: 1 },
      ),
    );
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US'))?.quality).toBe('RED');
    await proc.applyBody(
      envelope(
        'template_category_update',
        {
          message_template_id: 1,
          message_template_name: 'spring_sale',
          message_template_language: 'en_US',
          new_category: 'MARKETING',
          correct_category: 'UTILITY',
          category_update_timestamp: 1,
        },
        { time: 2 },
      ),
    );
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US'))?.category).toBe('marketing');
    await proc.applyBody(
      envelope(
        'template_category_update',
        {
          message_template_id: 1,
          message_template_name: 'spring_sale',
          message_template_language: 'en_US',
          previous_category: 'MARKETING',
          new_category: 'UTILITY',
        },
        { time: 3 },
      ),
    );
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US'))?.category).toBe('utility');
  });

  it("a template change older than the record's last update is stale (a retried PAUSED after REINSTATED)", async () => {
    const at = Math.floor(T0() / 1000);
    await proc.applyBody(
      envelope(
        'message_template_status_update',
        {
          event: 'REINSTATED',
          message_template_id: 1,
          message_template_name: 'spring_sale',
          message_template_language: 'en_US',
          reason: 'NONE',
        },
        { time: at },
      ),
    );
    const r = await proc.applyBody(
      envelope(
        'message_template_status_update',
        {
          event: 'PAUSED',
          message_template_id: 1,
          message_template_name: 'spring_sale',
          message_template_language: 'en_US',
          reason: 'NONE',
        },
        { time: at - 120 },
      ),
    );
    expect(r.results.stale).toBe(1);
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US'))?.status).toBe('APPROVED');
  });

  it('a template wagate never saw is created, as marketing unless Meta names its category', async () => {
    await proc.applyBody(
      envelope(
        'message_template_status_update',
        { event: 'APPROVED', message_template_id: 7, message_template_name: 'new_one', message_template_language: 'pt_BR', reason: null },
        { time: 5 },
      ),
    );
    expect(await t.ctx.store.getTemplate(WABA, 'new_one', 'pt_BR')).toMatchObject({
      status: 'APPROVED',
      category: 'marketing',
      meta_id: '7',
    });
  });
});

describe('phone number quality, account updates, unknown fields', () => {
  it('phone quality: bus event and sender health (merged)', async () => {
    await t.ctx.store.saveSenderHealth({ sender_id: 'main', data: { token_valid: true }, updated_at: 1 });
    const got: unknown[] = [];
    t.ctx.bus.on('meta.phone_quality', (e) => got.push(e));
    await proc.applyBody(
      envelope(
        'phone_number_quality_update',
        { display_phone_number: '15550783881', event: 'THROUGHPUT_UPGRADE', current_limit: 'TIER_UNLIMITED' },
        { time: 1739321024 },
      ),
    );
    expect(got[0]).toMatchObject({ sender_id: 'main', event: 'THROUGHPUT_UPGRADE', current_limit: 'TIER_UNLIMITED' });
    const h = await t.ctx.store.getSenderHealth('main');
    expect(h?.data.token_valid).toBe(true);
    expect(h?.data.webhook_phone_quality).toMatchObject({ current_limit: 'TIER_UNLIMITED' });
  });

  it('account update: bus event says whether sending must stop', async () => {
    const got: AccountUpdateNotice[] = [];
    t.ctx.bus.on('meta.account_update', (e) => got.push(e));
    await proc.applyBody(
      envelope(
        'account_update',
        { event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: 'DISABLE', waba_ban_date: 'x' } },
        { time: 1739321024 },
      ),
    );
    await proc.applyBody(envelope('account_update', { event: 'MM_LITE_TERMS_SIGNED' }, { time: 1739321025 }));
    expect(got.map((g) => [g.event, g.stop_sending])).toEqual([
      ['DISABLED_UPDATE', true],
      ['MM_LITE_TERMS_SIGNED', false],
    ]);
    expect((await t.ctx.store.getSenderHealth('main'))?.data.webhook_account_update).toMatchObject({ event: 'MM_LITE_TERMS_SIGNED' });
  });

  it('partner events name the customer WABA in waba_info.waba_id (entry.id is the partner business): its senders are targeted', async () => {
    const got: AccountUpdateNotice[] = [];
    t.ctx.bus.on('meta.account_update', (e) => got.push(e));
    const PARTNER_BUSINESS = '506914307656634';
    // Meta's account_update reference: partner events carry waba_info {waba_id, owner_business_id, partner_app_id}.
    for (const [event, time] of [
      ['PARTNER_APP_UNINSTALLED', 1739321030],
      ['PARTNER_REMOVED', 1739321031],
    ] as const) {
      const r = await proc.applyBody({
        object: 'whatsapp_business_account',
        entry: [
          {
            id: PARTNER_BUSINESS,
            time,
            changes: [
              {
                field: 'account_update',
                value: { event, waba_info: { waba_id: WABA, owner_business_id: '1043208376870584', partner_app_id: '520744570592938' } },
              },
            ],
          },
        ],
      });
      expect(r.results.applied).toBe(1);
    }
    expect(got.map((g) => [g.event, g.waba_id, g.partner_business_id, g.sender_ids, g.stop_sending])).toEqual([
      ['PARTNER_APP_UNINSTALLED', WABA, PARTNER_BUSINESS, ['main'], true],
      ['PARTNER_REMOVED', WABA, PARTNER_BUSINESS, ['main'], true],
    ]);
    expect((await t.ctx.store.getSenderHealth('main'))?.data.webhook_account_update).toMatchObject({ event: 'PARTNER_REMOVED' });
    // Without waba_info, entry.id is the WABA as before.
    await proc.applyBody(envelope('account_update', { event: 'ACCOUNT_DELETED' }, { time: 1739321032 }));
    expect(got[2]).toMatchObject({ waba_id: WABA, sender_ids: ['main'] });
    expect(got[2].partner_business_id).toBeUndefined();
  });

  it('unknown fields, garbage entries and system errors are stored and counted, never a crash', async () => {
    const r = await proc.applyBody({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: WABA,
          time: 1,
          changes: [
            { field: 'smb_message_echoes', value: { a: 1 } },
            'garbage',
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { phone_number_id: PNID },
                errors: [{ code: 130429, title: 'Rate limit hit', message: 'Rate limit hit', error_data: { details: 'too many' } }],
              },
            },
          ],
        },
        42,
      ],
    });
    expect(r.results.stored).toBe(4);
    expect((await t.ctx.store.listAudit({ action: 'webhook.unknown' })).length).toBe(3);
    expect((await t.ctx.store.listAudit({ action: 'webhook.system_error' }))[0].detail).toMatchObject({ sender_id: 'main' });
    expect(await metric('unknown', 'stored')).toBe(3);
    const r2 = await proc.applyBody({ object: 'page', entry: [{ id: '1', time: 1, changes: [{ field: 'feed', value: {} }] }] });
    expect(r2.results.stored).toBe(1);
  });
});

describe('durability', () => {
  it('a batch persisted but not applied before a crash is applied on start, then deleted', async () => {
    await proc.stop();
    const raw = JSON.stringify(textMsg('wamid.CRASH', 'STOP', T0() - 1000));
    await t.ctx.store.saveWebhookBatch('wh_left_behind', raw, T0());
    proc = new WebhookProcessor(t.ctx);
    await proc.start();
    expect((await consent())?.marketing.state).toBe('opted_out');
    expect(await t.ctx.store.listPendingWebhookBatches(10)).toEqual([]);
  });

  it('recovery re-applies an event already marked seen (crash between mark and apply)', async () => {
    await proc.stop();
    await t.ctx.store.markEventSeen('m:wamid.HALF', T0());
    await t.ctx.store.saveWebhookBatch('wh_half', JSON.stringify(textMsg('wamid.HALF', 'hello', T0() - 1000)), T0());
    proc = new WebhookProcessor(t.ctx);
    await proc.start();
    expect((await t.ctx.store.getWindows(CUSTOMER)).length).toBe(1);
  });

  it('a store outage while applying keeps the batch and retries it until applied', async () => {
    await proc.stop();
    const real = t.ctx.store;
    // The real store behind a switch: while `down`, writes fail and ping says so (a locked/unreachable DB).
    let down = true;
    let failedCalls = 0;
    const flaky = new Proxy(real, {
      get(target, prop, recv) {
        if (down && prop === 'markEventSeen') {
          return async () => {
            failedCalls++;
            setTimeout(() => (down = false), 100); // the outage ends a moment later
            throw new Error('SQLITE_BUSY: database is locked');
          };
        }
        if (down && prop === 'ping') return async () => false;
        const v = Reflect.get(target, prop, recv);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    (t.ctx as { store: unknown }).store = flaky;
    proc = new WebhookProcessor(t.ctx);
    await proc.start();
    const body = textMsg('wamid.OUT1', 'STOP', T0() - 1000);
    await proc.accept(JSON.stringify(body), body);
    await proc.whenIdle();
    (t.ctx as { store: unknown }).store = real;
    expect(failedCalls).toBe(1);
    expect((await consent())?.marketing.state).toBe('opted_out');
    expect(await real.listPendingWebhookBatches(10)).toEqual([]);
  });

  it('stop() during an outage returns promptly and leaves the batch stored for the next start', async () => {
    await proc.stop();
    const real = t.ctx.store;
    (t.ctx as { store: unknown }).store = new Proxy(real, {
      get(target, prop, recv) {
        if (prop === 'markEventSeen')
          return async () => {
            throw new Error('disk I/O error');
          };
        if (prop === 'ping') return async () => false;
        const v = Reflect.get(target, prop, recv);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    proc = new WebhookProcessor(t.ctx);
    await proc.start();
    const body = textMsg('wamid.DOWN', 'STOP', T0() - 1000);
    await proc.accept(JSON.stringify(body), body);
    await new Promise((r) => setTimeout(r, 50)); // first attempt failed; now waiting to retry
    const t0 = Date.now();
    await proc.stop();
    expect(Date.now() - t0).toBeLessThan(1_000);
    (t.ctx as { store: unknown }).store = real;
    expect((await real.listPendingWebhookBatches(10)).length).toBe(1);
    proc = new WebhookProcessor(t.ctx);
    await proc.start(); // the store is back: the batch is applied
    expect((await consent())?.marketing.state).toBe('opted_out');
    expect(await real.listPendingWebhookBatches(10)).toEqual([]);
  });

  it('back-pressure: past the backlog limit accept() refuses (the route answers 503) and stores nothing', async () => {
    await proc.stop();
    const real = t.ctx.store;
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    // The real store, with the apply path held up (a slow disk) so batches pile up.
    (t.ctx as { store: unknown }).store = new Proxy(real, {
      get(target, prop, recv) {
        if (prop === 'markEventSeen') return async (k: string, at: number) => (await blocked, target.markEventSeen(k, at));
        const v = Reflect.get(target, prop, recv);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    proc = new WebhookProcessor(t.ctx, { max_backlog: 2 });
    await proc.start();
    const b = (i: number) => textMsg(`wamid.BP${i}`, 'hi', T0() - 1000);
    await proc.accept(JSON.stringify(b(1)), b(1));
    await proc.accept(JSON.stringify(b(2)), b(2));
    await expect(proc.accept(JSON.stringify(b(3)), b(3))).rejects.toThrow(BacklogFullError);
    expect((await real.listPendingWebhookBatches(10)).length).toBe(2);
    // Every instance's workers learn that Meta now holds statuses (in-doubt resends wait).
    await new Promise((r) => setTimeout(r, 20));
    expect(Number(await real.getSetting('webhooks.refused_at'))).toBe(T0());
    release();
    await proc.whenIdle();
    (t.ctx as { store: unknown }).store = real;
    expect(await real.listPendingWebhookBatches(10)).toEqual([]);
  });

  it('accept() persists first, applies in order, then deletes the batch', async () => {
    const a = await proc.accept(JSON.stringify(textMsg('wamid.O1', 'STOP', T0() - 2000)), textMsg('wamid.O1', 'STOP', T0() - 2000));
    await proc.accept(JSON.stringify(textMsg('wamid.O2', 'START', T0() - 1000)), textMsg('wamid.O2', 'START', T0() - 1000));
    expect(a.batch_id).toMatch(/^wh_/);
    await proc.whenIdle();
    expect((await consent())?.marketing.state).toBe('opted_in');
    expect(await t.ctx.store.listPendingWebhookBatches(10)).toEqual([]);
  });
});
