// API keys (hashed at rest), roles, allowed senders, the ingress rate limit per key, and the same
// rules on /mcp: against a whole wagate on 127.0.0.1 (createApp + real HTTP requests).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sha256Hex } from '../../src/http/auth.ts';
import { expectExplainedRefusal, PHONE_NUMBER_ID, startWagate, WABA_ID, type Running, type ToolCallResult } from '../mcp/helpers.ts';

const KEYS = {
  reader: 'rk_reader_0123456789',
  sender: 'sk_sender_0123456789',
  admin: 'ak_admin_0123456789',
  limited: 'lk_limited_012345678',
  second: 'sk_second_0123456789',
};
let w: Running;

beforeAll(async () => {
  w = await startWagate({
    senders: [
      { id: 'main', phone_number_id: PHONE_NUMBER_ID, waba_id: WABA_ID, business_id: 'faces', messaging_limit: null },
      { id: 'second', phone_number_id: '106540352242923', waba_id: WABA_ID, business_id: 'faces', messaging_limit: null },
    ],
    api: {
      keys: [
        { name: 'reader', key_sha256: sha256Hex(KEYS.reader), role: 'read' },
        { name: 'sender', key_sha256: sha256Hex(KEYS.sender), role: 'send', senders: ['main'] },
        { name: 'admin', key_sha256: sha256Hex(KEYS.admin), role: 'admin' },
        { name: 'limited', key_sha256: sha256Hex(KEYS.limited), role: 'read' },
        { name: 'second-only', key_sha256: sha256Hex(KEYS.second), role: 'send', senders: ['second'] },
      ],
      rate_limit_per_minute: 40,
    },
  });
}, 30_000);

afterAll(async () => {
  await w?.close();
});

