// A real wagate (createApp: SQLite store, embedded queue, memory gate, in-process Meta sandbox) with
// API keys configured, and Debian's Chromium driven by playwright-core, for the dashboard's browser
// tests. One browser per test file; each test opens its own context (cookies apart). Screenshots go to
// test-output/dashboard/ (gitignored): look at them.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ConfigSchema } from '../../src/config/schema.ts';
import { createApp, type App } from '../../src/app.ts';
import { createLogger } from '../../src/observability/log.ts';
import { approveSeedTemplates, http, PHONE_NUMBER_ID, WABA_ID } from '../delivery/harness.ts';

export { orderUpdate, recipient, waitFor } from '../delivery/harness.ts';

export const CHROMIUM = process.env.WAGATE_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];
export const SHOTS = fileURLToPath(new URL('../../test-output/dashboard/', import.meta.url));

export const ADMIN_KEY = `admin-${randomBytes(12).toString('hex')}`;
export const READ_KEY = `read-${randomBytes(12).toString('hex')}`;
export const SHOP_KEY = `shop-${randomBytes(12).toString('hex')}`;
const sha = (k: string) => createHash('sha256').update(k).digest('hex');

export interface DashboardHarness {
  app: App;
  base: string;
  sandboxUrl: string;
  browser: Browser;
  /** A fresh browser context (its own cookies) and page at 1280×800 (or the given size). */
  page(size?: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page }>;
  sandbox(method: 'GET' | 'POST', path: string, body?: unknown): Promise<any>;
  /** /v1 over HTTP with the admin key. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  close(): Promise<void>;
}

export async function startDashboard(opts: { keys?: boolean } = {}): Promise<DashboardHarness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'wagate-dashboard-'));
  const keys = opts.keys ?? true;
  const config = ConfigSchema.parse({
    port: 0,
    host: '127.0.0.1',
    data_dir: dataDir,
    log_level: 'silent',
    namespace: `dsh_${randomBytes(4).toString('hex')}`,
    sandbox: { port: 0, mode: 'always' },
    senders: [
      {
        id: 'main',
        phone_number_id: PHONE_NUMBER_ID,
        waba_id: WABA_ID,
        business_id: 'dashboard-test',
        display_phone_number: '+1 555 010 0001',
        throughput_mps: 80,
        messaging_limit: 1000,
      },
      {
        id: 'shop',
        phone_number_id: '106540352242999',
        waba_id: WABA_ID,
        business_id: 'dashboard-test',
        display_phone_number: '+1 555 010 0099',
        throughput_mps: 80,
        messaging_limit: 1000,
      },
    ],
    delivery: { backoff_base_ms: 20, backoff_max_ms: 500, lease_ms: 5_000, in_doubt_grace_ms: 2_000 },
    api: {
      keys: keys
        ? [
            { name: 'ops-admin', key_sha256: sha(ADMIN_KEY), role: 'admin', senders: ['*'] },
            { name: 'viewer', key_sha256: sha(READ_KEY), role: 'read', senders: ['*'] },
            { name: 'shop-viewer', key_sha256: sha(SHOP_KEY), role: 'read', senders: ['shop'] },
          ]
        : [],
    },
  });
  const app = await createApp({ config, env: {}, logger: createLogger('silent'), monitor: false });
  const base = await app.start();
  const sandboxUrl = app.sandbox!.url;
  await approveSeedTemplates(app.ctx);
  mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const contexts: BrowserContext[] = [];
  return {
    app,
    base,
    sandboxUrl,
    browser,
    async page(size = { width: 1280, height: 800 }) {
      const context = await browser.newContext({ viewport: size, baseURL: base });
      contexts.push(context);
      // Nothing but wagate itself: any request elsewhere fails the page (and the test that checks it).
      await context.route(
        (url) => url.origin !== new URL(base).origin,
        (route) => route.abort(),
      );
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      return { context, page };
    },
    async sandbox(method, path, body) {
      const r = await http(method, `${sandboxUrl}${path}`, body);
      if (r.status >= 300) throw new Error(`sandbox ${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
      return r.json;
    },
    api: (method, path, body) => http(method, `${base}${path}`, body, keys ? { authorization: `Bearer ${ADMIN_KEY}` } : {}),
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close().catch(() => {});
      await app.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Signs in through the login page with this key and waits for the overview. */
export async function login(page: Page, key: string): Promise<void> {
  await page.goto('/dashboard');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page
    .getByRole('heading', { name: 'Overview' })
    .waitFor()
    .catch(async (err) => {
      await shot(page, 'login-failed');
      throw err;
    });
}

export async function shot(page: Page, name: string): Promise<string> {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core run in the page: the serious and critical violations (id, impact, the first nodes). */
export async function axeViolations(page: Page): Promise<{ id: string; impact: string; nodes: string[] }[]> {
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const g = globalThis as any;
    const r = await g.axe.run(g.document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v: any) => v.impact === 'serious' || v.impact === 'critical')
      .map((v: any) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n: any) => n.target.join(' ')) }));
  });
}
