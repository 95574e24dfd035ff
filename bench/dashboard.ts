// bench:dashboard — the dashboard's budgets (issue 16), measured, not tested:
//  - first load: the page and every file it loads at first, as served (brotli, and gzip for
//    comparison), against the 250 KB budget;
//  - overview render time with 100,000 messages and 10,000 customers in the store (SQLite, embedded
//    mode) and a day of per-minute rollups: Debian's Chromium (playwright-core) opens the dashboard
//    and the time from navigation to the sender cards and the first chart drawn is taken, five times
//    (median); plus the server time of the two calls the overview makes (GET /v1/overview and
//    GET /v1/stats/series?minutes=60), p50 over 20 calls each, and the overview's first (cold) call.
// Usage: npm run bench:dashboard [-- --messages 100000 --customers 10000]
// The LAST line printed is one JSON object of figures.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { createApp } from '../src/app.ts';
import { ConfigSchema } from '../src/config/schema.ts';
import { createLogger } from '../src/observability/log.ts';
import { dashboardBundle } from '../src/http/dashboard-assets.ts';
import type { MessageRecord, MessageStatus } from '../src/domain/types.ts';
import type { RollupPoint } from '../src/store/port.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../test/dashboard/harness.ts';
import { PHONE_NUMBER_ID, WABA_ID } from '../test/delivery/harness.ts';
import { pct } from './stats.ts';

const { values } = parseArgs({
  options: { messages: { type: 'string', default: '100000' }, customers: { type: 'string', default: '10000' } },
});
const N_MESSAGES = Number(values.messages);
const N_CUSTOMERS = Number(values.customers);
const log = (...a: unknown[]) => console.error('[bench:dashboard]', ...a);

const dir = mkdtempSync(join(tmpdir(), 'wagate-bench-dashboard-'));
const config = ConfigSchema.parse({
  port: 0,
  host: '127.0.0.1',
  data_dir: dir,
  log_level: 'silent',
  sandbox: { port: 0, mode: 'always' },
  senders: [
    { id: 'main', phone_number_id: PHONE_NUMBER_ID, waba_id: WABA_ID, business_id: 'bench', throughput_mps: 80, messaging_limit: 10_000 },
  ],
});
const app = await createApp({ config, env: {}, logger: createLogger('silent'), workers: false, monitor: false });
const base = await app.start();
const { store } = app.ctx;

// ---- seed: customers, messages (statuses spread), a day of rollups
const t0 = Date.now();
const now = Date.now();
const phone = (i: number) => `91${9700000000 + i}`;
for (let i = 0; i < N_CUSTOMERS; i += 500) {
  await Promise.all(
    Array.from({ length: Math.min(500, N_CUSTOMERS - i) }, (_, k) =>
      store.upsertCustomer(phone(i + k), { profile_name: `C${i + k}`, tags: k % 7 ? [] : ['vip'] }, now - 86_400_000),
    ),
  );
}
const STATUSES: MessageStatus[] = ['delivered', 'read', 'sent', 'failed', 'delivered', 'read', 'accepted'];
const message = (i: number): MessageRecord => {
  const at = now - Math.floor((i / N_MESSAGES) * 86_400_000);
  const status = STATUSES[i % STATUSES.length];
  return {
    id: `msg_bench${String(i).padStart(8, '0')}`,
    sender_id: 'main',
    to: phone(i % N_CUSTOMERS),
    category: 'utility',
    type: 'template',
    template_name: 'order_update',
    template_language: 'en_US',
    payload: { messaging_product: 'whatsapp', to: phone(i % N_CUSTOMERS), type: 'template' },
    status,
    wamid: `wamid.bench${i}`,
    attempts: 1,
    idempotency_key: null,
    request_hash: null,
    last_error: null,
    pricing: null,
    reserved_marketing: false,
    reserved_tier: false,
    created_at: at,
    updated_at: at + 2_000,
    history: [
      { status: 'queued', at, source: 'gate' },
      { status, at: at + 2_000, source: 'webhook' },
    ],
  };
};
for (let i = 0; i < N_MESSAGES; i += 1_000) {
  await Promise.all(Array.from({ length: Math.min(1_000, N_MESSAGES - i) }, (_, k) => store.insertMessage(message(i + k))));
}
const points: RollupPoint[] = [];
const minute0 = Math.floor(now / 60_000) * 60_000;
for (let m = 0; m < 1440; m++) {
  const minute = minute0 - m * 60_000;
  points.push({ minute, metric: 'sends', sender: 'main', key: 'accepted', value: 60 + (m % 17) });
  points.push({ minute, metric: 'decisions', sender: '', key: 'allowed', value: 60 + (m % 17) });
  points.push({ minute, metric: 'decisions', sender: '', key: 'OPTED_OUT', value: m % 5 });
  points.push({ minute, metric: 'meta_errors', sender: 'main', key: '131026', value: m % 3 });
  for (const [le, v] of [
    ['0.05', 20],
    ['0.1', 50],
    ['0.5', 60],
    ['+Inf', 61],
  ] as const)
    points.push({ minute, metric: 'latency', sender: 'main', key: `le:${le}`, value: v });
  points.push({ minute, metric: 'latency', sender: 'main', key: 'sum', value: 4.2 });
}
await store.addRollups(points);
const seed_s = Math.round((Date.now() - t0) / 100) / 10;
log(`seeded ${N_MESSAGES} messages, ${N_CUSTOMERS} customers, ${points.length} rollup rows in ${seed_s} s`);

