// The agent story over MCP Streamable HTTP (/mcp on the real HTTP server), driven by the real SDK
// client, against the in-process Meta sandbox: closed window → denied with fitting templates; template
// → queued → delivered; inbound STOP → marketing denied; explain_error 190 → fix steps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  bodyOf,
  expectExplainedRefusal,
  expectToolList,
  PHONE_NUMBER_ID,
  postJson,
  startWagate,
  waitFor,
  type Running,
  type ToolCallResult,
} from './helpers.ts';

let w: Running;
let client: Client;
const CUSTOMER = '+44 7700 900123';
const WA_ID = '447700900123';

const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args }) as Promise<ToolCallResult>;

beforeAll(async () => {
  w = await startWagate({}, { workers: true });
  client = new Client({ name: 'faces-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${w.base}/mcp`)));
}, 30_000);

afterAll(async () => {
  await client?.close().catch(() => {});
  await w?.close();
});

describe('MCP over Streamable HTTP', () => {
  it('lists every tool with input and output schemas, descriptions and annotations', async () => {
    const { tools } = await client.listTools();
    expectToolList(tools as never);
  });

  it('Direct Send from an agent: send_message with category "utility" goes out with no window; ttl_seconds alone is refused', async () => {
    const r = await call('send_message', {
      to: '+44 7700 900124',
      text: 'Your order A-1 has shipped.',
      category: 'utility',
      ttl_seconds: 600,
    });
    expect(r.isError, JSON.stringify(r.structuredContent)).toBeFalsy();
    const id = String(r.structuredContent!.message_id);
    const m = await waitFor(async () => {
      const s = await call('get_delivery_status', { message_id: id });
      return ['sent', 'delivered', 'read'].includes(String(s.structuredContent?.status)) ? s.structuredContent : null;
    });
    expect(m).toBeTruthy();
    const bad = await call('send_message', { to: '+44 7700 900124', text: 'x', ttl_seconds: 600 });
    expect(bad.isError).toBe(true);
    expect(JSON.stringify(bad)).toMatch(/ttl_seconds/);
  });

  it('syncs templates from Meta (sandbox seed templates) and lists them with their parameters', async () => {
    const r = await call('sync_template_status', { template_name: 'order_update' });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ template_name: 'order_update', status: 'APPROVED', category: 'utility' });
    const list = await call('list_templates', { status_filter: 'approved' });
    const names = (list.structuredContent!.templates as { name: string }[]).map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['hello_world', 'order_update', 'spring_sale']));
  });

  it('free-form to a closed window is denied with the reason and the approved templates that fit', async () => {
    const r = await call('send_message', { to: CUSTOMER, text: 'Hello there' });
    const b = expectExplainedRefusal(r);
    expect(b.reason_code).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
    expect(String(b.suggested_action)).toContain('hello_world');
    expect((b.fitting_templates as { name: string }[]).map((t) => t.name)).toEqual(expect.arrayContaining(['hello_world', 'order_update']));
    const conv = await call('check_conversation', { customer_id: CUSTOMER });
    expect(conv.structuredContent).toMatchObject({ window_open: false, customer_id: WA_ID });
  });

  it('a send tool takes a business-scoped user id as `to` and queues it to Meta as `recipient`', async () => {
    const r = await call('send_template', { to: 'GB.13491208655302741918', template_name: 'order_update', variables: ['Ana', '#77'] });
    expect(r.isError).toBeFalsy();
    const m = await w.app.ctx.store.getMessage(r.structuredContent!.message_id as string);
    expect(m?.to).toBe('GB.13491208655302741918');
    expect(m?.payload).toMatchObject({ recipient: 'GB.13491208655302741918', type: 'template' });
    expect(m?.payload).not.toHaveProperty('to');
  });

  it('the customer tools take a business-scoped user id: before its phone is known, and after (then they show the phone)', async () => {
    const U = 'GB.55591208655302741918';
    const store = w.app.ctx.store;
    await store.recordInbound('main', U, Date.now()); // a username customer wrote (Meta showed no phone)
    await w.app.ctx.gate.recordInbound('main', U, Date.now());
    const conv = await call('check_conversation', { customer_id: U });
    expect(conv.structuredContent).toMatchObject({ customer_id: U, window_open: true, conversation_id: `main:${U}` });
    const check = await call('check_compliance', { customer_id: U, message_type: 'service', text: 'Hi' });
    expect(check.structuredContent).toMatchObject({ allowed: true, customer_id: U });
    const opt = await call('set_consent', { customer_id: U, category: 'marketing', state: 'opted_out', source: 'phone call' });
    expect(opt.isError).toBeFalsy();
    expect((await call('check_compliance', { customer_id: U, message_type: 'marketing' })).structuredContent).toMatchObject({
      allowed: false,
      reason_code: 'OPTED_OUT',
    });
    expect((await call('check_frequency_cap', { customer_id: U })).structuredContent).toMatchObject({
      customer_id: U,
      marketing_eligible: false,
    });
    // Once linked, the BSUID names the phone's customer.
    await store.linkIdentity({ business_id: 'faces', user_id: U, wa_id: '447700900555', at: Date.now() });
    const ctx = await call('get_customer_context', { customer_id: U });
    expect(ctx.structuredContent).toMatchObject({ wa_id: '447700900555' });
    const bad = await call('check_conversation', { customer_id: 'GB.not a bsuid' });
    expect(expectExplainedRefusal(bad).code ?? bad.isError).toBeTruthy();
  });

  it('a template send is queued, then delivered, visible through get_delivery_status', async () => {
    const r = await call('send_template', {
      to: CUSTOMER,
      template_name: 'order_update',
      variables: ['Ana', '#1234'],
      idempotency_key: 'story-1',
    });
    expect(r.isError).toBeFalsy();
    const id = r.structuredContent!.message_id as string;
    expect(r.structuredContent).toMatchObject({ status: 'queued' });
    const done = await waitFor(async () => {
      const s = await call('get_delivery_status', { message_id: id });
      const st = s.structuredContent?.status as string;
      return st === 'delivered' || st === 'read' ? s : null;
    });
    const statuses = (done.structuredContent!.history as { status: string }[]).map((h) => h.status);
    expect(statuses).toContain('queued');
    expect(statuses).toContain('delivered');
    // The same idempotency key answers the first message again, sends nothing twice.
    const again = await call('send_template', {
      to: CUSTOMER,
      template_name: 'order_update',
      variables: ['Ana', '#1234'],
      idempotency_key: 'story-1',
    });
    expect(again.structuredContent).toMatchObject({ message_id: id, replayed: true });
    // The reference's JSON-in-a-string variables work too.
    const legacy = await call('send_template', { to: CUSTOMER, template_name: 'order_update', variables: '["Bo", "#99"]' });
    expect(legacy.isError).toBeFalsy();
  });

  it('an inbound STOP opts the customer out: marketing is then denied (OPTED_OUT)', async () => {
    const before = await call('check_compliance', { customer_id: CUSTOMER, message_type: 'marketing' });
    expect(before.structuredContent).toMatchObject({ allowed: true });
    const inbound = await postJson(`${w.app.sandbox!.url}/_sandbox/inbound`, {
      phone_number_id: PHONE_NUMBER_ID,
      from: WA_ID,
      type: 'text',
      text: { body: 'STOP' },
    });
    expect(inbound.status).toBeLessThan(300);
    await waitFor(async () => {
      const c = await call('get_customer_context', { customer_id: CUSTOMER });
      return (c.structuredContent?.consent as Record<string, string>)?.marketing === 'opted_out';
    });
    const denied = await call('send_template', { to: CUSTOMER, template_name: 'spring_sale', variables: ['Ana'] });
    const b = expectExplainedRefusal(denied);
    expect(b.reason_code).toBe('OPTED_OUT');
    const check = await call('check_compliance', { customer_id: CUSTOMER, message_type: 'MARKETING' }); // Meta's case works too
    expect(check.isError).toBeFalsy();
    expect(check.structuredContent).toMatchObject({ allowed: false, reason_code: 'OPTED_OUT' });
    // The STOP itself opened the care window: a reply is allowed now.
    const conv = await call('check_conversation', { customer_id: CUSTOMER });
    expect(conv.structuredContent).toMatchObject({ window_open: true });
  });

  it('fitting templates leave out what this customer would be refused (opted out of marketing)', async () => {
    const other = '+44 7700 900124';
    const c = await call('set_consent', { customer_id: other, category: 'marketing', state: 'opted_out', source: 'phone call' });
    expect(c.structuredContent).toMatchObject({ consent: { marketing: 'opted_out' } });
    const b = expectExplainedRefusal(await call('send_message', { to: other, text: 'Hi' }));
    const names = (b.fitting_templates as { name: string }[]).map((t) => t.name);
    expect(names).toContain('hello_world');
    expect(names).not.toContain('spring_sale');
    expect(String(b.suggested_action)).toContain('Allowed for this customer now: ');
  });

  it('a dead-lettered send is retried once through the gate, with its Meta error explained', async () => {
    const to = '+44 7700 900125';
    // The next send is refused by Meta with 131009 (a request error: dead letter, no automatic retry).
    expect((await postJson(`${w.app.sandbox!.url}/_sandbox/faults`, { status: 400, code: 131009, count: 1 })).status).toBe(200);
    const r = await call('send_template', { to, template_name: 'hello_world' });
    const id = r.structuredContent!.message_id as string;
    const failed = await waitFor(async () => {
      const s = await call('get_delivery_status', { message_id: id });
      return ['failed', 'dead_lettered'].includes(s.structuredContent?.status as string) ? s : null;
    });
    expect((failed.structuredContent!.error as { code: number }).code).toBe(131009);
    expect(String((failed.structuredContent!.error as { fix: string }).fix).length).toBeGreaterThan(10);
    const dls = await call('list_dead_letters', { state: 'open' });
    expect((dls.structuredContent!.dead_letters as { message_id: string }[]).map((d) => d.message_id)).toContain(id);
    const first = await call('retry_failed_messages', { message_ids: [id] });
    expect(first.structuredContent).toMatchObject({ retried: 1 });
    const newId = (first.structuredContent!.results as { new_message_id: string }[])[0].new_message_id;
    const second = await call('retry_failed_messages', { message_ids: JSON.stringify([id]) });
    expect(second.structuredContent).toMatchObject({ retried: 0, skipped: 1 });
    await waitFor(async () =>
      ['delivered', 'read'].includes((await call('get_delivery_status', { message_id: newId })).structuredContent?.status as string),
    );
  });

  it('explain_error 190 gives the fix steps', async () => {
    const r = await call('explain_error', { code: 190 });
    expect(r.isError).toBeFalsy();
    const s = r.structuredContent!;
    expect(s.code).toBe(190);
    expect(s.can_retry).toBe(false);
    expect(String(s.fix)).toMatch(/System user/i);
    expect(String(s.fix)).toMatch(/1\./);
    const legacy = await call('explain_error', { code: '#131047' });
    expect(legacy.structuredContent).toMatchObject({ code: 131047 });
  });

  it('bad arguments are refused naming the field and what it expects', async () => {
    const r = await call('send_template', { to: 12345, template_name: 'order_update' });
    const b = expectExplainedRefusal(r);
    const e = b.error as { code: string; message: string; fix: string };
    expect(e.code).toBe('INVALID_ARGUMENTS');
    expect(e.message).toContain('to');
    expect(e.fix).toContain('international format');
    const bad = await call('send_message', { to: 'not a phone', text: 'x' });
    expect(expectExplainedRefusal(bad).reason_code).toBe('INVALID_RECIPIENT');
  });

  it('pricing comes from the data file with its source and date', async () => {
    const r = await call('estimate_cost', { message_type: 'marketing', recipient_country: 'in', quantity: 1000 });
    expect(r.structuredContent).toMatchObject({
      recipient_country: 'IN',
      billable: true,
      currency: 'USD',
      cost_per_message: 0.0107,
      total_estimated_cost: 10.7,
    });
    expect(String(r.structuredContent!.as_of)).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    // Utility inside the open window: free for a send before 1 Oct 2026, charged from then (Meta's rules by date).
    const free = await call('estimate_cost', { message_type: 'utility', customer_id: CUSTOMER, send_at: '2026-09-30' });
    expect(free.structuredContent).toMatchObject({ billable: false, free_reason: 'utility_in_customer_service_window' });
    const charged = await call('estimate_cost', { message_type: 'utility', customer_id: CUSTOMER, send_at: '2026-10-01' });
    expect(charged.structuredContent).toMatchObject({ billable: true, free_reason: null, pricing_rules: 'pmp_2026_10' });
    const missing = await call('estimate_pricing', { conversation_type: 'marketing', recipient_country: 'ZW' });
    expect((expectExplainedRefusal(missing).error as { code: string }).code).toBe('NO_PRICING_FOR_MARKET');
  });

  it('conversations: listed while open, cannot be archived while open', async () => {
    const open = await call('list_conversations', { status_filter: 'open' });
    const convs = open.structuredContent!.conversations as { conversation_id: string; customer_id: string }[];
    const mine = convs.find((c) => c.customer_id === WA_ID)!;
    expect(mine.conversation_id).toBe(`main:${WA_ID}`);
    const arch = await call('archive_chat', { conversation_id: mine.conversation_id });
    expect((expectExplainedRefusal(arch).error as { code: string }).code).toBe('CONVERSATION_ACTIVE');
    const rl = await call('get_rate_limit', {});
    expect(rl.structuredContent).toMatchObject({ sender: 'main', capacity_mps: 80 });
    const q = await call('get_account_quality', {});
    expect(q.structuredContent).toMatchObject({ source: 'meta', phone_number_id: PHONE_NUMBER_ID });
    expect(typeof q.structuredContent!.quality_rating).toBe('string');
    expect(bodyOf(q)).toEqual(q.structuredContent);
  });
});
