// bench:delivery, production only: N real wagate processes (`node bin/wagate.js start`, as
// test/production/instances.test.ts starts them) on the shared Redis, NATS and PostgreSQL with one
// namespace, sending for ONE sender through one external sandbox process at a throughput tier. A load
// balancer is emulated by submitting over HTTP to each instance in turn; the sandbox's status webhooks
// go to the first instance, so the whole production load (webhooks included) is present.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Agent, request } from 'undici';
import {
  PHONE_NUMBER_ID,
  WABA_ID,
  countLedger,
  http,
  orderUpdate,
  recipient,
  startSandboxProcess,
  waitFor,
  type LedgerSend,
} from '../test/delivery/harness.ts';
import { pct, sustainedMps } from './stats.ts';
import { DATABASE_URL, NATS_URL, REDIS_URL, dropNamespace, freePort, spawnWagate, stopProcess } from '../test/production/backends.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sum of wagate_sends_total samples whose labels match `label` (Prometheus text format). */
function sumSends(text: string, label: string): number {
  return [...text.matchAll(/^wagate_sends_total\{([^}]*)\} (\d+)/gm)]
    .filter((m) => m[1].includes(label))
    .reduce((a, m) => a + Number(m[2]), 0);
}

/**
 * The config of one wagate process of a multi-instance run (also bench/soak.ts): production backends
 * under one namespace, one sender on the sandbox at the tier's throughput, the delivery settings of the
 * single-process tiers, and an API limit that must not cap the tier.
 */
export function instanceConfig(o: {
  port: number;
  dataDir: string;
  namespace: string;
  redisUrl: string;
  natsUrl: string;
  databaseUrl: string;
  sandboxUrl: string;
  mps: number;
  delivery?: Record<string, unknown>;
}): Record<string, unknown> {
  return {
    port: o.port,
    host: '127.0.0.1',
    log_level: 'warn',
    data_dir: o.dataDir,
    namespace: o.namespace,
    redis_url: o.redisUrl,
    nats_url: o.natsUrl,
    database_url: o.databaseUrl,
    sandbox: { mode: 'never' },
    meta: { api_url: o.sandboxUrl, app_secret: 'sandbox-app-secret', verify_token: 'bench-instances' },
    senders: [
      {
        id: 'main',
        phone_number_id: PHONE_NUMBER_ID,
        waba_id: WABA_ID,
        business_id: 'bench',
        access_token: 'sandbox-token-main',
        throughput_mps: o.mps,
        messaging_limit: null,
      },
    ],
    delivery: {
      concurrency_per_sender: Math.max(16, Math.min(256, Math.ceil(o.mps / 4))),
      backoff_base_ms: 200,
      backoff_max_ms: 5_000,
      in_doubt_grace_ms: 60_000,
      ...o.delivery,
    },
    api: { rate_limit_per_minute: 100_000_000 },
  };
}

export interface InstancesResult {
  instances: number;
  mps_tier: number;
  achieved_mps: number;
  p50_ms: number;
  p99_ms: number;
  lost: number;
  duplicates: number;
  submitted: number;
  submit_refused: number;
  per_instance_accepted: number[];
  throttled_130429: number;
  seconds: number;
}

