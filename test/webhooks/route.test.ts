// GET/POST /webhook over real HTTP on 127.0.0.1: handshake, signature before parsing (bad, missing,
// rotated secret), bad JSON, oversized body, other routes keep normal JSON parsing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { installErrorHandler } from '../../src/http/errors.ts';
import webhookRoutes from '../../src/http/routes/webhooks.ts';
import { WebhookProcessor } from '../../src/webhooks/processor.ts';
import type { Services } from '../../src/http/server.ts';
import { makeCtx, signed, textMsg, statusBody, st, message, CUSTOMER, SECRET, OLD_SECRET, VERIFY_TOKEN, type TestCtx } from './helpers.ts';

let t: TestCtx;
let proc: WebhookProcessor;
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  t = await makeCtx({ webhooks: { max_body_bytes: 64 * 1024 } });
  proc = new WebhookProcessor(t.ctx);
  await proc.start();
  app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  installErrorHandler(app, t.ctx.log);
  await webhookRoutes(app, t.ctx, { webhooks: proc } as unknown as Services);
  app.post('/echo', async (req) => ({ got: req.body })); // a route outside the webhook scope
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await app.close();
  await proc.stop();
  await t.close();
});

async function post(raw: string | Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/webhook`, { method: 'POST', body: raw, headers: { 'content-type': 'application/json', ...headers } });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text };
}

describe('GET /webhook handshake', () => {
  it('answers the challenge as text/plain when the token matches', async () => {
    const res = await fetch(`${base}/webhook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=${VERIFY_TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('1158201444');
  });

  it('403 with the error body for a wrong token or mode', async () => {
    for (const q of [
      `hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong`,
      `hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=${VERIFY_TOKEN}`,
      `hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}`,
    ]) {
      const res = await fetch(`${base}/webhook?${q}`);
      expect(res.status, q).toBe(403);
      const body = (await res.json()) as any;
      expect(body.error.code).toBe('VERIFY_TOKEN_MISMATCH');
      expect(body.error.fix).toMatch(/verify_token/);
    }
  });
});

