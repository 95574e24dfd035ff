// Parent BSUIDs in the sandbox (changes-2026.md §1.1, behind rules.parent_user_ids as Meta's are behind
// a setting): one ".ENT." id per customer across the (linked) portfolios, shown beside the portfolio's
// BSUID in inbound messages, statuses and preferences, and accepted as a recipient.
import { describe, expect, it } from 'vitest';
import { ctl, sendMsg, waitFor, useSandboxes, PNID, WABA } from './helpers.ts';

const t = useSandboxes();

describe('sandbox: parent BSUIDs', () => {
  it('off by default; on, every webhook shows the parent id and a send to it reaches the customer', async () => {
    const { s, rx } = await t.withReceiver({
      numbers: [
        { phone_number_id: PNID, waba_id: WABA, display_phone_number: '+1 555 010 0001', business_id: 'shop-a' },
        { phone_number_id: '106540352242933', waba_id: '102290129340399', display_phone_number: '+1 555 010 0002', business_id: 'shop-b' },
      ],
    });
    const wa = '447700900501';
    await ctl(s, 'POST', '/inbound', { from: wa, text: { body: 'hi' } });
    const first = await waitFor(() => rx.changes().find((c) => c.value.messages), 3000, 'inbound');
    expect(first.value.messages[0].from_parent_user_id).toBeUndefined();
    expect(first.value.contacts[0].parent_user_id).toBeUndefined();

    await ctl(s, 'POST', '/rules', { parent_user_ids: true });
    await ctl(s, 'POST', `/users/${wa}`, { username: '@eva', phone_shared: false });
    await ctl(s, 'POST', '/inbound', { from: wa, text: { body: 'hi again' } });
    const m = await waitFor(() => rx.changes().filter((c) => c.value.messages)[1], 3000, 'second inbound');
    const parent = m.value.messages[0].from_parent_user_id as string;
    expect(parent).toMatch(/^GB\.ENT\.\d{20}$/);
    expect(m.value.contacts[0]).toMatchObject({ user_id: m.value.messages[0].from_user_id, parent_user_id: parent });
    expect(m.value.messages[0].from).toBeUndefined();
    // The same parent id in the other portfolio (linked), with that portfolio's own BSUID.
    await ctl(s, 'POST', '/inbound', { phone_number_id: '106540352242933', from: wa, text: { body: 'hello shop b' } });
    const b = await waitFor(() => rx.changes().filter((c) => c.value.messages)[2], 3000, 'inbound to shop b');
    expect(b.value.messages[0].from_parent_user_id).toBe(parent);
    expect(b.value.messages[0].from_user_id).not.toBe(m.value.messages[0].from_user_id);

    const sent = await sendMsg(s, { recipient: parent, type: 'text', text: { body: 'hello' } });
    expect(sent.status).toBe(200);
    expect(sent.body.contacts[0]).toEqual({ input: parent, user_id: m.value.messages[0].from_user_id });
    const st = await waitFor(
      () => rx.statuses().find((x) => x.id === sent.body.messages[0].id && x.status === 'delivered'),
      3000,
      'delivered',
    );
    expect(st).toMatchObject({ recipient_user_id: m.value.messages[0].from_user_id, parent_recipient_user_id: parent });
    expect(st.recipient_id).toBeUndefined();
    // Preferences carry it too.
    await ctl(s, 'POST', `/users/${wa}`, { marketing: 'stop' });
    const pref = await waitFor(() => rx.changes().find((c) => c.field === 'user_preferences'), 3000, 'preferences');
    expect(pref.value.user_preferences[0]).toMatchObject({ parent_user_id: parent, value: 'stop' });
    expect(pref.value.user_preferences[0].wa_id).toBeUndefined();
  });
});
