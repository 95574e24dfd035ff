// bench:api — POST /v1/messages in embedded mode (createApp: SQLite store, memory gate, embedded
// queue, workers delivering to the Meta sandbox while the API is measured).
// Fair setup: the sandbox runs in ITS OWN PROCESS (startSandboxProcess, as bench/delivery.ts does),
// because in production Meta is remote. With the sandbox in-process every request also paid for the
// emulator's send handling and its three status webhooks on wagate's own event loop, which measured
// the emulator, not wagate. The status webhooks still come back over HTTP into wagate (real work).
// The load generator stays in this process. Tried (2026-11-24): a forked client process measured
// worse on this 2-core machine, not better (p50 1.9-2.3 ms, API alone 0.58 ms instead of 0.46; again
// after the batching work: 1.28-1.59 ms and 0.58-0.67 ms against 1.24-1.31 and 0.44-0.47 in-process):
// each request then pays two cross-process wake-ups (~50 µs each here) and a third busy process.
// p50/p99 at concurrency 1 (one keep-alive connection, hrtime per request) and req/s at concurrency 64
// (autocannon). Every request is a utility template to a new recipient, so each one passes the gate,
// is persisted and enqueued (202). The concurrency-1 run is done twice: first the API path alone
// (workers not yet started: p50_ms_api_only), then with the workers delivering to the sandbox and its
// status webhooks coming back over HTTP (p50_ms, p99_ms: a 1,000 mps sender, delivery competing with
// the API for the CPU). p50_ms_workers_80mps: the same with the sender at Meta's default 80 mps.
// Usage: npm run bench:api [-- --requests 3000 --seconds 10 --workers 0]
// cpu_ms_per_msg: this process's CPU per message with the workers on (API + delivery + its status
// webhooks, measured through the drain), next to cpu_ms_per_msg_api_only (API path alone).
// The LAST line printed is one JSON object: {"p50_ms":…,"p99_ms":…,"rps":…,…}.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { createRequire } from 'node:module';
import { createApp } from '../src/app.ts';
import { ConfigSchema } from '../src/config/schema.ts';
import { createLogger } from '../src/observability/log.ts';
import { syncTemplates } from '../src/engine/templates.ts';
import { PHONE_NUMBER_ID, WABA_ID, startSandboxProcess } from '../test/delivery/harness.ts';
import { pct } from './stats.ts';

// autocannon ships no type declarations (and @types/autocannon is not installed): type what we use.
interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: Record<string, unknown>) => Promise<AutocannonResult>;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const REQUESTS = arg('requests', 3_000);
const SECONDS = arg('seconds', 10);
const WORKERS = arg('workers', 1) !== 0;

let seq = 0;
/** A new recipient per request (+1 555 01xx-style fictional ranges are accepted by the sandbox). */
function body(): string {
  const n = seq++;
  return JSON.stringify({
    to: `+44 7700 ${String(900000 + (n % 100000)).padStart(6, '0')}`,
    type: 'template',
    template: { name: 'hello_world', language: { code: 'en_US' } },
  });
}

const r3 = (n: number) => Math.round(n * 1000) / 1000;

