// Status and inbound webhooks: signature, batching, retries, duplicates, ordering, pricing.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { ctl, FAST, PNID, SECRET, sandbox, sendMsg, text, tpl, waitFor, WABA, type Receiver, useSandboxes } from './helpers.ts';

const t = useSandboxes();
let s: SandboxHandle | null = null;
let rx: Receiver | null = null;

async function setup(opts: Parameters<typeof sandbox>[0] = {}) {
  ({ s, rx } = await t.withReceiver(opts));
  return { s, rx };
}

function verify(raw: string, header: string | undefined, secret: string): boolean {
  if (!header?.startsWith('sha256=')) return false;
  const want = Buffer.from(createHmac('sha256', secret).update(raw).digest('hex'));
  const got = Buffer.from(header.slice(7));
  return want.length === got.length && timingSafeEqual(want, got);
}

const TO = '447700900123';

describe('signing', () => {
  it('X-Hub-Signature-256 is the HMAC-SHA256 of the raw body with the app secret; non-ASCII is \\u-escaped', async () => {
    await setup();
    await ctl(s!, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type: 'text', text: { body: 'olá 👋' }, profile_name: 'Zoë' });
    const p = await waitFor(() => rx!.posts[0], 3000, 'inbound webhook');
    expect(verify(p.raw, p.headers['x-hub-signature-256'] as string, SECRET)).toBe(true);
    expect(verify(p.raw, p.headers['x-hub-signature-256'] as string, 'other-secret')).toBe(false);
    expect(p.raw).toContain('ol\\u00e1 \\ud83d\\udc4b');
    expect(p.raw).not.toContain('olá');
    expect(p.body.entry[0].changes[0].value.messages[0].text.body).toBe('olá 👋');
    // Re-serialising the parsed JSON gives different bytes: receivers must HMAC the raw body.
    expect(verify(JSON.stringify(p.body), p.headers['x-hub-signature-256'] as string, SECRET)).toBe(false);
  });

  it('test modes: a wrong signature, or none', async () => {
    await setup();
    await ctl(s!, 'POST', '/webhooks', { signature: 'invalid' });
    await ctl(s!, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type: 'text' });
    const p = await waitFor(() => rx!.posts[0], 3000, 'post');
    expect(p.headers['x-hub-signature-256']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verify(p.raw, p.headers['x-hub-signature-256'] as string, SECRET)).toBe(false);
    await ctl(s!, 'POST', '/webhooks', { signature: 'none' });
    await ctl(s!, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type: 'text' });
    const p2 = await waitFor(() => rx!.posts[1], 3000, 'post 2');
    expect(p2.headers['x-hub-signature-256']).toBeUndefined();
  });
});

describe('batching', () => {
  it('many statuses leave in few POSTs, several changes per POST, one entry per WABA', async () => {
    await setup({
      numbers: [{ phone_number_id: PNID, waba_id: WABA, display_phone_number: '+1 555 010 0001', throughput_mps: 1000 }],
      statuses: { ...FAST, read: false },
      webhooks: { batch_ms: 200 },
    }); // wide flush window: robust on a loaded machine
    const N = 200;
    await Promise.all(Array.from({ length: N }, (_, i) => sendMsg(s!, tpl(`4477009${String(10000 + i)}`, 'hello_world'))));
    await waitFor(() => rx!.statuses().length >= 2 * N, 5000, 'all statuses');
    expect(rx!.statuses()).toHaveLength(2 * N);
    expect(rx!.posts.length).toBeLessThan(N / 4);
    const big = rx!.posts.reduce((m, p) => Math.max(m, p.body.entry[0].changes.length), 0);
    expect(big).toBeGreaterThan(10);
    for (const p of rx!.posts) {
      expect(p.body.object).toBe('whatsapp_business_account');
      expect(p.body.entry).toHaveLength(1);
      expect(p.body.entry[0].id).toBe(WABA);
    }
  });

  it('caps a POST at max_batch changes', async () => {
    await setup({
      numbers: [{ phone_number_id: PNID, waba_id: WABA, display_phone_number: '+1 555 010 0001', throughput_mps: 1000 }],
      statuses: { ...FAST, read: false, skip_delivered: true },
      webhooks: { batch_ms: 50, max_batch: 7 },
    });
    await Promise.all(Array.from({ length: 30 }, (_, i) => sendMsg(s!, tpl(`4477009${String(20000 + i)}`, 'hello_world'))));
    await waitFor(() => rx!.statuses().length >= 30, 5000, 'statuses');
    for (const p of rx!.posts) expect(p.body.entry.reduce((n: number, e: any) => n + e.changes.length, 0)).toBeLessThanOrEqual(7);
  });
});

