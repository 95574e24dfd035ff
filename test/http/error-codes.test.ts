// Every error code a face answers with is in the registry (src/shared/errors/registry.ts), with a
// status the registry declares for it: every route of the real Fastify route table and every MCP tool
// of the real tool list, walked with bad input (no key, an unknown key, a key whose role is too low,
// bad path ids, bad query strings, bad and hostile bodies, unknown senders, wrong argument types).
// A code that is not registered, or answered with another status, fails with the request that got it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sha256Hex } from '../../src/http/auth.ts';
import { errorSpec, type Face } from '../../src/shared/errors/registry.ts';
import { bodyOf, startWagate, type Running, type ToolCallResult } from '../mcp/helpers.ts';

const ADMIN = 'ak_error_codes_admin_0123456789';
const READER = 'ak_error_codes_reader_0123456789';

let w: Running;

beforeAll(async () => {
  w = await startWagate({
    api: {
      keys: [
        { name: 'admin', key_sha256: sha256Hex(ADMIN), role: 'admin' },
        { name: 'reader', key_sha256: sha256Hex(READER), role: 'read' },
      ],
      rate_limit_per_minute: 1_000_000,
    },
  });
}, 30_000);

afterAll(async () => {
  await w?.close();
});

interface Seen {
  code: string;
  status: number | null;
  face: Face;
  request: string;
}
const seen: Seen[] = [];

function record(face: Face, status: number | null, body: unknown, request: string): void {
  const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
  if (typeof code === 'string') seen.push({ code, status, face, request });
}

/** Every (method, url) of the real Fastify route table, parsed from printRoutes (HEAD runs its GET). */
function registeredRoutes(): { method: string; url: string }[] {
  const out: { method: string; url: string }[] = [];
  const stack: string[] = [];
  for (const line of w.app.http.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?/.exec(line);
    if (!m) continue;
    stack.length = m[1].length / 4;
    stack.push(m[2]);
    for (const method of (m[3] ?? '').split(', ').filter(Boolean)) if (method !== 'HEAD') out.push({ method, url: stack.join('') });
  }
  return out;
}

const DEEP = '['.repeat(200) + ']'.repeat(200);
const BODIES: (string | undefined)[] = [
  undefined,
  '',
  '{}',
  'not json',
  '[]',
  '"text"',
  DEEP,
  '{"sender":"nobody"}',
  '{"sender":5,"to":{"toString":1},"type":[],"message_ids":"x","category":"x","state":"x","access_token":"a b","template_name":7,"message_type":"x","name":"BAD NAME"}',
];
const QUERIES = [
  '',
  '?sender=nobody',
  '?status=bogus',
  '?state=bogus',
  '?recipient_country=zz&conversation_type=marketing',
  '?limit=abc&offset=-1&status=bogus&state=bogus&subcode=x&status_filter=x&conversation_type=x&recipient_country=zz',
  '?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1',
];
const PARAMS = ['nope', 'main', 'main:447700900123', 'x'.repeat(101), '%zz', '12', 'abc'];

async function inject(
  method: string,
  url: string,
  opts: { key?: string; body?: string; type?: string; headers?: Record<string, string> } = {},
): Promise<void> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  if (opts.body !== undefined) headers['content-type'] = opts.type ?? 'application/json';
  const r = await w.app.http.inject({ method: method as 'GET', url, headers, ...(opts.body !== undefined ? { payload: opts.body } : {}) });
  let json: unknown = null;
  try {
    json = JSON.parse(r.body);
  } catch {
    /* text, HTML, metrics */
  }
  record(
    url.startsWith('/webhook') ? 'webhook' : 'http',
    r.statusCode,
    json,
    `${method} ${url.slice(0, 120)} ${opts.key === ADMIN ? 'admin' : opts.key === READER ? 'reader' : opts.key ? 'unknown key' : 'no key'} ${String(opts.body ?? '').slice(0, 60)}`,
  );
}

const fill = (url: string, value: string) => url.replace(/:[A-Za-z_]+/g, value);

