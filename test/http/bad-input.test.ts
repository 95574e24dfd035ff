// Bad input over HTTP never reaches a 500 and never gets a wrong error (issue 17, defect 4): objects
// where strings are expected (even ones with their own toString/valueOf), bodies nested far deeper
// than any message (refused before anything recurses, naming the limit), valid JSON with __proto__ or
// constructor keys (accepted; nothing is polluted), over-long URLs and malformed HTTP (our error body,
// not Fastify's or an empty one). Real app (createApp) with the in-process sandbox.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { startWagate, type Running } from '../mcp/helpers.ts';
import { MAX_JSON_DEPTH } from '../../src/shared/json-depth.ts';

let w: Running;

beforeAll(async () => {
  w = await startWagate({}, { workers: false });
}, 30_000);

afterAll(async () => {
  await w?.close();
});

const TO = '+447700900123';
const TEXT = { to: TO, type: 'text', text: { body: 'hi' } };

async function post(url: string, payload: string, method: 'POST' | 'PUT' = 'POST') {
  const r = await w.app.http.inject({
    method,
    url,
    payload,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
  });
  return { status: r.statusCode, body: r.body, json: (r.body ? r.json() : {}) as Record<string, any> };
}

/** Our error body: a code, what was wrong, how to fix it. */
function expectError(r: { status: number; body: string; json: Record<string, any> }, status: number, code: string) {
  expect(r.status, r.body.slice(0, 300)).toBe(status);
  expect(r.json.error?.code, r.body.slice(0, 300)).toBe(code);
  expect(String(r.json.error.message).length).toBeGreaterThan(10);
  expect(String(r.json.error.fix).length).toBeGreaterThan(10);
  expect(r.json.error.details).toBeTypeOf('object');
  return r.json.error as { code: string; message: string; fix: string; details: Record<string, unknown> };
}

/** A refused message: the decision names the field. */
function expectInvalidMessage(decision: Record<string, any> | undefined, field: string) {
  expect(decision?.allowed).toBe(false);
  expect(decision?.reason_code).toMatch(/^INVALID_(MESSAGE|RECIPIENT)$/);
  expect(String(decision?.explanation)).toContain(field);
  expect(String(decision?.suggested_action).length).toBeGreaterThan(10);
}

describe('objects where strings are expected', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['type', { to: TO, type: { toString: 1 } }],
    ['type', { to: TO, type: { toString: 1, valueOf: 1 } }],
    ['type', { to: TO, type: [{ toString: 1 }] }],
    ['type', { to: TO, type: [[{ valueOf: 1 }]] }],
    ['interactive.type', { to: TO, type: 'interactive', interactive: { type: { toString: 1 } } }],
    ['interactive.type', { to: TO, type: 'interactive', interactive: { type: [{ toString: 1 }] } }],
    ['to', { to: { toString: 1 }, type: 'text', text: { body: 'hi' } }],
    ['to', { to: 1e300, type: 'text', text: { body: 'hi' } }],
    ['to', { to: 123456789012345678901234567890, type: 'text', text: { body: 'hi' } }],
    ['text.body', { to: TO, type: 'text', text: { body: { toString: 1 } } }],
    ['template.name', { to: TO, type: 'template', template: { name: { toString: 1 }, language: { code: 'en' } } }],
    ['template.language', { to: TO, type: 'template', template: { name: 'x', language: { code: { toString: 1 } } } }],
    ['sender', { ...TEXT, sender: { toString: 1 } }],
  ];

  it.each(cases)('/v1/compliance/check refuses a bad %s with a decision naming it', async (field, body) => {
    const r = await post('/v1/compliance/check', JSON.stringify(body));
    expect(r.status, r.body).toBe(200);
    expectInvalidMessage(r.json, field);
  });

  it.each(cases)('/v1/messages refuses a bad %s (422 decision or 400 error naming it), never 500', async (field, body) => {
    const r = await post('/v1/messages', JSON.stringify(body));
    expect(r.status, r.body).toBeLessThan(500);
    if (r.status === 422) expectInvalidMessage(r.json.decision, field);
    else expect(expectError(r, 400, 'INVALID_REQUEST').message).toContain(field);
  });
});

