// Tokens: valid, expiring (debug_token expires_at), revoked → 190 with a subcode, unknown → 190.
import { describe, expect, it } from 'vitest';
import type { SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { ctl, graph, PNID, SECRET, sendMsg, tpl, TOKEN, WABA, useSandboxes } from './helpers.ts';

const t = useSandboxes();
let s: SandboxHandle | null = null;

const to = '447700900123';

describe('access tokens', () => {
  it('unknown or missing token → 190 (401) without error_data', async () => {
    s = await t.sandbox({ statuses: { enabled: false } });
    const r = await sendMsg(s, tpl(to, 'hello_world'), { token: 'EAAnotavalidtoken' });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe(190);
    expect(r.body.error.type).toBe('OAuthException');
    const none = await sendMsg(s, tpl(to, 'hello_world'), { token: null });
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe(190);
    // access_token as a query parameter works like the header.
    const q = await graph(s, 'GET', `/v23.0/${PNID}?access_token=${TOKEN}`, undefined, null);
    expect(q.status).toBe(200);
  });

  it('every configured token works for every number; revoked → 190 with the chosen subcode; valid again restores', async () => {
    s = await t.sandbox({
      tokens: ['tok-a', 'tok-b'],
      numbers: [
        { phone_number_id: PNID, waba_id: WABA, display_phone_number: '+1 555 010 0001' },
        { phone_number_id: '222', waba_id: '333', display_phone_number: '+1 555 010 0002' },
      ],
      statuses: { enabled: false },
    });
    for (const token of ['tok-a', 'tok-b'])
      for (const pnid of [PNID, '222']) expect((await sendMsg(s, tpl(to, 'hello_world'), { token, pnid })).status).toBe(200);
    expect((await ctl(s, 'POST', '/tokens', { token: 'tok-a', state: 'revoked', subcode: 460 })).status).toBe(200);
    const r = await sendMsg(s, tpl(to, 'hello_world'), { token: 'tok-a' });
    expect(r.status).toBe(401);
    expect(r.body.error).toMatchObject({ code: 190, error_subcode: 460, type: 'OAuthException' });
    expect(r.body.error.message).toContain('changed their password');
    expect((await sendMsg(s, tpl(to, 'hello_world'), { token: 'tok-b' })).status).toBe(200);
    // Default revoke subcode is 467 (invalid access token); no token = every token.
    await ctl(s, 'POST', '/tokens', { state: 'revoked' });
    expect((await sendMsg(s, tpl(to, 'hello_world'), { token: 'tok-b' })).body.error.error_subcode).toBe(467);
    await ctl(s, 'POST', '/tokens', { state: 'valid' });
    expect((await sendMsg(s, tpl(to, 'hello_world'), { token: 'tok-a' })).status).toBe(200);
    const list = await ctl(s, 'GET', '/tokens');
    expect(JSON.stringify(list.body)).not.toContain('tok-a');
  });

  it('expiring: debug_token shows expires_at; after it passes → 190 subcode 463', async () => {
    const c = { t: Date.UTC(2026, 0, 1) };
    s = await t.sandbox({ now: () => c.t, statuses: { enabled: false } });
    const exp = Math.floor(c.t / 1000) + 3600;
    await ctl(s, 'POST', '/tokens', { token: TOKEN, state: 'expiring', expires_at: exp });
    const d = await graph(s, 'GET', `/v23.0/debug_token?input_token=${TOKEN}`);
    expect(d.status).toBe(200);
    expect(d.body.data).toMatchObject({ is_valid: true, expires_at: exp, type: 'SYSTEM_USER' });
    expect(d.body.data.scopes).toContain('whatsapp_business_messaging');
    expect(d.body.data.granular_scopes).toContainEqual({ scope: 'whatsapp_business_messaging', target_ids: [WABA] });
    expect((await sendMsg(s, tpl(to, 'hello_world'))).status).toBe(200);
    c.t += 3601_000;
    const r = await sendMsg(s, tpl(to, 'hello_world'));
    expect(r.status).toBe(401);
    expect(r.body.error).toMatchObject({ code: 190, error_subcode: 463 });
    // debug_token with the app token still answers, and says the token is invalid.
    const d2 = await graph(
      s,
      'GET',
      `/v23.0/debug_token?input_token=${TOKEN}&access_token=${encodeURIComponent(`100000000000000|${SECRET}`)}`,
      undefined,
      null,
    );
    expect(d2.body.data.is_valid).toBe(false);
    expect(d2.body.data.error).toMatchObject({ code: 190, subcode: 463 });
  });

  it('debug_token: non-expiring tokens show expires_at 0; unknown input tokens are invalid', async () => {
    s = await t.sandbox({ statuses: { enabled: false } });
    const d = await graph(s, 'GET', `/v25.0/debug_token?input_token=${TOKEN}`);
    expect(d.body.data.expires_at).toBe(0);
    expect(d.body.data.is_valid).toBe(true);
    const u = await graph(s, 'GET', '/v25.0/debug_token?input_token=garbage');
    expect(u.body.data.is_valid).toBe(false);
    const noCaller = await graph(s, 'GET', `/v25.0/debug_token?input_token=${TOKEN}`, undefined, null);
    expect(noCaller.status).toBe(401);
  });

  it('a valid token without the messaging permission → 10; without access to the WABA → 200 (403); debug_token shows both', async () => {
    s = await t.sandbox({ statuses: { enabled: false } });
    await ctl(s, 'POST', '/tokens', { token: TOKEN, state: 'valid', scopes: ['business_management', 'whatsapp_business_management'] });
    const r = await sendMsg(s, tpl(to, 'hello_world'));
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe(10);
    expect((await graph(s, 'GET', `/v23.0/${WABA}/message_templates`)).status).toBe(200);
    const d = await graph(s, 'GET', `/v23.0/debug_token?input_token=${TOKEN}`);
    expect(d.body.data.scopes).not.toContain('whatsapp_business_messaging');
    expect(d.body.data.granular_scopes.map((g: any) => g.scope)).toEqual(['whatsapp_business_management']);
    await ctl(s, 'POST', '/tokens', {
      token: TOKEN,
      state: 'valid',
      scopes: ['business_management', 'whatsapp_business_management', 'whatsapp_business_messaging'],
      waba_ids: ['999'],
    });
    const w = await sendMsg(s, tpl(to, 'hello_world'));
    expect(w.status).toBe(403);
    expect(w.body.error.code).toBe(200);
    expect((await graph(s, 'GET', `/v23.0/debug_token?input_token=${TOKEN}`)).body.data.granular_scopes[0].target_ids).toEqual(['999']);
    await ctl(s, 'POST', '/tokens', { token: TOKEN, state: 'valid', waba_ids: null });
    expect((await sendMsg(s, tpl(to, 'hello_world'))).status).toBe(200);
  });

  it('control route rejects bad input with a clear error', async () => {
    s = await t.sandbox({ statuses: { enabled: false } });
    const r = await ctl(s, 'POST', '/tokens', { state: 'broken' });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'bad_state' });
    expect(r.body.error.fix).toBeTruthy();
  });
});