describe('retries', () => {
  it('a receiver answering 500 gets the same signed body again until it answers 200', async () => {
    rx = await t.receiver();
    rx.respond = (n) => (n <= 2 ? 500 : 200);
    s = await t.sandbox({ webhook_url: rx.url, statuses: FAST, webhooks: { retry_base_ms: 20 } });
    await ctl(s, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type: 'text' });
    await waitFor(() => rx!.posts.length >= 3, 5000, 'three attempts');
    expect(rx.posts.map((p) => p.status)).toEqual([500, 500, 200]);
    expect(new Set(rx.posts.map((p) => p.raw)).size).toBe(1);
    expect(new Set(rx.posts.map((p) => p.headers['x-hub-signature-256'])).size).toBe(1);
    const log = await ctl(s, 'GET', '/webhooks/log');
    expect(log.body.log.map((e: any) => [e.attempt, e.status, e.ok])).toEqual([
      [1, 500, false],
      [2, 500, false],
      [3, 200, true],
    ]);
    expect(log.body.stats.delivered_changes).toBe(1);
  });

  it('a receiver that is down (connection refused) gets everything once it is up; nothing lost', async () => {
    rx = await t.receiver();
    const url = rx.url;
    await rx.close();
    s = await t.sandbox({ webhook_url: url, statuses: FAST, webhooks: { retry_base_ms: 20, retry_max_ms: 100 } });
    const r = await sendMsg(s, tpl(TO, 'hello_world', [], { biz_opaque_callback_data: 'msg_x' }));
    await waitFor(() => s!.state.webhooks.stats.failed_attempts >= 2, 3000, 'failed attempts');
    rx = await t.receiver();
    s.setWebhookUrl(rx.url);
    await waitFor(() => rx!.statuses().filter((x) => x.id === r.body.messages[0].id).length === 3, 5000, 'all three statuses');
    expect(await s.state.webhooks.drain(2000)).toBe(true);
  });

  it('close() does not wait for a receiver that never answers', async () => {
    const { createServer } = await import('node:http');
    const hung = createServer(() => undefined);
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', () => r()));
    const own = await sandbox({ webhook_url: `http://127.0.0.1:${(hung.address() as { port: number }).port}/webhook` });
    await ctl(own, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type: 'text' });
    await waitFor(() => own.state.webhooks.backlog().inflight === 1, 3000, 'a POST in flight');
    const t0 = Date.now();
    await own.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    hung.closeAllConnections();
    hung.close();
  });

  it('changes wait for a URL when none is set yet', async () => {
    s = await t.sandbox({ statuses: FAST });
    await ctl(s, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type: 'text' });
    await new Promise((r) => setTimeout(r, 50));
    rx = await t.receiver();
    await ctl(s, 'POST', '/webhooks', { url: rx.url });
    await waitFor(() => rx!.changes().length === 1, 3000, 'parked change');
  });
});

