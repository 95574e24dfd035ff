// A customer's BSUID changes (changes-2026.md §1.1, system `user_changed_user_id`), end to end: the
// sandbox issues the new one and sends Meta's system message to a real wagate; the person's opt-outs
// and open care windows hold under the new BSUID, by phone as well when the phone is known.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, waitFor, type Harness } from '../delivery/harness.ts';

const PORTFOLIO = 'delivery-test'; // the harness sender's business portfolio
let h: Harness;

const until = <T>(what: string, fn: () => Promise<T | null | undefined | false>) => waitFor(what, fn, 8_000, 25);
const inbound = (from: string, body: string) => h.sandbox('POST', '/_sandbox/inbound', { from, type: 'text', text: { body } });
const bsuidOf = async (wa: string) =>
  Object.values((await h.sandbox('GET', `/_sandbox/users/${wa}`)).user_ids as Record<string, string>)[0];
/** The sandbox's seed marketing template, with its one body parameter. */
const SPRING_SALE = {
  type: 'template',
  template: {
    name: 'spring_sale',
    language: { code: 'en_US' },
    components: [{ type: 'body', parameters: [{ type: 'text', text: 'Bea' }] }],
  },
};

beforeAll(async () => {
  h = await startHarness({});
});
afterAll(async () => {
  await h?.close();
});

describe('user_changed_user_id through wagate', () => {
  it('a username-only customer: the STOP and the open window given under the old BSUID hold under the new one', async () => {
    const wa = '447700900311';
    await h.sandbox('POST', `/_sandbox/users/${wa}`, { username: '@bea.shop', phone_shared: false });
    const oldId = await bsuidOf(wa);
    await inbound(wa, 'Hi there');
    await until('the window under the old BSUID', async () => (await h.ctx.store.getWindows(oldId)).length === 1);
    await inbound(wa, 'Stop promotions');
    await until('the opt-out', async () => (await h.ctx.store.getCustomer(oldId))?.consent.marketing.state === 'opted_out');

    const changed = await h.sandbox('POST', `/_sandbox/users/${wa}`, { change_user_id: true });
    const newId = changed.user_id_changed.to as string;
    expect(newId).not.toBe(oldId);
    await until(
      'the opt-out under the new BSUID',
      async () => (await h.ctx.store.getCustomer(newId))?.consent.marketing.state === 'opted_out',
    );
    expect((await h.ctx.store.getWindows(newId)).map((w) => w.sender_id)).toEqual(['main']);
    // Marketing by the new BSUID is refused (and never reaches Meta); a reply inside the window goes.
    const denied = await h.post({ recipient: newId, ...SPRING_SALE });
    expect(denied.status).toBe(422);
    expect(denied.json.decision.reason_code).toBe('OPTED_OUT');
    const reply = await h.post({ recipient: newId, type: 'text', text: { body: 'Noted, no more promotions.' } });
    expect(reply.status).toBe(202);
    await until('the reply at Meta', async () => (await h.ledger()).some((s) => s.biz_opaque_callback_data === reply.json.id));
    // The customer page finds them by the new BSUID with their consent.
    const page = await h.get(`/v1/customers/${encodeURIComponent(newId)}`);
    expect(page.status).toBe(200);
    expect(page.json.consent.marketing).toBe('opted_out');
  });

  it('a customer who shares their phone: the new BSUID is linked to the phone, so it finds the opt-out kept there', async () => {
    const wa = '447700900312';
    await inbound(wa, 'STOP');
    await until('the opt-out by phone', async () => (await h.ctx.store.getCustomer(wa))?.consent.marketing.state === 'opted_out');
    const changed = await h.sandbox('POST', `/_sandbox/users/${wa}`, { change_user_id: true });
    const newId = changed.user_id_changed.to as string;
    await until('the link', async () => (await h.ctx.store.getLinkedPhone(PORTFOLIO, newId)) === wa);
    const denied = await h.post({ recipient: newId, ...SPRING_SALE });
    expect(denied.status).toBe(422);
    expect(denied.json.decision.reason_code).toBe('OPTED_OUT');
  });
});
