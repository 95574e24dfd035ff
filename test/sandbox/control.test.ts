// The control API (/_sandbox) and the management endpoints: ledger, faults (incl. hang), numbers,
// templates (control, create/approve/delete/list), inbound of every type, events, reset.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { ctl, graph, PNID, type sandbox, sendMsg, tpl, TOKEN, waitFor, WABA, type Receiver, useSandboxes } from './helpers.ts';

const t = useSandboxes();
let s: SandboxHandle | null = null;
let rx: Receiver | null = null;

async function setup(opts: Parameters<typeof sandbox>[0] = {}) {
  ({ s, rx } = await t.withReceiver(opts));
  return { s, rx };
}
const TO = '447700900123';

describe('ledger', () => {
  it('records every accepted send with wamid, to, type, biz_opaque_callback_data, at; not the refused ones', async () => {
    s = await t.sandbox({ statuses: { enabled: false } });
    const a = await sendMsg(s, tpl(TO, 'hello_world', [], { biz_opaque_callback_data: 'msg_a' }));
    await sendMsg(s, tpl(TO, 'no_such_template'));
    const b = await sendMsg(s, tpl('447700900124', 'order_update', ['x', 'y']));
    const l = await ctl(s, 'GET', `/ledger?phone_number_id=${PNID}`);
    expect(l.body.sends).toHaveLength(2);
    expect(l.body.sends[0]).toMatchObject({ wamid: a.body.messages[0].id, to: TO, type: 'template', biz_opaque_callback_data: 'msg_a' });
    expect(Date.parse(l.body.sends[0].at)).toBeGreaterThan(0);
    expect(l.body.sends[1]).toMatchObject({ wamid: b.body.messages[0].id, biz_opaque_callback_data: null });
    expect((await ctl(s, 'GET', '/ledger?phone_number_id=999')).body.sends).toHaveLength(0);
    expect((await ctl(s, 'GET', '/ledger?biz_opaque_callback_data=msg_a')).body.sends).toHaveLength(1);
  });
});

describe('memory guards', () => {
  it('ledger_max drops the oldest entries and says how many; sweep forgets full pair buckets and old marketing counts', async () => {
    const c = { t: Date.UTC(2026, 0, 1) };
    s = await t.sandbox({ now: () => c.t, rules: { ledger_max: 10 }, statuses: { enabled: false } });
    for (let i = 0; i < 12; i++) await sendMsg(s, tpl(`4477009001${10 + i}`, 'spring_sale', ['x']));
    const l = await ctl(s, 'GET', '/ledger');
    expect(l.body.sends.length).toBeLessThanOrEqual(10);
    expect(l.body.dropped + l.body.sends.length).toBe(12);
    expect(s.state.pair.size).toBe(12);
    expect(s.state.marketing.size).toBe(12);
    c.t += 1_000; // a sixth of a token back: not full yet
    s.state.sweep();
    expect(s.state.pair.size).toBe(12);
    c.t += 24 * 3600_000;
    s.state.sweep();
    expect(s.state.pair.size).toBe(0);
    expect(s.state.marketing.size).toBe(0);
  });
});