describe('POST /webhook', () => {
  it('a signed batch → 200 fast, then applied', async () => {
    const { raw, sig } = signed(textMsg('wamid.R1', 'hello', t.clock.t - 1000));
    const r = await post(raw, { 'x-hub-signature-256': sig });
    expect(r.status).toBe(200);
    expect(r.json.received).toBe(true);
    await proc.whenIdle();
    expect((await t.ctx.store.getWindows(CUSTOMER)).length).toBe(1);
    expect(await t.ctx.store.listPendingWebhookBatches(10)).toEqual([]);
  });

  it('bad, missing or malformed signature → 401 and nothing stored or applied', async () => {
    const body = textMsg('wamid.BAD', 'STOP', t.clock.t - 1000);
    const { raw } = signed(body);
    const forged = signed(body, 'not-the-secret').sig;
    const cases: [Record<string, string>, string][] = [
      [{ 'x-hub-signature-256': forged }, 'mismatch'],
      [{}, 'missing'],
      [{ 'x-hub-signature-256': 'sha1=abc' }, 'malformed'],
    ];
    for (const [headers, reason] of cases) {
      const r = await post(raw, headers);
      expect(r.status, reason).toBe(401);
      expect(r.json.error).toMatchObject({ code: 'INVALID_SIGNATURE', details: { reason } });
    }
    // A valid signature over different bytes (the body re-serialised) is also refused.
    const reserialised = JSON.stringify(JSON.parse(raw), null, 1);
    expect((await post(reserialised, { 'x-hub-signature-256': signed(raw).sig })).status).toBe(401);
    await proc.whenIdle();
    expect(await t.ctx.store.markEventSeen('m:wamid.BAD', t.clock.t)).toBe(true); // never seen: never processed
    expect((await t.ctx.store.getCustomer(CUSTOMER))?.consent.marketing.state).not.toBe('opted_out');
  });

  it('a signature made with the previous (rotated) secret is accepted', async () => {
    const { raw, sig } = signed(textMsg('wamid.ROT', 'hi', t.clock.t - 500), OLD_SECRET);
    expect(sig).not.toBe(signed(raw, SECRET).sig);
    expect((await post(raw, { 'x-hub-signature-256': sig })).status).toBe(200);
  });

  it('signed but not JSON → 200 (Meta would retry anything else for days), kept and set aside, never applied', async () => {
    const { raw, sig } = signed('{"object": "whatsapp_business_account", "entry": [');
    const r = await post(raw, { 'x-hub-signature-256': sig });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ received: true, set_aside: true, unusable: expect.stringMatching(/not valid JSON/) });
    await proc.whenIdle();
    expect(await t.ctx.store.listPendingWebhookBatches(10)).toEqual([]);
    expect(await t.ctx.store.getFailedWebhookBatch(r.json.batch_id)).toMatchObject({
      state: 'open',
      body: raw,
      error: expect.stringMatching(/not valid JSON/),
    });
  });

  it('over webhooks.max_body_bytes → 413', async () => {
    const big = JSON.stringify({ object: 'whatsapp_business_account', entry: [], pad: 'x'.repeat(70 * 1024) });
    const r = await post(big, { 'x-hub-signature-256': signed(big).sig });
    expect(r.status).toBe(413);
    expect(r.json.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('non-ASCII bodies are verified on the raw bytes (Meta escapes them; either form verifies)', async () => {
    const raw =
      '{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"106540352242922"},"messages":[{"from":"16505553333","id":"wamid.UNI","timestamp":"1749416383","type":"text","text":{"body":"caf\\u00e9 ☕"}}]}}]}]}';
    expect((await post(raw, { 'x-hub-signature-256': signed(raw).sig })).status).toBe(200);
  });

  it('duplicate POST (Meta retry) is acknowledged and applied once', async () => {
    await t.ctx.store.insertMessage(message('msg_dup', { wamid: 'wamid.DUP' }));
    const { raw, sig } = signed(statusBody([st('wamid.DUP', 'delivered', t.clock.t)]));
    expect((await post(raw, { 'x-hub-signature-256': sig })).status).toBe(200);
    expect((await post(raw, { 'x-hub-signature-256': sig })).status).toBe(200);
    await proc.whenIdle();
    const m = await t.ctx.store.getMessage('msg_dup');
    expect(m?.history.filter((h) => h.status === 'delivered').length).toBe(1);
  });

  it('other routes keep normal JSON parsing', async () => {
    const res = await fetch(`${base}/echo`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    expect(await res.json()).toEqual({ got: { a: 1 } });
  });
});

describe('body limit', () => {
  it("the webhook limit (3 MB by default, Meta's maximum) applies even above the server-wide 1 MB limit", async () => {
    const t2 = await makeCtx();
    const p2 = new WebhookProcessor(t2.ctx);
    const a2 = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
    installErrorHandler(a2, t2.ctx.log);
    await webhookRoutes(a2, t2.ctx, { webhooks: p2 } as unknown as Services);
    const url = await a2.listen({ port: 0, host: '127.0.0.1' });
    try {
      const raw = JSON.stringify({ object: 'whatsapp_business_account', entry: [], pad: 'x'.repeat(1_500_000) });
      const res = await fetch(`${url}/webhook`, {
        method: 'POST',
        body: raw,
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': signed(raw).sig },
      });
      expect(res.status).toBe(200);
      await p2.whenIdle();
    } finally {
      await a2.close();
      await p2.stop();
      await t2.close();
    }
  });
});

describe('a full backlog', () => {
  it('answers 503 WEBHOOK_BACKLOG with Retry-After before it parses or stores the body; a bad signature is still 401', async () => {
    const full = new WebhookProcessor(t.ctx, { max_backlog: 0 });
    await full.start();
    const other = Fastify({ logger: false });
    installErrorHandler(other, t.ctx.log);
    await webhookRoutes(other, t.ctx, { webhooks: full } as unknown as Services);
    const url = `${await other.listen({ port: 0, host: '127.0.0.1' })}/webhook`;
    try {
      const before = (await t.ctx.store.listPendingWebhookBatches(100)).length;
      const send = async (raw: string, sig: string) =>
        fetch(url, { method: 'POST', body: raw, headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig } });
      const ok = signed(textMsg('wamid.FULL1', 'hi', Date.now()));
      const r1 = await send(ok.raw, ok.sig);
      expect(r1.status).toBe(503);
      expect(r1.headers.get('retry-after')).toBe('30');
      expect(((await r1.json()) as { error: { code: string } }).error.code).toBe('WEBHOOK_BACKLOG');
      const junk = signed('{not json');
      expect((await send(junk.raw, junk.sig)).status).toBe(503); // not stored and set aside either
      expect((await send(ok.raw, 'sha256=00')).status).toBe(401);
      expect((await t.ctx.store.listPendingWebhookBatches(100)).length).toBe(before);
    } finally {
      await other.close();
      await full.stop();
    }
  });
});
