// Sender isolation (issue 17, defect 5): a key limited to sender shop_a, walked over EVERY route of the
// real Fastify route table and EVERY MCP tool of the real tool list, aimed at the data of sender shop_b
// (messages, dead letters, conversations, windows, an opt-out given through shop_b, an alert). Each
// route and tool has its expected behaviour in a table; a route or tool missing from the table fails
// the test, so a new one must be classified before it ships.
//
// The rule walked here (README, "HTTP API" → Auth):
//  - a request that NAMES a sender the key may not use (`sender`, /v1/senders/:id, the "<sender>:" of
//    a conversation id; known or not) → 403 FORBIDDEN_SENDER, listing only the key's own senders;
//  - a record looked up by its own id (message, dead letter) of another sender → 404, as if absent;
//  - listings and customer views → only the key's senders (windows of other senders left out);
//  - bulk retry → another sender's message ids are "skipped: no message with this id";
//  - consent is per customer: a limited key may record an opt-out, never lift one (403 CONSENT_LIFT_FORBIDDEN).
// And no response carries a shop_b marker (its id, phone_number_id, message or dead-letter ids) that
// the request did not itself contain; after the walk shop_b's records are as before.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sha256Hex } from '../../src/http/auth.ts';
import { bodyOf, postJson, startWagate, waitFor, WABA_ID, type Running, type ToolCallResult } from '../mcp/helpers.ts';

const PNID_A = '106540352242931';
const PNID_B = '106540352242932';
const KEY_ALL = 'ak_all_senders_0123456789';
const KEY_A = 'ak_shop_a_only_0123456789';
const H = 3_600_000;

// Customers: C_B wrote to shop_b only (30 h ago: a closed, archivable conversation); C_SHARED wrote to
// both (shop_b 30 h ago, shop_a now); C_STOP opted out by writing STOP to shop_b.
const C_B = '447700900301';
const C_SHARED = '447700900302';
const C_STOP = '447700900303';
const C_DL_A = '447700900304';
const C_DL_B = '447700900305';

let w: Running;
let mcpA: Client;
let mcpAll: Client;
const b = { ok_message: '', dead_message: '', dead_letter: '', campaign: '', scheduled: '', alert: '' };
const a = { dead_message: '', dead_letter: '' };
let markers: string[] = [];

type Res = { status: number; json: Record<string, any>; text: string };

