// The dashboard's server side over real HTTP (no browser): session login and its limits, CSRF and
// Origin checks, the /v1 routes the views read (series from real sends, search, timeline and its CSV,
// alert acknowledgement, dead letters in bulk), and the rollups surviving a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.ts';
import { createApp, type App } from '../../src/app.ts';
import { createLogger } from '../../src/observability/log.ts';
import { approveSeedTemplates, orderUpdate, PHONE_NUMBER_ID, recipient, WABA_ID, waitFor } from '../delivery/harness.ts';

const ADMIN = `adm-${randomBytes(8).toString('hex')}`;
const READ = `rd-${randomBytes(8).toString('hex')}`;
const sha = (k: string) => createHash('sha256').update(k).digest('hex');

function config(dataDir: string) {
  return ConfigSchema.parse({
    port: 0,
    host: '127.0.0.1',
    data_dir: dataDir,
    log_level: 'silent',
    sandbox: { port: 0, mode: 'always' },
    senders: [{ id: 'main', phone_number_id: PHONE_NUMBER_ID, waba_id: WABA_ID, business_id: 'dash-api', throughput_mps: 80 }],
    delivery: { backoff_base_ms: 20, backoff_max_ms: 500 },
    api: {
      keys: [
        { name: 'ops', key_sha256: sha(ADMIN), role: 'admin', senders: ['*'] },
        { name: 'viewer', key_sha256: sha(READ), role: 'read', senders: ['*'] },
      ],
    },
  });
}

let dir: string;
let app: App;
let base: string;
async function start(): Promise<void> {
  app = await createApp({ config: config(dir), env: {}, logger: createLogger('silent'), monitor: false });
  base = await app.start();
  await approveSeedTemplates(app.ctx);
}
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wagate-dash-api-'));
  await start();
});
afterAll(async () => {
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(opts.headers ?? {}) },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json, headers: res.headers };
}
const admin = { authorization: `Bearer ${ADMIN}` };

async function session(key: string): Promise<{ cookie: string; csrf: string }> {
  const r = await call('POST', '/dashboard/session', { body: { key } });
  expect(r.status).toBe(200);
  const cookie = r.headers.get('set-cookie')!.split(';')[0];
  return { cookie, csrf: r.json.csrf };
}