describe('faults', () => {
  it('count: the next N sends fail with the status and a Meta-shaped body; nothing reaches the ledger', async () => {
    s = await t.sandbox({ statuses: { enabled: false } });
    expect((await ctl(s, 'POST', '/faults', { status: 503, count: 2 })).status).toBe(200);
    const r1 = await sendMsg(s, tpl(TO, 'hello_world'));
    const r2 = await sendMsg(s, tpl(TO, 'hello_world'));
    const r3 = await sendMsg(s, tpl(TO, 'hello_world'));
    expect([r1.status, r2.status, r3.status]).toEqual([503, 503, 200]);
    expect(r1.body.error.code).toBe(2);
    expect(s.state.ledger).toHaveLength(1);
    // Management calls are not affected by a messages-scoped fault.
    await ctl(s, 'POST', '/faults', { status: 500, count: 1 });
    expect((await graph(s, 'GET', `/v23.0/${PNID}`)).status).toBe(200);
    expect((await sendMsg(s, tpl(TO, 'hello_world'))).body.error.code).toBe(131000);
  });

  it('code: any Meta error can be injected with its title (131048 spam rate limit)', async () => {
    s = await t.sandbox({ statuses: { enabled: false } });
    await ctl(s, 'POST', '/faults', { status: 400, code: 131048 });
    const r = await sendMsg(s, tpl(TO, 'hello_world'));
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 131048, message: '(#131048) Spam rate limit hit', type: 'OAuthException' });
  });

  it('seconds: an outage for a time window', async () => {
    const c = { t: 1_000_000 };
    s = await t.sandbox({ now: () => c.t, statuses: { enabled: false } });
    await ctl(s, 'POST', '/faults', { status: 500, seconds: 10 });
    expect((await sendMsg(s, tpl(TO, 'hello_world'))).status).toBe(500);
    expect((await sendMsg(s, tpl(TO, 'hello_world'))).status).toBe(500);
    c.t += 10_001;
    expect((await sendMsg(s, tpl(TO, 'hello_world'))).status).toBe(200);
  });

  it('hang: the request never gets an answer, but Meta took it (ledger + status webhooks carry the id)', async () => {
    await setup();
    await ctl(s!, 'POST', '/faults', { status: 'hang', count: 1 });
    const p = request(`${s!.url}/v23.0/${PNID}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', ...tpl(TO, 'hello_world', [], { biz_opaque_callback_data: 'msg_doubt' }) }),
      headersTimeout: 300,
    });
    await expect(p).rejects.toThrow();
    const entry = s!.state.ledger.find((l) => l.biz_opaque_callback_data === 'msg_doubt');
    expect(entry).toBeDefined();
    const st = await waitFor(
      () => rx!.statuses().find((x) => x.biz_opaque_callback_data === 'msg_doubt' && x.status === 'sent'),
      3000,
      'status of the in-doubt send',
    );
    expect(st.id).toBe(entry!.wamid);
    // The fault is used up: the next send is answered.
    expect((await sendMsg(s!, tpl(TO, 'hello_world'))).status).toBe(200);
  });

  it('accept: a 500 answer for a send Meta actually processed (maybe-sent)', async () => {
    s = await t.sandbox({ statuses: { enabled: false } });
    await ctl(s, 'POST', '/faults', { status: 500, accept: true });
    const r = await sendMsg(s, tpl(TO, 'hello_world', [], { biz_opaque_callback_data: 'msg_m' }));
    expect(r.status).toBe(500);
    expect(s.state.ledger.map((l) => l.biz_opaque_callback_data)).toEqual(['msg_m']);
  });

  it('bad fault input → 400 with a fix', async () => {
    s = await t.sandbox({ statuses: { enabled: false } });
    const r = await ctl(s, 'POST', '/faults', { status: 200 });
    expect(r.status).toBe(400);
    expect(r.body.error.fix).toContain('503');
  });
});

describe('numbers', () => {
  it('GET /{pnid} fields, GET /{waba}/phone_numbers, and control changes with webhooks', async () => {
    await setup();
    const def = await graph(s!, 'GET', `/v23.0/${PNID}`);
    expect(def.body).toEqual({
      display_phone_number: '+1 555 010 0001',
      verified_name: 'Sandbox Business',
      quality_rating: 'GREEN',
      id: PNID,
    });
    const f = await graph(
      s!,
      'GET',
      `/v23.0/${PNID}?fields=quality_rating,throughput,messaging_limit_tier,whatsapp_business_manager_messaging_limit`,
    );
    expect(f.body).toEqual({
      quality_rating: 'GREEN',
      throughput: { level: 'STANDARD' },
      messaging_limit_tier: 'TIER_250',
      whatsapp_business_manager_messaging_limit: 'TIER_250',
      id: PNID,
    });
    const r = await ctl(s!, 'POST', `/numbers/${PNID}`, { quality_rating: 'RED', messaging_limit: 'TIER_10K', throughput_mps: 1000 });
    expect(r.status).toBe(200);
    const f2 = await graph(s!, 'GET', `/v23.0/${PNID}?fields=quality_rating,throughput,messaging_limit_tier`);
    expect(f2.body).toMatchObject({ quality_rating: 'RED', throughput: { level: 'HIGH' }, messaging_limit_tier: 'TIER_10K' });
    // Meta since Oct 2025 / Feb 2026: the limit is the portfolio's, an integer in business_capability_update;
    // the quality update keeps THROUGHPUT_UPGRADE, without current_limit (changes-2026 §3.1).
    const events = await waitFor(
      () => {
        const e = rx!.changes().filter((c) => c.field === 'phone_number_quality_update' || c.field === 'business_capability_update');
        return e.length === 2 && e;
      },
      3000,
      'quality and capability updates',
    );
    expect(events.find((e) => e.field === 'phone_number_quality_update')!.value).toEqual({
      display_phone_number: expect.any(String),
      event: 'THROUGHPUT_UPGRADE',
      max_daily_conversations_per_business: 'TIER_UNLIMITED',
    });
    expect(events.find((e) => e.field === 'business_capability_update')!.value).toMatchObject({
      max_daily_conversations_per_business: 10_000,
    });
    expect(rx!.posts.every((p) => typeof p.body.entry[0].time === 'number')).toBe(true);
    const list = await graph(s!, 'GET', `/v23.0/${WABA}/phone_numbers`);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).toMatchObject({ id: PNID, quality_rating: 'RED', platform_type: 'CLOUD_API' });
    expect((await graph(s!, 'GET', '/v23.0/424242/phone_numbers')).body.error.error_subcode).toBe(33);
    // A new number can be added (with its WABA, which gets the seed templates).
    expect((await ctl(s!, 'POST', '/numbers/555', { waba_id: '777' })).status).toBe(200);
    expect((await sendMsg(s!, tpl(TO, 'hello_world'), { pnid: '555' })).status).toBe(200);
  });
});

describe('WABA management budget', () => {
  it('counts management calls per WABA in X-Business-Use-Case-Usage and answers 80007 past the hourly budget', async () => {
    const c = { t: Date.UTC(2026, 0, 1) };
    s = await t.sandbox({ now: () => c.t, rules: { waba_calls_per_hour: 4 }, statuses: { enabled: false } });
    const usage = async (path: string) => {
      const res = await fetch(`${s!.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const body = (await res.json()) as any;
      return { status: res.status, body, usage: JSON.parse(res.headers.get('x-business-use-case-usage') ?? 'null') };
    };
    const a = await usage(`/v23.0/${WABA}/message_templates`);
    expect(a.status).toBe(200);
    expect(a.usage[WABA][0]).toMatchObject({ type: 'whatsapp_business_management', call_count: 25, estimated_time_to_regain_access: 0 });
    await usage(`/v23.0/${WABA}/phone_numbers`);
    await usage(`/v23.0/${WABA}`);
    expect((await usage(`/v23.0/${WABA}/message_templates`)).usage[WABA][0].call_count).toBe(100);
    const over = await usage(`/v23.0/${WABA}/message_templates`);
    expect(over.status).toBe(400);
    expect(over.body.error.code).toBe(80007);
    expect(over.usage[WABA][0].estimated_time_to_regain_access).toBe(60);
    // Sends are not management calls.
    expect((await sendMsg(s, tpl(TO, 'hello_world'))).status).toBe(200);
    c.t += 3600_001;
    expect((await usage(`/v23.0/${WABA}/message_templates`)).status).toBe(200);
  });
});

