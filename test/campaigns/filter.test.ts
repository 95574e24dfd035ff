// A filter audience over known customers, every documented field over HTTP on a real wagate with two
// senders: tags, exclude_tags (and the reference's exclude_tag), consent (and require_opt_in), country
// (a BSUID's too), last_inbound_since, sender and channel. Each one narrows the audience as it says, a
// value it cannot honour is refused with the field and the fix, and a key limited to one sender cannot
// filter on another sender's customers (FORBIDDEN_SENDER), nor get them by naming no sender, over
// HTTP and MCP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sha256Hex } from '../../src/http/auth.ts';
import { bodyOf, startWagate, WABA_ID, type Running, type ToolCallResult } from '../mcp/helpers.ts';

const KEY_ALL = 'ak_filter_all_0123456789';
const KEY_A = 'ak_filter_shop_a_0123456789';
const DAY = 86_400_000;

// C1 IN vip, opted in, wrote to shop_a now · C2 IN vip+staff, wrote to shop_b 10 days ago · C3 GB vip,
// wrote to shop_a 10 days ago · C4 GB opted out (never in an audience), wrote to shop_a now · C5 a
// username-only customer known by its BSUID (GB), tag vip, never wrote.
const C1 = '919700000901';
const C2 = '919700000902';
const C3 = '447400123471';
const C4 = '447400123472';
const C5 = 'GB.02137210906532285110';
const EVERYONE = [C1, C2, C3, C5];