describe('nesting deeper than any message', () => {
  const deepObject = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  const deepArray = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const routes: [string, 'POST' | 'PUT'][] = [
    ['/v1/messages', 'POST'],
    ['/v1/compliance/check', 'POST'],
    ['/v1/customers/447700900123', 'PUT'],
    ['/v1/templates', 'POST'],
    ['/mcp', 'POST'],
  ];

  it.each(routes)('%s refuses 50,000 levels with 400 BODY_TOO_DEEP naming the limit', async (url, method) => {
    for (const payload of [deepObject(50_000), deepArray(50_000), `{"to":"${TO}","type":"text","text":${deepObject(20_000)}}`]) {
      const e = expectError(await post(url, payload, method), 400, 'BODY_TOO_DEEP');
      expect(e.message).toContain(String(MAX_JSON_DEPTH));
      expect(e.details).toMatchObject({ limit: MAX_JSON_DEPTH });
      expect(typeof e.details.position).toBe('number');
    }
  });

  it('accepts exactly the limit, refuses one more', async () => {
    const nest = (levels: number) => `{"to":"${TO}","type":"text","text":{"body":"hi"},"x":${deepArray(levels - 1)}}`; // the body itself is level 1
    const atLimit = await post('/v1/messages', nest(MAX_JSON_DEPTH));
    expect(atLimit.status, atLimit.body).toBe(422);
    expect(atLimit.json.decision.explanation).toContain('x');
    expectError(await post('/v1/messages', nest(MAX_JSON_DEPTH + 1)), 400, 'BODY_TOO_DEEP');
  });

  it('brackets inside strings (escaped quotes too) do not count', async () => {
    for (const body of ['['.repeat(1000), `\\"${'{'.repeat(1000)}`, `\\\\${'['.repeat(1000)}`]) {
      const r = await post('/v1/compliance/check', `{"to":"${TO}","type":"text","text":{"body":"${body}"}}`);
      expect(r.status, r.body.slice(0, 300)).toBe(200);
      expect(r.json.reason_code).not.toMatch(/^INVALID/);
    }
  });
});

describe('valid JSON with prototype keys', () => {
  it('is accepted, the keys are dropped, and no prototype is polluted', async () => {
    const bodies = [
      `{"to":"${TO}","type":"text","text":{"body":"hi"},"__proto__":{"polluted":1}}`,
      `{"to":"${TO}","type":"text","text":{"body":"hi","__proto__":{"polluted":1}}}`,
      `{"to":"${TO}","type":"text","text":{"body":"hi"},"constructor":{"prototype":{"polluted":1}}}`,
      `{"to":"${TO}","type":"text","text":{"body":"hi"},"\\u005f_proto__":{"polluted":1}}`,
    ];
    for (const b of bodies) {
      const check = await post('/v1/compliance/check', b);
      expect(check.status, `${b} → ${check.body}`).toBe(200);
      expect(check.json.reason_code, b).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED'); // validated, then judged
      const send = await post('/v1/messages', b);
      expect(send.status, `${b} → ${send.body}`).toBe(422);
      expect(send.json.decision.reason_code, b).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('an ordinary "constructor" or "toString" field is an unknown field, named', async () => {
    for (const k of ['constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      const r = await post('/v1/compliance/check', JSON.stringify({ ...TEXT, [k]: 'x' }));
      expect(r.status, r.body).toBe(200);
      expectInvalidMessage(r.json, k);
    }
  });
});

describe('malformed bodies', () => {
  it('invalid JSON says where', async () => {
    const e = expectError(await post('/v1/messages', '{"to": "+447700900123",}'), 400, 'INVALID_JSON');
    expect(e.message).toMatch(/JSON/);
    expect(e.details.position).toBe(23);
  });

  it('an empty JSON body is refused as such', async () => {
    const e = expectError(await post('/v1/messages', ''), 400, 'INVALID_JSON');
    expect(e.message).toMatch(/empty/i);
  });
});

describe('over-long URLs and malformed HTTP', () => {
  it('a path parameter over the limit gets 414 with our error body', async () => {
    for (const url of [
      '/v1/messages/' + 'a'.repeat(101),
      '/v1/customers/' + '4'.repeat(5000),
      '/v1/dead-letters/' + 'x'.repeat(200) + '/replay',
    ]) {
      const r = await w.app.http.inject({ method: url.endsWith('replay') ? 'POST' : 'GET', url });
      const e = expectError({ status: r.statusCode, body: r.body, json: r.json() }, 414, 'URI_TOO_LONG');
      expect(e.message).toContain('100');
      expect(e.message.length).toBeLessThan(400); // the path is not echoed whole
    }
  });

  it('a URL over the HTTP header limit gets 414 with our error body (real socket)', async () => {
    for (const url of ['/v1/messages/' + 'a'.repeat(20_000), '/v1/messages?to=' + '1'.repeat(70_000)]) {
      const r = await fetch(w.base + url);
      const text = await r.text();
      const e = expectError({ status: r.status, body: text, json: JSON.parse(text) }, 414, 'URI_TOO_LONG');
      expect(e.fix).toMatch(/body/);
    }
  });

  it('headers over the limit get 431 with our error body', async () => {
    const r = await fetch(w.base + '/v1/senders', { headers: { 'x-big': 'a'.repeat(20_000) } });
    const text = await r.text();
    expectError({ status: r.status, body: text, json: JSON.parse(text) }, 431, 'HEADERS_TOO_LARGE');
  });

  it('a request that is not HTTP gets 400 with our error body', async () => {
    const u = new URL(w.base);
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect(Number(u.port), u.hostname, () => s.write('NOT HTTP AT ALL\r\n\r\n'));
      let out = '';
      s.on('data', (d) => (out += d.toString()));
      s.on('close', () => resolve(out));
      s.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
    expect(body.error.code).toBe('BAD_HTTP_REQUEST');
    expect(body.error.fix.length).toBeGreaterThan(10);
  });
});