describe('dashboard session', () => {
  it('a read key session reads /v1 but may not act; its role comes from the key', async () => {
    const s = await session(READ);
    expect((await call('GET', '/v1/overview', { headers: { cookie: s.cookie } })).status).toBe(200);
    const pause = await call('POST', '/v1/senders/main/pause', { body: {}, headers: { cookie: s.cookie, 'x-wagate-csrf': s.csrf } });
    expect(pause.status).toBe(403);
    expect(pause.json.error.code).toBe('FORBIDDEN_ROLE');
  });

  it('refuses a state change with the cookie from another origin or with a wrong token, and takes it from its own page', async () => {
    const s = await session(ADMIN);
    const host = new URL(base).host;
    const body = { reason: 'test' };
    const evil = await call('POST', '/v1/senders/main/pause', {
      body,
      headers: { cookie: s.cookie, 'x-wagate-csrf': s.csrf, origin: 'https://evil.example' },
    });
    expect(evil.status).toBe(403);
    expect(evil.json.error.code).toBe('CSRF_REJECTED');
    const wrong = await call('POST', '/v1/senders/main/pause', { body, headers: { cookie: s.cookie, 'x-wagate-csrf': `${s.csrf}x` } });
    expect(wrong.json.error.code).toBe('CSRF_REJECTED');
    expect(app.ctx.senders.status('main').state).toBe('active');
    const ok = await call('POST', '/v1/senders/main/pause', {
      body,
      headers: { cookie: s.cookie, 'x-wagate-csrf': s.csrf, origin: `http://${host}` },
    });
    expect(ok.status).toBe(200);
    expect(app.ctx.senders.status('main').state).toBe('paused');
    const back = await call('POST', '/v1/senders/main/resume', { body: {}, headers: { cookie: s.cookie, 'x-wagate-csrf': s.csrf } });
    expect(back.status).toBe(200);
    // The audit names the key behind the session.
    const audit = await app.ctx.store.listAudit({ action: 'sender.paused', limit: 5 });
    expect(audit[0].actor).toBe('api:ops');
  });

  it('a sender paused and resumed at once (two clicks) sends again', async () => {
    for (const step of ['pause', 'resume'])
      expect((await call('POST', `/v1/senders/main/${step}`, { body: {}, headers: admin })).status).toBe(200);
    const r = await call('POST', '/v1/messages', { body: orderUpdate(recipient(8050), 1), headers: admin });
    expect(r.status).toBe(202);
    // Before the fix in SenderWorker.start the loop kept the pause's aborted signal: sent never.
    await waitFor(
      'sent after resume',
      async () => ['accepted', 'sent', 'delivered', 'read'].includes((await app.ctx.store.getMessage(r.json.id))!.status),
      8_000,
    );
  });

  it('a logged-out or unknown cookie is no credential; failed logins from one address are throttled', async () => {
    const s = await session(ADMIN);
    const out = await call('DELETE', '/dashboard/session', { headers: { cookie: s.cookie, 'x-wagate-csrf': s.csrf } });
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toContain('Max-Age=0');
    expect((await call('GET', '/v1/overview', { headers: { cookie: s.cookie } })).status).toBe(401);
    expect((await call('GET', '/v1/overview', { headers: { cookie: 'wagate_session=forged' } })).status).toBe(401);
    const codes: number[] = [];
    for (let i = 0; i < 11; i++) codes.push((await call('POST', '/dashboard/session', { body: { key: `wrong-${i}` } })).status);
    expect(codes.slice(0, 10).every((c) => c === 401)).toBe(true);
    expect(codes[10]).toBe(429);
    expect((await call('POST', '/dashboard/session', { body: { key: ADMIN } })).status).toBe(429); // even the right key, until the window passes
  });
});