describe('status sequence options', () => {
  it('default: sent → delivered → read, biz_opaque_callback_data on every status, pricing on sent and delivered only', async () => {
    await setup();
    const r = await sendMsg(s!, tpl(TO, 'order_update', ['a', 'b'], { biz_opaque_callback_data: 'msg_42' }));
    const id = r.body.messages[0].id;
    await waitFor(() => rx!.statuses().filter((x) => x.id === id).length === 3, 3000, 'three statuses');
    const sts = rx!.statuses().filter((x) => x.id === id);
    expect(sts.map((x) => x.status)).toEqual(['sent', 'delivered', 'read']);
    for (const st of sts) {
      expect(st.biz_opaque_callback_data).toBe('msg_42');
      expect(st.recipient_id).toBe(TO);
      expect(st.timestamp).toMatch(/^\d+$/);
    }
    expect(sts[0].pricing).toEqual({ billable: true, pricing_model: 'PMP', type: 'regular', category: 'utility' });
    expect(sts[1].pricing).toEqual(sts[0].pricing);
    expect(sts[2].pricing).toBeUndefined();
    // v23: a conversation object on sent (with expiration) and on delivered.
    expect(sts[0].conversation.origin.type).toBe('utility');
    expect(sts[0].conversation.expiration_timestamp).toMatch(/^\d+$/);
    const change = rx!.changes().find((c) => c.value.statuses?.[0]?.id === id)!;
    expect(change.value.metadata).toEqual({ display_phone_number: '15550100001', phone_number_id: PNID });
  });

  /** A sandbox clock that runs from `start` (the pricing rules follow the day of the send). */
  const clockAt = (start: number) => {
    const shift = start - Date.now();
    return () => Date.now() + shift;
  };

  it('pricing before 1 Oct 2026: service in the window is free, utility in the window is free, v24+ omits conversation', async () => {
    await setup({ now: clockAt(Date.UTC(2026, 8, 30, 12)) });
    await ctl(s!, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type: 'text' });
    const a = await sendMsg(s!, text(TO), { version: 'v24.0' });
    const b = await sendMsg(s!, tpl(TO, 'order_update', ['a', 'b']), { version: 'v24.0' });
    const m = await sendMsg(s!, tpl(TO, 'spring_sale', ['a']), { version: 'v24.0' });
    const sentOf = (id: string) => rx!.statuses().find((x) => x.id === id && x.status === 'sent');
    await waitFor(
      () => sentOf(a.body.messages[0].id) && sentOf(b.body.messages[0].id) && sentOf(m.body.messages[0].id),
      3000,
      'sent statuses',
    );
    expect(sentOf(a.body.messages[0].id).pricing).toEqual({
      billable: false,
      pricing_model: 'PMP',
      type: 'free_customer_service',
      category: 'service',
    });
    expect(sentOf(b.body.messages[0].id).pricing).toEqual({
      billable: false,
      pricing_model: 'PMP',
      type: 'free_customer_service',
      category: 'utility',
    });
    expect(sentOf(m.body.messages[0].id).pricing).toEqual({ billable: true, pricing_model: 'PMP', type: 'regular', category: 'marketing' });
    expect(sentOf(a.body.messages[0].id).conversation).toBeUndefined();
  });

  it('pricing from 1 Oct 2026: service is free within the monthly allowance, then billable; utility in the window is billable', async () => {
    await setup({ now: clockAt(Date.UTC(2026, 9, 1, 0, 0, 5)) });
    await ctl(s!, 'POST', '/rules', { service_free_allowance: 1 });
    await ctl(s!, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type: 'text' });
    const a = await sendMsg(s!, text(TO), { version: 'v25.0' });
    const a2 = await sendMsg(s!, text(TO, 'second'), { version: 'v25.0' });
    const b = await sendMsg(s!, tpl(TO, 'order_update', ['a', 'b']), { version: 'v25.0' });
    const sentOf = (id: string) => rx!.statuses().find((x) => x.id === id && x.status === 'sent');
    const ids = [a, a2, b].map((r) => r.body.messages[0].id as string);
    await waitFor(() => ids.every((id) => sentOf(id)), 3000, 'sent statuses');
    expect(sentOf(ids[0]).pricing).toEqual({ billable: false, pricing_model: 'PMP', type: 'free_customer_service', category: 'service' });
    expect(sentOf(ids[1]).pricing).toEqual({ billable: true, pricing_model: 'PMP', type: 'regular', category: 'service' });
    expect(sentOf(ids[2]).pricing).toEqual({ billable: true, pricing_model: 'PMP', type: 'regular', category: 'utility' });
  });

  it('template archive, unarchive (back to the status before) and a components edit are sent as Meta sends them', async () => {
    await setup();
    await ctl(s!, 'POST', '/templates/order_update', { status: 'PAUSED' });
    await ctl(s!, 'POST', '/templates/order_update', { status: 'ARCHIVED' });
    const un = await ctl(s!, 'POST', '/templates/order_update', { status: 'UNARCHIVED' });
    expect(un.body.templates[0].status).toBe('PAUSED');
    await ctl(s!, 'POST', '/templates/order_update', {
      components: [
        { type: 'HEADER', format: 'TEXT', text: 'Order update' },
        { type: 'BODY', text: 'Order {{1}} shipped.' },
        { type: 'FOOTER', text: 'Acme' },
        {
          type: 'BUTTONS',
          buttons: [
            { type: 'QUICK_REPLY', text: 'Stop' },
            { type: 'URL', text: 'Track', url: 'https://t.example/{{1}}' },
          ],
        },
      ],
    });
    await waitFor(() => rx!.changes().some((c) => c.field === 'message_template_components_update'), 3000, 'components webhook');
    const events = rx!
      .changes()
      .filter((c) => c.field === 'message_template_status_update')
      .map((c) => c.value.event);
    expect(events).toEqual(['PAUSED', 'ARCHIVED', 'UNARCHIVED']);
    const comp = rx!.changes().find((c) => c.field === 'message_template_components_update')!.value;
    expect(comp).toMatchObject({
      message_template_name: 'order_update',
      message_template_language: 'en_US',
      message_template_element: 'Order {{1}} shipped.',
      message_template_title: 'Order update',
      message_template_footer: 'Acme',
      message_template_buttons: [
        {
          message_template_button_type: 'URL',
          message_template_button_text: 'Track',
          message_template_button_url: 'https://t.example/{{1}}',
        },
      ],
    });
    expect(typeof comp.message_template_id).toBe('number');
  });

  it('click-to-WhatsApp: a reply opens a free entry point window (free_entry_point pricing)', async () => {
    await setup();
    await ctl(s!, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type: 'text', referral: { source_id: 'ad1' } });
    const r = await sendMsg(s!, text(TO), { version: 'v24.0' });
    const st = await waitFor(() => rx!.statuses().find((x) => x.id === r.body.messages[0].id && x.status === 'sent'), 3000, 'sent');
    expect(st.pricing).toEqual({ billable: false, pricing_model: 'PMP', type: 'free_entry_point', category: 'referral_conversion' });
    expect(st.conversation.origin.type).toBe('referral_conversion');
  });

  it('skip_delivered: read arrives without delivered and carries the pricing', async () => {
    await setup();
    await ctl(s!, 'POST', '/webhooks', { skip_delivered: true });
    const r = await sendMsg(s!, tpl(TO, 'hello_world'));
    const id = r.body.messages[0].id;
    await waitFor(() => rx!.statuses().find((x) => x.id === id && x.status === 'read'), 3000, 'read');
    await new Promise((res) => setTimeout(res, 30));
    const sts = rx!.statuses().filter((x) => x.id === id);
    expect(sts.map((x) => x.status)).toEqual(['sent', 'read']);
    expect(sts[1].pricing).toBeDefined();
  });

  it('out_of_order: read, delivered, sent', async () => {
    await setup();
    await ctl(s!, 'POST', '/webhooks', { out_of_order: true });
    const r = await sendMsg(s!, tpl(TO, 'hello_world'));
    const id = r.body.messages[0].id;
    await waitFor(() => rx!.statuses().filter((x) => x.id === id).length === 3, 3000, 'three statuses');
    expect(
      rx!
        .statuses()
        .filter((x) => x.id === id)
        .map((x) => x.status),
    ).toEqual(['read', 'delivered', 'sent']);
  });

  it('duplicates: 1.0 sends every status twice', async () => {
    await setup();
    await ctl(s!, 'POST', '/webhooks', { duplicates: 1 });
    const r = await sendMsg(s!, tpl(TO, 'hello_world'));
    const id = r.body.messages[0].id;
    await waitFor(() => rx!.statuses().filter((x) => x.id === id).length === 6, 3000, 'six statuses');
    const counts: Record<string, number> = {};
    for (const st of rx!.statuses().filter((x) => x.id === id)) counts[st.status] = (counts[st.status] ?? 0) + 1;
    expect(counts).toEqual({ sent: 2, delivered: 2, read: 2 });
  });

  it('reactions produce only sent; read receipts off stop at delivered', async () => {
    await setup();
    await ctl(s!, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type: 'text' });
    await ctl(s!, 'POST', '/webhooks', { read: false });
    const r = await sendMsg(s!, { to: TO, type: 'reaction', reaction: { message_id: 'wamid.X', emoji: '👍' } });
    const t = await sendMsg(s!, text(TO));
    await waitFor(() => rx!.statuses().find((x) => x.id === t.body.messages[0].id && x.status === 'delivered'), 3000, 'delivered');
    await new Promise((res) => setTimeout(res, 40));
    expect(
      rx!
        .statuses()
        .filter((x) => x.id === r.body.messages[0].id)
        .map((x) => x.status),
    ).toEqual(['sent']);
    expect(
      rx!
        .statuses()
        .filter((x) => x.id === t.body.messages[0].id)
        .map((x) => x.status),
    ).toEqual(['sent', 'delivered']);
  });
});
