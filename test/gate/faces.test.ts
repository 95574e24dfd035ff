// The compliance faces end to end with real components: SQLite store, memory gate, Fastify (inject),
// and `wagate check` as a real process against the same data directory.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import Fastify, { type FastifyInstance } from 'fastify';
import fc from 'fast-check';
import { loadConfig } from '../../src/config/load.ts';
import { installErrorHandler } from '../../src/http/errors.ts';
import complianceRoutes from '../../src/http/routes/compliance.ts';
import customerRoutes from '../../src/http/routes/customers.ts';
import { messageFromArgs, openLightContext, run, type LightContext } from '../../src/cli/check.ts';
import type { Services } from '../../src/http/server.ts';
import { prepareMessage } from '../../src/engine/compliance.ts';
import { TEMPLATES } from './cases.ts';

const CUSTOMER = '447700900123';
const YAML = (dir: string) => `
data_dir: ${dir}
senders:
  - id: main
    phone_number_id: "106540352242922"
    waba_id: "102290129340398"
    business_id: "biz"
  - id: second
    phone_number_id: "106540352242923"
    waba_id: "102290129340398"
    business_id: "biz"
policies:
  exclude_tags:
    - tag: churned
`;

let dir: string;
let wired: LightContext;
let app: FastifyInstance;
let clock = Date.UTC(2026, 5, 15, 12, 0);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wagate-faces-'));
  writeFileSync(join(dir, 'wagate.yaml'), YAML(dir));
  const { config } = loadConfig({ text: YAML(dir), env: {} });
  wired = await openLightContext(config, { now: () => clock });
  await wired.ctx.gate.upsertTemplate(TEMPLATES.find((t) => t.name === 'promo')!);
  app = Fastify();
  installErrorHandler(app, wired.ctx.log);
  await complianceRoutes(app, wired.ctx, {} as Services);
  await customerRoutes(app, wired.ctx, {} as Services);
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await wired?.close();
  rmSync(dir, { recursive: true, force: true });
});

const check = (body: unknown) => app.inject({ method: 'POST', url: '/v1/compliance/check', payload: body as object });