describe('every error code a face answers with is registered', () => {
  it('walks every route with bad input', async () => {
    const routes = registeredRoutes().filter((r) => r.url !== '/mcp');
    expect(routes.length).toBeGreaterThan(40);
    for (const { method, url } of routes) {
      const path = fill(url, 'nope');
      await inject(method, path);
      await inject(method, path, { key: 'ak_not_a_key_0123456789' });
      await inject(method, path, { key: READER, body: method === 'GET' ? undefined : '{}' });
      for (const p of PARAMS)
        if (url.includes(':')) await inject(method, fill(url, p), { key: ADMIN, body: method === 'GET' ? undefined : '{}' });
      for (const q of QUERIES) await inject(method, path + q, { key: ADMIN, body: method === 'GET' ? undefined : '{}' });
      if (method !== 'GET') for (const b of BODIES) await inject(method, path, { key: ADMIN, body: b });
    }
    // Bodies no route takes, and routes that do not exist.
    await inject('POST', '/v1/messages', { key: ADMIN, body: '<a/>', type: 'application/xml' });
    await inject('POST', '/v1/messages', { key: ADMIN, body: 'hi', type: 'text/plain' });
    await inject('POST', '/v1/messages', {
      key: ADMIN,
      body: JSON.stringify({ to: '+447700900123', type: 'text', text: { body: 'x'.repeat(1_100_000) } }),
    });
    await inject('POST', '/v1/messages', {
      key: ADMIN,
      body: JSON.stringify({ to: '+447700900123', type: 'text', text: { body: 'hi' } }),
      type: 'application/json; charset=utf-16',
    });
    await inject('POST', '/v1/messages', {
      key: ADMIN,
      body: JSON.stringify({ to: '+447700900123', type: 'text', text: { body: 'hi' } }),
      headers: { 'idempotency-key': 'has spaces in it' },
    });
    await inject('GET', '/v1/no-such-route', { key: ADMIN });
    await inject('GET', '/no-such-route');
    await inject('POST', '/webhook', { body: '{}' });
    await inject('GET', '/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1');
  }, 120_000);

  it('walks every MCP tool with bad arguments, as a key whose role is too low, and a call that breaks the protocol', async () => {
    const connect = async (key: string) => {
      const c = new Client({ name: 'error-codes-test', version: '1' });
      await c.connect(
        new StreamableHTTPClientTransport(new URL(`${w.base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }),
      );
      return c;
    };
    const admin = await connect(ADMIN);
    const reader = await connect(READER);
    try {
      const { tools } = await admin.listTools();
      expect(tools.length).toBeGreaterThan(20);
      const junk: Record<string, unknown>[] = [
        {},
        { sender: 'nobody' },
        {
          customer_id: 5,
          to: [],
          message_ids: 'x',
          template_name: 7,
          message_type: 'x',
          code: 'abc',
          conversation_id: 'x',
          dead_letter_id: 'nope',
          message_id: 'nope',
          variables: 'not json',
          components: '{',
          message: '[',
          interactive: 1,
          state: 'x',
        },
        {
          customer_id: '12',
          to: '12',
          message_id: 'nope',
          dead_letter_id: 'dl_nope',
          conversation_id: 'main:447700900123',
          code: 'abc',
          template_name: 'no_such_template',
          name: 'BAD NAME',
          category: 'x',
          language: 'x',
          body_text: 'x',
          recipient_country: 'zz',
          message_type: 'marketing',
          conversation_type: 'marketing',
          text: 'hi',
          message_text: 'hi',
          media_type: 'image',
          link: 'x',
          interactive: { type: 'x' },
          status_filter: 'open',
          message_ids: ['nope'],
        },
      ];
      for (const { name } of tools) {
        for (const args of junk) {
          const r = (await admin.callTool({ name, arguments: args })) as ToolCallResult;
          if (r.isError) record('mcp', null, bodyOf(r), `${name} ${JSON.stringify(args).slice(0, 80)}`);
        }
        const r = (await reader.callTool({ name, arguments: {} })) as ToolCallResult;
        if (r.isError) record('mcp', null, bodyOf(r), `${name} as reader`);
      }
      // Arguments that are not an object, and a tools/call without a tool name (JSON-RPC -32602 with our body as data).
      for (const args of [[], 'x', null]) {
        const res = await fetch(`${w.base}/mcp`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'send_message', arguments: args } }),
        });
        const j = (await res.json()) as { result?: ToolCallResult };
        if (j.result?.isError) record('mcp', null, bodyOf(j.result), `send_message ${JSON.stringify(args)}`);
      }
      const res = await fetch(`${w.base}/mcp`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { arguments: {} } }),
      });
      const j = (await res.json()) as { error?: { code: number; data?: unknown } };
      expect(j.error?.code).toBe(-32602);
      record('mcp', null, j.error?.data, 'tools/call without a name');
    } finally {
      await admin.close();
      await reader.close();
    }
  }, 120_000);

  it('each code seen is registered, for that face, with a status the registry declares', () => {
    const bad: string[] = [];
    for (const s of seen) {
      const spec = errorSpec(s.code);
      if (!spec) {
        bad.push(`${s.code} (not in the registry): ${s.request}`);
        continue;
      }
      if (!spec.faces.includes(s.face) && !(s.face === 'webhook' && spec.faces.includes('http')))
        bad.push(`${s.code} answered by ${s.face}, registered for ${spec.faces.join(', ')}: ${s.request}`);
      const statusOk =
        s.status === null ||
        s.status === spec.status ||
        (spec.statuses === 'any_4xx' ? s.status >= 400 && s.status < 500 : (spec.statuses ?? []).includes(s.status));
      if (!statusOk)
        bad.push(
          `${s.code} answered ${s.status}, registered ${spec.status}${spec.statuses ? ` (or ${String(spec.statuses)})` : ''}: ${s.request}`,
        );
    }
    const codesSeen = [...new Set(seen.map((s) => s.code))].sort();
    expect([...new Set(bad)]).toEqual([]);
    expect(codesSeen.length, codesSeen.join(' ')).toBeGreaterThan(0);
    // The walk is real: it met the auth codes, input codes, not-found codes and MCP's own.
    const codes = new Set(seen.map((s) => s.code));
    for (const c of [
      'INVALID_STATUS',
      'INVALID_STATE',
      'INVALID_IDEMPOTENCY_KEY',
      'UNAUTHORIZED',
      'INVALID_API_KEY',
      'FORBIDDEN_ROLE',
      'INVALID_REQUEST',
      'INVALID_JSON',
      'BODY_TOO_DEEP',
      'NOT_FOUND',
      'UNKNOWN_SENDER',
      'INVALID_ARGUMENTS',
      'INVALID_PARAMS',
      'URI_TOO_LONG',
      'BAD_URL',
      'INVALID_SIGNATURE',
      'VERIFY_TOKEN_MISMATCH',
      'PAYLOAD_TOO_LARGE',
      'UNSUPPORTED_MEDIA_TYPE',
    ]) {
      expect(codes, `the walk met ${c}`).toContain(c);
    }
    expect(codes.size, [...codes].sort().join(' ')).toBeGreaterThan(20);
  });
});
