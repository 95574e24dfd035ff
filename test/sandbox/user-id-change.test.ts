// Meta gives a customer a new business-scoped user id (changes-2026.md §1.1, system message
// `user_changed_user_id`): the sandbox issues it, tells the gateway the way Meta does, and stops
// resolving the old one.
import { describe, expect, it } from 'vitest';
import { ctl, sendMsg, text, waitFor, useSandboxes } from './helpers.ts';

const t = useSandboxes();

describe('sandbox: a customer gets a new BSUID', () => {
  it('sends the system message (old BSUID in from_user_id, the new one in system.user_id, no contacts); the old BSUID stops resolving', async () => {
    const { s, rx } = await t.withReceiver();
    const wa = '447700900301';
    const before = (await ctl(s, 'GET', `/users/${wa}`)).body.user_ids['sandbox-business'] as string;
    const r = await ctl(s, 'POST', `/users/${wa}`, { change_user_id: true });
    expect(r.status).toBe(200);
    const after = r.body.user_ids['sandbox-business'] as string;
    expect(after).toMatch(/^GB\.\d{20}$/);
    expect(after).not.toBe(before);
    expect(r.body.user_id_changed).toEqual({ business_id: 'sandbox-business', from: before, to: after });
    const change = await waitFor(() => rx.changes().find((c) => c.field === 'messages' && c.value.messages), 3000, 'system message');
    expect(change.value.contacts).toBeUndefined();
    const m = change.value.messages[0];
    expect(m).toMatchObject({ from: wa, from_user_id: before, type: 'system' });
    expect(m.system).toEqual({
      body: `User Sandbox Customer changed from ${before} to ${after}`,
      user_id: after,
      type: 'user_changed_user_id',
    });
    expect(m.system.wa_id).toBeUndefined();
    // The new BSUID reaches the customer; the old one is no longer theirs.
    await ctl(s, 'POST', '/inbound', { from: wa, text: { body: 'hi' } });
    expect((await sendMsg(s, { recipient: after, type: 'text', text: { body: 'hello' } })).status).toBe(200);
    const old = await sendMsg(s, { recipient: before, type: 'text', text: { body: 'hello' } });
    expect(old.status).toBe(400);
    expect(old.body.error.code).toBe(131009);
    // By phone nothing changed.
    expect((await sendMsg(s, text(wa))).status).toBe(200);
  });

  it('a username-only customer: the system message names no phone anywhere', async () => {
    const { s, rx } = await t.withReceiver();
    const wa = '447700900302';
    await ctl(s, 'POST', `/users/${wa}`, { username: '@bea', phone_shared: false });
    await ctl(s, 'POST', `/users/${wa}`, { change_user_id: true });
    const change = await waitFor(() => rx.changes().find((c) => c.field === 'messages' && c.value.messages), 3000, 'system message');
    expect(change.value.messages[0].from).toBeUndefined();
    expect(JSON.stringify(change.value)).not.toContain(wa);
    expect(change.value.messages[0].system.body).toMatch(/^User @bea changed from /);
  });

  it('refuses a change_user_id that is not true, and an unknown number, saying what to send', async () => {
    const s = await t.sandbox();
    const bad = await ctl(s, 'POST', '/users/447700900303', { change_user_id: 'yes' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('bad_change_user_id');
    const unknown = await ctl(s, 'POST', '/users/447700900303', { change_user_id: true, phone_number_id: '999' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.fix).toMatch(/phone_number_id/);
  });
});