/** An embedded wagate (own data dir) whose sender has `mps` throughput, and a sandbox process at that rate. */
async function setup(mps: number) {
  const dir = mkdtempSync(join(tmpdir(), 'wagate-bench-api-'));
  // Meta is remote: the sandbox gets its own process (and event loop), like bench/delivery.ts.
  const sandbox = await startSandboxProcess(mps);
  const config = ConfigSchema.parse({
    port: 0,
    host: '127.0.0.1',
    data_dir: dir,
    log_level: 'silent',
    sandbox: { port: 0, mode: 'never' },
    meta: { api_url: sandbox.url, app_secret: 'sandbox-app-secret', verify_token: 'bench-api' },
    senders: [
      {
        id: 'main',
        phone_number_id: PHONE_NUMBER_ID,
        waba_id: WABA_ID,
        business_id: 'bench',
        messaging_limit: null,
        throughput_mps: mps,
        access_token: 'sandbox-token-main',
      },
    ],
    api: { rate_limit_per_minute: 100_000_000 },
  });
  const app = await createApp({ config, env: {}, logger: createLogger('silent'), workers: false, monitor: false });
  const base = await app.start();
  // The sandbox posts its status webhooks back to this app over HTTP, as Meta would.
  const hook = await request(`${sandbox.url}/_sandbox/webhooks`, {
    method: 'POST',
    body: JSON.stringify({ url: `${base}/webhook` }),
    headers: { 'content-type': 'application/json' },
  });
  await hook.body.dump();
  if (hook.statusCode >= 300) throw new Error(`sandbox refused the webhook URL (${hook.statusCode})`);
  await syncTemplates(app.ctx);
  const url = `${base}/v1/messages`;
  const dispatcher = new Agent({ connections: 1, pipelining: 1 });
  let non202 = 0;
  const post = async () => {
    const r = await request(url, { method: 'POST', body: body(), headers: { 'content-type': 'application/json' }, dispatcher });
    await r.body.dump();
    return r.statusCode;
  };
  // Warm up (JIT, SQLite page cache, first connection).
  for (let i = 0; i < 300; i++) if ((await post()) !== 202) throw new Error('warm-up request was not accepted (202)');
  return {
    app,
    url,
    non202: () => non202,
    async measure() {
      const lat: number[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        const t0 = process.hrtime.bigint();
        const status = await post();
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (status !== 202) non202++;
      }
      return lat.sort((a, b) => a - b);
    },
    /** Lets the workers deliver what earlier phases queued, so a phase does not pay for another's backlog. */
    async drain(limitMs = 60_000) {
      const end = Date.now() + limitMs;
      while ((await app.ctx.queue.stats()).depth > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    },
    async close() {
      await dispatcher.close();
      await app.stop();
      await sandbox.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** wagate's own CPU (this process: API, workers, webhooks; not the sandbox) per request, in ms. */
const cpuPerRequest = (since: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(since);
  return r3((c.user + c.system) / 1000 / REQUESTS);
};

async function main() {
  const b = await setup(1000);
  const { app, url } = b;
  let lat: number[] = [];
  let cpuWorkers: number | null = null;
  if (WORKERS) {
    await app.delivery.start();
    await b.drain();
    const c0 = process.cpuUsage();
    lat = await b.measure();
    // Include the delivery and status webhooks of the measured messages: the whole cost per message.
    await b.drain();
    await new Promise((r) => setTimeout(r, 300)); // the sandbox's last status webhooks are on their way
    await app.webhooks.whenIdle();
    cpuWorkers = cpuPerRequest(c0);
    await app.delivery.stop();
  }
  const a0 = process.cpuUsage();
  const alone = await b.measure();
  const cpuAlone = cpuPerRequest(a0);
  if (!WORKERS) lat = alone;
  else {
    await app.delivery.start();
    await b.drain();
  }

  const ac = await autocannon({
    url,
    method: 'POST',
    connections: 64,
    duration: SECONDS,
    headers: { 'content-type': 'application/json' },
    requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, body: body() }) }],
  });
  const backends = app.ctx.backends;
  const non202 = b.non202();
  await b.close();

  // The same concurrency-1 run with the sender at Meta's default throughput (80 mps): the workers then
  // deliver at most 80 messages/s while the API takes ~1,000/s, as when a burst is queued and paced out.
  // At 1,000 mps the workers try to deliver as fast as the API accepts, and on 2 cores the API's
  // requests wait behind that delivery work (cpu_ms_per_msg): that is p50_ms above.
  let lat80: number[] = [];
  if (WORKERS) {
    const b80 = await setup(80);
    await b80.app.delivery.start();
    lat80 = await b80.measure();
    await b80.app.delivery.stop();
    await b80.close();
  }

  const result = {
    p50_ms: r3(pct(lat, 50)),
    p99_ms: r3(pct(lat, 99)),
    rps: Math.round(ac.requests.average),
    p50_ms_api_only: r3(pct(alone, 50)),
    p99_ms_api_only: r3(pct(alone, 99)),
    p50_ms_workers_80mps: WORKERS ? r3(pct(lat80, 50)) : null,
    p99_ms_workers_80mps: WORKERS ? r3(pct(lat80, 99)) : null,
    // CPU per message is robust to other load on the machine (latency is not): at concurrency 1 a
    // request waits behind whatever delivery/webhook work is on the loop, so p50 tracks this figure.
    cpu_ms_per_msg: cpuWorkers,
    cpu_ms_per_msg_api_only: cpuAlone,
    c1_requests: REQUESTS,
    c1_non_202: non202,
    c64_p50_ms: ac.latency.p50,
    c64_p99_ms: ac.latency.p99,
    c64_non_2xx: ac.non2xx,
    c64_errors: ac.errors,
    workers: WORKERS,
    backends,
    sandbox: 'own_process',
    loadavg_1m: r3(loadavg()[0]),
  };
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