describe('templates', () => {
  it('lists the seeds with paging; creation goes PENDING → APPROVED with the status webhook; delete', async () => {
    // Review long enough that the PENDING checks below never race the approval.
    await setup({ rules: { template_review_ms: 400 } });
    const l = await graph(s!, 'GET', `/v23.0/${WABA}/message_templates?limit=3`);
    expect(l.body.data.map((t: any) => t.name)).toEqual(['hello_world', 'order_update', 'spring_sale']);
    const l2 = await graph(s!, 'GET', `/v23.0/${WABA}/message_templates?limit=3&after=${l.body.paging.cursors.after}`);
    expect(l2.body.data.map((t: any) => t.name)).toEqual(['auth_code']);
    expect(l2.body.data[0]).toMatchObject({ category: 'AUTHENTICATION', status: 'APPROVED', language: 'en_US' });

    const bad = await graph(s!, 'POST', `/v23.0/${WABA}/message_templates`, {
      name: 'Bad Name',
      language: 'en_US',
      category: 'UTILITY',
      components: [{ type: 'BODY', text: 'x' }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe(100);
    const c = await graph(s!, 'POST', `/v23.0/${WABA}/message_templates`, {
      name: 'shipping_note',
      language: 'en_US',
      category: 'UTILITY',
      components: [{ type: 'BODY', text: 'Your parcel {{1}} ships today.' }],
    });
    expect(c.status).toBe(200);
    expect(c.body).toMatchObject({ status: 'PENDING', category: 'UTILITY' });
    expect((await sendMsg(s!, tpl(TO, 'shipping_note', ['P1']))).body.error.code).toBe(132001);
    const ev = await waitFor(() => rx!.changes().find((x) => x.field === 'message_template_status_update'), 3000, 'status update');
    expect(ev.value).toMatchObject({
      event: 'APPROVED',
      message_template_name: 'shipping_note',
      message_template_language: 'en_US',
      message_template_id: Number(c.body.id),
    });
    expect((await sendMsg(s!, tpl(TO, 'shipping_note', ['P1']))).status).toBe(200);
    expect((await graph(s!, 'GET', `/v23.0/${c.body.id}?fields=status`)).body).toEqual({ status: 'APPROVED', id: c.body.id });
    const dup = await graph(s!, 'POST', `/v23.0/${WABA}/message_templates`, {
      name: 'shipping_note',
      language: 'en_US',
      category: 'UTILITY',
      components: [{ type: 'BODY', text: 'x' }],
    });
    expect(dup.body.error.code).toBe(100);
    // Edit: components replaced, back through review; the category of an approved template is fixed.
    expect((await graph(s!, 'POST', `/v23.0/${c.body.id}`, { category: 'MARKETING' })).body.error.code).toBe(100);
    expect(
      (await graph(s!, 'POST', `/v23.0/${c.body.id}`, { components: [{ type: 'BODY', text: 'Parcel {{1}} from {{2}} ships.' }] })).body,
    ).toEqual({ success: true });
    expect((await sendMsg(s!, tpl(TO, 'shipping_note', ['P1', 'Shop']))).body.error.code).toBe(132001);
    await waitFor(() => rx!.changes().filter((x) => x.field === 'message_template_status_update').length === 2, 3000, 'approved again');
    expect((await sendMsg(s!, tpl(TO, 'shipping_note', ['P1', 'Shop']))).status).toBe(200);
    expect((await sendMsg(s!, tpl(TO, 'shipping_note', ['P1']))).body.error.code).toBe(132000);
    const del = await graph(s!, 'DELETE', `/v23.0/${WABA}/message_templates?name=shipping_note`);
    expect(del.body).toEqual({ success: true });
    expect((await sendMsg(s!, tpl(TO, 'shipping_note', ['P1']))).body.error.code).toBe(132001);
  });

  it('control: status, quality and category changes each send their webhook', async () => {
    await setup();
    expect((await ctl(s!, 'POST', '/templates/spring_sale', { status: 'PAUSED', quality: 'RED' })).status).toBe(200);
    expect((await ctl(s!, 'POST', '/templates/order_update', { category: 'MARKETING' })).status).toBe(200);
    const fields = await waitFor(
      () => {
        const f = rx!.changes().map((c) => c.field);
        return f.length >= 3 && f;
      },
      3000,
      'three events',
    );
    expect(fields.sort()).toEqual(['message_template_quality_update', 'message_template_status_update', 'template_category_update']);
    const st = rx!.changes().find((c) => c.field === 'message_template_status_update')!;
    expect(st.value).toMatchObject({ event: 'PAUSED', message_template_name: 'spring_sale', other_info: { title: 'FIRST_PAUSE' } });
    const q = rx!.changes().find((c) => c.field === 'message_template_quality_update')!;
    expect(q.value).toMatchObject({ previous_quality_score: 'GREEN', new_quality_score: 'RED' });
    const cat = rx!.changes().find((c) => c.field === 'template_category_update')!;
    expect(cat.value).toMatchObject({ previous_category: 'UTILITY', new_category: 'MARKETING' });
    expect((await ctl(s!, 'POST', '/templates/nope', { status: 'PAUSED' })).status).toBe(404);
    expect((await ctl(s!, 'POST', '/templates/spring_sale', { status: 'SLEEPY' })).status).toBe(400);
  });
});

const m0 = (c: { value: any }) => c.value.messages[0];

describe('inbound generator', () => {
  it('every §7.4 type arrives as a messages webhook with contacts and metadata', async () => {
    await setup();
    const types = [
      'text',
      'image',
      'video',
      'document',
      'audio',
      'sticker',
      'location',
      'contacts',
      'interactive',
      'button',
      'order',
      'system',
      'unsupported',
    ];
    for (const type of types)
      expect((await ctl(s!, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type, profile_name: 'Ann' })).status).toBe(200);
    const r = await ctl(s!, 'POST', '/inbound', {
      phone_number_id: PNID,
      from: TO,
      type: 'reaction',
      reaction: { message_id: 'wamid.Q', emoji: '❤' },
      profile_name: 'Ann',
    });
    expect(r.status).toBe(200);
    const msgs = await waitFor(
      () => {
        const m = rx!.changes().filter((c) => c.field === 'messages');
        return m.length === types.length + 1 && m;
      },
      3000,
      'all inbound',
    );
    for (const c of msgs) {
      expect(c.value.messaging_product).toBe('whatsapp');
      expect(c.value.metadata.phone_number_id).toBe(PNID);
      expect(c.value.contacts[0]).toEqual({ profile: { name: 'Ann' }, wa_id: TO, user_id: expect.stringMatching(/^GB\.\d{20}$/) });
      expect(m0(c).from_user_id).toBe(c.value.contacts[0].user_id);
      const m = c.value.messages[0];
      expect(m.from).toBe(TO);
      expect(m.id).toMatch(/^wamid\./);
      expect(m.timestamp).toMatch(/^\d+$/);
      expect(m[m.type] ?? m.errors).toBeDefined();
    }
    const img = msgs.find((c) => c.value.messages[0].type === 'image')!.value.messages[0].image;
    expect(img).toMatchObject({ mime_type: 'image/jpeg' });
    expect(img.id && img.sha256 && img.url).toBeTruthy();
    expect(msgs.find((c) => c.value.messages[0].type === 'unsupported')!.value.messages[0].errors[0].code).toBe(131051);
  });

  it('bad inbound input → 400/404 with a fix, never a crash', async () => {
    s = await t.sandbox();
    expect((await ctl(s, 'POST', '/inbound', { phone_number_id: PNID, from: 'abc' })).body.error.code).toBe('bad_from');
    expect((await ctl(s, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type: 'hologram' })).status).toBe(400);
    expect((await ctl(s, 'POST', '/inbound', { phone_number_id: '1', from: TO })).status).toBe(404);
    expect((await graph(s, 'POST', '/_sandbox/inbound', '{oops', null)).status).toBe(400);
    expect((await ctl(s, 'GET', '/nope')).status).toBe(404);
    expect((await ctl(s, 'POST', '/inbound', { phone_number_id: PNID, from: TO, timestamp: 'yesterday' })).body.error.code).toBe(
      'bad_timestamp',
    );
    expect((await ctl(s, 'POST', '/rules', { pair_burst: 'many' })).body.error.code).toBe('bad_rule');
    expect((await ctl(s, 'POST', '/rules', { pair_burst: -1 })).body.error.code).toBe('bad_rule');
    expect((await ctl(s, 'POST', '/webhooks', { sent_ms: 'soon' })).body.error.code).toBe('bad_option');
    expect((await ctl(s, 'POST', '/webhooks', { duplicates: 2 })).body.error.code).toBe('bad_option');
    expect((await ctl(s, 'POST', '/webhooks', { url: 'not a url' })).body.error.code).toBe('bad_option');
    expect((await ctl(s, 'POST', '/faults', { status: 503, count: 'two' })).body.error.code).toBe('bad_fault');
    expect(s.state.rules.pair_burst).toBe(45);
  });

  it('emits any management field (account_update) signed and timed', async () => {
    await setup();
    await ctl(s!, 'POST', '/webhooks/emit', {
      field: 'account_update',
      value: { event: 'DISABLED_UPDATE', ban_info: { waba_ban_state: 'DISABLE' } },
    });
    const c = await waitFor(() => rx!.changes().find((x) => x.field === 'account_update'), 3000, 'account_update');
    expect(c.value.event).toBe('DISABLED_UPDATE');
  });
});

describe('media', () => {
  it('upload (multipart) → id → GET /{media_id} → 5-minute URL that needs the token; inbound media resolve too', async () => {
    const c = { t: Date.UTC(2026, 0, 1) };
    s = await t.sandbox({ now: () => c.t, statuses: { enabled: false } });
    const form = new FormData();
    form.set('messaging_product', 'whatsapp');
    form.set('type', 'image/png');
    form.set('file', new Blob([Buffer.from('PNGDATA')], { type: 'image/png' }), 'a.png');
    const up = await fetch(`${s.url}/v23.0/${PNID}/media`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: form });
    const { id } = (await up.json()) as { id: string };
    expect(up.status).toBe(200);
    const info = await graph(s, 'GET', `/v23.0/${id}`);
    expect(info.body).toMatchObject({ messaging_product: 'whatsapp', mime_type: 'image/png', file_size: 7, id });
    expect(info.body.sha256).toBe(createHash('sha256').update('PNGDATA').digest('base64'));
    const dl = await fetch(info.body.url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(dl.status).toBe(200);
    expect(Buffer.from(await dl.arrayBuffer()).toString()).toBe('PNGDATA');
    expect((await fetch(info.body.url)).status).toBe(401);
    c.t += 5 * 60_000 + 1;
    expect((await fetch(info.body.url, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    expect((await sendMsg(s, { to: TO, type: 'image', image: { id } })).status).toBe(200);
    const bad = await fetch(`${s.url}/v23.0/${PNID}/media`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(((await bad.json()) as any).error.code).toBe(100);
    // Inbound media: its id resolves and its sha256 matches the bytes served.
    const inb = await ctl(s, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type: 'document' });
    const doc = inb.body.message.document;
    const dinfo = await graph(s, 'GET', `/v23.0/${doc.id}`);
    expect(dinfo.body.sha256).toBe(doc.sha256);
    expect((await graph(s, 'DELETE', `/v23.0/${id}`)).body).toEqual({ success: true });
    expect((await graph(s, 'GET', `/v23.0/${id}`)).body.error.error_subcode).toBe(33);
  });
});

describe('reset', () => {
  it('empties ledger, windows, opt-outs, faults and template changes; tokens and numbers back to config', async () => {
    s = await t.sandbox({ statuses: { enabled: false } });
    await sendMsg(s, tpl(TO, 'hello_world'));
    await ctl(s, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type: 'text' });
    await ctl(s, 'POST', '/optout', { wa_id: TO });
    await ctl(s, 'POST', '/faults', { status: 500, count: 5 });
    await ctl(s, 'POST', '/templates/hello_world', { status: 'DISABLED' });
    await ctl(s, 'POST', '/tokens', { state: 'revoked' });
    await ctl(s, 'POST', `/numbers/${PNID}`, { throughput_mps: 5 });
    expect((await ctl(s, 'POST', '/reset')).status).toBe(200);
    expect((await ctl(s, 'GET', '/ledger')).body.sends).toEqual([]);
    expect(s.state.windows.size).toBe(0);
    expect(s.state.optouts.size).toBe(0);
    expect((await ctl(s, 'GET', '/faults')).body.faults).toEqual([]);
    expect(s.state.numbers.get(PNID)!.throughput_mps).toBe(80);
    expect((await sendMsg(s, tpl(TO, 'hello_world'))).status).toBe(200);
  });
});