let w: Running;
async function req(method: string, path: string, body?: unknown, key = KEY_ALL): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`${w.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

const create = (filter: unknown, key = KEY_ALL) =>
  req(
    'POST',
    '/v1/campaigns',
    { name: 'f', sender: 'shop_a', template: { name: 'spring_sale', language: 'en_US' }, audience: { filter }, variables: ['X'] },
    key,
  );

async function audienceOf(filter: unknown): Promise<string[]> {
  const r = await create(filter);
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  const list = await req('GET', `/v1/campaigns/${r.json.id}/recipients?limit=1000`);
  return (list.json.recipients as { recipient: string }[]).map((x) => x.recipient).sort();
}

beforeAll(async () => {
  w = await startWagate({
    senders: [
      { id: 'shop_a', phone_number_id: '106540352242941', waba_id: WABA_ID, business_id: 'flt', messaging_limit: null },
      { id: 'shop_b', phone_number_id: '106540352242942', waba_id: WABA_ID, business_id: 'flt', messaging_limit: null },
    ],
    api: {
      keys: [
        { name: 'all', key_sha256: sha256Hex(KEY_ALL), role: 'admin' },
        { name: 'shop-a', key_sha256: sha256Hex(KEY_A), role: 'admin', senders: ['shop_a'] },
      ],
      rate_limit_per_minute: 100_000,
    },
  });
  expect((await req('POST', '/v1/templates/sync', { sender: 'shop_a' })).status).toBe(200);
  const ago = (d: number) => new Date(Date.now() - d * DAY).toISOString();
  const customers: [string, string[], [string, string | undefined] | null][] = [
    [C1, ['vip'], ['shop_a', undefined]],
    [C2, ['vip', 'staff'], ['shop_b', ago(10)]],
    [C3, ['vip'], ['shop_a', ago(10)]],
    [C4, ['vip'], ['shop_a', undefined]],
    [C5, ['vip'], null],
  ];
  for (const [id, tags, inbound] of customers) {
    const put = await req('PUT', `/v1/customers/${id}`, { tags });
    expect(put.status, JSON.stringify(put.json)).toBe(200);
    if (inbound) {
      const [sender, at] = inbound;
      const r = await req('POST', `/v1/customers/${id}/inbound`, { sender, ...(at ? { at } : {}) });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
    }
  }
  expect((await req('PUT', `/v1/customers/${C1}/consent`, { category: 'marketing', state: 'opted_in' })).status).toBe(200);
  expect((await req('PUT', `/v1/customers/${C4}/consent`, { category: 'marketing', state: 'opted_out' })).status).toBe(200);
});
afterAll(async () => {
  await w?.close();
});

describe('a filter audience', () => {
  it('each field narrows the known customers as it says; an opted-out customer never matches', async () => {
    expect(await audienceOf({})).toEqual(EVERYONE.sort());
    expect(await audienceOf({ tags: ['vip'] })).toEqual(EVERYONE.sort());
    expect(await audienceOf({ tags: ['vip', 'staff'] })).toEqual([C2]);
    expect(await audienceOf({ exclude_tags: ['staff'] })).toEqual([C1, C3, C5].sort());
    expect(await audienceOf({ exclude_tag: 'staff' })).toEqual([C1, C3, C5].sort());
    expect(await audienceOf({ consent: ['opted_in'] })).toEqual([C1]);
    expect(await audienceOf({ consent: ['unknown'] })).toEqual([C2, C3, C5].sort());
    expect(await audienceOf({ require_opt_in: true })).toEqual([C1]);
    expect(await audienceOf({ require_opt_in: 'marketing' })).toEqual([C1]);
    expect(await audienceOf({ country: ['GB'] })).toEqual([C3, C5].sort());
    expect(await audienceOf({ country: 'in' })).toEqual([C1, C2]);
    expect(await audienceOf({ channel: 'whatsapp' })).toEqual(EVERYONE.sort());
  });

  it('sender: only customers who wrote to that sender; last_inbound_since counts messages to it (else to the campaign sender)', async () => {
    const twoDaysAgo = new Date(Date.now() - 2 * DAY).toISOString();
    expect(await audienceOf({ sender: 'shop_a' })).toEqual([C1, C3].sort());
    expect(await audienceOf({ sender: 'shop_b' })).toEqual([C2]);
    expect(await audienceOf({ sender: '106540352242942' })).toEqual([C2]); // by phone_number_id
    expect(await audienceOf({ last_inbound_since: twoDaysAgo })).toEqual([C1]); // to shop_a, the campaign's sender
    expect(await audienceOf({ sender: 'shop_b', last_inbound_since: twoDaysAgo })).toEqual([]);
    expect(await audienceOf({ sender: 'shop_b', last_inbound_since: new Date(Date.now() - 11 * DAY).toISOString() })).toEqual([C2]);
    const r = await create({ sender: 'shop_b' });
    expect(r.json.audience).toMatchObject({ kind: 'filter', filter: { sender: 'shop_b' } });
  });

  it('refuses what it cannot honour with the field and the fix', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ require_opt_in: 'utility' }, 'audience.filter.require_opt_in', /template is marketing/],
      [{ require_opt_in: 'yes' }, 'audience.filter.require_opt_in', /true or the campaign's category/],
      [{ require_opt_in: true, consent: ['unknown'] }, 'audience.filter.consent', /disagree/],
      [{ consent: ['opted_out'] }, 'audience.filter.consent', /opted-out customers are never/],
      [{ country: ['India'] }, 'audience.filter.country', /ISO 3166/],
      [{ country: ['IN', 'XX'] }, 'audience.filter.country', /"XX" is not one/], // two letters, no such country
      [{ last_inbound_since: new Date(Date.now() + DAY).toISOString() }, 'audience.filter.last_inbound_since', /future/],
      [{ last_inbound_since: 'last week' }, 'audience.filter.last_inbound_since', /must be a time/],
      [{ sender: 42 }, 'audience.filter.sender', /alias or phone_number_id/],
      [{ channel: 'sms' }, 'audience.filter.channel', /WhatsApp only/],
      [{ tags: 'vip,staff'.split(',').map(() => 5) }, 'audience.filter.tags', /list of strings/],
    ];
    for (const [filter, field, message] of cases) {
      const r = await create(filter);
      expect(r.status, JSON.stringify(filter)).toBe(400);
      expect(r.json.error, JSON.stringify(filter)).toMatchObject({ code: 'INVALID_REQUEST', details: { field } });
      expect(r.json.error.message).toMatch(message);
      expect(r.json.error.fix).toBeTruthy();
    }
    const unknown = await create({ sender: 'nope' });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('UNKNOWN_SENDER');
    const before = (await req('GET', '/v1/campaigns?limit=200')).json.campaigns.length;
    await create({ country: ['XX1'] });
    expect((await req('GET', '/v1/campaigns?limit=200')).json.campaigns.length).toBe(before); // nothing half-created
  });

  it("a key limited to shop_a may not filter on shop_b's customers, over HTTP and MCP", async () => {
    const r = await create({ sender: 'shop_b' }, KEY_A);
    expect(r.status).toBe(403);
    expect(r.json.error).toMatchObject({ code: 'FORBIDDEN_SENDER', details: { allowed: ['shop_a'] } });
    expect(JSON.stringify(r.json)).not.toMatch(/242942/);
    expect((await create({ sender: 'shop_a' }, KEY_A)).status).toBe(201);
    // Naming no sender, that key sees only shop_a's customers: never C2 (shop_b's) nor C5 (no sender's).
    for (const filter of [{}, { tags: ['vip'] }]) {
      const own = await create(filter, KEY_A);
      expect(own.status).toBe(201);
      expect(own.json.audience.filter.sender).toBe('shop_a');
      const got = await req('GET', `/v1/campaigns/${own.json.id}/recipients?limit=1000`, undefined, KEY_A);
      expect(got.json.recipients.map((x: { recipient: string }) => x.recipient).sort()).toEqual([C1, C3].sort());
    }

    const mcp = new Client({ name: 'filter-test', version: '1' });
    await mcp.connect(
      new StreamableHTTPClientTransport(new URL(`${w.base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${KEY_A}` } } }),
    );
    try {
      const args = {
        name: 'f',
        template_name: 'spring_sale',
        locale: 'en_US',
        variables: ['X'],
        deliver_at: new Date(Date.now() + DAY).toISOString(),
      };
      const refused = (await mcp.callTool({
        name: 'schedule_campaign',
        arguments: { ...args, audience_filter: JSON.stringify({ sender: 'shop_b' }) },
      })) as ToolCallResult;
      expect(refused.isError).toBe(true);
      expect(JSON.stringify(bodyOf(refused))).toMatch(/FORBIDDEN_SENDER/);
      const ok = (await mcp.callTool({
        name: 'schedule_campaign',
        arguments: { ...args, audience_filter: { sender: 'shop_a' } },
      })) as ToolCallResult;
      expect(ok.isError, JSON.stringify(ok.content)).toBeFalsy();
      expect(ok.structuredContent).toMatchObject({ status: 'scheduled' });
      const own = (await mcp.callTool({ name: 'schedule_campaign', arguments: { ...args, audience_filter: {} } })) as ToolCallResult;
      const id = (own.structuredContent as { campaign_id: string }).campaign_id;
      const got = await req('GET', `/v1/campaigns/${id}/recipients?limit=1000`);
      expect(got.json.recipients.map((x: { recipient: string }) => x.recipient).sort()).toEqual([C1, C3].sort());
    } finally {
      await mcp.close();
    }
  });
});
