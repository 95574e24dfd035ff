// Meta's account restrictions (account_update ACCOUNT_RESTRICTION) enforced on the sandbox's own sends:
// each type refuses what Meta refuses while it lasts, and a lifted or ended one accepts again.
import { describe, expect, it } from 'vitest';
import { ctl, graph, PNID, sendMsg, text, tpl, waitFor, WABA, useSandboxes } from './helpers.ts';

const t = useSandboxes();
const START = Date.UTC(2026, 11, 1, 9);

function clock() {
  const c = { t: START, now: () => c.t };
  return c;
}

const restrict = (s: Parameters<typeof ctl>[0], restriction: Record<string, unknown>) =>
  ctl(s, 'POST', `/numbers/${PNID}`, { restriction });

/** The customer writes first, so the number is inside their customer service window. */
const writes = (s: Parameters<typeof ctl>[0], from: string) =>
  ctl(s, 'POST', '/inbound', { phone_number_id: PNID, from, text: { body: 'hi' } });

const directSend = (to: string) => ({ ...text(to, 'Your parcel is out for delivery'), category: 'utility' });

function expect368(r: { status: number; body: any }) {
  expect(r.status).toBe(403);
  expect(r.body.error).toMatchObject({
    code: 368,
    type: 'OAuthException',
    message: '(#368) Temporarily blocked for policies violations',
    error_data: {
      messaging_product: 'whatsapp',
      details: 'The WhatsApp Business Account associated with the app has been restricted or disabled for violating a platform policy.',
    },
  });
}