async function req(method: string, path: string, key: string, body?: unknown): Promise<Res> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`${w.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json: Record<string, any> = {};
  try {
    json = JSON.parse(text);
  } catch {
    /* HEAD, HTML */
  }
  return { status: r.status, json, text };
}

const asAll = (method: string, path: string, body?: unknown) => req(method, path, KEY_ALL, body);

async function mcpClient(key: string): Promise<Client> {
  const c = new Client({ name: 'isolation-test', version: '1' });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${w.base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }),
  );
  return c;
}

async function sendTemplate(sender: string, to: string): Promise<string> {
  const r = await asAll('POST', '/v1/messages', {
    to,
    type: 'template',
    template: { name: 'hello_world', language: { code: 'en_US' } },
    sender,
  });
  expect(r.status, r.text).toBe(202);
  return r.json.id as string;
}

/** A send that Meta refuses with 131009 (no automatic retry): a failed message and its open dead letter. */
async function deadLetter(sender: string, pnid: string, to: string): Promise<{ message: string; dead_letter: string }> {
  expect(
    (await postJson(`${w.app.sandbox!.url}/_sandbox/faults`, { status: 400, code: 131009, count: 1, phone_number_id: pnid })).status,
  ).toBe(200);
  const message = await sendTemplate(sender, to);
  const dl = await waitFor(async () => {
    const r = await asAll('GET', `/v1/dead-letters?sender=${sender}&limit=500`);
    return (r.json.dead_letters as { id: string; message_id: string }[]).find((d) => d.message_id === message);
  });
  return { message, dead_letter: dl.id };
}

/** What shop_b owns, seen with the all-senders key: must be the same after the walk. */
async function snapshotB(): Promise<Record<string, unknown>> {
  const msgs = await asAll('GET', '/v1/messages?sender=shop_b&limit=500');
  const dls = await asAll('GET', '/v1/dead-letters?sender=shop_b&limit=500');
  const archived = await asAll('GET', '/v1/conversations?sender=shop_b&status_filter=archived');
  const all = await asAll('GET', '/v1/conversations?sender=shop_b&status_filter=all');
  const stop = await asAll('GET', `/v1/customers/${C_STOP}`);
  const health = await asAll('GET', '/v1/senders/shop_b/health');
  const templates = await asAll('GET', '/v1/templates?sender=shop_b&limit=500');
  return {
    messages: (msgs.json.messages as { id: string }[]).map((m) => m.id).sort(),
    dead_letters: (dls.json.dead_letters as { id: string; state: string }[]).map((d) => `${d.id}:${d.state}`).sort(),
    archived: archived.json.conversations,
    conversations: (all.json.conversations as { id: string }[]).map((c) => c.id).sort(),
    stop_consent: stop.json.consent,
    sender: { state: health.json.state, reason: health.json.reason },
    templates: (templates.json.templates as { name: string; language: string }[]).map((t) => `${t.name}/${t.language}`).sort(),
  };
}

beforeAll(async () => {
  w = await startWagate(
    {
      senders: [
        { id: 'shop_a', phone_number_id: PNID_A, waba_id: WABA_ID, business_id: 'iso', messaging_limit: null },
        { id: 'shop_b', phone_number_id: PNID_B, waba_id: WABA_ID, business_id: 'iso', messaging_limit: null },
      ],
      api: {
        keys: [
          { name: 'all', key_sha256: sha256Hex(KEY_ALL), role: 'admin' },
          // admin, so no route or tool is refused for its role: only the sender limit is under test.
          { name: 'shop-a', key_sha256: sha256Hex(KEY_A), role: 'admin', senders: ['shop_a'] },
        ],
        rate_limit_per_minute: 100_000,
      },
    },
    { workers: true },
  );
  expect((await asAll('POST', '/v1/templates/sync', { sender: 'shop_a' })).status).toBe(200);
  const ago30h = new Date(Date.now() - 30 * H).toISOString();
  for (const [phone, sender, at] of [
    [C_B, 'shop_b', ago30h],
    [C_SHARED, 'shop_b', ago30h],
    [C_SHARED, 'shop_a', undefined],
  ] as const) {
    const r = await asAll('POST', `/v1/customers/${phone}/inbound`, { sender, ...(at ? { at } : {}) });
    expect(r.status, r.text).toBe(200);
  }
  // The opt-out given through shop_b: the customer writes STOP to shop_b's number.
  expect(
    (
      await postJson(`${w.app.sandbox!.url}/_sandbox/inbound`, {
        phone_number_id: PNID_B,
        from: C_STOP,
        type: 'text',
        text: { body: 'STOP' },
      })
    ).status,
  ).toBeLessThan(300);
  await waitFor(async () => (await asAll('GET', `/v1/customers/${C_STOP}`)).json.consent?.marketing === 'opted_out');

  b.ok_message = await sendTemplate('shop_b', C_B);
  await waitFor(async () => ['delivered', 'read'].includes((await asAll('GET', `/v1/messages/${b.ok_message}`)).json.status));
  const db = await deadLetter('shop_b', PNID_B, C_DL_B);
  b.dead_message = db.message;
  b.dead_letter = db.dead_letter;
  const da = await deadLetter('shop_a', PNID_A, C_DL_A);
  a.dead_message = da.message;
  a.dead_letter = da.dead_letter;
  // An alert about shop_b (pausing raises one), then shop_b is active again.
  expect((await asAll('POST', '/v1/senders/shop_b/pause', { reason: 'isolation test' })).status).toBe(200);
  expect((await asAll('POST', '/v1/senders/shop_b/resume')).status).toBe(200);
  await waitFor(async () => JSON.stringify((await asAll('GET', '/v1/alerts')).json).includes('shop_b'));

  // A campaign and a scheduled message of shop_b (issue 15), and the alert about it (acknowledged by id).
  const hello = { name: 'hello_world', language: 'en_US' };
  const camp = await asAll('POST', '/v1/campaigns', {
    name: 'b-campaign',
    sender: 'shop_b',
    template: hello,
    audience: { recipients: [{ to: C_B }] },
  });
  expect(camp.status, camp.text).toBe(201);
  b.campaign = camp.json.id as string;
  const sched = await asAll('POST', '/v1/scheduled-messages', {
    to: C_B,
    type: 'template',
    template: { name: 'hello_world', language: { code: 'en_US' } },
    sender: 'shop_b',
    deliver_at: new Date(Date.now() + 48 * H).toISOString(),
  });
  expect(sched.status, sched.text).toBe(201);
  b.scheduled = (sched.json.id ?? sched.json.message_id) as string;
  b.alert = ((await asAll('GET', '/v1/alerts')).json.alerts as { id: string; sender_id: string | null }[]).find(
    (x) => x.sender_id === 'shop_b',
  )!.id;

  const bIds = ((await asAll('GET', '/v1/messages?sender=shop_b&limit=500')).json.messages as { id: string }[]).map((m) => m.id);
  const bDls = ((await asAll('GET', '/v1/dead-letters?sender=shop_b&limit=500')).json.dead_letters as { id: string }[]).map((d) => d.id);
  markers = ['shop_b', PNID_B, ...bIds, ...bDls, b.campaign, b.scheduled];
  expect(bIds).toEqual(expect.arrayContaining([b.ok_message, b.dead_message]));

  mcpA = await mcpClient(KEY_A);
  mcpAll = await mcpClient(KEY_ALL);
}, 90_000);

afterAll(async () => {
  await mcpA?.close().catch(() => {});
  await mcpAll?.close().catch(() => {});
  await w?.close();
});

/** shop_b markers in `text` that the request itself did not carry (echoing the caller's input is no leak). */
function leaked(text: string, request: string): string[] {
  return markers.filter((m) => text.includes(m) && !request.includes(m));
}

// ---------------------------------------------------------------------------------------------
// The expected behaviour, per route and per tool

type Expect = 'forbidden_sender' | 'not_found' | 'ok' | 'consent_refused';
interface Probe {
  expect: Expect;
  /** For `ok`: what the answer must show (beyond carrying no shop_b marker). */
  check?: (json: Record<string, any>) => void;
  /** The all-senders key's answer to the same request does carry shop_b data (the filter is real). */
  control?: boolean;
}
interface HttpProbe extends Probe {
  path: string;
  body?: unknown;
}
interface ToolProbe extends Probe {
  args: Record<string, unknown>;
}
type RouteCase = { probes: HttpProbe[] } | { public: string } | { mcp: string };

const onlyShopA = (senders: string[]) => {
  expect(senders.length).toBeGreaterThan(0);
  expect(new Set(senders)).toEqual(new Set(['shop_a']));
};
const windowsOnlyA = (j: Record<string, any>) => onlyShopA((j.windows as { sender: string }[]).map((x) => x.sender));
const retrySkipped = (j: Record<string, any>) => {
  expect(j.retried).toBe(0);
  for (const r of j.results as { status: string; reason: string }[])
    expect(r).toMatchObject({ status: 'skipped', reason: 'no message with this id' });
};
const TEXT_TO = (to: string, sender?: string) => ({ to, type: 'text', text: { body: 'hi' }, ...(sender ? { sender } : {}) });
const WAMID = 'wamid.HBgLNDQ3NzAwOTAwMzAxFQIAEhgSQzA1';

/** Route table: `${METHOD} ${url}` as Fastify registered it → the probes. Path ids are filled in at run time. */
const ROUTE_CASES: Record<string, RouteCase> = {
  'GET /health': { public: 'liveness, not behind API keys' },
  'GET /ready': { public: 'readiness, not behind API keys' },
  'GET /metrics': { public: 'Prometheus, not behind API keys' },
  'GET /webhook': { public: "Meta's verification handshake (verify token)" },
  'POST /webhook': { public: "Meta's events (signature-checked)" },
  'GET /openapi.json': { public: 'the API description, no data' },
  'GET /docs': { public: 'the API description, no data' },
  'POST /mcp': { mcp: 'MCP over Streamable HTTP: every tool is walked below' },
  'GET /mcp': { mcp: 'stateless MCP: 405' },
  'DELETE /mcp': { mcp: 'stateless MCP: 405' },

  'POST /v1/messages': {
    probes: [
      { path: '/v1/messages', body: { ...TEXT_TO(C_B), sender: 'shop_b' }, expect: 'forbidden_sender' },
      { path: '/v1/messages', body: TEXT_TO(C_B, PNID_B), expect: 'forbidden_sender' },
    ],
  },
  'GET /v1/messages': {
    probes: [
      {
        path: '/v1/messages?limit=500',
        expect: 'ok',
        control: true,
        check: (j) => onlyShopA((j.messages as { sender: string }[]).map((m) => m.sender)),
      },
      { path: '/v1/messages?sender=shop_b', expect: 'forbidden_sender' },
    ],
  },
  'GET /v1/messages/:id': {
    probes: [
      { path: '/v1/messages/{b.ok_message}', expect: 'not_found' },
      { path: '/v1/messages/{b.dead_message}', expect: 'not_found' },
    ],
  },
  'POST /v1/messages/retry': {
    probes: [
      { path: '/v1/messages/retry', body: { message_ids: ['{b.dead_message}', '{b.ok_message}'] }, expect: 'ok', check: retrySkipped },
    ],
  },
  'POST /v1/messages/read': {
    probes: [{ path: '/v1/messages/read', body: { message_id: WAMID, sender: 'shop_b' }, expect: 'forbidden_sender' }],
  },
  'POST /v1/compliance/check': {
    probes: [
      { path: '/v1/compliance/check', body: TEXT_TO(C_SHARED, 'shop_b'), expect: 'forbidden_sender' },
      { path: '/v1/compliance/check', body: TEXT_TO(C_SHARED), expect: 'ok' },
    ],
  },

  'GET /v1/customers/:phone': { probes: [{ path: `/v1/customers/${C_SHARED}`, expect: 'ok', control: true, check: windowsOnlyA }] },
  'PUT /v1/customers/:phone': {
    probes: [{ path: `/v1/customers/${C_SHARED}`, body: { time_zone: 'Europe/London' }, expect: 'ok', check: windowsOnlyA }],
  },
  'PUT /v1/customers/:phone/consent': {
    probes: [
      { path: `/v1/customers/${C_STOP}/consent`, body: { category: 'marketing', state: 'opted_in' }, expect: 'consent_refused' },
      {
        path: `/v1/customers/${C_STOP}/consent`,
        body: { category: 'marketing', state: 'unknown', source: 'reset' },
        expect: 'consent_refused',
      },
    ],
  },
  'POST /v1/customers/:phone/inbound': {
    probes: [{ path: `/v1/customers/${C_B}/inbound`, body: { sender: 'shop_b' }, expect: 'forbidden_sender' }],
  },
  'GET /v1/customers/:phone/context': {
    probes: [
      {
        path: `/v1/customers/${C_SHARED}/context`,
        expect: 'ok',
        control: true,
        check: (j) => (windowsOnlyA(j), expect(j.sender).toBe('shop_a')),
      },
      { path: `/v1/customers/${C_SHARED}/context?sender=shop_b`, expect: 'forbidden_sender' },
    ],
  },
  'GET /v1/customers/:phone/frequency-cap': {
    probes: [
      { path: `/v1/customers/${C_SHARED}/frequency-cap?sender=shop_b`, expect: 'forbidden_sender' },
      { path: `/v1/customers/${C_SHARED}/frequency-cap`, expect: 'ok' },
    ],
  },

  'GET /v1/conversations': {
    probes: [
      {
        path: '/v1/conversations?status_filter=all&limit=500',
        expect: 'ok',
        control: true,
        check: (j) => onlyShopA((j.conversations as { sender: string }[]).map((c) => c.sender)),
      },
      { path: '/v1/conversations?sender=shop_b', expect: 'forbidden_sender' },
      { path: `/v1/conversations?sender=${PNID_B}`, expect: 'forbidden_sender' },
    ],
  },
  'GET /v1/conversations/:id': {
    probes: [
      { path: `/v1/conversations/shop_b:${C_B}`, expect: 'forbidden_sender' },
      { path: `/v1/conversations/${PNID_B}:${C_B}`, expect: 'forbidden_sender' },
      { path: `/v1/conversations/nobody:${C_B}`, expect: 'forbidden_sender' },
    ],
  },
  'POST /v1/conversations/:id/archive': { probes: [{ path: `/v1/conversations/shop_b:${C_B}/archive`, expect: 'forbidden_sender' }] },

  'GET /v1/templates': { probes: [{ path: '/v1/templates?sender=shop_b', expect: 'forbidden_sender' }] },
  'POST /v1/templates/sync': { probes: [{ path: '/v1/templates/sync', body: { sender: 'shop_b' }, expect: 'forbidden_sender' }] },
  'POST /v1/templates': {
    probes: [
      {
        path: '/v1/templates',
        body: {
          sender: 'shop_b',
          name: 'isolation_probe',
          category: 'UTILITY',
          language: 'en_US',
          components: [{ type: 'BODY', text: 'x' }],
        },
        expect: 'forbidden_sender',
      },
    ],
  },

  'GET /v1/senders': {
    probes: [
      { path: '/v1/senders', expect: 'ok', control: true, check: (j) => onlyShopA((j.senders as { id: string }[]).map((s) => s.id)) },
    ],
  },
  'GET /v1/senders/:id/health': {
    probes: [
      { path: '/v1/senders/shop_b/health', expect: 'forbidden_sender' },
      { path: `/v1/senders/${PNID_B}/health`, expect: 'forbidden_sender' },
      { path: '/v1/senders/nobody/health', expect: 'forbidden_sender' },
    ],
  },
  'POST /v1/senders/:id/check': { probes: [{ path: '/v1/senders/shop_b/check', expect: 'forbidden_sender' }] },
  'POST /v1/senders/:id/pause': { probes: [{ path: '/v1/senders/shop_b/pause', body: { reason: 'x' }, expect: 'forbidden_sender' }] },
  'POST /v1/senders/:id/resume': { probes: [{ path: '/v1/senders/shop_b/resume', expect: 'forbidden_sender' }] },
  'PUT /v1/senders/:id/token': {
    probes: [{ path: '/v1/senders/shop_b/token', body: { access_token: 'sandbox-token-shop_a' }, expect: 'forbidden_sender' }],
  },
  'GET /v1/senders/:id/rate-limit': { probes: [{ path: '/v1/senders/shop_b/rate-limit', expect: 'forbidden_sender' }] },
  'GET /v1/senders/:id/quality': { probes: [{ path: '/v1/senders/shop_b/quality', expect: 'forbidden_sender' }] },
  'GET /v1/alerts': { probes: [{ path: '/v1/alerts', expect: 'ok', control: true }] },

  'GET /v1/dead-letters': {
    probes: [
      {
        path: '/v1/dead-letters?limit=500',
        expect: 'ok',
        control: true,
        check: (j) => onlyShopA((j.dead_letters as { sender_id: string }[]).map((d) => d.sender_id)),
      },
      { path: '/v1/dead-letters?sender=shop_b', expect: 'forbidden_sender' },
    ],
  },
  'GET /v1/dead-letters/:id': { probes: [{ path: '/v1/dead-letters/{b.dead_letter}', expect: 'not_found' }] },
  'POST /v1/dead-letters/:id/replay': { probes: [{ path: '/v1/dead-letters/{b.dead_letter}/replay', expect: 'not_found' }] },
  'DELETE /v1/dead-letters/:id': { probes: [{ path: '/v1/dead-letters/{b.dead_letter}', expect: 'not_found' }] },

  'GET /v1/errors/:code': { probes: [{ path: '/v1/errors/131047', expect: 'ok' }] },
  'POST /v1/pricing/estimate': {
    probes: [
      {
        path: '/v1/pricing/estimate',
        body: { message_type: 'utility', customer_id: C_SHARED, sender: 'shop_b' },
        expect: 'forbidden_sender',
      },
      { path: '/v1/pricing/estimate', body: { message_type: 'utility', customer_id: C_SHARED }, expect: 'ok' },
    ],
  },
  'GET /v1/pricing': { probes: [{ path: '/v1/pricing?conversation_type=marketing&recipient_country=GB', expect: 'ok' }] },
  'POST /v1/webhooks/sync': {
    probes: [
      { path: '/v1/webhooks/sync', body: { sender: 'shop_b' }, expect: 'forbidden_sender' },
      { path: '/v1/webhooks/sync', body: { stale_after_min: 1 }, expect: 'ok' },
    ],
  },
  // Set-aside webhook batches: raw bodies of any sender, so only a key for every sender.
  'GET /v1/webhooks/failed': { probes: [{ path: '/v1/webhooks/failed', expect: 'forbidden_sender' }] },
  'GET /v1/webhooks/failed/:id': { probes: [{ path: '/v1/webhooks/failed/wh_any', expect: 'forbidden_sender' }] },
  'POST /v1/webhooks/failed/:id/replay': { probes: [{ path: '/v1/webhooks/failed/wh_any/replay', expect: 'forbidden_sender' }] },
  'DELETE /v1/webhooks/failed/:id': { probes: [{ path: '/v1/webhooks/failed/wh_any', expect: 'forbidden_sender' }] },

  // Campaigns and scheduled messages (issue 15): another sender's are absent.
  'POST /v1/campaigns': {
    probes: [
      {
        path: '/v1/campaigns',
        body: {
          name: 'x',
          sender: 'shop_b',
          template: { name: 'hello_world', language: 'en_US' },
          audience: { recipients: [{ to: C_B }] },
        },
        expect: 'forbidden_sender',
      },
    ],
  },
  'GET /v1/campaigns': {
    probes: [{ path: '/v1/campaigns', expect: 'ok', control: true, check: (j) => expect(j.campaigns).toEqual([]) }],
  },
  'GET /v1/campaigns/:id': { probes: [{ path: '/v1/campaigns/{b.campaign}', expect: 'not_found' }] },
  'GET /v1/campaigns/:id/recipients': { probes: [{ path: '/v1/campaigns/{b.campaign}/recipients', expect: 'not_found' }] },
  'GET /v1/campaigns/:id/invalid-rows': { probes: [{ path: '/v1/campaigns/{b.campaign}/invalid-rows', expect: 'not_found' }] },
  'POST /v1/campaigns/:id/preview': { probes: [{ path: '/v1/campaigns/{b.campaign}/preview', expect: 'not_found' }] },
  'POST /v1/campaigns/:id/start': { probes: [{ path: '/v1/campaigns/{b.campaign}/start', expect: 'not_found' }] },
  'POST /v1/campaigns/:id/pause': { probes: [{ path: '/v1/campaigns/{b.campaign}/pause', expect: 'not_found' }] },
  'POST /v1/campaigns/:id/resume': { probes: [{ path: '/v1/campaigns/{b.campaign}/resume', expect: 'not_found' }] },
  'POST /v1/campaigns/:id/cancel': { probes: [{ path: '/v1/campaigns/{b.campaign}/cancel', expect: 'not_found' }] },
  'POST /v1/scheduled-messages': {
    probes: [
      {
        path: '/v1/scheduled-messages',
        body: { ...TEXT_TO(C_B, 'shop_b'), deliver_at: new Date(Date.now() + 48 * H).toISOString() },
        expect: 'forbidden_sender',
      },
    ],
  },
  'GET /v1/scheduled-messages/:id': { probes: [{ path: '/v1/scheduled-messages/{b.scheduled}', expect: 'not_found' }] },
  'DELETE /v1/scheduled-messages/:id': { probes: [{ path: '/v1/scheduled-messages/{b.scheduled}', expect: 'not_found' }] },

  // The dashboard (issue 16): its shell and assets hold no data; a session stands for the key it was
  // opened with (same senders). Its /v1 reads show only the key's senders.
  'GET /dashboard': { public: 'the UI shell (HTML), no data' },
  'GET /dashboard/': { public: 'the UI shell (HTML), no data' },
  'GET /dashboard/*': { public: 'the UI assets (scripts, styles), no data' },
  'GET /dashboard/session': { public: "the caller's own session (its key's name, role and senders)" },
  'POST /dashboard/session': { public: 'exchanges an API key for a session cookie; the key’s own sender limit applies to it' },
  'DELETE /dashboard/session': { public: 'ends the caller’s own session' },
  'GET /v1/overview': {
    probes: [
      {
        path: '/v1/overview',
        expect: 'ok',
        control: true,
        check: (j) => onlyShopA((j.senders as { id?: string; sender_id?: string }[]).map((x) => (x.id ?? x.sender_id) as string)),
      },
    ],
  },
  'GET /v1/stats/series': { probes: [{ path: '/v1/stats/series', expect: 'ok' }] },
  'GET /v1/messages/search': {
    probes: [
      { path: '/v1/messages/search?q={b.ok_message}', expect: 'ok', check: (j) => expect(j.messages).toEqual([]) },
      { path: `/v1/messages/search?q=${C_B}`, expect: 'ok', check: (j) => expect(j.messages).toEqual([]) },
    ],
  },
  'GET /v1/customers/:phone/timeline': { probes: [{ path: `/v1/customers/${C_SHARED}/timeline`, expect: 'ok' }] },
  'POST /v1/alerts/:id/acknowledge': { probes: [{ path: '/v1/alerts/{b.alert}/acknowledge', expect: 'not_found' }] },
  'POST /v1/dead-letters/bulk': {
    probes: [
      { path: '/v1/dead-letters/bulk', body: { action: 'discard', sender: 'shop_b' }, expect: 'forbidden_sender' },
      { path: '/v1/dead-letters/bulk', body: { action: 'discard', ids: ['{b.dead_letter}'] }, expect: 'ok' },
    ],
  },
};

const TOOL_CASES: Record<string, ToolProbe[]> = {
  check_compliance: [
    { args: { customer_id: C_SHARED, sender: 'shop_b' }, expect: 'forbidden_sender' },
    { args: { customer_id: C_SHARED, message_type: 'service' }, expect: 'ok' },
  ],
  send_message: [{ args: { to: C_B, text: 'hi', sender: 'shop_b' }, expect: 'forbidden_sender' }],
  send_template: [{ args: { to: C_B, template_name: 'hello_world', sender: 'shop_b' }, expect: 'forbidden_sender' }],
  reply_customer: [{ args: { customer_id: C_B, message_text: 'hi', sender: 'shop_b' }, expect: 'forbidden_sender' }],
  send_media: [{ args: { to: C_B, media_type: 'image', link: 'https://example.com/a.png', sender: PNID_B }, expect: 'forbidden_sender' }],
  send_interactive: [
    {
      args: {
        to: C_B,
        interactive: { type: 'button', body: { text: 'x' }, action: { buttons: [{ type: 'reply', reply: { id: 'y', title: 'Yes' } }] } },
        sender: 'shop_b',
      },
      expect: 'forbidden_sender',
    },
  ],
  mark_as_read: [{ args: { message_id: WAMID, sender: 'shop_b' }, expect: 'forbidden_sender' }],
  explain_error: [{ args: { code: 131047 }, expect: 'ok' }],
  retry_failed_messages: [{ args: { message_ids: ['{b.dead_message}', '{b.ok_message}'] }, expect: 'ok', check: retrySkipped }],
  sync_template_status: [{ args: { template_name: 'hello_world', sender: 'shop_b' }, expect: 'forbidden_sender' }],
  check_conversation: [
    { args: { customer_id: C_B, sender: 'shop_b' }, expect: 'forbidden_sender' },
    { args: { customer_id: C_SHARED }, expect: 'ok', check: (j) => expect(j.sender).toBe('shop_a') },
  ],
  check_frequency_cap: [{ args: { customer_id: C_SHARED, sender: 'shop_b' }, expect: 'forbidden_sender' }],
  get_customer_context: [
    { args: { customer_id: C_SHARED }, expect: 'ok', control: true, check: windowsOnlyA },
    { args: { customer_id: C_SHARED, sender: 'shop_b' }, expect: 'forbidden_sender' },
  ],
  get_delivery_status: [{ args: { message_id: '{b.ok_message}' }, expect: 'not_found' }],
  get_rate_limit: [{ args: { sender: 'shop_b' }, expect: 'forbidden_sender' }],
  list_conversations: [
    {
      args: { status_filter: 'all', limit: 500 },
      expect: 'ok',
      control: true,
      check: (j) => onlyShopA((j.conversations as { sender: string }[]).map((c) => c.sender)),
    },
    { args: { sender: 'shop_b' }, expect: 'forbidden_sender' },
  ],
  list_templates: [{ args: { sender: 'shop_b' }, expect: 'forbidden_sender' }],
  get_account_quality: [{ args: { sender: 'shop_b' }, expect: 'forbidden_sender' }],
  estimate_cost: [{ args: { message_type: 'utility', customer_id: C_SHARED, sender: 'shop_b' }, expect: 'forbidden_sender' }],
  estimate_pricing: [{ args: { conversation_type: 'marketing', recipient_country: 'GB' }, expect: 'ok' }],
  create_template: [
    {
      args: { name: 'isolation_probe', category: 'UTILITY', language: 'en_US', body_text: 'x', sender: 'shop_b' },
      expect: 'forbidden_sender',
    },
  ],
  sync_webhooks: [{ args: { sender: 'shop_b' }, expect: 'forbidden_sender' }],
  archive_chat: [{ args: { conversation_id: `shop_b:${C_B}` }, expect: 'forbidden_sender' }],
  set_consent: [
    { args: { customer_id: C_STOP, category: 'marketing', state: 'opted_in' }, expect: 'consent_refused' },
    { args: { customer_id: C_STOP, category: 'marketing', state: 'unknown' }, expect: 'consent_refused' },
  ],
  get_sender_health: [
    { args: { sender: 'shop_b' }, expect: 'forbidden_sender' },
    { args: { sender: 'nobody' }, expect: 'forbidden_sender' },
  ],
  resume_sender: [{ args: { sender: 'shop_b' }, expect: 'forbidden_sender' }],
  // Campaigns (issue 15): another sender's campaign answers not found; naming that sender is refused.
  schedule_message: [
    {
      args: {
        customer_id: C_B,
        message_type: 'text',
        content: { text: { body: 'hi' } },
        deliver_at: '2030-01-01T10:00:00Z',
        sender: 'shop_b',
      },
      expect: 'forbidden_sender',
    },
  ],
  schedule_campaign: [
    { args: { name: 'x', template_name: 'hello_world', recipients: [{ to: C_B }], sender: 'shop_b' }, expect: 'forbidden_sender' },
  ],
  preview_campaign: [{ args: { campaign_id: '{b.campaign}' }, expect: 'not_found' }],
  pause_campaign: [{ args: { campaign_id: '{b.campaign}' }, expect: 'not_found' }],
  resume_campaign: [{ args: { campaign_id: '{b.campaign}' }, expect: 'not_found' }],
  cancel_campaign: [{ args: { campaign_id: '{b.campaign}' }, expect: 'not_found' }],
  get_campaign: [{ args: { campaign_id: '{b.campaign}' }, expect: 'not_found' }],
  list_campaigns: [
    { args: {}, expect: 'ok', control: true, check: (j) => expect(j.campaigns).toEqual([]) },
    { args: { sender: 'shop_b' }, expect: 'forbidden_sender' },
  ],
  list_dead_letters: [
    {
      args: { limit: 500 },
      expect: 'ok',
      control: true,
      check: (j) => onlyShopA((j.dead_letters as { sender_id: string }[]).map((d) => d.sender_id)),
    },
    { args: { sender: 'shop_b' }, expect: 'forbidden_sender' },
  ],
  replay_dead_letter: [{ args: { dead_letter_id: '{b.dead_letter}' }, expect: 'not_found' }],
};

/** "{b.dead_letter}" → the id made in beforeAll, in a probe's path, body and arguments (check and control kept). */
function fill<T extends Probe>(p: T): T {
  const ids = (v: unknown) =>
    v === undefined ? v : JSON.parse(JSON.stringify(v).replace(/\{b\.(\w+)\}/g, (_m, k: keyof typeof b) => b[k]));
  const q = p as unknown as Partial<HttpProbe & ToolProbe>;
  return {
    ...p,
    ...(q.path !== undefined ? { path: ids(q.path) } : {}),
    ...(q.body !== undefined ? { body: ids(q.body) } : {}),
    ...(q.args !== undefined ? { args: ids(q.args) } : {}),
  };
}

/** Every (method, url) of the real Fastify route table, parsed from printRoutes (HEAD is listed with its GET). */
function registeredRoutes(): { method: string; url: string }[] {
  const out: { method: string; url: string }[] = [];
  const stack: string[] = [];
  for (const line of w.app.http.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    stack.push(m[2]);
    for (const method of (m[3] ?? '').split(', ').filter(Boolean)) out.push({ method, url: stack.join('') });
  }
  return out;
}

/** The answer is what the table says (status 0: MCP, no HTTP status). */
function expectOutcome(
  what: string,
  expected: Expect,
  status: number,
  json: Record<string, any>,
  isError: boolean,
  check?: Probe['check'],
): void {
  const code = json.error?.code as string | undefined;
  if (expected === 'ok') {
    expect(isError, `${what}: ${JSON.stringify(json).slice(0, 400)}`).toBe(false);
    check?.(json);
    return;
  }
  expect(isError, `${what} should be refused`).toBe(true);
  if (expected === 'forbidden_sender') {
    expect(code, `${what}: ${JSON.stringify(json).slice(0, 400)}`).toBe('FORBIDDEN_SENDER');
    if (status) expect(status, what).toBe(403);
    expect(json.error.details.allowed, what).toEqual(['shop_a']);
  } else if (expected === 'not_found') {
    expect(code, `${what}: ${JSON.stringify(json).slice(0, 400)}`).toMatch(/_NOT_FOUND$/);
    if (status) expect(status, what).toBe(404);
  } else {
    expect(code, `${what}: ${JSON.stringify(json).slice(0, 400)}`).toBe('CONSENT_LIFT_FORBIDDEN');
    if (status) expect(status, what).toBe(403);
  }
  expect(String(json.error.fix).length, what).toBeGreaterThan(10);
}

/**
 * One probe's verdict, collected (the walk reports every failing route at once): the outcome, no
 * shop_b marker the request did not carry, and for a `control` probe shop_b data in the all-senders
 * key's answer to the same request.
 */
async function judge(
  failures: string[],
  what: string,
  p: Probe,
  got: { text: string; request: string },
  outcome: (what: string) => void,
  allKeyText?: () => Promise<string>,
): Promise<void> {
  try {
    outcome(what);
    expect(leaked(got.text, got.request), `${what} leaks shop_b data: ${got.text.slice(0, 300)}`).toEqual([]);
    if (p.control && allKeyText) {
      const all = await allKeyText();
      expect(
        markers.some((m) => all.includes(m)),
        `${what}: the all-senders key sees shop_b data there`,
      ).toBe(true);
    }
  } catch (err) {
    failures.push(`${what}: ${String((err as Error).message).split('\n')[0]}`);
  }
}

describe('a key limited to sender shop_a, against sender shop_b (issue 17, defect 5)', () => {
  it('every route of the route table and every MCP tool is classified', async () => {
    const routes = registeredRoutes();
    expect(routes.length).toBeGreaterThan(40);
    const keys = new Set(routes.filter((r) => r.method !== 'HEAD').map((r) => `${r.method} ${r.url}`));
    for (const r of routes.filter((x) => x.method === 'HEAD')) expect(keys, `HEAD ${r.url} runs its GET`).toContain(`GET ${r.url}`);
    const unclassified = [...keys].filter((k) => !(k in ROUTE_CASES));
    expect(unclassified, 'routes without an entry in ROUTE_CASES: add one saying what a limited key gets').toEqual([]);
    expect(
      Object.keys(ROUTE_CASES).filter((k) => !keys.has(k)),
      'entries for routes that are not registered',
    ).toEqual([]);
    const { tools } = await mcpA.listTools();
    const names = new Set(tools.map((t) => t.name));
    expect(
      [...names].filter((n) => !(n in TOOL_CASES)),
      'tools without an entry in TOOL_CASES',
    ).toEqual([]);
    expect(
      Object.keys(TOOL_CASES).filter((n) => !names.has(n)),
      'entries for tools that do not exist',
    ).toEqual([]);
  });

  it('walks every route: no shop_b data in any answer, refusals as the table says', async () => {
    const before = await snapshotB();
    const failures: string[] = [];
    for (const { method, url } of registeredRoutes()) {
      const c = ROUTE_CASES[method === 'HEAD' ? `GET ${url}` : `${method} ${url}`];
      if (!c || !('probes' in c)) continue;
      for (const p0 of c.probes) {
        const p = fill(p0);
        const body = method === 'GET' || method === 'HEAD' ? undefined : (p.body ?? {});
        const r = await req(method, p.path, KEY_A, body);
        await judge(
          failures,
          `${method} ${p.path}`,
          p,
          { text: r.text, request: p.path + JSON.stringify(body ?? '') },
          (what) => {
            if (method === 'HEAD') expect(r.status, what).toBe(p.expect === 'ok' ? 200 : p.expect === 'not_found' ? 404 : 403);
            else expectOutcome(what, p.expect, r.status, r.json, r.status >= 400, p.check);
          },
          method === 'GET' ? async () => (await req(method, p.path, KEY_ALL)).text : undefined,
        );
      }
    }
    expect(failures).toEqual([]);
    expect(await snapshotB()).toEqual(before);
  }, 60_000);

  it('walks every MCP tool: no shop_b data in any result, refusals as the table says', async () => {
    const before = await snapshotB();
    const failures: string[] = [];
    const { tools } = await mcpA.listTools();
    for (const { name } of tools) {
      for (const p0 of TOOL_CASES[name] ?? []) {
        const p = fill(p0);
        const r = (await mcpA.callTool({ name, arguments: p.args })) as ToolCallResult;
        await judge(
          failures,
          `${name} ${JSON.stringify(p.args)}`,
          p,
          { text: JSON.stringify(r), request: JSON.stringify(p.args) },
          (what) => {
            expectOutcome(what, p.expect, 0, r.isError ? bodyOf(r) : (r.structuredContent ?? {}), r.isError === true, p.check);
          },
          async () => JSON.stringify(await mcpAll.callTool({ name, arguments: p.args })),
        );
      }
    }
    expect(failures).toEqual([]);
    expect(await snapshotB()).toEqual(before);
  }, 60_000);

  it('the limited key still works on its own sender: its dead letter is retried, its conversation read', async () => {
    const r = await req('POST', '/v1/messages/retry', KEY_A, { message_ids: [a.dead_message, b.dead_message] });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ retried: 1, skipped: 1 });
    expect(r.json.results[0]).toMatchObject({ message_id: a.dead_message, status: 'retried' });
    const dl = await req('GET', `/v1/dead-letters/${a.dead_letter}`, KEY_A);
    expect(dl.json.state).toBe('replayed');
    const conv = await req('GET', `/v1/conversations/shop_a:${C_SHARED}`, KEY_A);
    expect(conv.status, conv.text).toBe(200);
    expect(conv.json).toMatchObject({ sender: 'shop_a', window_open: true });
    expect((await asAll('GET', `/v1/dead-letters/${b.dead_letter}`)).json.state).toBe('open');
  });

  it('consent: a limited key records an opt-out and a first opt-in, but never lifts an opt-out', async () => {
    const fresh = '447700900399';
    const optIn = await req('PUT', `/v1/customers/${fresh}/consent`, KEY_A, {
      category: 'marketing',
      state: 'opted_in',
      source: 'checkout form',
    });
    expect(optIn.status, optIn.text).toBe(200);
    expect(optIn.json.consent.marketing).toBe('opted_in');
    const out = await req('PUT', `/v1/customers/${fresh}/consent`, KEY_A, {
      category: 'marketing',
      state: 'opted_out',
      source: 'phone call',
    });
    expect(out.status, out.text).toBe(200);
    expect(out.json.consent.marketing).toBe('opted_out');
    // Its own opt-out too: lifting needs the customer (START) or a key for every sender.
    const lift = await req('PUT', `/v1/customers/${fresh}/consent`, KEY_A, { category: 'marketing', state: 'opted_in' });
    expect(lift.status).toBe(403);
    expect(lift.json.error).toMatchObject({ code: 'CONSENT_LIFT_FORBIDDEN', details: { category: 'marketing', state: 'opted_out' } });
    const viaMcp = (await mcpA.callTool({
      name: 'set_consent',
      arguments: { customer_id: fresh, category: 'utility', state: 'opted_out' },
    })) as ToolCallResult;
    expect(viaMcp.isError).toBeFalsy();
    expect((viaMcp.structuredContent!.consent as Record<string, string>).utility).toBe('opted_out');
    const byAll = await asAll('PUT', `/v1/customers/${fresh}/consent`, {
      category: 'marketing',
      state: 'opted_in',
      source: 'customer called back',
    });
    expect(byAll.status, byAll.text).toBe(200);
    expect(byAll.json.consent.marketing).toBe('opted_in');
    expect((await asAll('GET', `/v1/customers/${C_STOP}`)).json.consent.marketing).toBe('opted_out');
  });
});