describe('POST /v1/compliance/check and /v1/customers', () => {
  it('denies free-form with no window, allows it after an inbound is recorded, and shows the window', async () => {
    const denied = await check({ to: `+${CUSTOMER}`, type: 'text', text: { body: 'hi' } });
    expect(denied.statusCode).toBe(200);
    expect(denied.json()).toMatchObject({
      allowed: false,
      reason_code: 'WINDOW_CLOSED_TEMPLATE_REQUIRED',
      suggested_action: expect.stringContaining('promo'),
    });

    const inbound = await app.inject({ method: 'POST', url: `/v1/customers/%2B${CUSTOMER}/inbound`, payload: { sender: 'main' } });
    expect(inbound.statusCode).toBe(200);
    expect(inbound.json().windows).toEqual([
      expect.objectContaining({
        sender: 'main',
        open: true,
        kind: 'customer_service',
        expires_at: new Date(clock + 86_400_000).toISOString(),
      }),
    ]);

    const allowed = await check({ to: CUSTOMER, text: { body: 'hi' }, sender: 'main' });
    expect(allowed.json()).toMatchObject({ allowed: true, reason_code: null });
    // Windows are per sender.
    expect((await check({ to: CUSTOMER, text: { body: 'hi' }, sender: 'second' })).json().reason_code).toBe(
      'WINDOW_CLOSED_TEMPLATE_REQUIRED',
    );

    clock += 25 * 3_600_000;
    const view = await app.inject({ method: 'GET', url: `/v1/customers/${CUSTOMER}` });
    expect(view.json()).toMatchObject({
      wa_id: CUSTOMER,
      known: true,
      consent: { marketing: 'unknown', utility: 'unknown', authentication: 'unknown', service: 'unknown' },
      tags: [],
      time_zone: null,
    });
    expect(view.json().windows[0].open).toBe(false);
    expect((await check({ to: CUSTOMER, text: { body: 'hi' } })).json().reason_code).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
  });

  it('consent and tags: opt-out denies at once, stored in the store too', async () => {
    const promo = {
      to: CUSTOMER,
      type: 'template',
      template: {
        name: 'promo',
        language: { code: 'en_US' },
        components: [
          {
            type: 'body',
            parameters: [
              { type: 'text', text: 'Ann' },
              { type: 'text', text: '10%' },
            ],
          },
        ],
      },
    };
    expect((await check(promo)).json().allowed).toBe(true);
    const put = await app.inject({
      method: 'PUT',
      url: `/v1/customers/${CUSTOMER}/consent`,
      payload: { category: 'marketing', state: 'opted_out', source: 'crm' },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json().consent.marketing).toBe('opted_out');
    expect(put.json().consent_detail.marketing).toMatchObject({ source: 'crm' });
    expect((await check(promo)).json().reason_code).toBe('OPTED_OUT');
    expect((await wired.ctx.store.getCustomer(CUSTOMER))?.consent.marketing.state).toBe('opted_out');
    await app.inject({ method: 'PUT', url: `/v1/customers/${CUSTOMER}/consent`, payload: { category: 'marketing', state: 'opted_in' } });
    const tags = await app.inject({
      method: 'PUT',
      url: `/v1/customers/${CUSTOMER}`,
      payload: { tags: ['churned', 'churned'], time_zone: 'Europe/London' },
    });
    expect(tags.json()).toMatchObject({ tags: ['churned'], time_zone: 'Europe/London' });
    expect((await check(promo)).json().reason_code).toBe('POLICY_EXCLUDED_TAG');
  });

  it('bad input gets a clear error naming the field', async () => {
    const tooLong = await check({ to: CUSTOMER, text: { body: 'x'.repeat(5000) } });
    expect(tooLong.json()).toMatchObject({
      allowed: false,
      reason_code: 'INVALID_MESSAGE',
      explanation: "text.body: 5000 characters, Meta's limit is 4096",
    });
    expect((await check({ to: 'not a phone', text: { body: 'x' } })).json().reason_code).toBe('INVALID_RECIPIENT');
    expect((await check({ to: CUSTOMER, text: { body: 'x' }, sender: 'nobody' })).json()).toMatchObject({
      reason_code: 'UNKNOWN_SENDER',
      suggested_action: expect.stringContaining('main, second'),
    });

    const badPhone = await app.inject({ method: 'GET', url: '/v1/customers/12' });
    expect(badPhone.statusCode).toBe(400);
    expect(badPhone.json().error).toMatchObject({ code: 'INVALID_RECIPIENT', fix: expect.stringContaining('country code') });
    const badTz = await app.inject({ method: 'PUT', url: `/v1/customers/${CUSTOMER}`, payload: { time_zone: 'Mars/Olympus' } });
    expect(badTz.statusCode).toBe(400);
    expect(badTz.json().error.message).toMatch(/time_zone: not an IANA time zone/);
    const badConsent = await app.inject({
      method: 'PUT',
      url: `/v1/customers/${CUSTOMER}/consent`,
      payload: { category: 'MARKETING', state: 'opted_out' },
    });
    expect(badConsent.json().error.message).toMatch(/category: one of marketing/);
    const future = await app.inject({
      method: 'POST',
      url: `/v1/customers/${CUSTOMER}/inbound`,
      payload: { at: new Date(clock + 3_600_000).toISOString() },
    });
    expect(future.json().error.message).toMatch(/in the future/);
    const unknownKey = await app.inject({ method: 'PUT', url: `/v1/customers/${CUSTOMER}`, payload: { vip: true } });
    expect(unknownKey.statusCode).toBe(400);
  });

  it('prepareMessage builds the exact payload: caller fields cannot change recipient or product', () => {
    const p = prepareMessage(wired.ctx, {
      body: { to: '+44 7700 900123', messaging_product: 'whatsapp', type: 'text', text: { body: 'hi' } },
      sender: '106540352242923',
    });
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.sender.id).toBe('second');
    expect(p.payload).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: CUSTOMER,
      type: 'text',
      text: { body: 'hi' },
    });
    expect(p.req).toMatchObject({ to: CUSTOMER, country: 'GB', kind: 'free_form', category_hint: 'service', type: 'text' });
    const override = prepareMessage(wired.ctx, { body: { to: CUSTOMER, text: { body: 'hi' }, recipient: '15550000000' } });
    expect(override.ok).toBe(false);
  });
});