describe('dashboard /v1 reads and actions', () => {
  it('series count real sends and decisions per minute, and the rollups survive a restart', async () => {
    const sum = (o: Record<string, number[]>, k: string) => (o[k] ?? []).reduce((a, b) => a + b, 0);
    // The series trail the counters by up to one flush (2 s): start once they agree (earlier tests' sends included).
    const allowedCounted = async () =>
      (await app.ctx.metrics.decisions.get()).values.filter((v) => v.labels.allowed === 'true').reduce((a, v) => a + v.value, 0);
    const before = await waitFor('series caught up', async () => {
      const r = await call('GET', '/v1/stats/series?minutes=5', { headers: admin });
      return sum(r.json.decisions, 'allowed') === (await allowedCounted()) ? r : null;
    });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await call('POST', '/v1/messages', { body: orderUpdate(recipient(8100 + i), i), headers: admin });
      expect(r.status).toBe(202);
      ids.push(r.json.id);
    }
    const denied = await call('POST', '/v1/messages', {
      body: { to: `+${recipient(8199)}`, type: 'text', text: { body: 'hi' } },
      headers: admin,
    });
    expect(denied.status).toBe(422);
    await waitFor('sent', async () => {
      for (const id of ids)
        if (!['accepted', 'sent', 'delivered', 'read'].includes((await app.ctx.store.getMessage(id))!.status)) return false;
      return true;
    });
    const s = await waitFor('series', async () => {
      const r = await call('GET', '/v1/stats/series?minutes=5', { headers: admin });
      return sum(r.json.sends, 'accepted') - sum(before.json.sends, 'accepted') >= 3 ? r : null;
    });
    expect(sum(s.json.decisions, 'allowed') - sum(before.json.decisions, 'allowed')).toBe(3);
    expect(sum(s.json.decisions, denied.json.decision.reason_code) - sum(before.json.decisions, denied.json.decision.reason_code)).toBe(1);
    expect(s.json.latency_ms.count.reduce((a: number, b: number) => a + b, 0)).toBeGreaterThanOrEqual(3);
    expect(s.json.t).toHaveLength(s.json.sends.accepted.length);
    await app.stop();
    await start();
    const after = await call('GET', '/v1/stats/series?minutes=5', { headers: admin });
    expect(sum(after.json.sends, 'accepted')).toBe(sum(s.json.sends, 'accepted'));
  });

  it('search finds a message by id, wamid and phone; the timeline lists its decision and statuses; the CSV is safe for spreadsheets', async () => {
    const to = recipient(8200);
    const r = await call('POST', '/v1/messages', { body: orderUpdate(to, 9), headers: admin });
    const m = await waitFor('wamid', async () => {
      const x = await app.ctx.store.getMessage(r.json.id);
      return x?.wamid ? x : null;
    });
    for (const q of [r.json.id, m.wamid!, `+${to}`]) {
      const found = await call('GET', `/v1/messages/search?q=${encodeURIComponent(q)}`, { headers: admin });
      expect(found.json.messages.map((x: any) => x.id)).toEqual([r.json.id]);
      expect(found.json.messages[0].decision.checks.length).toBeGreaterThan(2);
    }
    const asRead = await call('GET', `/v1/messages/search?q=${r.json.id}`, { headers: { authorization: `Bearer ${READ}` } });
    expect(asRead.json.messages[0].to).toBe(`${to.slice(0, 4)}•••${to.slice(-4)}`);
    await app.ctx.store.setConsent(to, 'marketing', 'opted_out', '=HYPERLINK("http://x")', Date.now());
    await app.ctx.store.appendAudit({
      at: Date.now(),
      actor: 'test',
      action: 'consent.opt_out',
      subject: to,
      detail: { source: '=HYPERLINK("http://x")' },
    });
    const t = await call('GET', `/v1/customers/${to}/timeline`, { headers: admin });
    const kinds = t.json.events.map((e: any) => e.kind);
    expect(kinds).toContain('decision');
    expect(kinds).toContain('outbound');
    expect(kinds).toContain('consent');
    const csv = await call('GET', `/v1/customers/${to}/timeline?format=csv`, { headers: admin });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect(csv.json).toMatch(/^at,kind,sender,what,detail\r\n/);
    expect(csv.json).not.toMatch(/,=HYPERLINK/); // a formula is never a cell's first character
  });

  it('acknowledges an alert (admin only) and shows who did; replays dead letters in bulk by filter', async () => {
    await app.ctx.store.upsertAlert({
      id: 'al_dash_1',
      kind: 'sender_paused',
      severity: 'warning',
      dedupe_key: 'dash-1',
      sender_id: 'main',
      title: 'Sender main paused',
      body: 'test alert',
      detail: {},
      created_at: Date.now(),
      last_sent_at: null,
      resolved_at: null,
    });
    const denied = await call('POST', '/v1/alerts/al_dash_1/acknowledge', { headers: { authorization: `Bearer ${READ}` } });
    expect(denied.status).toBe(403);
    const ack = await call('POST', '/v1/alerts/al_dash_1/acknowledge', { headers: admin });
    expect(ack.json.acknowledged_by).toBe('api:ops');
    const o = await call('GET', '/v1/overview', { headers: admin });
    expect(o.json.alerts.find((a: any) => a.id === 'al_dash_1')).toMatchObject({ open: true, acknowledged_by: 'api:ops' });
    expect((await call('POST', '/v1/alerts/al_nope/acknowledge', { headers: admin })).status).toBe(404);

    await fetch(`${app.sandbox!.url}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 400, code: 131053, count: 2 }),
    });
    for (let i = 0; i < 2; i++) await call('POST', '/v1/messages', { body: orderUpdate(recipient(8300 + i), i), headers: admin });
    await waitFor('two dead letters', async () => (await app.ctx.store.listDeadLetters({ state: 'open' })).length >= 2);
    const bulk = await call('POST', '/v1/dead-letters/bulk', { body: { action: 'replay', reason_code: 'META_131053' }, headers: admin });
    expect(bulk.status).toBe(200);
    expect(bulk.json.matched).toBe(2);
    expect(bulk.json.done).toBe(2);
    expect((await app.ctx.store.listDeadLetters({ state: 'open' })).filter((d) => d.reason_code === 'META_131053')).toEqual([]);
  });
});
