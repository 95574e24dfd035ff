// Startup is all or nothing (issue 17, defect 3). A poison webhook persisted before a restart used to
// make the webhook processor throw in start(): the HTTP port stayed up, /ready said 200, and no worker
// ran (every new message stayed `queued`). Now: the restart starts whole, workers deliver, the batch
// that cannot be applied is set aside and visible/replayable through /v1/webhooks/failed; and a
// component that does fail makes start() reject naming it, /ready 503, `wagate start` exit 1.
import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type App } from '../../src/app.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import { createLogger } from '../../src/observability/log.ts';
import { StartupError } from '../../src/observability/components.ts';
import { signPayload } from '../../src/webhooks/signature.ts';
import { spawnWagate, stopProcess } from '../production/backends.ts';
import { freePort } from '../pacing/private-redis.ts';
import { waitFor } from './helpers.ts';
import { deepBodyText, toStringBody } from './poison-bodies.ts';

const apps: App[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.stop().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function config(dir: string, over: Record<string, unknown> = {}) {
  return ConfigSchema.parse({ port: 0, host: '127.0.0.1', data_dir: dir, log_level: 'silent', sandbox: { port: 0 }, ...over });
}

async function newApp(dir: string, opts: { monitor?: boolean } = {}): Promise<App> {
  const app = await createApp({ config: config(dir), env: {}, logger: createLogger('silent'), monitor: opts.monitor ?? false });
  apps.push(app);
  return app;
}

async function json(res: Response): Promise<any> {
  return res.json();
}

async function postWebhook(app: App, base: string, raw: string): Promise<Response> {
  const sig = signPayload(raw, app.ctx.config.meta.app_secret!);
  return fetch(`${base}/webhook`, {
    method: 'POST',
    body: raw,
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig },
  });
}

