// End to end with the real sandbox: it sends signed, batched webhooks (Meta's shapes) to the real
// /webhook route on 127.0.0.1, and the processor applies them to the real store and gate.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { startSandbox, type SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { installErrorHandler } from '../../src/http/errors.ts';
import webhookRoutes from '../../src/http/routes/webhooks.ts';
import { WebhookProcessor } from '../../src/webhooks/processor.ts';
import { GraphClient } from '../../src/meta/client.ts';
import type { Services } from '../../src/http/server.ts';
import { makeCtx, waitFor, message, PNID, WABA, SECRET, type TestCtx } from './helpers.ts';

let t: TestCtx;
let proc: WebhookProcessor;
let app: FastifyInstance;
let sandbox: SandboxHandle;

async function ctl(path: string, body: unknown): Promise<any> {
  const res = await fetch(`${sandbox.url}/_sandbox${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  const json = await res.json();
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

beforeAll(async () => {
  t = await makeCtx();
  t.clock.t = Date.now(); // the sandbox stamps webhooks with real time
  t.ctx.now = () => Date.now();
  proc = new WebhookProcessor(t.ctx);
  await proc.start();
  app = Fastify({ logger: false });
  installErrorHandler(app, t.ctx.log);
  await webhookRoutes(app, t.ctx, { webhooks: proc } as unknown as Services);
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  sandbox = await startSandbox({
    port: 0,
    host: '127.0.0.1',
    app_secret: SECRET,
    webhook_url: `${base}/webhook`,
    numbers: [{ phone_number_id: PNID, waba_id: WABA, display_phone_number: '15550783881', throughput_mps: 80 }],
    tokens: ['sandbox-token-main'],
  });
});

afterAll(async () => {
  await sandbox?.close();
  await app?.close();
  await proc?.stop();
  await t?.close();
});

describe('webhooks sent by the sandbox', () => {
  it('an inbound text opens the window and records the profile name', async () => {
    await ctl('/inbound', {
      phone_number_id: PNID,
      from: '447700900001',
      type: 'text',
      text: { body: 'Hello there' },
      profile_name: 'Ada',
    });
    const w = await waitFor('window', async () => (await t.ctx.store.getWindows('447700900001'))[0]);
    expect(w.sender_id).toBe('main');
    expect((await t.ctx.store.getCustomer('447700900001'))?.profile_name).toBe('Ada');
  });

  it('STOP and the "Stop promotions" button opt out; a referral is recorded', async () => {
    await ctl('/inbound', { phone_number_id: PNID, from: '447700900002', type: 'text', text: { body: 'STOP' } });
    await ctl('/inbound', { phone_number_id: PNID, from: '447700900003', type: 'button' });
    await ctl('/inbound', {
      phone_number_id: PNID,
      from: '447700900004',
      type: 'text',
      text: { body: 'Hi from the ad' },
      referral: {
        source_url: 'https://fb.me/ad',
        source_id: '120',
        source_type: 'ad',
        headline: 'Sale',
        body: 'b',
        media_type: 'image',
        ctwa_clid: 'c1',
      },
    });
    await waitFor('STOP', async () => (await t.ctx.store.getCustomer('447700900002'))?.consent.utility.state === 'opted_out');
    await waitFor('button', async () => (await t.ctx.store.getCustomer('447700900003'))?.consent.marketing.state === 'opted_out');
    expect((await t.ctx.store.getCustomer('447700900003'))?.consent.utility.state).toBe('unknown');
    const w = await waitFor('referral', async () => (await t.ctx.store.getWindows('447700900004'))[0]);
    expect(w.referral_at).not.toBeNull();
  });

  it('the platform marketing stop (user_preferences) opts out of marketing', async () => {
    await ctl('/users/447700900005', { marketing: 'stop', phone_number_id: PNID });
    const c = await waitFor('user_preferences', async () => {
      const cu = await t.ctx.store.getCustomer('447700900005');
      return cu?.consent.marketing.state === 'opted_out' ? cu : null;
    });
    expect(c.consent.marketing.source).toBe('webhook:user_preferences:stop');
  });

  it('statuses of a real send reach the message through biz_opaque_callback_data, monotonic, with pricing', async () => {
    const to = '447700900006';
    await ctl('/inbound', { phone_number_id: PNID, from: to, type: 'text', text: { body: 'hi' } }); // opens the window in the sandbox
    await t.ctx.store.insertMessage(
      message('msg_sbx_1', { to, category: 'service', type: 'text', template_name: null, template_language: null, status: 'sending' }),
    );
    const res = await fetch(`${sandbox.url}/v23.0/${PNID}/messages`, {
      method: 'POST',
      headers: { authorization: 'Bearer sandbox-token-main', 'content-type': 'application/json' },
      body: JSON.stringify({
        messaging_product: 'whatsapp',
        to,
        type: 'text',
        text: { body: 'Thanks!' },
        biz_opaque_callback_data: 'msg_sbx_1',
      }),
    });
    expect(res.status).toBe(200);
    const statuses: string[] = [];
    t.ctx.bus.on('message.status', (m) => m.id === 'msg_sbx_1' && statuses.push(m.status));
    const m = await waitFor('read', async () => {
      const r = await t.ctx.store.getMessage('msg_sbx_1');
      return r?.status === 'read' ? r : null;
    });
    expect(m.wamid).toMatch(/^wamid\./);
    expect(m.pricing).toMatchObject({ pricing_model: 'PMP', category: 'service' });
    expect(statuses.at(-1)).toBe('read');
  });

  it('template PAUSED / quality RED from the sandbox update the record and alert', async () => {
    await t.ctx.store.upsertTemplate({
      waba_id: WABA,
      name: 'spring_sale',
      language: 'en_US',
      category: 'marketing',
      status: 'APPROVED',
      quality: 'GREEN',
      components: [],
      meta_id: null,
      updated_at: 1,
    });
    await ctl('/templates/spring_sale', { status: 'PAUSED', quality: 'RED' });
    const rec = await waitFor('paused', async () => {
      const r = await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US');
      return r?.status === 'PAUSED' && r.quality === 'RED' ? r : null;
    });
    expect(rec.category).toBe('marketing');
    await t.alerts.flush();
    expect((await t.ctx.store.listAlerts({})).map((a) => a.kind)).toEqual(expect.arrayContaining(['template_paused', 'quality_dropped']));
  });

  it('an account update reaches the bus and the sender health', async () => {
    const got: any[] = [];
    t.ctx.bus.on('meta.account_update', (e) => got.push(e));
    await ctl('/webhooks/emit', {
      field: 'account_update',
      value: { event: 'ACCOUNT_VIOLATION', violation_info: { violation_type: 'ADULT' } },
    });
    await waitFor('account_update', async () => got.length > 0);
    expect(got[0]).toMatchObject({ event: 'ACCOUNT_VIOLATION', stop_sending: true, sender_ids: ['main'] });
  });

  it('archive, unarchive and a components edit from the sandbox (Meta 2026): the previous status comes back, components follow', async () => {
    // wagate asks Meta (here the sandbox) for what a webhook does not carry.
    const graph = new GraphClient({ api_url: sandbox.url, api_version: 'v25.0', connect_timeout_ms: 1_000, request_timeout_ms: 2_000 });
    const before = t.ctx.meta;
    t.ctx.meta = graph;
    try {
      await t.ctx.store.upsertTemplate({
        waba_id: WABA,
        name: 'order_update',
        language: 'en_US',
        category: 'utility',
        status: 'PAUSED',
        quality: 'YELLOW',
        components: [{ type: 'BODY', text: 'Hi {{1}}, your order {{2}} has shipped.' }],
        meta_id: null,
        updated_at: 1,
      });
      await ctl('/templates/order_update', { status: 'PAUSED' }); // the sandbox agrees it is paused
      await ctl('/templates/order_update', { status: 'ARCHIVED' });
      await waitFor('archived', async () => (await t.ctx.store.getTemplate(WABA, 'order_update', 'en_US'))?.status === 'ARCHIVED');
      await ctl('/templates/order_update', { status: 'UNARCHIVED' });
      await waitFor('unarchived', async () => (await t.ctx.store.getTemplate(WABA, 'order_update', 'en_US'))?.status === 'PAUSED');
      // A template wagate never synced, archived and unarchived: nothing kept, so Meta's status is asked for.
      await ctl('/templates/hello_world', { status: 'ARCHIVED' });
      await waitFor('fetched', async () => (await t.ctx.store.getTemplate(WABA, 'hello_world', 'en_US'))?.status === 'ARCHIVED');
      await ctl('/templates/hello_world', { status: 'UNARCHIVED' });
      const hw = await waitFor('restored', async () => {
        const r = await t.ctx.store.getTemplate(WABA, 'hello_world', 'en_US');
        return r?.status === 'APPROVED' ? r : null;
      });
      expect(JSON.stringify(hw.components)).toContain('Welcome and congratulations');
      // A components edit: the webhook (Meta's shape) makes wagate take the template's new components.
      await ctl('/templates/order_update', {
        components: [
          { type: 'BODY', text: 'Hi {{1}}, order {{2}} left our warehouse on {{3}}.' },
          { type: 'BUTTONS', buttons: [{ type: 'URL', text: 'Track', url: 'https://shop.example/t/{{1}}' }] },
        ],
      });
      const ou = await waitFor('components', async () => {
        const r = await t.ctx.store.getTemplate(WABA, 'order_update', 'en_US');
        return JSON.stringify(r?.components).includes('warehouse') ? r : null;
      });
      expect(JSON.stringify(ou.components)).toContain('https://shop.example/t/{{1}}');
    } finally {
      t.ctx.meta = before;
      await graph.close();
    }
  });

  it('restriction, offboarding and a limit change from the sandbox (Meta 2026 shapes) reach the gate and the sender', async () => {
    await ctl(`/numbers/${PNID}`, { restriction: { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', remediation: 'Review your templates.' } });
    const h = await waitFor('restriction', async () => {
      const r = await t.ctx.store.getSenderHealth('main');
      return Array.isArray(r?.data.sender_restrictions) && r.data.sender_restrictions.length ? r : null;
    });
    expect((h.data.sender_restrictions as any[])[0]).toMatchObject({
      type: 'RESTRICTED_BIZ_INITIATED_MESSAGING',
      remediation: 'Review your templates.',
    });
    // Offboarding and reconnection reach the bus as the sender health monitor acts on them (it pauses / lifts).
    const got: any[] = [];
    t.ctx.bus.on('meta.account_update', (e) => got.push(e));
    await ctl(`/numbers/${PNID}`, { offboarded: true });
    await ctl(`/numbers/${PNID}`, { offboarded: false });
    await waitFor('offboarded and reconnected', async () => got.length >= 2);
    expect(got.map((e) => [e.event, e.stop_sending, e.sender_ids])).toEqual([
      ['ACCOUNT_OFFBOARDED', true, ['main']],
      ['ACCOUNT_RECONNECTED', false, ['main']],
    ]);
    await ctl(`/numbers/${PNID}`, { messaging_limit: 100_000 });
    await waitFor('portfolio limit', async () => (await t.ctx.store.getSetting('portfolio_limit:biz')) !== null);
    // Leave the sender (and the sandbox, which enforces the restriction on its sends) as the next tests expect them.
    await ctl(`/numbers/${PNID}`, { restriction: { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', lift: true, silent: true } });
    await t.ctx.gate.setSenderRestrictions('main', []);
  });

  it('a sandbox told to sign wrongly is refused (401) and nothing is applied', async () => {
    await fetch(`${sandbox.url}/_sandbox/webhooks`, {
      method: 'POST',
      body: JSON.stringify({ signature: 'invalid' }),
      headers: { 'content-type': 'application/json' },
    });
    await ctl('/inbound', { phone_number_id: PNID, from: '447700900007', type: 'text', text: { body: 'STOP' } });
    await waitFor('a refused delivery in the sandbox log', async () => {
      const log = (await (await fetch(`${sandbox.url}/_sandbox/webhooks/log`)).json()) as any;
      return JSON.stringify(log.log).includes('401');
    });
    expect(await t.ctx.store.getCustomer('447700900007')).toBeNull();
    await fetch(`${sandbox.url}/_sandbox/webhooks`, {
      method: 'POST',
      body: JSON.stringify({ signature: 'valid' }),
      headers: { 'content-type': 'application/json' },
    });
  });
});