export async function runInstances(opts: { instances: number; mps: number; seconds: number; offset: number }): Promise<InstancesResult> {
  const { instances: n, mps, seconds, offset } = opts;
  const ns = `bdi_${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'wagate-bench-instances-'));
  const procs: { proc: ChildProcess; output: () => string }[] = [];
  const agents: Agent[] = [];
  // Meta is remote: its own process, numbered PHONE_NUMBER_ID and allowing the tier's rate.
  const sandbox = await startSandboxProcess(mps);
  try {
    const bases: string[] = [];
    for (let k = 0; k < n; k++) {
      const port = await freePort();
      const file = join(dir, `i${k}.yaml`);
      writeFileSync(
        file,
        stringify(
          instanceConfig({
            port,
            dataDir: join(dir, `i${k}`),
            namespace: ns,
            redisUrl: REDIS_URL,
            natsUrl: NATS_URL,
            databaseUrl: DATABASE_URL,
            sandboxUrl: sandbox.url,
            mps,
          }),
        ),
      );
      const p = spawnWagate(['--config', file, 'start']);
      procs.push(p);
      const base = `http://127.0.0.1:${port}`;
      // One after the other: the next start reloads the gate from the same store, before any send.
      await waitFor(
        `wagate ${k} ready`,
        async () => {
          if (p.proc.exitCode !== null) throw new Error(`wagate ${k} exited: ${p.output()}`);
          return (await http('GET', `${base}/ready`).catch(() => ({ status: 0 }))).status === 200;
        },
        30_000,
        100,
      );
      bases.push(base);
      agents.push(new Agent({ connections: 32, pipelining: 1, keepAliveTimeout: 30_000 }));
    }
    const hook = await http('POST', `${sandbox.url}/_sandbox/webhooks`, { url: `${bases[0]}/webhook` });
    if (hook.status >= 300) throw new Error(`sandbox refused the webhook URL (${hook.status})`);

    const ids: string[] = [];
    const submittedAt = new Map<string, number>();
    let refused = 0;
    const submitOne = async (i: number) => {
      const k = i % n;
      const body = JSON.stringify(orderUpdate(recipient(offset + i), i));
      const headers = { 'content-type': 'application/json', 'idempotency-key': `${ns}-${i}` };
      const t = Date.now(); // includes client-side queueing for a connection if an instance falls behind
      let last = '';
      // Like a client: a temporary refusal (GATE_UNAVAILABLE) or a dropped connection is retried with
      // the same Idempotency-Key, so it can never become a second message.
      for (let tries = 0; tries < 6; tries++) {
        try {
          const r = await request(`${bases[k]}/v1/messages`, { method: 'POST', body, headers, dispatcher: agents[k] });
          const json = (await r.body.json()) as any;
          if (r.statusCode === 202 && json?.id) {
            ids.push(json.id);
            submittedAt.set(json.id, t);
            return;
          }
          last = `${r.statusCode} ${json?.decision?.reason_code ?? ''}`;
          if (r.statusCode !== 503 && r.statusCode !== 429) break;
        } catch (err) {
          last = (err as Error).message;
        }
        await sleep(200);
      }
      if (refused++ < 5) console.error(`bench instances: submit ${i} refused: ${last}`);
    };

    // Open loop at the tier's rate in 10 ms slices, each message to the next instance in turn.
    const total = mps * seconds;
    const pending: Promise<void>[] = [];
    const t0 = performance.now();
    let submitted = 0;
    while (submitted < total) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * mps) + 1);
      for (; submitted < due; submitted++) pending.push(submitOne(submitted));
      await sleep(10);
    }
    await Promise.all(pending);
    const submitS = (performance.now() - t0) / 1000;

    // Drain: until every accepted submission is in the ledger (or 30 s without progress).
    const ledger = async () =>
      ((await http('GET', `${sandbox.url}/_sandbox/ledger?phone_number_id=${PHONE_NUMBER_ID}`)).json?.sends ?? []) as LedgerSend[];
    let lastSeen = -1;
    let stuckSince = Date.now();
    for (;;) {
      const seen = countLedger(ids, await ledger()).byId.size;
      if (seen >= ids.length) break;
      if (seen !== lastSeen) {
        lastSeen = seen;
        stuckSince = Date.now();
      } else if (Date.now() - stuckSince > 30_000) break;
      await sleep(500);
    }
    await sleep(500); // a late duplicate would show up here
    const sends = await ledger();
    const { lost, duplicates } = countLedger(ids, sends);

    // First ledger time per submitted id: the latency (submit → Meta's stamp) and the sustained rate.
    const firstAt = new Map<string, number>();
    for (const s of sends) {
      const id = s.biz_opaque_callback_data;
      if (!id || !submittedAt.has(id)) continue;
      const at = new Date(s.at).getTime();
      if (!firstAt.has(id) || at < firstAt.get(id)!) firstAt.set(id, at);
    }
    const latencies = [...firstAt].map(([id, at]) => at - submittedAt.get(id)!).sort((a, b) => a - b);
    // Sustained rate as in runTier (sustainedMps): sends between the 10th and 90th percentile times.
    const times = [...firstAt.values()].sort((a, b) => a - b);

    // Tells a slow API (submission could not keep the tier's pace) from slow delivery.
    console.error(
      `bench instances: ${ids.length} accepted by the API in ${submitS.toFixed(1)} s (${Math.round(ids.length / submitS)}/s); sends at the sandbox over ${((times[times.length - 1] - times[0]) / 1000 || 0).toFixed(1)} s`,
    );
    const metrics = await Promise.all(bases.map(async (b) => String((await http('GET', `${b}/metrics`)).json)));
    const out: InstancesResult = {
      instances: n,
      mps_tier: mps,
      achieved_mps: sustainedMps(times),
      p50_ms: pct(latencies, 50),
      p99_ms: pct(latencies, 99),
      lost,
      duplicates,
      submitted: ids.length,
      submit_refused: refused,
      per_instance_accepted: metrics.map((t) => sumSends(t, 'outcome="accepted"')),
      throttled_130429: metrics.reduce((a, t) => a + sumSends(t, 'code="130429"'), 0),
      seconds,
    };
    console.log(JSON.stringify({ instances: out }));
    return out;
  } catch (err) {
    for (const [k, p] of procs.entries()) console.error(`bench instances: wagate ${k} output:\n${p.output()}`);
    throw err;
  } finally {
    // The shared servers keep nothing of the run: processes first, then their namespace.
    await Promise.all(procs.map((p) => stopProcess(p.proc)));
    await Promise.all(agents.map((a) => a.close()));
    await sandbox.stop();
    await dropNamespace(ns);
    rmSync(dir, { recursive: true, force: true });
  }
}