describe('a poison webhook, then a restart on the same data dir', () => {
  it('the route answers 200; the restart starts whole; workers deliver; the unusable batch is listed and replayable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wagate-poison-'));
    dirs.push(dir);
    const first = await newApp(dir);
    const base1 = await first.start();
    expect((await postWebhook(first, base1, JSON.stringify(toStringBody()))).status).toBe(200);
    expect((await postWebhook(first, base1, deepBodyText())).status).toBe(200);
    const notJson = await json(await postWebhook(first, base1, '{"object":"whatsapp_business_account","entry":[{"id":'));
    expect(notJson).toMatchObject({ received: true, set_aside: true });
    // The poison bodies as an older wagate left them: persisted, never applied.
    await first.ctx.store.saveWebhookBatch('wh_left_poison', JSON.stringify(toStringBody()), Date.now());
    await first.ctx.store.saveWebhookBatch('wh_left_deep', deepBodyText(), Date.now());
    await first.webhooks.whenIdle();
    await first.stop();
    apps.splice(apps.indexOf(first), 1);

    const app = await newApp(dir);
    const base = await app.start(); // rejected with "Cannot convert object to primitive value" before
    const ready = await fetch(`${base}/ready`);
    const r = await json(ready);
    expect(ready.status, JSON.stringify(r)).toBe(200);
    expect(r.components).toMatchObject({
      http: { state: 'running' },
      webhooks: { state: 'running' },
      templates: { state: 'running' },
      workers: { state: 'running' },
      monitor: { state: 'disabled' },
    });
    expect(await app.ctx.store.listPendingWebhookBatches(10)).toEqual([]);

    // Workers run: a new message leaves `queued`.
    const pnid = app.ctx.senders.resolve().phone_number_id;
    const inbound = await fetch(`${app.sandbox!.url}/_sandbox/inbound`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phone_number_id: pnid, from: '447700900201', type: 'text', text: { body: 'hello' } }),
    });
    expect(inbound.status).toBe(200);
    await waitFor('window', async () => (await app.ctx.store.getWindows('447700900201')).length > 0);
    const sent = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: '+447700900201', type: 'text', text: { body: 'hi back' } }),
    });
    expect(sent.status).toBe(202);
    const { id } = await json(sent);
    await waitFor('delivered', async () => {
      const m = await app.ctx.store.getMessage(id);
      return m && ['sent', 'delivered', 'read'].includes(m.status);
    });

    // The unusable batch is visible (without its body in the list, with it alone) and replayable.
    const list = await json(await fetch(`${base}/v1/webhooks/failed`));
    expect(list.failed.map((f: any) => f.id)).toEqual([notJson.batch_id]);
    expect(list.failed[0]).toMatchObject({ state: 'open', attempts: 1, error: expect.stringMatching(/not valid JSON/) });
    expect(list.failed[0].body).toBeUndefined();
    const one = await json(await fetch(`${base}/v1/webhooks/failed/${notJson.batch_id}`));
    expect(one.body).toBe('{"object":"whatsapp_business_account","entry":[{"id":');
    const replay = await fetch(`${base}/v1/webhooks/failed/${notJson.batch_id}/replay`, { method: 'POST' });
    expect(replay.status).toBe(422); // still not JSON: stays set aside, one more attempt
    expect((await json(replay)).error).toMatchObject({ code: 'WEBHOOK_REPLAY_FAILED', details: { batch: { attempts: 2, state: 'open' } } });

    // A batch set aside earlier (a cause since fixed) replays: applied, then `replayed`.
    const body = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: app.ctx.senders.resolve().waba_id,
          changes: [
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { phone_number_id: pnid },
                contacts: [{ wa_id: '447700900202', profile: { name: 'R' } }],
                messages: [
                  {
                    from: '447700900202',
                    id: 'wamid.REPLAY1',
                    timestamp: String(Math.floor(Date.now() / 1000) - 60),
                    type: 'text',
                    text: { body: 'hi' },
                  },
                ],
              },
            },
          ],
        },
      ],
    });
    await app.ctx.store.saveWebhookBatch('wh_earlier', body, Date.now());
    await app.ctx.store.setAsideWebhookBatch('wh_earlier', 'deadlock detected', Date.now());
    const ok = await fetch(`${base}/v1/webhooks/failed/wh_earlier/replay`, { method: 'POST' });
    expect(ok.status).toBe(200);
    expect(await json(ok)).toMatchObject({ replayed: true, batch: { state: 'replayed' }, results: { applied: 1 } });
    expect((await app.ctx.store.getWindows('447700900202')).length).toBe(1);
    expect((await fetch(`${base}/v1/webhooks/failed/wh_earlier/replay`, { method: 'POST' })).status).toBe(409);
    // Discard; unknown ids and bad input say what is wrong.
    const discarded = await fetch(`${base}/v1/webhooks/failed/${notJson.batch_id}`, { method: 'DELETE' });
    expect(await json(discarded)).toMatchObject({ batch: { state: 'discarded' } });
    expect((await json(await fetch(`${base}/v1/webhooks/failed?state=open`))).failed).toEqual([]);
    const missing = await fetch(`${base}/v1/webhooks/failed/wh_nope`);
    expect(missing.status).toBe(404);
    expect((await json(missing)).error).toMatchObject({ code: 'WEBHOOK_BATCH_NOT_FOUND', fix: expect.any(String) });
    const bad = await fetch(`${base}/v1/webhooks/failed?state=broken`);
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.fix).toBeTruthy();
  });
});

