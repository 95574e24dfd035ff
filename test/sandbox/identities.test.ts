// Meta's 2026 identities in the sandbox (changes-2026.md §1): business-scoped user ids (BSUIDs) in every
// webhook, usernames, username-only customers, sends addressed to a BSUID.
import { describe, expect, it } from 'vitest';
import { ctl, PNID, sendMsg, text, tpl, useSandboxes, WABA, waitFor } from './helpers.ts';

const t = useSandboxes();
const TO = '447700900123';
const BSUID = /^[A-Z]{2}\.[A-Za-z0-9]{1,128}$/;
const PNID2 = '106540352242999';
const WABA2 = '102290129349999';

function inbounds(rx: { changes(): { field: string; value: any }[] }) {
  return rx.changes().filter((c) => c.field === 'messages' && c.value.messages);
}

describe('business-scoped user ids', () => {
  it('every customer has a BSUID: country, a dot, digits; stable per portfolio, different across portfolios', async () => {
    const s = await t.sandbox({
      numbers: [
        { phone_number_id: PNID, waba_id: WABA, display_phone_number: '+1 555 010 0001' },
        { phone_number_id: PNID2, waba_id: WABA2, display_phone_number: '+1 555 010 0002', business_id: 'other-portfolio' },
        { phone_number_id: '106540352243000', waba_id: '102290129340000', display_phone_number: '+1 555 010 0003' },
      ],
    });
    const a = s.state.bsuidOf('sandbox-business', TO);
    expect(a).toMatch(BSUID);
    expect(a.startsWith('GB.')).toBe(true);
    expect(s.state.bsuidOf('sandbox-business', TO)).toBe(a);
    expect(s.state.bsuidOf('other-portfolio', TO)).not.toBe(a);
    expect(s.state.bsuidOf('sandbox-business', '14155550123')).toMatch(/^US\.\d{20}$/);
    const r = await ctl(s, 'GET', `/users/${TO}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      wa_id: TO,
      username: null,
      phone_shared: true,
      user_ids: { 'sandbox-business': a, 'other-portfolio': s.state.bsuidOf('other-portfolio', TO) },
    });
  });

  it('inbound messages carry contacts[].user_id and messages[].from_user_id, with every old field kept', async () => {
    const { s, rx } = await t.withReceiver();
    await ctl(s, 'POST', '/inbound', { from: TO, type: 'text', text: { body: 'hi' }, profile_name: 'Ana' });
    const c = await waitFor(() => inbounds(rx)[0], 3000, 'inbound');
    const id = s.state.bsuidOf('sandbox-business', TO);
    expect(c.value.contacts).toEqual([{ profile: { name: 'Ana' }, wa_id: TO, user_id: id }]);
    expect(c.value.messages[0]).toMatchObject({ from: TO, from_user_id: id, type: 'text', text: { body: 'hi' } });
  });

  it('a username rides in contacts[].profile.username of inbound messages', async () => {
    const { s, rx } = await t.withReceiver();
    const u = await ctl(s, 'POST', `/users/${TO}`, { username: '@ana' });
    expect(u.status).toBe(200);
    expect(u.body).toMatchObject({ wa_id: TO, username: '@ana', user_ids: { 'sandbox-business': expect.stringMatching(BSUID) } });
    await ctl(s, 'POST', '/inbound', { from: TO, profile_name: 'Ana' });
    const c = await waitFor(() => inbounds(rx)[0], 3000, 'inbound');
    expect(c.value.contacts[0].profile).toEqual({ name: 'Ana', username: '@ana' });
    expect((await ctl(s, 'POST', `/users/${TO}`, { username: 'no spaces please' })).body.error.code).toBe('bad_username');
    await ctl(s, 'POST', `/users/${TO}`, { username: null });
    await ctl(s, 'POST', '/inbound', { from: TO, profile_name: 'Ana' });
    const c2 = await waitFor(() => inbounds(rx)[1], 3000, 'inbound 2');
    expect(c2.value.contacts[0].profile).toEqual({ name: 'Ana' });
  });

  it('sent/delivered/read carry contacts[{wa_id, user_id}] (username on delivered/read only); failed carries none', async () => {
    const { s, rx } = await t.withReceiver();
    await ctl(s, 'POST', `/users/${TO}`, { username: '@ana' });
    await ctl(s, 'POST', '/inbound', { from: TO });
    const sent = await sendMsg(s, text(TO));
    expect(sent.status).toBe(200);
    const id = s.state.bsuidOf('sandbox-business', TO);
    const changes = await waitFor(
      () => {
        const st = rx.changes().filter((c) => c.value.statuses);
        return st.length === 3 && st;
      },
      3000,
      'three statuses',
    );
    for (const c of changes) {
      const st = c.value.statuses[0];
      expect(st.recipient_id).toBe(TO);
      expect(st.recipient_user_id).toBeUndefined(); // sent by phone
      expect(c.value.contacts).toEqual([
        st.status === 'sent' ? { wa_id: TO, user_id: id } : { profile: { username: '@ana' }, wa_id: TO, user_id: id },
      ]);
    }
    // A failure (no window: 131047) has no contacts array, as Meta's.
    await sendMsg(s, text('447700900999'));
    const failed = await waitFor(() => rx.changes().find((c) => c.value.statuses?.[0].status === 'failed'), 3000, 'failed');
    expect(failed.value.contacts).toBeUndefined();
    expect(failed.value.statuses[0].recipient_id).toBe('447700900999');
    // The ledger knows the BSUID and can be filtered by it.
    const l = await ctl(s, 'GET', `/ledger?to=${encodeURIComponent(id)}`);
    expect(l.body.sends).toHaveLength(1);
    expect(l.body.sends[0]).toMatchObject({ to: TO, user_id: id, via: 'to' });
  });

  it('user_preferences carry user_id in contacts[] and in the item', async () => {
    const { s, rx } = await t.withReceiver();
    const r = await ctl(s, 'POST', `/users/${TO}`, { marketing: 'stop' });
    const id = s.state.bsuidOf('sandbox-business', TO);
    expect(r.body).toMatchObject({ marketing: 'stop' });
    const c = await waitFor(() => rx.changes().find((x) => x.field === 'user_preferences'), 3000, 'user_preferences');
    expect(c.value.contacts).toEqual([{ wa_id: TO, user_id: id }]);
    expect(c.value.user_preferences[0]).toMatchObject({ wa_id: TO, user_id: id, value: 'stop', category: 'marketing_messages' });
  });

  it('a template to a phone still answers contacts[{input, wa_id}] as before', async () => {
    const s = await t.sandbox();
    const r = await sendMsg(s, tpl('+44 7700 900123', 'hello_world'));
    expect(r.body.contacts).toEqual([{ input: '+44 7700 900123', wa_id: TO }]);
  });
});

describe('username-only customers (phone_shared: false)', () => {
  it('no webhook carries their phone: inbound has no from nor contacts[].wa_id; user_preferences no wa_id', async () => {
    const { s, rx } = await t.withReceiver();
    const u = await ctl(s, 'POST', `/users/${TO}`, { username: '@ana', phone_shared: false });
    expect(u.status).toBe(200);
    expect(u.body).toMatchObject({ username: '@ana', phone_shared: false });
    const id = s.state.bsuidOf('sandbox-business', TO);
    await ctl(s, 'POST', '/inbound', { from: TO, type: 'text', text: { body: 'STOP' }, profile_name: 'Ana' });
    await ctl(s, 'POST', `/users/${TO}`, { marketing: 'stop' });
    const c = await waitFor(() => inbounds(rx)[0], 3000, 'inbound');
    expect(c.value.contacts).toEqual([{ profile: { name: 'Ana', username: '@ana' }, user_id: id }]);
    const m = c.value.messages[0];
    expect(m.from).toBeUndefined();
    expect(m).toMatchObject({ from_user_id: id, type: 'text', text: { body: 'STOP' } });
    const p = await waitFor(() => rx.changes().find((x) => x.field === 'user_preferences'), 3000, 'user_preferences');
    expect(p.value.contacts).toEqual([{ user_id: id }]);
    expect(p.value.user_preferences[0].wa_id).toBeUndefined();
    expect(p.value.user_preferences[0]).toMatchObject({ user_id: id, value: 'stop' });
    // Nothing the receiver got names the phone, not even inside a wamid.
    await new Promise((r) => setTimeout(r, 30));
    for (const post of rx.posts) {
      expect(post.raw).not.toContain(TO);
      expect(post.raw).not.toContain(Buffer.from(TO).toString('base64').slice(0, 12));
    }
  });

  it('a send to their phone is refused (131026, sync: no webhook names the phone); sharing again lifts it', async () => {
    const { s, rx } = await t.withReceiver();
    await ctl(s, 'POST', `/users/${TO}`, { username: '@ana', phone_shared: false });
    await ctl(s, 'POST', '/inbound', { from: TO });
    const r = await sendMsg(s, text(TO));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe(131026);
    expect(r.body.error.error_data.details).toContain('business-scoped user ID');
    expect((await ctl(s, 'GET', '/ledger')).body.count).toBe(0);
    await ctl(s, 'POST', `/users/${TO}`, { phone_shared: true });
    expect((await sendMsg(s, text(TO))).status).toBe(200);
    const st = await waitFor(() => rx.statuses().find((x) => x.status === 'sent'), 3000, 'sent');
    expect(st.recipient_id).toBe(TO);
  });

  it('only a customer with a username can hide their phone; clearing the username shares it again', async () => {
    const s = await t.sandbox();
    const r = await ctl(s, 'POST', `/users/${TO}`, { phone_shared: false });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('needs_username');
    expect((await ctl(s, 'POST', `/users/${TO}`, { phone_shared: 'no' })).body.error.code).toBe('bad_phone_shared');
    await ctl(s, 'POST', `/users/${TO}`, { username: '@ana', phone_shared: false });
    expect((await ctl(s, 'GET', `/users/${TO}`)).body.phone_shared).toBe(false);
    await ctl(s, 'POST', `/users/${TO}`, { username: null });
    expect((await ctl(s, 'GET', `/users/${TO}`)).body).toMatchObject({ username: null, phone_shared: true });
  });
});

describe('sending to a business-scoped user id (recipient)', () => {
  const otp = (extra: Record<string, unknown>) => ({
    type: 'template',
    template: {
      name: 'auth_code',
      language: { code: 'en_US' },
      components: [
        { type: 'body', parameters: [{ type: 'text', text: '123456' }] },
        { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: '123456' }] },
      ],
    },
    ...extra,
  });

  it('answers contacts[{input, user_id}] with no wa_id; statuses carry recipient_user_id and contacts', async () => {
    const { s, rx } = await t.withReceiver();
    await ctl(s, 'POST', '/inbound', { from: TO });
    const id = s.state.bsuidOf('sandbox-business', TO);
    const r = await sendMsg(s, { recipient: id, type: 'text', text: { body: 'hello' } });
    expect(r.status).toBe(200);
    expect(r.body.contacts).toEqual([{ input: id, user_id: id }]);
    const sent = await waitFor(() => rx.changes().find((c) => c.value.statuses?.[0].status === 'sent'), 3000, 'sent');
    expect(sent.value.statuses[0]).toMatchObject({ id: r.body.messages[0].id, recipient_id: TO, recipient_user_id: id });
    expect(sent.value.contacts).toEqual([{ wa_id: TO, user_id: id }]);
    expect((await ctl(s, 'GET', '/ledger')).body.sends[0]).toMatchObject({ to: TO, user_id: id, via: 'recipient' });
  });

  it('a username-only customer writes and is answered by BSUID: no phone in any webhook', async () => {
    const { s, rx } = await t.withReceiver();
    await ctl(s, 'POST', `/users/${TO}`, { username: '@ana', phone_shared: false });
    await ctl(s, 'POST', '/inbound', { from: TO, text: { body: 'hi' } });
    const c = await waitFor(() => inbounds(rx)[0], 3000, 'inbound');
    const id = c.value.messages[0].from_user_id;
    const r = await sendMsg(s, { recipient: id, type: 'text', text: { body: 'hello Ana' } });
    expect(r.status).toBe(200);
    expect(r.body.contacts).toEqual([{ input: id, user_id: id }]);
    const st = await waitFor(
      () => {
        const x = rx.changes().filter((y) => y.value.statuses);
        return x.length === 3 && x;
      },
      3000,
      'three statuses',
    );
    for (const x of st) {
      expect(x.value.statuses[0].recipient_id).toBeUndefined();
      expect(x.value.statuses[0].recipient_user_id).toBe(id);
      const status = x.value.statuses[0].status;
      expect(x.value.contacts).toEqual([status === 'sent' ? { user_id: id } : { profile: { username: '@ana' }, user_id: id }]);
    }
    for (const post of rx.posts) expect(post.raw).not.toContain(TO);
  });

  it('with to and recipient, to wins (even when recipient names someone else)', async () => {
    const { s, rx } = await t.withReceiver();
    await ctl(s, 'POST', '/inbound', { from: TO });
    const other = s.state.bsuidOf('sandbox-business', '447700900555');
    const r = await sendMsg(s, { to: TO, recipient: other, type: 'text', text: { body: 'x' } });
    expect(r.status).toBe(200);
    expect(r.body.contacts).toEqual([{ input: TO, wa_id: TO }]);
    const st = await waitFor(() => rx.statuses().find((x) => x.status === 'sent'), 3000, 'sent');
    expect(st.recipient_id).toBe(TO);
    expect(st.recipient_user_id).toBeUndefined();
  });

  it('refuses a malformed BSUID, one never issued, and one of another portfolio (131009)', async () => {
    const s = await t.sandbox({
      numbers: [
        { phone_number_id: PNID, waba_id: WABA, display_phone_number: '+1 555 010 0001' },
        { phone_number_id: PNID2, waba_id: WABA2, display_phone_number: '+1 555 010 0002', business_id: 'other-portfolio' },
      ],
    });
    const bad = await sendMsg(s, { recipient: 'not-a-bsuid', type: 'text', text: { body: 'x' } });
    expect(bad.body.error.code).toBe(131009);
    expect(bad.body.error.error_data.details).toContain('business-scoped user ID');
    const unknown = await sendMsg(s, { recipient: 'US.99999999999999999999', type: 'text', text: { body: 'x' } });
    expect(unknown.body.error.code).toBe(131009);
    const theirs = s.state.bsuidOf('other-portfolio', TO);
    const cross = await sendMsg(s, { recipient: theirs, type: 'text', text: { body: 'x' } });
    expect(cross.body.error.code).toBe(131009);
    expect((await sendMsg(s, { recipient: theirs, type: 'text', text: { body: 'x' } }, { pnid: PNID2 })).status).toBe(200);
    expect((await sendMsg(s, { recipient: 42, type: 'text', text: { body: 'x' } })).body.error.code).toBe(100);
    const none = await sendMsg(s, { type: 'text', text: { body: 'x' } });
    expect(none.body.error.code).toBe(131008);
  });

  it('an authentication template to a BSUID is refused with 131062; to the phone it goes', async () => {
    const s = await t.sandbox();
    const id = s.state.bsuidOf('sandbox-business', TO);
    const r = await sendMsg(s, otp({ recipient: id }));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe(131062);
    expect(r.body.error.message).toBe('(#131062) Business-scoped User ID (BSUID) recipients are not supported for this message');
    expect((await ctl(s, 'GET', '/ledger')).body.count).toBe(0);
    expect((await sendMsg(s, otp({ to: TO }))).status).toBe(200);
    expect((await sendMsg(s, tpl('', 'hello_world', [], { recipient: id }))).status).toBe(200); // utility is fine
  });

  it('rules are per person: a marketing opt-out by phone stops marketing sent by BSUID (131050)', async () => {
    const { s, rx } = await t.withReceiver();
    await ctl(s, 'POST', `/users/${TO}`, { marketing: 'stop' });
    const id = s.state.bsuidOf('sandbox-business', TO);
    const r = await sendMsg(s, tpl('', 'spring_sale', ['20%'], { recipient: id }));
    expect(r.status).toBe(200);
    const f = await waitFor(() => rx.statuses().find((x) => x.status === 'failed'), 3000, 'failed');
    expect(f.errors[0].code).toBe(131050);
    expect(f.recipient_user_id).toBe(id);
  });

  it('rule response_user_id "always" adds user_id to phone-send answers', async () => {
    const s = await t.sandbox();
    expect((await ctl(s, 'POST', '/rules', { response_user_id: 'sometimes' })).body.error.code).toBe('bad_rule');
    await ctl(s, 'POST', '/rules', { response_user_id: 'always' });
    const r = await sendMsg(s, tpl(TO, 'hello_world'));
    expect(r.body.contacts).toEqual([{ input: TO, wa_id: TO, user_id: s.state.bsuidOf('sandbox-business', TO) }]);
  });
});

describe('group messages', () => {
  const GROUP = 'Y2FwaV9ncm91cDoxNTU1MDEwMDAwMToxMjAzNjM0MDUyMzQ1Njc4OQ';

  it('an inbound with group_id carries it and opens the group window, not a 1:1 window with the author', async () => {
    const { s, rx } = await t.withReceiver();
    const r = await ctl(s, 'POST', '/inbound', { from: TO, group_id: GROUP, text: { body: 'hi all' } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ window_open: false, group_window_open: true });
    const c = await waitFor(() => inbounds(rx)[0], 3000, 'inbound');
    expect(c.value.messages[0]).toMatchObject({ from: TO, from_user_id: s.state.bsuidOf('sandbox-business', TO), group_id: GROUP });
    expect(c.value.contacts[0].user_id).toBe(s.state.bsuidOf('sandbox-business', TO));
    // A 1:1 free-form reply to the author is outside any 1:1 window: 131047.
    await sendMsg(s, text(TO));
    const f = await waitFor(() => rx.statuses().find((x) => x.status === 'failed'), 3000, 'failed');
    expect(f.errors[0].code).toBe(131047);
    // Their own 1:1 message opens the 1:1 window as before.
    const one = await ctl(s, 'POST', '/inbound', { from: TO });
    expect(one.body.window_open).toBe(true);
    expect(one.body.group_window_open).toBeUndefined();
    expect((await ctl(s, 'POST', '/inbound', { from: TO, group_id: 'bad id!' })).body.error.code).toBe('bad_group_id');
  });
});
