// The /v1 routes added for the tools (conversations, templates, errors, pricing, limits, retry, read,
// webhook re-sync) and the OpenAPI document: it covers every /v1 route Fastify serves, and every /v1
// route written in src/http/routes/*.ts is in the registry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROUTES } from '../../src/http/openapi.ts';
import { startWagate, waitFor, type Running } from '../mcp/helpers.ts';

let w: Running;

beforeAll(async () => {
  w = await startWagate();
}, 30_000);

afterAll(async () => {
  await w?.close();
});

async function call(method: string, path: string, body?: unknown) {
  const r = await w.app.http.inject({ method: method as 'GET', url: path, ...(body !== undefined ? { payload: body as object } : {}) });
  return { status: r.statusCode, json: r.json() as Record<string, unknown> };
}

function expectError(r: { status: number; json: Record<string, unknown> }, status: number, field?: string) {
  expect(r.status).toBe(status);
  const e = r.json.error as { code: string; message: string; fix: string; details: Record<string, unknown> };
  expect(e.fix.length).toBeGreaterThan(5);
  if (field) expect(`${e.message} ${JSON.stringify(e.details)}`).toContain(field);
  return e;
}

describe('OpenAPI', () => {
  it('documents every /v1 route that Fastify serves, with schemas', async () => {
    const r = await call('GET', '/openapi.json');
    expect(r.status).toBe(200);
    expect(r.json.openapi).toBe('3.0.3');
    const paths = r.json.paths as Record<
      string,
      Record<string, { responses: object; requestBody?: { content: { 'application/json': { schema: { type?: string } } } } }>
    >;
    for (const route of ROUTES) {
      expect(
        w.app.http.hasRoute({ method: route.method.toUpperCase() as 'GET', url: route.path }),
        `${route.method} ${route.path} is served`,
      ).toBe(true);
      const op = paths[route.path.replace(/:([A-Za-z_]+)/g, '{$1}')]?.[route.method];
      expect(op, `${route.method} ${route.path} documented`).toBeTruthy();
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403']));
      if (route.body) expect(op.requestBody!.content['application/json'].schema.type).toBe('object');
    }
    expect(paths['/mcp']).toBeTruthy();
    expect(JSON.stringify(r.json)).not.toContain('$ref'); // self-contained: no dangling references
  });

  it('every /v1 route written in src/http/routes is in the registry', () => {
    const dir = 'src/http/routes';
    const documented = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
    const found: string[] = [];
    for (const f of readdirSync(dir)) {
      const src = readFileSync(join(dir, f), 'utf8');
      for (const m of src.matchAll(/\b(?:app|scope)\.(get|post|put|delete)\(\s*'(\/v1[^']*)'/g)) found.push(`${m[1]} ${m[2]}`);
    }
    expect(found.length).toBeGreaterThan(20);
    expect(found.filter((r) => !documented.has(r))).toEqual([]);
  });
});

describe('/v1 routes for the tools', () => {
  it('errors catalog: GET /v1/errors/:code', async () => {
    const r = await call('GET', '/v1/errors/190?subcode=463');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ code: 190, subcode: 463, can_retry: false });
    expect(String(r.json.fix)).toMatch(/System user/i);
    expectError(await call('GET', '/v1/errors/abc'), 400, 'code');
  });

  it('pricing: estimate and rate, with source and date; unknown market says which exist', async () => {
    const e = await call('POST', '/v1/pricing/estimate', { message_type: 'utility', recipient_country: 'BR', quantity: 10 });
    expect(e.status).toBe(200);
    expect(e.json).toMatchObject({
      recipient_country: 'BR',
      billable: true,
      cost_per_message: 0.008,
      total_estimated_cost: 0.08,
      rate_is_estimate: true,
    });
    // By the rules of the send date: service was free until 1 Oct 2026, then charged at the utility rate past the allowance.
    const free = await call('POST', '/v1/pricing/estimate', {
      message_type: 'service',
      recipient_country: '+5511912345678',
      send_at: '2026-09-30',
    });
    expect(free.json).toMatchObject({
      pricing_rules: 'pmp_2025_07',
      billable: false,
      free_reason: 'service_message',
      total_estimated_cost: 0,
    });
    const later = await call('POST', '/v1/pricing/estimate', {
      message_type: 'service',
      recipient_country: 'BR',
      quantity: 5000,
      send_at: '2026-10-01T08:00:00Z',
    });
    expect(later.json).toMatchObject({ pricing_rules: 'pmp_2026_10', billable: true, cost_per_message: 0.008 });
    expect(later.json.billable_quantity).toBeGreaterThanOrEqual(4000); // at most the 1,000 free ones off
    const oldRate = await call('GET', '/v1/pricing?conversation_type=service&recipient_country=BR&send_at=2026-09-30');
    expect(oldRate.json).toMatchObject({ cost_per_message: 0, pricing_category: 'free_customer_service' });
    const newRate = await call('GET', '/v1/pricing?conversation_type=service&recipient_country=BR&send_at=2026-10-01');
    expect(newRate.json).toMatchObject({ cost_per_message: 0.008, service_free_allowance: 1000 });
    expectError(await call('GET', '/v1/pricing?conversation_type=service&recipient_country=BR&send_at=someday'), 400, 'send_at');
    const rate = await call('GET', '/v1/pricing?conversation_type=marketing&recipient_country=de');
    expect(rate.json).toMatchObject({ country: 'DE', cost_per_message: 0.1365 });
    const none = expectError(await call('GET', '/v1/pricing?conversation_type=marketing&recipient_country=FR'), 404);
    expect(none.fix).toContain('India');
    expectError(await call('POST', '/v1/pricing/estimate', { message_type: 'bogus', recipient_country: 'BR' }), 400, 'message_type');
  });

  it('templates: sync, list (case-insensitive filters), create at Meta', async () => {
    const s = await call('POST', '/v1/templates/sync', {});
    expect(s.status).toBe(200);
    expect(s.json.synced as number).toBeGreaterThanOrEqual(4);
    const l = await call('GET', '/v1/templates?status=approved&category=MARKETING');
    expect((l.json.templates as { name: string }[]).map((t) => t.name)).toEqual(['spring_sale']);
    const c = await call('POST', '/v1/templates', {
      name: 'faces_test_v1',
      language: 'en_US',
      category: 'utility',
      components: [{ type: 'BODY', text: 'Your code is ready' }],
    });
    expect(c.status).toBe(201);
    expect(c.json).toMatchObject({ name: 'faces_test_v1', status: 'PENDING', category: 'utility' });
    expectError(
      await call('POST', '/v1/templates', {
        name: 'Bad Name',
        language: 'en_US',
        category: 'utility',
        components: [{ type: 'BODY', text: 'x' }],
      }),
      400,
      'name',
    );
  });

  it('conversations, context, frequency cap after the customer writes', async () => {
    const phone = '447700900555';
    expect((await call('POST', `/v1/customers/${phone}/inbound`, {})).status).toBe(200);
    const list = await call('GET', '/v1/conversations?status_filter=open');
    const conv = (list.json.conversations as { conversation_id: string; customer_id: string; window_open: boolean }[]).find(
      (c) => c.customer_id === phone,
    )!;
    expect(conv).toMatchObject({ conversation_id: `main:${phone}`, window_open: true });
    const one = await call('GET', `/v1/conversations/main:${phone}`);
    expect(one.json).toMatchObject({ window_open: true, known: true });
    const ctx = await call('GET', `/v1/customers/${phone}/context`);
    expect(ctx.json).toMatchObject({ wa_id: phone, eligibility: { service: { eligible: true }, marketing: { eligible: true } } });
    const cap = await call('GET', `/v1/customers/${phone}/frequency-cap`);
    expect(cap.json).toMatchObject({ customer_id: phone, is_capped: false, marketing_count_24h: 0, limit: 2 });
    expectError(await call('POST', `/v1/conversations/main:${phone}/archive`), 409);
    expectError(await call('GET', '/v1/conversations?status_filter=nope'), 400, 'status_filter');
  });

  it('archive a closed conversation: hidden from the default list, shown under archived', async () => {
    const phone = '447700900556';
    const longAgo = new Date(Date.now() - 30 * 3_600_000).toISOString();
    expect((await call('POST', `/v1/customers/${phone}/inbound`, { at: longAgo })).status).toBe(200);
    const a = await call('POST', `/v1/conversations/main:${phone}/archive`);
    expect(a.status).toBe(200);
    expect(a.json).toMatchObject({ status: 'archived' });
    const all = await call('GET', '/v1/conversations');
    expect((all.json.conversations as { customer_id: string }[]).some((c) => c.customer_id === phone)).toBe(false);
    const archived = await call('GET', '/v1/conversations?status_filter=archived');
    expect((archived.json.conversations as { customer_id: string }[]).map((c) => c.customer_id)).toContain(phone);
    expectError(await call('POST', `/v1/conversations/main:${phone}/archive`), 409);
  });

  it('sender rate limit and quality; retry and read receipts validate their input', async () => {
    const rl = await call('GET', '/v1/senders/main/rate-limit');
    expect(rl.json).toMatchObject({ sender: 'main', capacity_mps: 80, pair_limit: { per_seconds: 6 } });
    const q = await call('GET', '/v1/senders/main/quality');
    expect(q.json).toMatchObject({ source: 'meta' });
    expectError(await call('GET', '/v1/senders/nobody/quality'), 404);
    const retry = await call('POST', '/v1/messages/retry', { message_ids: ['msg_does_not_exist'] });
    expect(retry.json).toMatchObject({ skipped: 1, retried: 0 });
    expectError(await call('POST', '/v1/messages/retry', { message_ids: [] }), 400, 'message_ids');
    expectError(await call('POST', '/v1/messages/read', { message_id: 'not-a-wamid' }), 400, 'message_id');
    const sync = await call('POST', '/v1/webhooks/sync', {});
    expect(sync.json).toMatchObject({ template_synced: true, messages_awaiting_status: 0 });
  });

  it('a queued message reaches a terminal or sent status only through the workers (none here): retry skips it', async () => {
    const sent = await call('POST', '/v1/messages', {
      to: '+447700900557',
      type: 'template',
      template: { name: 'hello_world', language: { code: 'en_US' } },
    });
    expect(sent.status).toBe(202);
    const id = sent.json.id as string;
    const r = await waitFor(async () => (await call('POST', '/v1/messages/retry', { message_ids: [id] })).json);
    expect((r.results as { status: string; reason: string }[])[0]).toMatchObject({ status: 'skipped' });
  });
});