describe('sandbox: account restrictions are enforced on its sends', () => {
  it('RESTRICTED_BIZ_INITIATED_MESSAGING refuses sends outside a window (368) and still takes replies, until it ends', async () => {
    const c = clock();
    const { s, rx } = await t.withReceiver({ now: c.now });
    await writes(s, '447700900201');
    const until = Math.floor(START / 1000) + 3600;
    expect(
      (await restrict(s, { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: until, remediation: 'Review your opt-ins.' })).status,
    ).toBe(200);
    const change = await waitFor(() => rx.changes().find((x) => x.field === 'account_update'), 3000, 'account_update');
    expect(change.value).toEqual({
      phone_number: expect.stringMatching(/^\d{7,15}$/),
      event: 'ACCOUNT_RESTRICTION',
      restriction_info: [
        { restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: until, remediation: 'Review your opt-ins.' },
      ],
    });
    expect368(await sendMsg(s, tpl('447700900202', 'hello_world'))); // a template starting a conversation
    expect368(await sendMsg(s, directSend('447700900202'))); // Direct Send is business-initiated too
    // Inside the window the business is replying: free-form and templates go.
    expect((await sendMsg(s, text('447700900201', 'Sure, here you are'))).status).toBe(200);
    expect((await sendMsg(s, tpl('447700900201', 'hello_world'))).status).toBe(200);
    // A refused send is not in the ledger: Meta never accepted it.
    expect(s.state.ledgerView(new URLSearchParams({ to: '447700900202' })).count).toBe(0);
    c.t = until * 1000; // the restriction has ended
    expect((await sendMsg(s, tpl('447700900202', 'hello_world'))).status).toBe(200);
  });

  it('RESTRICTED_CUSTOMER_INITIATED_MESSAGING refuses replies inside the window (368) and lets templates outside it go; a lift accepts again', async () => {
    const { s, rx } = await t.withReceiver();
    await writes(s, '447700900211');
    await restrict(s, { type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING' });
    expect368(await sendMsg(s, text('447700900211', 'Thanks for writing')));
    expect368(await sendMsg(s, tpl('447700900211', 'hello_world'))); // a template is a reply too inside the window
    expect((await sendMsg(s, tpl('447700900212', 'hello_world'))).status).toBe(200);
    await restrict(s, { type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING', lift: true });
    expect((await sendMsg(s, text('447700900211', 'Thanks for writing'))).status).toBe(200);
    // The lift is an ACCOUNT_RESTRICTION of that type that has ended (expiration: now).
    const events = await waitFor(
      () => {
        const l = rx.changes().filter((x) => x.field === 'account_update');
        return l.length >= 2 ? l : null;
      },
      3000,
      'two account_update',
    );
    const [set, lifted] = events.map((e) => e.value.restriction_info[0]);
    expect(set.restriction_type).toBe('RESTRICTED_CUSTOMER_INITIATED_MESSAGING');
    expect(set.expiration).toBeGreaterThan(Math.floor(Date.now() / 1000) + 3600);
    expect(lifted.expiration).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });

  it('RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES refuses Direct Send (139200), not approved templates', async () => {
    const s = await t.sandbox({ statuses: { enabled: false } });
    await restrict(s, { type: 'RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES' });
    const r = await sendMsg(s, directSend('447700900221'));
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 139200, message: '(#139200) Direct Send utility or authentication access is blocked' });
    expect((await sendMsg(s, tpl('447700900221', 'hello_world'))).status).toBe(200);
    await restrict(s, { type: 'RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES', lift: true });
    expect((await sendMsg(s, directSend('447700900221'))).status).toBe(200);
  });

  it('RESTRICTED_UTILITY_TEMPLATES recategorises approved utility templates to MARKETING and refuses new utility templates while it lasts', async () => {
    const { s, rx } = await t.withReceiver();
    await restrict(s, { type: 'RESTRICTED_UTILITY_TEMPLATES' });
    const got = await waitFor(
      () => {
        const l = rx.changes().filter((x) => x.field === 'template_category_update');
        return l.length >= 2 && rx.changes().some((x) => x.field === 'account_update') ? l : null;
      },
      3000,
      'category updates',
    );
    expect(got.map((x) => [x.value.message_template_name, x.value.previous_category, x.value.new_category]).sort()).toEqual([
      ['hello_world', 'UTILITY', 'MARKETING'],
      ['order_update', 'UTILITY', 'MARKETING'],
    ]);
    const au = rx.changes().find((x) => x.field === 'account_update')!.value;
    expect(au.violation_info).toEqual({ violation_type: 'UTILITY_TEMPLATE_ABUSE' });
    expect(au.restriction_info[0].restriction_type).toBe('RESTRICTED_UTILITY_TEMPLATES');
    // A send of the recategorised template is a marketing send now (its pricing says so).
    const sent = await sendMsg(s, tpl('447700900231', 'hello_world'));
    expect(sent.status).toBe(200);
    const st = await waitFor(() => rx.statuses().find((x) => x.id === sent.body.messages[0].id && x.pricing), 3000, 'priced status');
    expect(st.pricing.category).toBe('marketing');
    const create = {
      name: 'shipping_note',
      language: 'en_US',
      category: 'UTILITY',
      components: [{ type: 'BODY', text: 'Your parcel shipped.' }],
    };
    const refused = await graph(s, 'POST', `/v25.0/${WABA}/message_templates`, create);
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe(100);
    expect(refused.body.error.error_data.details).toMatch(/Utility template creation is restricted/);
    await restrict(s, { type: 'RESTRICTED_UTILITY_TEMPLATES', lift: true });
    expect((await graph(s, 'POST', `/v25.0/${WABA}/message_templates`, create)).status).toBe(200);
    // Meta's removal event (UTILITY_TEMPLATE_ABUSE_UNBAN) carries no restriction_info.
    const unban = await waitFor(
      () =>
        rx.changes().find((x) => x.field === 'account_update' && x.value.violation_info?.violation_type === 'UTILITY_TEMPLATE_ABUSE_UNBAN'),
      3000,
      'unban',
    );
    expect(unban.value.restriction_info).toBeUndefined();
  });

  it('silent: true restricts without the webhook; a bad restriction is a 400 that says what to send', async () => {
    const { s, rx } = await t.withReceiver();
    await restrict(s, { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', silent: true });
    expect368(await sendMsg(s, tpl('447700900241', 'hello_world')));
    await writes(s, '447700900242'); // something that does send a webhook, to know the queue has drained
    await waitFor(() => rx.changes().some((x) => x.field === 'messages'), 3000, 'inbound webhook');
    expect(rx.changes().some((x) => x.field === 'account_update')).toBe(false);
    const bad = await restrict(s, { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: 'tomorrow' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'bad_expiration' });
    expect(bad.body.error.fix).toMatch(/expiration/);
    const notObj = await ctl(s, 'POST', `/numbers/${PNID}`, { restriction: 'yes' });
    expect(notObj.status).toBe(400);
    expect(notObj.body.error.code).toBe('bad_restriction');
  });
});