describe('a component that cannot start', () => {
  it('start() rejects naming it and the fix; /ready is 503 with its state; what started is stopped again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wagate-start-fail-'));
    dirs.push(dir);
    const app = await newApp(dir, { monitor: true });
    // Stands in for a monitor whose first read fails in a way its own code does not absorb.
    app.monitor.start = async () => {
      throw new Error('sender_statuses: relation does not exist');
    };
    const err = await app.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StartupError);
    expect(err).toMatchObject({
      component: 'monitor',
      reason: expect.stringContaining('relation does not exist'),
      fix: expect.stringContaining('wagate doctor'),
    });
    const base = `http://127.0.0.1:${(app.http.server.address() as { port: number }).port}`;
    const ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(503);
    const r = await json(ready);
    expect(r.failing).toContain('monitor');
    expect(r.components.monitor).toMatchObject({
      state: 'failed',
      error: expect.stringContaining('relation does not exist'),
      fix: expect.any(String),
    });
    expect(r.components.webhooks.state).toBe('stopped'); // started before it, stopped again
    expect(r.components.workers.state).toBe('not_started');
    expect(app.delivery.stats().senders).toEqual([]);
  });

  it('Meta failing the template sync at start is not fatal: templates degraded, /ready 200, the rest runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wagate-tpl-'));
    dirs.push(dir);
    const app = await newApp(dir);
    // The sandbox (Meta) refuses the token: listing templates answers 190, as Meta does.
    const revoke = await fetch(`${app.sandbox!.url}/_sandbox/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'revoked' }),
    });
    expect(revoke.status).toBe(200);
    await app.start();
    const ready = await app.http.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode, ready.body).toBe(200);
    expect(ready.json().components.templates).toMatchObject({
      state: 'degraded',
      error: expect.stringMatching(/190|token/i),
      fix: expect.stringContaining('/v1/templates/sync'),
    });
    expect(ready.json().components.workers.state).toBe('running');
  });

  it('/ready is 503 until start() has run every component', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wagate-ready-'));
    dirs.push(dir);
    const app = await newApp(dir);
    const before = await app.http.inject({ method: 'GET', url: '/ready' });
    expect(before.statusCode).toBe(503);
    expect(before.json().components.webhooks.state).toBe('not_started');
    await app.start();
    expect((await app.http.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
  });
});

describe('`wagate start` exits non-zero with what failed and the fix', () => {
  let blocker: Server | null = null;
  afterEach(async () => {
    await new Promise((r) => (blocker ? blocker.close(r) : r(null)));
    blocker = null;
  });

  function exitOf(p: ReturnType<typeof spawnWagate>): Promise<number | null> {
    return new Promise((resolve) => {
      if (p.proc.exitCode !== null) return resolve(p.proc.exitCode);
      p.proc.once('exit', (code) => resolve(code));
    });
  }

  it('the HTTP port is taken: exit 1 naming http and WAGATE_PORT (it hung, sandbox up, before)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wagate-cli-port-'));
    dirs.push(dir);
    const port = await freePort();
    blocker = createServer();
    await new Promise<void>((r) => blocker!.listen(port, r)); // every address, as wagate's default host
    const sandboxPort = await freePort();
    const p = spawnWagate(['start'], { WAGATE_PORT: String(port), WAGATE_DATA_DIR: dir, WAGATE_SANDBOX_PORT: String(sandboxPort) });
    const guard = setTimeout(() => void stopProcess(p.proc), 60_000); // a hang fails the test instead of holding it
    const code = await exitOf(p);
    clearTimeout(guard);
    expect(code, p.output()).toBe(1);
    expect(p.output()).toMatch(/could not start: http failed: .*EADDRINUSE/);
    expect(p.output()).toMatch(/fix: .*WAGATE_PORT/);
  });

  it('PostgreSQL unreachable: exit 1 naming the store and WAGATE_DATABASE_URL; the sandbox it started is closed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wagate-cli-pg-'));
    dirs.push(dir);
    const dead = await freePort();
    const p = spawnWagate(['start'], {
      WAGATE_PORT: String(await freePort()),
      WAGATE_DATA_DIR: dir,
      WAGATE_SANDBOX_PORT: String(await freePort()),
      WAGATE_DATABASE_URL: `postgres://127.0.0.1:${dead}/test`,
    });
    const guard = setTimeout(() => void stopProcess(p.proc), 60_000);
    const code = await exitOf(p);
    clearTimeout(guard);
    expect(code, p.output()).toBe(1);
    expect(p.output()).toMatch(/could not start: store failed/);
    expect(p.output()).toMatch(/fix: .*WAGATE_DATABASE_URL/);
  });
});
