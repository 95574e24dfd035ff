// The rules Meta enforces: throughput and pair buckets (sync), the care window, marketing cap,
// opt-out, undeliverable numbers and the US marketing pause (async failed statuses).
import { describe, expect, it } from 'vitest';
import type { SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { ctl, PNID, type sandbox, sendMsg, text, tpl, waitFor, WABA, type Receiver, useSandboxes } from './helpers.ts';

const t = useSandboxes();
let s: SandboxHandle | null = null;
let rx: Receiver | null = null;

function clock(start = Date.UTC(2026, 0, 1)) {
  const c = { t: start, now: () => c.t };
  return c;
}

async function withReceiver(opts: Parameters<typeof sandbox>[0] = {}) {
  ({ s, rx } = await t.withReceiver(opts));
  return { s, rx };
}

async function failedCode(r: Receiver, wamid: string): Promise<number> {
  const st = await waitFor(() => r.statuses().find((x) => x.id === wamid && x.status === 'failed'), 3000, `failed status for ${wamid}`);
  return st.errors[0].code;
}

describe('throughput bucket (130429)', () => {
  it('allows one second of tokens, then 130429 until the bucket refills', async () => {
    const c = clock();
    s = await t.sandbox({
      now: c.now,
      numbers: [{ phone_number_id: PNID, waba_id: WABA, display_phone_number: '+1 555 010 0001', throughput_mps: 5 }],
      statuses: { enabled: false },
    });
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push((await sendMsg(s, tpl(`4477009001${10 + i}`, 'hello_world'))).body.error?.code ?? 200);
    expect(codes).toEqual([200, 200, 200, 200, 200, 130429, 130429]);
    const r = await sendMsg(s, tpl('447700900199', 'hello_world'));
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe('(#130429) Rate limit hit');
    c.t += 200; // 5 mps → one token per 200 ms
    expect((await sendMsg(s, tpl('447700900198', 'hello_world'))).status).toBe(200);
    expect((await sendMsg(s, tpl('447700900197', 'hello_world'))).body.error.code).toBe(130429);
  });

  it('refused requests (validation, unknown template) take no token', async () => {
    const c = clock();
    s = await t.sandbox({
      now: c.now,
      numbers: [{ phone_number_id: PNID, waba_id: WABA, display_phone_number: '+1 555 010 0001', throughput_mps: 2 }],
      statuses: { enabled: false },
    });
    for (let i = 0; i < 5; i++) expect((await sendMsg(s, tpl('447700900111', 'no_such_template'))).body.error.code).toBe(132001);
    for (let i = 0; i < 3; i++) expect((await sendMsg(s, text('1'))).body.error.code).toBe(131009);
    expect((await sendMsg(s, tpl('447700900111', 'hello_world'))).status).toBe(200);
    expect((await sendMsg(s, tpl('447700900112', 'hello_world'))).status).toBe(200);
    expect((await sendMsg(s, tpl('447700900113', 'hello_world'))).body.error.code).toBe(130429);
  });

  it('defaults to 80 mps and can be raised to 1,000 through the control API', async () => {
    const c = clock();
    s = await t.sandbox({ now: c.now, statuses: { enabled: false } });
    let ok = 0;
    for (let i = 0; i < 85; i++) if ((await sendMsg(s, tpl(`44770090${1000 + i}`, 'hello_world'))).status === 200) ok++;
    expect(ok).toBe(80);
    expect((await ctl(s, 'POST', `/numbers/${PNID}`, { throughput_mps: 2000 })).status).toBe(400);
    expect((await ctl(s, 'POST', `/numbers/${PNID}`, { throughput_mps: 1000 })).status).toBe(200);
    ok = 0;
    for (let i = 0; i < 200; i++) if ((await sendMsg(s, tpl(`44770091${1000 + i}`, 'hello_world'))).status === 200) ok++;
    expect(ok).toBe(200);
  });
});

describe('pair limit (131056)', () => {
  it('bursts 45 to one user, then 131056; one more every 6 s; other users unaffected', async () => {
    const c = clock();
    s = await t.sandbox({
      now: c.now,
      numbers: [{ phone_number_id: PNID, waba_id: WABA, display_phone_number: '+1 555 010 0001', throughput_mps: 1000 }],
      statuses: { enabled: false },
    });
    const to = '447700900123';
    let ok = 0;
    for (let i = 0; i < 45; i++) if ((await sendMsg(s, tpl(to, 'hello_world'))).status === 200) ok++;
    expect(ok).toBe(45);
    const r = await sendMsg(s, tpl(to, 'hello_world'));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe(131056);
    expect((await sendMsg(s, tpl('447700900124', 'hello_world'))).status).toBe(200);
    c.t += 5_000;
    expect((await sendMsg(s, tpl(to, 'hello_world'))).body.error.code).toBe(131056);
    c.t += 1_000;
    expect((await sendMsg(s, tpl(to, 'hello_world'))).status).toBe(200);
    expect((await sendMsg(s, tpl(to, 'hello_world'))).body.error.code).toBe(131056);
    // After a 20-message burst a user needs ≈ 120 s to be back to full (§4.2).
    c.t += 20 * 6_000;
    ok = 0;
    for (let i = 0; i < 21; i++) if ((await sendMsg(s, tpl(to, 'hello_world'))).status === 200) ok++;
    expect(ok).toBe(20);
  });
});

describe('customer care window (131047)', () => {
  it('free-form outside the window is accepted, then fails async with 131047; an inbound opens the window', async () => {
    await withReceiver();
    const to = '447700900300';
    const r = await sendMsg(s!, text(to, 'hello', { biz_opaque_callback_data: 'msg_1' }));
    expect(r.status).toBe(200);
    const wamid = r.body.messages[0].id;
    const failed = await waitFor(() => rx!.statuses().find((x) => x.id === wamid), 3000, 'status');
    expect(failed.status).toBe('failed');
    expect(failed.errors[0]).toMatchObject({ code: 131047, title: 'Re-engagement message', message: 'Re-engagement message' });
    expect(failed.biz_opaque_callback_data).toBe('msg_1');
    expect(
      rx!
        .statuses()
        .filter((x) => x.id === wamid)
        .map((x) => x.status),
    ).toEqual(['failed']);

    await ctl(s!, 'POST', '/inbound', { phone_number_id: PNID, from: to, type: 'text', text: { body: 'hi' } });
    const ok = await sendMsg(s!, text(to, 'hello again'));
    const id2 = ok.body.messages[0].id;
    await waitFor(() => rx!.statuses().find((x) => x.id === id2 && x.status === 'read'), 3000, 'read');
    expect(
      rx!
        .statuses()
        .filter((x) => x.id === id2)
        .map((x) => x.status),
    ).toEqual(['sent', 'delivered', 'read']);
  });

  it('the window closes 24 h after the last inbound; sync mode answers 131047 at once', async () => {
    const c = clock();
    await withReceiver({ now: c.now, rules: { window_mode: 'sync' } });
    const to = '447700900301';
    await ctl(s!, 'POST', '/inbound', { phone_number_id: PNID, from: to, type: 'text', timestamp: Math.floor(c.t / 1000) });
    c.t += 23 * 3600_000;
    expect((await sendMsg(s!, text(to))).status).toBe(200);
    c.t += 3600_000;
    const r = await sendMsg(s!, text(to));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe(131047);
    // Templates are allowed outside the window.
    expect((await sendMsg(s!, tpl(to, 'hello_world'))).status).toBe(200);
  });
});

describe('marketing rules', () => {
  it('per-user marketing cap (default 2 / 24 h across numbers) → async 131049', async () => {
    const c = clock();
    await withReceiver({
      now: c.now,
      numbers: [
        { phone_number_id: PNID, waba_id: WABA, display_phone_number: '+1 555 010 0001' },
        { phone_number_id: '222', waba_id: '333', display_phone_number: '+1 555 010 0002' },
      ],
    });
    const to = '447700900400';
    const a = await sendMsg(s!, tpl(to, 'spring_sale', ['Ann']));
    const b = await sendMsg(s!, tpl(to, 'spring_sale', ['Ann']), { pnid: '222' });
    const x = await sendMsg(s!, tpl(to, 'spring_sale', ['Ann']));
    expect([a.status, b.status, x.status]).toEqual([200, 200, 200]);
    expect(await failedCode(rx!, x.body.messages[0].id)).toBe(131049);
    // Utility is not capped.
    const u = await sendMsg(s!, tpl(to, 'order_update', ['Ann', 'A1']));
    await waitFor(
      () => rx!.statuses().find((st) => st.id === u.body.messages[0].id && st.status === 'delivered'),
      3000,
      'utility delivered',
    );
    c.t += 24 * 3600_000 + 1;
    const y = await sendMsg(s!, tpl(to, 'spring_sale', ['Ann']));
    await waitFor(
      () => rx!.statuses().find((st) => st.id === y.body.messages[0].id && st.status === 'delivered'),
      3000,
      'delivered after 24h',
    );
    expect(s!.state.ledger.filter((l) => l.outcome === 131049)).toHaveLength(1);
  });

  it('user_preferences stop → webhook, then marketing fails async with 131050; resume restores', async () => {
    await withReceiver({ rules: { marketing_cap: 0 } });
    const to = '447700900500';
    expect((await ctl(s!, 'POST', `/users/${to}`, { marketing: 'stop' })).status).toBe(200);
    const pref = await waitFor(() => rx!.changes().find((c) => c.field === 'user_preferences'), 3000, 'user_preferences');
    expect(pref.value.user_preferences[0]).toMatchObject({ wa_id: to, category: 'marketing_messages', value: 'stop' });
    expect(pref.value.metadata.phone_number_id).toBe(PNID);
    const m = await sendMsg(s!, tpl(to, 'spring_sale', ['Ann']));
    expect(m.status).toBe(200);
    expect(await failedCode(rx!, m.body.messages[0].id)).toBe(131050);
    // Utility still goes through.
    const u = await sendMsg(s!, tpl(to, 'order_update', ['Ann', 'A1']));
    await waitFor(
      () => rx!.statuses().find((st) => st.id === u.body.messages[0].id && st.status === 'delivered'),
      3000,
      'utility delivered',
    );
    await ctl(s!, 'POST', '/optout', { wa_id: to, value: 'resume' });
    const m2 = await sendMsg(s!, tpl(to, 'spring_sale', ['Ann']));
    await waitFor(
      () => rx!.statuses().find((st) => st.id === m2.body.messages[0].id && st.status === 'delivered'),
      3000,
      'marketing delivered after resume',
    );
  });

  it('marketing to US numbers → async 131049 (paused since 1 Apr 2025); Canada is not paused', async () => {
    await withReceiver({ rules: { marketing_cap: 0 } });
    const us = await sendMsg(s!, tpl('+1 212 555 0123', 'spring_sale', ['Ann']));
    expect(us.status).toBe(200);
    expect(await failedCode(rx!, us.body.messages[0].id)).toBe(131049);
    const ca = await sendMsg(s!, tpl('+1 416 555 0123', 'spring_sale', ['Ann']));
    await waitFor(() => rx!.statuses().find((st) => st.id === ca.body.messages[0].id && st.status === 'delivered'), 3000, 'CA delivered');
  });

  it('messaging limit (opt-in, code configurable): unique users outside the window per 24 h', async () => {
    const c = clock();
    await withReceiver({
      now: c.now,
      rules: { messaging_limit_code: 131056 },
      numbers: [{ phone_number_id: PNID, waba_id: WABA, display_phone_number: '+1 555 010 0001', messaging_limit: 'TIER_50' }],
    });
    const outcomes: (number | null)[] = [];
    for (let i = 0; i < 52; i++) await sendMsg(s!, tpl(`4477009${String(30000 + i)}`, 'hello_world'));
    outcomes.push(...s!.state.ledger.map((l) => l.outcome));
    expect(outcomes.filter((o) => o === null)).toHaveLength(50);
    expect(outcomes.slice(50)).toEqual([131056, 131056]);
    // A user already reached counts once; a user in their care window does not count.
    await sendMsg(s!, tpl('447700930000', 'hello_world'));
    await ctl(s!, 'POST', '/inbound', { phone_number_id: PNID, from: '447700939999', type: 'text' });
    await sendMsg(s!, tpl('447700939999', 'hello_world'));
    expect(s!.state.ledger.slice(-2).map((l) => l.outcome)).toEqual([null, null]);
    const failed = await waitFor(() => rx!.statuses().find((x) => x.status === 'failed'), 3000, 'failed status');
    expect(failed.errors[0].code).toBe(131056);
    c.t += 24 * 3600_000;
    await sendMsg(s!, tpl('447700938888', 'hello_world'));
    expect(s!.state.ledger.at(-1)!.outcome).toBeNull();
  });

  it('undeliverable numbers → async 131026 for any message', async () => {
    await withReceiver();
    const to = '447700900600';
    await ctl(s!, 'POST', '/undeliverable', { wa_id: to });
    const r = await sendMsg(s!, tpl(to, 'hello_world'));
    expect(await failedCode(rx!, r.body.messages[0].id)).toBe(131026);
    await ctl(s!, 'POST', `/users/${to}`, { undeliverable: false });
    const r2 = await sendMsg(s!, tpl(to, 'hello_world'));
    await waitFor(() => rx!.statuses().find((st) => st.id === r2.body.messages[0].id && st.status === 'delivered'), 3000, 'delivered');
  });
});
