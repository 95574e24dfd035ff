// End to end against the sandbox (issue 14): the Marketing Messages API route (changes-2026.md §4) and
// Direct Send (§6). A real wagate (createApp, embedded queue, SQLite) sends to the in-process sandbox,
// whose ledger is Meta's record of what arrived where; the sandbox answers 131063 and 139200 on demand.
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.ts';
import { endpointFor, marketingRoute } from '../../src/engine/marketing.ts';
import { recipient, startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const promo = (to: string) => ({
  to,
  type: 'template',
  template: {
    name: 'spring_sale',
    language: { code: 'en_US' },
    components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }] }],
  },
});
const orderUpdate = (to: string) => ({
  to,
  type: 'template',
  template: {
    name: 'order_update',
    language: { code: 'en-US' }, // Meta means en_US: wagate sends that
    components: [
      {
        type: 'body',
        parameters: [
          { type: 'text', text: 'Ana' },
          { type: 'text', text: 'A-1' },
        ],
      },
    ],
  },
});
const directSend = (to: string, extra: Record<string, unknown> = {}) => ({
  to,
  type: 'text',
  text: { body: 'Your order A-1 has shipped.' },
  category: 'utility',
  ...extra,
});

async function statusOf(id: string, want: (s: string) => boolean): Promise<any> {
  return waitFor(`message ${id}`, async () => {
    const r = await h!.get(`/v1/messages/${id}`);
    return want(r.json.status) ? r.json : null;
  });
}

describe('Marketing Messages API routing', () => {
  it('a WABA with marketing disabled on Cloud API answers 131063 on /messages: dead-lettered with the routing fix', async () => {
    h = await startHarness();
    await h.sandbox('POST', '/_sandbox/rules', { disable_marketing_messages_on_cloud_api: true });
    const r = await h.post(promo(recipient(1)));
    expect(r.status).toBe(202);
    await statusOf(r.json.id, (s) => s === 'dead_lettered' || s === 'failed');
    const dl = ((await h.get('/v1/dead-letters')).json.dead_letters as any[]).find((d) => d.message_id === r.json.id);
    expect(dl.reason_code).toMatch(/131063/);
    expect(dl.fix).toMatch(/marketing_endpoint: marketing_messages/);
  });

  it('routed per sender: marketing templates go to /marketing_messages, utility ones and Direct Send stay on /messages', async () => {
    h = await startHarness({ sender: { marketing_endpoint: 'marketing_messages' } });
    await h.sandbox('POST', '/_sandbox/rules', { disable_marketing_messages_on_cloud_api: true });
    const m = await h.post(promo(recipient(2)));
    const u = await h.post(orderUpdate(recipient(3)));
    const d = await h.post(directSend(recipient(4), { ttl_seconds: 600 }));
    for (const r of [m, u, d]) expect(r.status, JSON.stringify(r.json)).toBe(202);
    for (const r of [m, u, d]) await statusOf(r.json.id, (s) => ['sent', 'delivered', 'read'].includes(s));
    const sends = (await h.ledger()) as any[];
    const by = (id: string) => sends.find((s) => s.biz_opaque_callback_data === id);
    expect(by(m.json.id)).toMatchObject({ template: 'spring_sale', category: 'marketing', endpoint: 'marketing_messages' });
    expect(by(u.json.id)).toMatchObject({ template: 'order_update', category: 'utility' });
    expect(by(u.json.id).endpoint).toBeUndefined();
    // Direct Send outside any window: the sandbox (as Meta) takes it as a business-initiated utility message.
    expect(by(d.json.id)).toMatchObject({ type: 'text', category: 'utility', outcome: null, direct_send: { ttl_seconds: 600 } });
  });
});

describe('131064 answered synchronously', () => {
  it('pauses the sender and holds its portfolio, as the webhook path does (critical alert)', async () => {
    h = await startHarness();
    await h.sandbox('POST', '/_sandbox/faults', { status: 400, code: 131064, count: 1 });
    const r = await h.post(orderUpdate(recipient(9)));
    expect(r.status).toBe(202);
    await waitFor('paused', async () => h!.ctx.senders.status('main').state === 'paused');
    expect(h.ctx.senders.status('main').reason_code).toBe('META_131064');
    const a = await waitFor('portfolio alert', () => h!.ctx.store.getAlertByDedupeKey('meta_131064:delivery-test'));
    expect(a).toMatchObject({ severity: 'critical', sender_id: 'main' });
  });
});

describe('where a marketing template goes (config)', () => {
  const cfg = ConfigSchema.parse({
    meta: { marketing_messages_wabas: [102290129340398] }, // a number in YAML: read as the id
    senders: [
      { id: 'a', phone_number_id: '1000001', waba_id: '102290129340398' },
      { id: 'b', phone_number_id: '1000002', waba_id: '102290129340398', marketing_endpoint: 'messages' },
      { id: 'c', phone_number_id: '1000003', waba_id: '200000000000001' },
      { id: 'd', phone_number_id: '1000004', waba_id: '200000000000001', marketing_endpoint: 'marketing_messages' },
    ],
  });
  it('the WABA list routes every number in it; a sender setting wins; only marketing templates move', () => {
    const s = (id: string) => cfg.senders.find((x) => x.id === id)!;
    expect(['a', 'b', 'c', 'd'].map((id) => marketingRoute(cfg, s(id)))).toEqual([
      'marketing_messages',
      'messages',
      'messages',
      'marketing_messages',
    ]);
    expect(endpointFor(cfg, s('d'), { category: 'marketing', type: 'template' })).toBe('marketing_messages');
    expect(endpointFor(cfg, s('d'), { category: 'utility', type: 'template' })).toBe('messages');
    expect(endpointFor(cfg, s('d'), { category: 'service', type: 'text' })).toBe('messages');
  });
  it('a bad value is refused naming the key', () => {
    const r = ConfigSchema.safeParse({
      senders: [{ id: 'x', phone_number_id: '1000001', waba_id: '102290129340398', marketing_endpoint: 'mm' }],
    });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain('marketing_endpoint');
  });
});

describe('Direct Send against the sandbox', () => {
  it('139200 on demand: dead-lettered, then the next Direct Send is refused at the gate while templates still go', async () => {
    h = await startHarness();
    await h.sandbox('POST', '/_sandbox/rules', { direct_send_blocked: true });
    const first = await h.post(directSend(recipient(5)));
    expect(first.status).toBe(202);
    await statusOf(first.json.id, (s) => s === 'dead_lettered' || s === 'failed');
    const second = await h.post(directSend(recipient(6)));
    expect(second.status).toBe(422);
    expect(second.json.decision).toMatchObject({ allowed: false, reason_code: 'SENDER_RESTRICTED' });
    const tpl = await h.post(orderUpdate(recipient(7)));
    expect(tpl.status).toBe(202);
  });

  it("the sandbox answers Meta's error 100 for a TTL out of bounds that reaches it", async () => {
    h = await startHarness();
    const r = await fetch(`${h.sandboxUrl}/v25.0/106540352242922/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sandbox-token-main' },
      body: JSON.stringify({ messaging_product: 'whatsapp', ...directSend(recipient(8), { ttl_seconds: 50_000 }) }),
    });
    const j = (await r.json()) as any;
    expect(r.status).toBe(400);
    expect(j.error).toMatchObject({ code: 100 });
    expect(j.error.error_data.details).toMatch(/43200/);
  });
});
