// Sending to a business-scoped user id (issue 13): `recipient` instead of (or beside) `to`, as Meta's
// API takes it. The gate decides on the customer (the phone a link knows for the BSUID), the payload
// carries the BSUID as given, and authentication templates are refused before they leave (Meta: 131062).
// Over the real HTTP API of a real app (embedded backends, workers off: nothing is sent here).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../delivery/harness.ts';

const BSUID = 'GB.13491208655302741918';
const PHONE = '447700900123';

let h: Harness;
beforeEach(async () => {
  h = await startHarness({ workers: false });
});
afterEach(async () => {
  await h.close();
});

const checkBody = async (body: Record<string, unknown>) => {
  const r = await fetch(`${h.base}/v1/compliance/check`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, json: (await r.json()) as any };
};
const springSale = (target: Record<string, unknown>) => ({
  ...target,
  type: 'template',
  template: {
    name: 'spring_sale',
    language: { code: 'en_US' },
    components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }] }],
  },
});
const authCode = (target: Record<string, unknown>) => ({
  ...target,
  type: 'template',
  template: {
    name: 'auth_code',
    language: { code: 'en_US' },
    components: [
      { type: 'body', parameters: [{ type: 'text', text: '123456' }] },
      { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: '123456' }] },
    ],
  },
});
const decision = (r: { json: any }) => r.json.decision ?? r.json;

describe('recipient: a business-scoped user id', () => {
  it('a marketing template to a BSUID is decided on that customer and queued with `recipient`, no `to`', async () => {
    const d = decision(await checkBody(springSale({ recipient: BSUID })));
    expect(d.reason_code).toBeNull();
    const r = await h.post(springSale({ recipient: BSUID }));
    expect(r.status).toBe(202);
    const m = await h.ctx.store.getMessage(r.json.id);
    expect(m?.to).toBe(BSUID);
    expect(m?.payload).toMatchObject({ recipient: BSUID, recipient_type: 'individual', messaging_product: 'whatsapp' });
    expect(m?.payload).not.toHaveProperty('to');
  });

  it('a malformed BSUID is INVALID_RECIPIENT saying what one looks like', async () => {
    const d = decision(await checkBody(springSale({ recipient: 'not-a-bsuid' })));
    expect(d.reason_code).toBe('INVALID_RECIPIENT');
    expect(d.explanation).toMatch(/business-scoped user id looks like "US\.13491208655302741918"/);
    const none = decision(await checkBody({ type: 'text', text: { body: 'hi' } }));
    expect(none.reason_code).toBe('INVALID_MESSAGE');
    expect(none.explanation).toMatch(/`recipient`/);
  });

  it('a BSUID linked to a phone is decided on the phone: an opt-out recorded by phone blocks marketing by BSUID', async () => {
    await h.ctx.store.linkIdentity({ business_id: 'delivery-test', user_id: BSUID, wa_id: PHONE, at: Date.now() });
    const { setConsent } = await import('../../src/engine/customers.ts');
    await setConsent(h.ctx, { wa_id: PHONE, category: 'marketing', state: 'opted_out', source: 'test', at: Date.now() });
    const d = decision(await checkBody(springSale({ recipient: BSUID })));
    expect(d.reason_code).toBe('OPTED_OUT');
    const r = await h.post(springSale({ recipient: BSUID }));
    expect(r.status).toBe(422);
    expect(r.json.decision.reason_code).toBe('OPTED_OUT');
  });

  it('`to` and `recipient` naming two different customers is refused, naming both', async () => {
    await h.ctx.store.linkIdentity({ business_id: 'delivery-test', user_id: BSUID, wa_id: PHONE, at: Date.now() });
    const d = decision(await checkBody(springSale({ to: '+447700900999', recipient: BSUID })));
    expect(d.reason_code).toBe('INVALID_RECIPIENT');
    expect(d.explanation).toMatch(/two different customers/);
    // The same person: fine, sent by phone (`to` wins, as at Meta).
    const same = await h.post(springSale({ to: `+${PHONE}`, recipient: BSUID }));
    expect(same.status).toBe(202);
    expect((await h.ctx.store.getMessage(same.json.id))?.payload).toMatchObject({ to: PHONE });
  });

  it('an authentication template to a BSUID is refused before it leaves (Meta: 131062), with the phone as the fix when known', async () => {
    const unknown = await h.post(authCode({ recipient: BSUID }));
    expect(unknown.status).toBe(422);
    expect(unknown.json.decision.reason_code).toBe('BSUID_NOT_SUPPORTED');
    await h.ctx.store.linkIdentity({ business_id: 'delivery-test', user_id: BSUID, wa_id: PHONE, at: Date.now() });
    const known = decision(await checkBody(authCode({ recipient: BSUID })));
    expect(known.reason_code).toBe('BSUID_NOT_SUPPORTED');
    expect(known.explanation).toContain('send it with `to`');
    // By phone it goes.
    expect((await h.post(authCode({ to: `+${PHONE}` }))).status).toBe(202);
    // The refused submits reserved nothing: the tier counts only the one queued message.
    expect(await h.ctx.gate.tierUsage('delivery-test', Date.now())).toBe(1);
  });

  it('GET /v1/customers/:id takes a phone or a BSUID and shows both; consent set by BSUID lands on the linked phone', async () => {
    const alone = await h.get(`/v1/customers/${BSUID}`);
    expect(alone.status).toBe(200);
    expect(alone.json).toMatchObject({ wa_id: BSUID, phone: null, user_ids: [BSUID] });
    await h.ctx.store.linkIdentity({ business_id: 'delivery-test', user_id: BSUID, wa_id: PHONE, at: Date.now() });
    const byBsuid = await h.get(`/v1/customers/${BSUID}`);
    const byPhone = await h.get(`/v1/customers/+${PHONE}`);
    expect(byBsuid.json).toMatchObject({ wa_id: PHONE, phone: PHONE, user_ids: [BSUID] });
    expect(byPhone.json).toMatchObject({ wa_id: PHONE, phone: PHONE, user_ids: [BSUID] });
    const put = await fetch(`${h.base}/v1/customers/${BSUID}/consent`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ category: 'marketing', state: 'opted_out' }),
    });
    expect(put.status).toBe(200);
    expect((await h.ctx.store.getCustomer(PHONE))?.consent.marketing.state).toBe('opted_out');
    expect((await h.get('/v1/customers/XX.not!valid')).status).toBe(400);
  });
});
