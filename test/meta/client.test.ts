// GraphClient against real HTTP servers on 127.0.0.1 (node:http), one per behaviour: success, Meta error
// bodies, connection refused (not_sent), a server that reads the request and never answers (in_doubt),
// a socket destroyed after the request was read (in_doubt), keep-alive reuse, the management calls, and
// no token in anything the client returns.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { GraphClient, normalizeVersion, withCallbackData } from '../../src/meta/client.ts';
import type { SenderCredentials } from '../../src/meta/types.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import { classify } from '../../src/domain/errors/index.ts';

const TOKEN = 'EAAGm0PX4ZCpsBA' + 'Zq1w2e3r4t5y6u7i8o9p0'.repeat(3);
const PLAIN_TOKEN = 'sandbox-token-very-secret-42';
const creds = (token = TOKEN): SenderCredentials => ({
  phone_number_id: '106540352242922',
  waba_id: '102290129340398',
  access_token: token,
});

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  socket: Socket;
}
type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let base: string;
let handler: Handler;
const seen: Seen[] = [];
const sockets = new Set<Socket>();
let connections = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body, socket: req.socket });
      handler(req, res, body);
    });
  });
  server.on('connection', (s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

const clients: GraphClient[] = [];
afterEach(async () => {
  seen.length = 0;
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function client(over: Partial<ConstructorParameters<typeof GraphClient>[0]> = {}): GraphClient {
  const c = new GraphClient({ api_url: base, api_version: 'v23.0', connect_timeout_ms: 1_000, request_timeout_ms: 1_000, ...over });
  clients.push(c);
  return c;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const textBody = { messaging_product: 'whatsapp', to: '16505551234', type: 'text', text: { body: 'hi' } };

describe('sendMessage', () => {
  it('200 → accepted with wamid and wa_id; the request is exactly what Meta expects', async () => {
    handler = (_req, res) =>
      json(res, 200, {
        messaging_product: 'whatsapp',
        contacts: [{ input: '+16505551234', wa_id: '16505551234' }],
        messages: [{ id: 'wamid.ABC' }],
      });
    const body = withCallbackData(textBody, 'msg_01HXYZ');
    const r = await client().sendMessage(creds(), body);
    expect(r).toEqual({ kind: 'accepted', wamid: 'wamid.ABC', wa_id: '16505551234', http_status: 200 });
    expect(seen).toHaveLength(1);
    const s = seen[0]!;
    expect(s.method).toBe('POST');
    expect(s.url).toBe('/v23.0/106540352242922/messages');
    expect(s.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(s.headers['content-type']).toBe('application/json');
    expect(s.url).not.toContain(TOKEN); // token in the header only
    expect(JSON.parse(s.body)).toEqual({ ...textBody, biz_opaque_callback_data: 'msg_01HXYZ' });
  });

  it('adds nothing to the body by itself (no biz_opaque_callback_data unless the caller put it)', async () => {
    handler = (_req, res) => json(res, 200, { messages: [{ id: 'wamid.X' }] });
    await client().sendMessage(creds(), textBody);
    expect(JSON.parse(seen[0]!.body)).toEqual(textBody);
  });

  it('Meta error body → error with the parsed GraphError, classified by code', async () => {
    handler = (_req, res) =>
      json(res, 400, {
        error: {
          message: '(#131056) (Business Account, Consumer Account) pair rate limit hit',
          type: 'OAuthException',
          code: 131056,
          error_data: { messaging_product: 'whatsapp', details: 'too many to the same recipient' },
          fbtrace_id: 'AbC',
        },
      });
    const r = await client().sendMessage(creds(), textBody);
    expect(r.kind).toBe('error');
    if (r.kind !== 'error') return;
    expect(r.error).toMatchObject({
      code: 131056,
      http_status: 400,
      details: 'too many to the same recipient',
      fbtrace_id: 'AbC',
      source: 'sync',
    });
    expect(classify(r.error, { attempt: 2 })).toMatchObject({ action: 'retry_after', retry_after_ms: 4_000, scope: 'recipient' });
  });

  it('401 with 190 → error that halts all', async () => {
    handler = (_req, res) =>
      json(res, 401, {
        error: {
          message: 'Error validating access token: Session has expired',
          type: 'OAuthException',
          code: 190,
          error_subcode: 463,
          fbtrace_id: 'x',
        },
      });
    const r = await client().sendMessage(creds(), textBody);
    expect(r.kind === 'error' && classify(r.error).action).toBe('halt_all');
    expect(r.kind === 'error' && r.error.subcode).toBe(463);
  });

  it('a 5xx HTML page from a proxy → error code -1 that is retried; a bare 504 is in doubt', async () => {
    handler = (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>Bad Gateway</html>');
    };
    const r = await client().sendMessage(creds(), textBody);
    expect(r.kind).toBe('error');
    if (r.kind === 'error') expect(classify(r.error)).toMatchObject({ action: 'retry', known: false });
    handler = (_req, res) => {
      res.writeHead(504);
      res.end();
    };
    expect((await client().sendMessage(creds(), textBody)).kind).toBe('in_doubt');
  });

  it('200 without messages[0].id → in_doubt (Meta may still send it)', async () => {
    handler = (_req, res) => json(res, 200, { messaging_product: 'whatsapp' });
    expect(await client().sendMessage(creds(), textBody)).toMatchObject({ kind: 'in_doubt' });
  });

  it('connection refused → not_sent (safe to retry)', async () => {
    const tmp = createServer();
    await new Promise<void>((r) => tmp.listen(0, '127.0.0.1', r));
    const port = (tmp.address() as AddressInfo).port;
    await new Promise<void>((r) => tmp.close(() => r()));
    const r = await client({ api_url: `http://127.0.0.1:${port}` }).sendMessage(creds(), textBody);
    expect(r.kind).toBe('not_sent');
    if (r.kind === 'not_sent') expect(r.reason).toMatch(/refused/);
  });

  // A listener whose accept queue is full drops new SYNs, so connect() hangs: a real connect timeout.
  // Node always accepts, so the listener is a python3 socket that never calls accept().
  it.skipIf(spawnSync('python3', ['--version']).status !== 0)('connect timeout (accept queue full) → not_sent', async () => {
    const py = spawn('python3', [
      '-c',
      "import socket,time\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0); print(s.getsockname()[1], flush=True); time.sleep(20)",
    ]);
    const fillers: Socket[] = [];
    try {
      const port = await new Promise<number>((resolve, reject) => {
        py.stdout.once('data', (d) => resolve(Number(String(d).trim())));
        py.once('error', reject);
      });
      // Fill the queue until a connect no longer completes.
      for (let i = 0; i < 8; i++) {
        const s = connect(port, '127.0.0.1');
        fillers.push(s);
        const done = await new Promise<boolean>((r) => {
          s.once('connect', () => r(true));
          s.once('error', () => r(true));
          setTimeout(() => r(false), 300);
        });
        if (!done) break;
      }
      const r = await client({ api_url: `http://127.0.0.1:${port}`, connect_timeout_ms: 300 }).sendMessage(creds(), textBody);
      expect(r.kind).toBe('not_sent');
      if (r.kind === 'not_sent') expect(r.reason).toMatch(/connect timeout/);
    } finally {
      fillers.forEach((s) => s.destroy());
      py.kill();
    }
  });

  it('server reads the whole request and never answers → in_doubt after the request timeout', async () => {
    handler = () => {}; // never answers
    const t0 = Date.now();
    const r = await client({ request_timeout_ms: 300 }).sendMessage(creds(), textBody);
    expect(r.kind).toBe('in_doubt');
    if (r.kind === 'in_doubt') expect(r.reason).toMatch(/timeout/);
    expect(seen).toHaveLength(1); // it did reach the server: that is exactly why it is in doubt
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  });

  it('socket destroyed after the request was read → in_doubt', async () => {
    handler = (req) => req.socket.destroy();
    const r = await client().sendMessage(creds(), textBody);
    expect(r.kind).toBe('in_doubt');
    expect(seen).toHaveLength(1);
  });

  it('reset mid-response (headers sent, body cut) → in_doubt', async () => {
    handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
      res.write('{"messages":[{"id":"wam');
      setTimeout(() => req.socket.destroy(), 20);
    };
    expect((await client().sendMessage(creds(), textBody)).kind).toBe('in_doubt');
  });

  it('keeps connections alive across sends (sockets are reused, not one per request)', async () => {
    handler = (_req, res) => json(res, 200, { messages: [{ id: 'wamid.K' }] });
    const c = client();
    const before = connections;
    for (let i = 0; i < 5; i++) expect((await c.sendMessage(creds(), textBody)).kind).toBe('accepted');
    // undici may open a second socket while the first is being released; without keep-alive it would be 5.
    expect(connections - before).toBeLessThanOrEqual(2);
    expect(new Set(seen.map((s) => s.socket)).size).toBeLessThanOrEqual(2);
  });

  it('refuses locally, without sending, an empty token or an id that would rewrite the path', async () => {
    handler = (_req, res) => json(res, 200, { messages: [{ id: 'wamid.Z' }] });
    const noToken = await client().sendMessage(creds(''), textBody);
    expect(noToken.kind === 'error' && classify(noToken.error).action).toBe('halt_all');
    const inject = await client().sendMessage({ ...creds(), phone_number_id: '1/../../debug_token?x=' }, textBody);
    expect(inject.kind === 'error' && classify(inject.error).action).toBe('fix_request');
    const crlf = await client().sendMessage(creds('abc\r\nx-evil: 1'), textBody);
    expect(crlf.kind).toBe('error');
    expect(seen).toHaveLength(0);
  });
});

describe('no token in anything returned', () => {
  it.each([TOKEN, PLAIN_TOKEN])('token %#: error bodies echoing it, transport failures, debug_token failures', async (token) => {
    const results: unknown[] = [];
    // A hostile or buggy server echoing the Authorization header and the query string into its errors.
    handler = (req, res) =>
      json(res, 400, {
        error: {
          code: 100,
          message: `bad ${req.headers.authorization} at ${req.url}`,
          error_data: { details: `token=${token}` },
          error_user_title: token,
          fbtrace_id: 't',
        },
      });
    results.push(await client().sendMessage(creds(token), textBody));
    results.push(await client().markAsRead(creds(token), 'wamid.1'));
    results.push(await client().listTemplates(creds(token)));
    results.push(await client().debugToken(token));
    results.push(await client().debugToken(token, `app|${token}`));
    handler = (req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`crash ${req.headers.authorization} ${req.url}`);
    };
    results.push(await client().sendMessage(creds(token), textBody));
    results.push(await client().getPhoneNumber(creds(token)));
    handler = (req) => req.socket.destroy();
    results.push(await client().sendMessage(creds(token), textBody));
    results.push(await client().debugToken(token));
    handler = () => {};
    results.push(await client({ request_timeout_ms: 150 }).sendMessage(creds(token), textBody));
    results.push(await client({ api_url: 'http://127.0.0.1:1' }).sendMessage(creds(token), textBody));
    expect(results.length).toBe(11);
    for (const r of results) {
      const s = JSON.stringify(r);
      expect(s).not.toContain(token);
      expect(s).not.toContain(token.slice(0, 20));
    }
  });
});

describe('management calls', () => {
  it('markAsRead posts status=read for the wamid', async () => {
    handler = (_req, res) => json(res, 200, { success: true });
    expect(await client().markAsRead(creds(), 'wamid.R')).toEqual({ ok: true, value: { success: true } });
    expect(JSON.parse(seen[0]!.body)).toEqual({ messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.R' });
  });

  it('listTemplates passes limit/after and returns the next cursor only when Meta says there is a next page', async () => {
    handler = (req, res) => {
      const u = new URL(req.url!, 'http://x');
      if (!u.searchParams.get('after'))
        json(res, 200, { data: [{ name: 'a' }], paging: { cursors: { before: 'B', after: 'C1' }, next: 'https://graph/next' } });
      else json(res, 200, { data: [{ name: 'b' }], paging: { cursors: { before: 'C1', after: 'C2' } } });
    };
    const c = client();
    const p1 = await c.listTemplates(creds(), { limit: 1 });
    expect(p1).toEqual({ ok: true, value: { data: [{ name: 'a' }], after: 'C1' } });
    expect(seen[0]!.url).toBe('/v23.0/102290129340398/message_templates?limit=1');
    const p2 = await c.listTemplates(creds(), { limit: 1, after: 'C1' });
    expect(p2).toEqual({ ok: true, value: { data: [{ name: 'b' }] } });
  });

  it('createTemplate and deleteTemplate', async () => {
    handler = (req, res) =>
      req.method === 'POST' ? json(res, 200, { id: '5722', status: 'PENDING', category: 'MARKETING' }) : json(res, 200, { success: true });
    const tpl = { name: 'promo', language: 'en_US', category: 'MARKETING', components: [{ type: 'BODY', text: 'Hi' }] };
    expect(await client().createTemplate(creds(), tpl)).toEqual({
      ok: true,
      value: { id: '5722', status: 'PENDING', category: 'MARKETING' },
    });
    expect(JSON.parse(seen[0]!.body)).toEqual(tpl);
    expect(await client().deleteTemplate(creds(), 'promo')).toEqual({ ok: true, value: { success: true } });
    expect(seen[1]!.method).toBe('DELETE');
    expect(seen[1]!.url).toBe('/v23.0/102290129340398/message_templates?name=promo');
  });

  it('getPhoneNumber asks for the health fields; v24+ reads the portfolio messaging limit', async () => {
    handler = (_req, res) =>
      json(res, 200, {
        id: '1065',
        display_phone_number: '15550783881',
        quality_rating: 'YELLOW',
        throughput: { level: 'STANDARD' },
        messaging_limit_tier: 'TIER_1K',
        whatsapp_business_manager_messaging_limit: 'TIER_2K',
      });
    const v23 = await client().getPhoneNumber(creds());
    const fields23 = new URL(seen[0]!.url, 'http://x').searchParams.get('fields')!.split(',');
    expect(fields23).toEqual(expect.arrayContaining(['quality_rating', 'throughput', 'messaging_limit_tier']));
    expect(fields23).not.toContain('whatsapp_business_manager_messaging_limit');
    expect(v23.ok && v23.value).toMatchObject({ id: '1065', quality_rating: 'YELLOW', throughput: { level: 'STANDARD' } });
    const v24 = await client({ api_version: 'v24.0' }).getPhoneNumber(creds());
    expect(new URL(seen[1]!.url, 'http://x').searchParams.get('fields')).toContain('whatsapp_business_manager_messaging_limit');
    expect(v24.ok && v24.value.messaging_limit_tier).toBe('TIER_2K');
  });

  it('the default Graph API version is v25.0 or newer (changes-2026.md §9): it reads the portfolio limit, and posts to the Marketing Messages API', async () => {
    const def = ConfigSchema.parse({}).meta.api_version;
    expect(Number(/^v(\d+)\./.exec(def)?.[1])).toBeGreaterThanOrEqual(25);
    handler = (_req, res) =>
      json(res, 200, { id: '1065', messaging_limit_tier: 'TIER_1K', whatsapp_business_manager_messaging_limit: 'TIER_10K' });
    const r = await client({ api_version: def }).getPhoneNumber(creds());
    expect(seen[0]!.url.startsWith(`/${def}/`)).toBe(true);
    expect(r.ok && r.value.messaging_limit_tier).toBe('TIER_10K');
    handler = (_req, res) =>
      json(res, 200, { messaging_product: 'whatsapp', contacts: [{ input: '1', wa_id: '1' }], messages: [{ id: 'wamid.M' }] });
    const sent = await client({ api_version: def }).sendMessage(creds(), textBody, 'marketing_messages');
    expect(sent).toMatchObject({ kind: 'accepted', wamid: 'wamid.M' });
    expect(seen[1]!.url).toBe(`/${def}/106540352242922/marketing_messages`);
  });

  it('listPhoneNumbers follows every page', async () => {
    handler = (req, res) => {
      const after = new URL(req.url!, 'http://x').searchParams.get('after');
      if (!after) json(res, 200, { data: [{ id: '1', quality_rating: 'GREEN' }], paging: { cursors: { after: 'P2' }, next: 'n' } });
      else json(res, 200, { data: [{ id: '2', quality_rating: 'RED' }], paging: { cursors: { after: 'P3' } } });
    };
    const r = await client().listPhoneNumbers(creds());
    expect(r.ok && r.value.map((p) => p.id)).toEqual(['1', '2']);
    expect(seen.map((s) => s.url.startsWith('/v23.0/102290129340398/phone_numbers'))).toEqual([true, true]);
  });

  it('debugToken: input_token in the query, the inspecting token in the header, Meta fields mapped', async () => {
    handler = (_req, res) =>
      json(res, 200, {
        data: {
          app_id: '123',
          type: 'SYSTEM_USER',
          is_valid: true,
          expires_at: 0,
          scopes: ['whatsapp_business_messaging', 'whatsapp_business_management'],
          granular_scopes: [{ scope: 'whatsapp_business_messaging', target_ids: ['102290129340398'] }],
        },
      });
    const r = await client().debugToken(TOKEN, 'app-id|app-secret');
    expect(r).toEqual({
      ok: true,
      value: {
        is_valid: true,
        app_id: '123',
        type: 'SYSTEM_USER',
        expires_at: 0,
        scopes: ['whatsapp_business_messaging', 'whatsapp_business_management'],
        granular_scopes: [{ scope: 'whatsapp_business_messaging', target_ids: ['102290129340398'] }],
      },
    });
    const u = new URL(seen[0]!.url, 'http://x');
    expect(u.pathname).toBe('/v23.0/debug_token');
    expect(u.searchParams.get('input_token')).toBe(TOKEN);
    expect(u.searchParams.get('access_token')).toBeNull();
    expect(seen[0]!.headers.authorization).toBe('Bearer app-id|app-secret');
  });

  it('debugToken of a revoked token: is_valid false with the error', async () => {
    handler = (_req, res) =>
      json(res, 200, { data: { is_valid: false, error: { code: 190, subcode: 467, message: 'revoked' }, scopes: [] } });
    const r = await client().debugToken(TOKEN);
    expect(r.ok && r.value).toMatchObject({ is_valid: false, expires_at: 0, error: { code: 190, subcode: 467 } });
  });

  it('management call refused by Meta → ok:false with the GraphError; transport failure → code -1 transport', async () => {
    handler = (_req, res) => json(res, 400, { error: { code: 80007, message: '(#80007) Rate limit issues', fbtrace_id: 'f' } });
    const r = await client().listTemplates(creds());
    expect(r.ok).toBe(false);
    if (!r.ok) expect(classify(r.error).action).toBe('retry_after');
    const t = await client({ api_url: 'http://127.0.0.1:1' }).getPhoneNumber(creds());
    expect(t.ok).toBe(false);
    if (!t.ok) expect(t.error).toMatchObject({ code: -1, source: 'transport', http_status: null });
  });
});

describe('helpers', () => {
  it("withCallbackData copies the body and sets wagate's id (never mutating the caller's object)", () => {
    const b = { ...textBody, biz_opaque_callback_data: 'someone-else' };
    const out = withCallbackData(b, 'msg_1');
    expect(out.biz_opaque_callback_data).toBe('msg_1');
    expect(b.biz_opaque_callback_data).toBe('someone-else');
    expect(() => withCallbackData(textBody, '')).toThrow(/non-empty/);
    expect(() => withCallbackData(textBody, 'x'.repeat(513))).toThrow(/512/);
  });

  it('normalizeVersion', () => {
    expect(normalizeVersion('v23.0')).toBe('v23.0');
    expect(normalizeVersion('24')).toBe('v24.0');
    expect(normalizeVersion('')).toBe('');
    expect(() => normalizeVersion('latest')).toThrow(/v23.0/);
  });

  it('works without a version segment and with a base path', async () => {
    handler = (_req, res) => json(res, 200, { messages: [{ id: 'wamid.P' }] });
    await client({ api_url: `${base}/graph/`, api_version: '' }).sendMessage(creds(), textBody);
    expect(seen[0]!.url).toBe('/graph/106540352242922/messages');
  });
});