async function req(method: string, path: string, opts: { key?: string; header?: 'bearer' | 'x-api-key'; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.key) {
    if (opts.header === 'x-api-key') headers['x-api-key'] = opts.key;
    else headers.authorization = `Bearer ${opts.key}`;
  }
  const r = await fetch(`${w.base}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await r.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, json, headers: r.headers, text };
}

function expectError(r: { json: Record<string, unknown> }, code: string) {
  const e = r.json.error as Record<string, unknown>;
  expect(e.code).toBe(code);
  expect(String(e.message).length).toBeGreaterThan(5);
  expect(String(e.fix).length).toBeGreaterThan(5);
  expect(typeof e.details).toBe('object');
}

const TEXT = { to: '+447700900123', type: 'text', text: { body: 'hi' } };

describe('API keys', () => {
  it('keeps /health, /ready, /metrics, /openapi.json and /docs open', async () => {
    for (const p of ['/health', '/ready', '/metrics', '/openapi.json', '/docs']) expect((await req('GET', p)).status, p).toBe(200);
    expect((await req('GET', '/docs')).text).toContain('/openapi.json');
    expect((await req('GET', '/not-an-api-path')).status).toBe(404); // outside /v1 and /mcp: no key asked
    expect((await req('GET', '/v1/not-a-route')).status).toBe(401);
  });

  it('401 without a key, 401 with an unknown key, both saying how to fix it', async () => {
    const none = await req('GET', '/v1/senders');
    expect(none.status).toBe(401);
    expectError(none, 'UNAUTHORIZED');
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    const wrong = await req('GET', '/v1/senders', { key: 'nope-not-a-key' });
    expect(wrong.status).toBe(401);
    expectError(wrong, 'INVALID_API_KEY');
  });

  it('accepts Bearer and X-API-Key', async () => {
    expect((await req('GET', '/v1/senders', { key: KEYS.reader })).status).toBe(200);
    expect((await req('GET', '/v1/senders', { key: KEYS.reader, header: 'x-api-key' })).status).toBe(200);
  });

  it('403 when the role is too low, naming the role needed', async () => {
    const r = await req('POST', '/v1/messages', { key: KEYS.reader, body: TEXT });
    expect(r.status).toBe(403);
    expectError(r, 'FORBIDDEN_ROLE');
    expect((r.json.error as { details: { required: string } }).details.required).toBe('send');
    const admin = await req('POST', '/v1/senders/main/pause', { key: KEYS.sender, body: {} });
    expect(admin.status).toBe(403);
    expectError(admin, 'FORBIDDEN_ROLE');
  });

  it('403 for a sender the key may not use; its own sender works', async () => {
    const other = await req('POST', '/v1/messages', { key: KEYS.sender, body: { ...TEXT, sender: 'second' } });
    expect(other.status).toBe(403);
    expectError(other, 'FORBIDDEN_SENDER');
    const byId = await req('GET', '/v1/senders/second/health', { key: KEYS.sender });
    expect(byId.status).toBe(403);
    const own = await req('POST', '/v1/messages', { key: KEYS.sender, body: { ...TEXT, sender: 'main' } });
    expect(own.status).toBe(422); // reached the gate: window closed
    expect((own.json.decision as { reason_code: string }).reason_code).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
    const admin = await req('POST', '/v1/messages', { key: KEYS.admin, body: { ...TEXT, sender: 'second' } });
    expect(admin.status).toBe(422);
  });

  it("a key limited to some senders cannot see another sender's messages or alerts (404, filtered lists)", async () => {
    const tpl = { to: '+447700900555', type: 'template', template: { name: 'hello_world', language: { code: 'en_US' } }, sender: 'main' };
    const sent = await req('POST', '/v1/messages', { key: KEYS.admin, body: tpl });
    expect(sent.status, JSON.stringify(sent.json)).toBe(202);
    const id = sent.json.id as string;
    expect((await req('GET', `/v1/messages/${id}`, { key: KEYS.admin })).status).toBe(200);
    expect((await req('GET', `/v1/messages/${id}`, { key: KEYS.sender })).status).toBe(200); // main is its sender
    const hidden = await req('GET', `/v1/messages/${id}`, { key: KEYS.second });
    expect(hidden.status).toBe(404);
    expectError(hidden, 'MESSAGE_NOT_FOUND');
    const list = await req('GET', '/v1/messages?limit=200', { key: KEYS.second });
    expect(list.status).toBe(200);
    expect((list.json.messages as { id: string }[]).map((m) => m.id)).not.toContain(id);
    const all = await req('GET', '/v1/messages?limit=200', { key: KEYS.admin });
    expect((all.json.messages as { id: string }[]).map((m) => m.id)).toContain(id);
    // The same over MCP: get_delivery_status by id answers "not found" to the other sender's key.
    const c = new Client({ name: 'auth-test', version: '1' });
    await c.connect(
      new StreamableHTTPClientTransport(new URL(`${w.base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${KEYS.second}` } } }),
    );
    const viaMcp = (await c.callTool({ name: 'get_delivery_status', arguments: { message_id: id } })) as ToolCallResult;
    expect((expectExplainedRefusal(viaMcp).error as { code: string }).code).toBe('MESSAGE_NOT_FOUND');
    await c.close();
  });

  it('a key limited to other senders acts for its own sender by default, and can still list and read', async () => {
    const r = await req('POST', '/v1/messages', { key: KEYS.second, body: TEXT });
    expect(r.status).toBe(422);
    expect((r.json.decision as { explanation: string }).explanation).toContain('sender second');
    expect((await req('GET', '/v1/senders', { key: KEYS.second })).status).toBe(200);
    expect((await req('GET', '/v1/errors/131047', { key: KEYS.second })).status).toBe(200);
    const tpl = await req('GET', '/v1/templates', { key: KEYS.second });
    expect(tpl.status).toBe(200);
  });

  it('rate-limits per key (429 with the error body and Retry-After), other keys unaffected', async () => {
    let last = { status: 0, json: {} as Record<string, unknown>, headers: new Headers() };
    for (let i = 0; i < 45 && last.status !== 429; i++) last = await req('GET', '/v1/templates', { key: KEYS.limited });
    expect(last.status).toBe(429);
    expectError(last, 'RATE_LIMITED');
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await req('GET', '/v1/templates', { key: KEYS.admin })).status).toBe(200);
    expect((await req('GET', '/health')).status).toBe(200);
  });

  it('applies to /mcp: no key → 401; a read key cannot send; a send key cannot use another sender', async () => {
    const none = await fetch(`${w.base}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(none.status).toBe(401);
    const connect = async (key: string) => {
      const c = new Client({ name: 'auth-test', version: '1' });
      await c.connect(
        new StreamableHTTPClientTransport(new URL(`${w.base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }),
      );
      return c;
    };
    const reader = await connect(KEYS.reader);
    const denied = (await reader.callTool({ name: 'send_message', arguments: { to: '+447700900123', text: 'x' } })) as ToolCallResult;
    expect((expectExplainedRefusal(denied).error as { code: string }).code).toBe('FORBIDDEN_ROLE');
    const ok = (await reader.callTool({ name: 'explain_error', arguments: { code: 131047 } })) as ToolCallResult;
    expect(ok.isError).toBeFalsy();
    await reader.close();
    const sender = await connect(KEYS.sender);
    const other = (await sender.callTool({
      name: 'send_message',
      arguments: { to: '+447700900123', text: 'x', sender: 'second' },
    })) as ToolCallResult;
    expect((expectExplainedRefusal(other).error as { code: string }).code).toBe('FORBIDDEN_SENDER');
    const own = (await sender.callTool({
      name: 'send_message',
      arguments: { to: '+447700900123', text: 'x', sender: 'main' },
    })) as ToolCallResult;
    expect(expectExplainedRefusal(own).reason_code).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
    const second = await connect(KEYS.second);
    const viaOwn = (await second.callTool({ name: 'send_message', arguments: { to: '+447700900123', text: 'x' } })) as ToolCallResult;
    expect(String(expectExplainedRefusal(viaOwn).explanation)).toContain('sender second');
    expect(((await second.callTool({ name: 'explain_error', arguments: { code: 190 } })) as ToolCallResult).isError).toBeFalsy();
    await second.close();
    // A sender implied by an argument counts too (the "<sender>:" of a conversation id).
    const archive = (await sender.callTool({
      name: 'archive_chat',
      arguments: { conversation_id: 'second:447700900123' },
    })) as ToolCallResult;
    expect((expectExplainedRefusal(archive).error as { code: string }).code).toBe('FORBIDDEN_SENDER');
    await sender.close();
  });
});