// ---- first load: every file the page loads, as served
const bundle = dashboardBundle();
let br = 0;
let gzip = 0;
let raw = 0;
for (const url of ['/dashboard', ...bundle.firstLoad]) {
  // What is served (checked once per file), and its size in each encoding (the bundle's own buffers).
  const res = await fetch(`${base}${url}`, { headers: { 'accept-encoding': 'br' } });
  await res.arrayBuffer();
  if (res.status !== 200 || res.headers.get('content-encoding') !== 'br')
    throw new Error(`${url}: ${res.status} ${res.headers.get('content-encoding')}`);
  const a = url === '/dashboard' ? bundle.page : bundle.files.get(url.replace('/dashboard/assets/', ''))!;
  br += a.br.length;
  gzip += a.gzip.length;
  raw += a.raw.length;
}

// ---- server time of the overview's calls
const firstCall: Record<string, number> = {};
const timed = async (path: string, n = 20): Promise<number> => {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    const r = await fetch(`${base}${path}`);
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
    ms.push(performance.now() - s);
  }
  // Cold: the overview's message counts are not taken yet (they are then kept 5 s).
  firstCall[path] = Math.round(ms[0] * 10) / 10;
  const sorted = [...ms].sort((a, b) => a - b);
  return Math.round(pct(sorted, 50) * 10) / 10;
};
const api_overview_ms = await timed('/v1/overview');
const api_series_ms = await timed('/v1/stats/series?minutes=60');
const api_series_day_ms = await timed('/v1/stats/series?minutes=1440');

// ---- the browser: navigation to sender cards and the first chart drawn
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
const renders: number[] = [];
let transferred = 0;
try {
  for (let i = 0; i < 5; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    let bytes = 0;
    page.on('response', async (r) => {
      const len = Number(r.headers()['content-length'] ?? 0);
      bytes += Number.isFinite(len) ? len : 0;
    });
    const s = performance.now();
    await page.goto(`${base}/dashboard`);
    await page.locator('[data-testid="sender-main"]').waitFor();
    await page.locator('[data-testid="chart-sends"] canvas').waitFor();
    renders.push(performance.now() - s);
    if (process.env.BENCH_DEBUG)
      log(
        'timeline (ms from navigation):',
        JSON.stringify(
          await page.evaluate(() =>
            performance
              .getEntriesByType('resource')
              .map((e) => [e.name.replace(/^.*\/\/[^/]+/, '').slice(0, 50), Math.round(e.startTime), Math.round(e.startTime + e.duration)]),
          ),
        ),
      );
    if (i === 0) transferred = bytes;
    await context.close();
  }
} finally {
  await browser.close();
}
await app.stop();
rmSync(dir, { recursive: true, force: true });

const figures = {
  messages: N_MESSAGES,
  customers: N_CUSTOMERS,
  first_load_bytes_br: br,
  first_load_bytes_gzip: gzip,
  first_load_bytes_raw: raw,
  first_load_budget_bytes: 250 * 1024,
  first_load_files: bundle.firstLoad.length + 1,
  overview_render_ms: Math.round(
    pct(
      [...renders].sort((a, b) => a - b),
      50,
    ),
  ),
  overview_render_ms_first: Math.round(renders[0]),
  api_overview_ms,
  api_overview_cold_ms: firstCall['/v1/overview'],
  api_series_ms,
  api_series_day_ms,
  browser_response_bytes_first_visit: transferred,
  seed_s,
};
console.log(JSON.stringify(figures));
