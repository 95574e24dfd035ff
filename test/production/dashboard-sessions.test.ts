// Dashboard sessions across instances: two wagate apps on ONE store (production mode: the shared
// PostgreSQL, Redis and NATS, one namespace), as behind a load balancer without stickiness. A cookie
// issued by one is honoured by the other (same role, same CSRF token), a logout on one ends it on
// both, and the idle (30 min) and absolute (12 h) limits hold whichever instance sees the request.
// Each app has its own clock here, moved by the test, so the limits are crossed without waiting.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.ts';
import { createLogger } from '../../src/observability/log.ts';
import { buildConfig } from '../delivery/harness.ts';
import { dropNamespace } from './backends.ts';
import { missing } from '../support/services.ts';

const ADMIN = `adm-${randomBytes(8).toString('hex')}`;
const READ = `rd-${randomBytes(8).toString('hex')}`;
const sha = (k: string) => createHash('sha256').update(k).digest('hex');
const MIN = 60_000;

interface Instance {
  app: App;
  base: string;
  /** This instance's clock: real time plus an offset the test moves. */
  skew: number;
}

async function call(i: Instance, method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${i.base}${path}`, {
    method,
    headers: { ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }), ...(opts.headers ?? {}) },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers };
}

async function login(i: Instance, key: string): Promise<{ cookie: string; csrf: string }> {
  const r = await call(i, 'POST', '/dashboard/session', { body: { key } });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  const setCookie = r.headers.get('set-cookie')!;
  expect(setCookie).toMatch(/HttpOnly/i);
  expect(setCookie).toMatch(/SameSite=Strict/i);
  expect(setCookie).toMatch(/Max-Age=43200/);
  return { cookie: setCookie.split(';')[0], csrf: r.json.csrf };
}

describe.skipIf(missing('postgres', 'redis', 'nats'))('dashboard sessions shared by two instances on one store', () => {
  const ns = `dss_${randomBytes(4).toString('hex')}`;
  const dirs: string[] = [];
  let a: Instance;
  let b: Instance;

  async function instance(): Promise<Instance> {
    const dir = mkdtempSync(join(tmpdir(), 'wagate-sessions-'));
    dirs.push(dir);
    const config = buildConfig({ production: true }, dir, ns);
    config.api.keys = [
      { name: 'ops', key_sha256: sha(ADMIN), role: 'admin', senders: ['*'] },
      { name: 'viewer', key_sha256: sha(READ), role: 'read', senders: ['*'] },
    ];
    const i = { skew: 0 } as Instance;
    i.app = await createApp({
      config,
      env: {},
      logger: createLogger('silent'),
      workers: false,
      monitor: false,
      now: () => Date.now() + i.skew,
    });
    i.base = await i.app.start();
    return i;
  }

  beforeAll(async () => {
    a = await instance();
    b = await instance();
  }, 60_000);
  afterAll(async () => {
    await a?.app.stop();
    await b?.app.stop();
    await dropNamespace(ns).catch(() => {});
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a cookie from one instance is honoured by the other, with its role and CSRF token; a logout on either ends it on both', async () => {
    const s = await login(a, READ);
    const onB = await call(b, 'GET', '/dashboard/session', { headers: { cookie: s.cookie } });
    expect(onB.json).toMatchObject({ authenticated: true, principal: { name: 'viewer', role: 'read' }, csrf: s.csrf });
    expect((await call(b, 'GET', '/v1/overview', { headers: { cookie: s.cookie } })).status).toBe(200);
    // The role still comes from the key: a read session may not act, on any instance.
    const pause = await call(b, 'POST', '/v1/senders/main/pause', { body: {}, headers: { cookie: s.cookie, 'x-wagate-csrf': s.csrf } });
    expect(pause.status).toBe(403);

    const admin = await login(b, ADMIN);
    // Without the session's CSRF token a change is refused on the instance that did not issue it, too.
    const forged = await call(a, 'POST', '/v1/senders/main/pause', {
      body: {},
      headers: { cookie: admin.cookie, 'x-wagate-csrf': s.csrf },
    });
    expect(forged.json.error.code).toBe('CSRF_REJECTED');
    const out = await call(a, 'DELETE', '/dashboard/session', { headers: { cookie: admin.cookie, 'x-wagate-csrf': admin.csrf } });
    expect(out.status).toBe(200);
    expect((await call(b, 'GET', '/v1/overview', { headers: { cookie: admin.cookie } })).status).toBe(401);
    expect((await call(a, 'GET', '/v1/overview', { headers: { cookie: admin.cookie } })).status).toBe(401);
    expect((await call(a, 'GET', '/v1/overview', { headers: { cookie: s.cookie } })).status).toBe(200); // the other one lives on
  });

  it('the store keeps only the SHA-256 of the cookie', async () => {
    const s = await login(a, ADMIN);
    const value = s.cookie.split('=')[1];
    const row = await a.app.ctx.store.getSession(sha(value));
    expect(row).toMatchObject({ id_sha256: sha(value) });
    expect(JSON.stringify(row)).not.toContain(value);
    expect(await a.app.ctx.store.getSession(value)).toBeNull();
  });

  it('ends a session idle for 30 minutes, whichever instance sees the next request', async () => {
    const s = await login(a, READ);
    b.skew = 29 * MIN; // a request on B 29 min later keeps it alive...
    expect((await call(b, 'GET', '/v1/overview', { headers: { cookie: s.cookie } })).status).toBe(200);
    a.skew = 58 * MIN; // ...so on A 29 min after that it is still live (B moved the idle clock for both)
    expect((await call(a, 'GET', '/v1/overview', { headers: { cookie: s.cookie } })).status).toBe(200);
    b.skew = 89 * MIN; // 31 min without a request
    expect((await call(b, 'GET', '/v1/overview', { headers: { cookie: s.cookie } })).status).toBe(401);
    a.skew = 89 * MIN;
    expect((await call(a, 'GET', '/dashboard/session', { headers: { cookie: s.cookie } })).json.authenticated).toBe(false);
    a.skew = 0;
    b.skew = 0;
  });

  it('ends a session 12 hours after the login however busy it is', async () => {
    const s = await login(b, READ);
    let t = 0;
    for (; t + 25 * MIN < 12 * 60 * MIN; t += 25 * MIN) {
      const i = (t / (25 * MIN)) % 2 ? a : b;
      i.skew = t + 25 * MIN;
      expect((await call(i, 'GET', '/dashboard/session', { headers: { cookie: s.cookie } })).json.authenticated, `at ${t / MIN} min`).toBe(
        true,
      );
    }
    a.skew = 12 * 60 * MIN + MIN;
    expect((await call(a, 'GET', '/v1/overview', { headers: { cookie: s.cookie } })).status).toBe(401);
    b.skew = 12 * 60 * MIN + MIN;
    expect((await call(b, 'GET', '/v1/overview', { headers: { cookie: s.cookie } })).status).toBe(401);
    a.skew = 0;
    b.skew = 0;
  });
});