describe('fuzzing the compliance routes: never a 5xx, never a crash', () => {
  it('random bodies and phone params get a decision or a 4xx error body', async () => {
    const json = fc.jsonValue({ maxDepth: 4 });
    const messageLike = fc.record(
      {
        to: fc.oneof(fc.string(), fc.constant(CUSTOMER), fc.integer()),
        type: fc.oneof(fc.constantFrom('text', 'image', 'template', 'interactive', 'reaction', 'location', 'contacts'), fc.string()),
        text: json,
        image: json,
        template: json,
        interactive: json,
        sender: json,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(json, messageLike), fc.string({ maxLength: 20 }), async (body, phone) => {
        const r = await app.inject({
          method: 'POST',
          url: '/v1/compliance/check',
          payload: JSON.stringify(body),
          headers: { 'content-type': 'application/json' },
        });
        expect(r.statusCode).toBeLessThan(500);
        if (r.statusCode === 200) expect(typeof r.json().allowed).toBe('boolean');
        const path = `/v1/customers/${encodeURIComponent(phone || 'x')}`;
        for (const [method, url] of [
          ['GET', path],
          ['PUT', path],
          ['PUT', `${path}/consent`],
          ['POST', `${path}/inbound`],
        ] as const) {
          const res = await app.inject({ method, url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
          expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(500);
          if (res.statusCode >= 400)
            expect(res.json().error).toMatchObject({ code: expect.any(String), message: expect.any(String), fix: expect.any(String) });
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('wagate check (a real process, same data directory)', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [join(process.cwd(), 'bin/wagate.js'), '--config', join(dir, 'wagate.yaml'), 'check', ...args], {
      encoding: 'utf8',
      env: { ...process.env, WAGATE_CONFIG: '' },
      timeout: 20_000,
    });
  const OTHER = '+4915112345678';

  it('exit 1 with the decision when denied, 0 after --inbound-at', () => {
    const denied = cli('--to', OTHER, '--text', 'hi');
    expect(denied.status, denied.stderr).toBe(1);
    expect(JSON.parse(denied.stdout)).toMatchObject({ allowed: false, reason_code: 'WINDOW_CLOSED_TEMPLATE_REQUIRED' });
    const allowed = cli(JSON.stringify({ to: OTHER, type: 'text', text: { body: 'hi' } }), '--inbound-at', 'now');
    expect(allowed.status, allowed.stderr).toBe(0);
    expect(JSON.parse(allowed.stdout).allowed).toBe(true);
  });

  it('exit 2 with the field named on stderr for bad input (in process: same run())', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const so = process.stdout.write.bind(process.stdout);
    const se = process.stderr.write.bind(process.stderr);
    process.stdout.write = ((c: string) => (out.push(String(c)), true)) as typeof process.stdout.write;
    process.stderr.write = ((c: string) => (err.push(String(c)), true)) as typeof process.stderr.write;
    let code: number;
    try {
      code = await run({ config: join(dir, 'wagate.yaml'), to: OTHER, text: 'x'.repeat(4097) }, []);
    } finally {
      process.stdout.write = so;
      process.stderr.write = se;
    }
    expect(code).toBe(2);
    expect(err.join('')).toMatch(/text\.body: 4097 characters, Meta's limit is 4096/);
    expect(JSON.parse(out.join(''))).toMatchObject({ allowed: false, reason_code: 'INVALID_MESSAGE' });
  });

  it('the inbound recorded by the CLI is in the shared store (a later `wagate start` sees the window)', async () => {
    const windows = await wired.ctx.store.getWindows('4915112345678');
    expect(windows.map((w) => w.sender_id)).toEqual(['main']);
  });

  it('flags are checked before anything is opened', async () => {
    await expect(messageFromArgs({ text: 'hi' }, [])).rejects.toThrow(/--to is required/);
    await expect(messageFromArgs({ to: '1', text: 'a', template: 'b' }, [])).rejects.toThrow(/exactly one/);
    await expect(messageFromArgs({}, ['{"to":'])).rejects.toThrow(/not valid JSON/);
    await expect(messageFromArgs({ text: 'x' }, ['{"to":"1"}'])).rejects.toThrow(/not both/);
    expect(await messageFromArgs({ to: '+1', template: 'promo', language: 'pt_BR', sender: 'main' }, [])).toEqual({
      to: '+1',
      type: 'template',
      template: { name: 'promo', language: { code: 'pt_BR' } },
      sender: 'main',
    });
  });

  it("--to takes a business-scoped user id and decides on it, sent as `recipient` (the JSON body's `to` replaced)", async () => {
    const U = 'DE.70011208655302741918';
    expect(await messageFromArgs({ to: U, text: 'hi' }, [])).toEqual({ recipient: U, type: 'text', text: { body: 'hi' } });
    expect(await messageFromArgs({ to: U }, ['{"to":"+4915112345678","type":"text","text":{"body":"x"}}'])).toEqual({
      recipient: U,
      type: 'text',
      text: { body: 'x' },
    });
    const r = cli('--to', U, '--text', 'hi', '--inbound-at', 'now');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ allowed: true });
  });
});
