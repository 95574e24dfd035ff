// npm run soak [-- --minutes 10] [-- --rate 250] [-- --faults none|a,b,...] [-- --rounds N] [-- --drain-s 150]
//
// Two wagate processes (`node bin/wagate.js start`) on PRIVATE production backends (redis-server,
// nats-server -js and a PostgreSQL cluster from initdb/pg_ctl, each on a free port in a temp dir,
// PostgreSQL behind a TCP proxy the soak can cut) share one sender at the 1,000 mps tier on the Meta
// sandbox (its own process). A client submits at --rate messages/s with an Idempotency-Key each,
// alternating between the instances and retrying like a careful client. Meanwhile faults run one after
// the other (bench/soak/faults.ts): kill -9 of each instance, Redis and NATS killed and restarted,
// PostgreSQL connections cut and the server stopped and started, Meta 5xx bursts, 130429 storms, a
// token revoked and renewed; the sandbox sends duplicate and out-of-order status webhooks all along.
// Then the faults stop, both instances drain (bounded), and the sandbox ledger is counted
// (bench/soak/count.ts). Never touches the machine's shared services.
//
// LAST line: one JSON object: {accepted, sent, lost, duplicates, stuck, dead_letters: {REASON: n},
// minutes, ...}. Exit 0 only with zero lost, duplicates and stuck.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { stringify } from 'yaml';
import { PHONE_NUMBER_ID, http, startSandboxProcess, waitFor, type LedgerSend } from '../test/delivery/harness.ts';
import { spawnWagate, startPrivateNats, stopProcess } from '../test/production/backends.ts';
import { freePort, startPrivateRedis } from '../test/pacing/private-redis.ts';
import { instanceConfig } from './delivery-instances.ts';
import { pct } from './stats.ts';
import { SoakClient } from './soak/client.ts';
import { countSoak } from './soak/count.ts';
import { DEFAULT_FAULTS, FAULTS, clearSandboxFaults, schedule, type SoakEnv } from './soak/faults.ts';
import { startPrivatePostgres, startTcpProxyProcess } from './soak/servers.ts';
import { startWebhookFanIn } from './soak/webhook-fanin.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '250' },
    mps: { type: 'string', default: '1000' },
    faults: { type: 'string', default: DEFAULT_FAULTS.join(',') },
    rounds: { type: 'string' },
    'drain-s': { type: 'string', default: '150' },
    'webhook-chaos': { type: 'string' },
    'in-doubt-grace-ms': { type: 'string', default: '60000' },
  },
});
const minutes = Math.max(0.1, Number(values.minutes) || 10);
const rate = Math.max(1, Number(values.rate) || 250);
const mps = Math.max(1, Math.min(1000, Number(values.mps) || 1000));
const faultNames =
  values.faults === 'none' || values.faults === ''
    ? []
    : String(values.faults)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
for (const f of faultNames) if (!FAULTS[f]) throw new Error(`unknown fault "${f}"; known: ${Object.keys(FAULTS).join(', ')} (or none)`);
const rounds = Math.max(1, Math.floor(Number(values.rounds) || Math.max(1, Math.floor(minutes / 4))));
const drainS = Math.max(10, Number(values['drain-s']) || 150);
const webhookChaos =
  values['webhook-chaos'] !== undefined ? values['webhook-chaos'] !== 'false' && values['webhook-chaos'] !== '0' : faultNames.length > 0;
const inDoubtGraceMs = Math.max(1_000, Number(values['in-doubt-grace-ms']) || 60_000);
const TOKEN = 'sandbox-token-main';
const INSTANCES = 2;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();
const log = (line: string) => console.error(`soak ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s ${line}`);

// Everything the soak starts is undone here, newest first, on the normal end, an error or a signal.
const cleanups: { what: string; fn: () => Promise<void> }[] = [];
const onCleanup = (what: string, fn: () => Promise<void>) => cleanups.push({ what, fn });
let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const c = cleanups.pop()!;
      await Promise.race([c.fn(), sleep(30_000)]).catch((err) => console.error(`soak: cleanup of ${c.what} failed: ${String(err)}`));
    }
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`soak: ${sig}: stopping everything it started`);
    void cleanup().then(() => process.exit(130));
  });
}

/** CPU time (s) of a live process from /proc/PID/stat (utime + stime), 0 if unreadable. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return 0;
  }
}

interface Instance {
  base: string;
  file: string;
  p: { proc: ChildProcess; output: () => string } | null;
  /** CPU of its earlier (killed) processes. */
  cpu: number;
  killing: boolean;
  starts: number;
}

async function main(): Promise<number> {
  const ns = `soak_${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'wagate-soak-'));
  onCleanup('temp dir', async () => rmSync(dir, { recursive: true, force: true }));
  log(
    `private servers: redis, nats, postgres (+ proxy); ${INSTANCES} instances at the ${mps} mps tier, ${rate} msg/s for ${minutes} min, faults: ${faultNames.join(',') || 'none'} ×${rounds}, webhook chaos ${webhookChaos ? 'on' : 'off'}`,
  );
  const redis = await startPrivateRedis();
  onCleanup('redis', () => redis.stop());
  const nats = await startPrivateNats();
  onCleanup('nats', () => nats.stop());
  const pgServer = await startPrivatePostgres();
  onCleanup('postgres', () => pgServer.destroy());
  const proxy = await startTcpProxyProcess(pgServer.port);
  onCleanup('pg proxy', () => proxy.close());
  const sandbox = await startSandboxProcess(mps);
  onCleanup('sandbox', () => sandbox.stop());

  const instances: Instance[] = [];
  const crashes: { instance: number; at_s: number; code: number | null; signal: string | null; output: string }[] = [];
  for (let k = 0; k < INSTANCES; k++) {
    const port = await freePort();
    const file = join(dir, `i${k}.yaml`);
    const cfg = instanceConfig({
      port,
      dataDir: join(dir, `i${k}`),
      namespace: ns,
      redisUrl: redis.url,
      natsUrl: nats.url,
      databaseUrl: `postgres://postgres@127.0.0.1:${proxy.port}/postgres`,
      sandboxUrl: sandbox.url,
      mps,
      delivery: { in_doubt_grace_ms: inDoubtGraceMs },
    });
    writeFileSync(file, stringify(cfg));
    instances.push({ base: `http://127.0.0.1:${port}`, file, p: null, cpu: 0, killing: false, starts: 0 });
  }
  onCleanup('instances', async () => {
    await Promise.all(instances.map((i) => (i.p ? stopProcess(i.p.proc) : Promise.resolve())));
  });

  const startInstance = async (k: number) => {
    const inst = instances[k];
    const p = spawnWagate(['--config', inst.file, 'start']);
    inst.p = p;
    inst.starts++;
    p.proc.once('exit', (code, signal) => {
      if (!inst.killing && !cleaning) {
        crashes.push({ instance: k, at_s: (Date.now() - t0) / 1000, code, signal, output: p.output().slice(-1_500) });
        log(`instance ${k} EXITED by itself (code ${code}, signal ${signal}); restarting it`);
        if (inst.p === p) void startInstance(k).catch((err) => log(`instance ${k} restart failed: ${String(err)}`));
      }
    });
    await waitFor(
      `wagate ${k} ready`,
      async () => {
        if (p.proc.exitCode !== null) throw new Error(`wagate ${k} exited: ${p.output()}`);
        return (await http('GET', `${inst.base}/ready`).catch(() => ({ status: 0 }))).status === 200;
      },
      90_000,
      200,
    );
  };
  const killInstance = async (k: number) => {
    const inst = instances[k];
    const p = inst.p;
    if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
    inst.killing = true;
    inst.cpu += cpuSeconds(p.proc.pid);
    await new Promise<void>((resolve) => {
      p.proc.once('exit', () => resolve());
      p.proc.kill('SIGKILL');
    });
    inst.killing = false;
  };
  // One after the other: the next start reloads the gate from the same store.
  for (let k = 0; k < INSTANCES; k++) await startInstance(k);

  const fanIn = await startWebhookFanIn(() => instances.map((i) => i.base));
  onCleanup('webhook fan-in', () => fanIn.close());
  const hook = await http('POST', `${sandbox.url}/_sandbox/webhooks`, {
    url: fanIn.url,
    ...(webhookChaos ? { duplicates: 0.1, out_of_order: true, concurrency: 4 } : {}),
  });
  if (hook.status >= 300) throw new Error(`sandbox refused the webhook settings (${hook.status}): ${JSON.stringify(hook.json)}`);

  // The fault phase: what the client stamps on each message it submits.
  let phase = 'none';
  const client = new SoakClient(
    instances.map((i) => i.base),
    { run: ns, phase: () => phase },
  );
  onCleanup('client', () => client.close());

  const env: SoakEnv = {
    sandboxUrl: sandbox.url,
    phoneNumberId: PHONE_NUMBER_ID,
    token: TOKEN,
    mps,
    instances: INSTANCES,
    killInstance,
    startInstance,
    get: (k, path) => http('GET', `${instances[k].base}${path}`),
    post: (k, path, body) => http('POST', `${instances[k].base}${path}`, body),
    redis,
    nats,
    pg: pgServer,
    proxy,
    log,
  };

  const durationMs = minutes * 60_000;
  const runStart = Date.now();
  const faultLog: { label: string; start: number; end: number; result?: Record<string, unknown>; error?: string }[] = [];
  const skipped: string[] = [];
  const runFaults = async () => {
    for (const f of schedule(faultNames, rounds, durationMs)) {
      const label = `${f.name}#${f.round + 1}`;
      const wait = runStart + f.at - Date.now();
      if (wait > 0) await sleep(wait);
      if (Date.now() - runStart > durationMs * 0.9) {
        skipped.push(label);
        continue;
      }
      const rec: (typeof faultLog)[number] = { label, start: Date.now(), end: 0 };
      faultLog.push(rec);
      phase = label;
      log(`fault ${label}: start`);
      try {
        rec.result = await FAULTS[f.name].run(env, f.round);
      } catch (err) {
        rec.error = String(err);
        log(`fault ${label} failed: ${rec.error}`);
      }
      rec.end = Date.now();
      phase = 'none';
      log(`fault ${label}: done in ${((rec.end - rec.start) / 1000).toFixed(1)} s ${JSON.stringify(rec.result ?? {})}`);
    }
  };

  const progress = setInterval(() => {
    const ms = client.messages;
    const acc = ms.filter((m) => m.outcome === 'accepted').length;
    const den = ms.filter((m) => m.outcome === 'denied').length;
    void http('GET', `${sandbox.url}/_sandbox/health`).then(
      (h) =>
        log(
          `phase ${phase}: submitted ${ms.length}, accepted ${acc}, denied ${den}, retries ${client.stats.retries}, at Meta ${h.json?.counters?.accepted ?? '?'} (rejected ${JSON.stringify(h.json?.counters?.by_code ?? {})})`,
        ),
      () => {},
    );
  }, 10_000);
  onCleanup('progress', async () => clearInterval(progress));

  const faultsDone = runFaults();
  await client.run(rate, performance.now() + durationMs);
  log(`submission over (${client.messages.length} messages); waiting for the current fault to end`);
  await faultsDone;
  await clearSandboxFaults(env);
  for (let k = 0; k < INSTANCES; k++) {
    const p = instances[k].p;
    if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) await startInstance(k);
  }
  await client.stop(120_000);
  const submitEnd = Date.now();
  clearInterval(progress);

  // Drain: until no accepted message is queued or in doubt and Meta's count stands still, bounded.
  const db = new pg.Client({ connectionString: pgServer.url });
  await db.connect();
  onCleanup('db client', () => db.end());
  const pendingCount = async () =>
    Number((await db.query(`SELECT count(*)::int AS n FROM "${ns}".messages WHERE status IN ('queued', 'in_doubt')`)).rows[0].n);
  const metaCount = async () => Number((await http('GET', `${sandbox.url}/_sandbox/health`)).json?.counters?.accepted ?? 0);
  // Status webhooks persisted but not applied yet (and set aside as failed): the statuses at the end
  // are only final once these are gone.
  const webhookBacklog = async () => {
    const r = await db.query(
      `SELECT (SELECT count(*)::int FROM "${ns}".webhook_batches) AS pending, (SELECT count(*)::int FROM "${ns}".webhook_failed_batches) AS failed`,
    );
    return r.rows[0] as { pending: number; failed: number };
  };
  const sandboxBacklog = async () => {
    const b = (await http('GET', `${sandbox.url}/_sandbox/health`)).json?.webhooks?.backlog ?? {};
    return Number(b.pending ?? 0) + Number(b.inflight ?? 0) + Number(b.retrying ?? 0);
  };
  let drained = false;
  let lastMeta = -1;
  for (;;) {
    const [pending, atMeta, hooks, toSend] = await Promise.all([pendingCount(), metaCount(), webhookBacklog(), sandboxBacklog()]);
    if (pending === 0 && atMeta === lastMeta && hooks.pending === 0 && toSend === 0) {
      drained = true;
      break;
    }
    lastMeta = atMeta;
    if (Date.now() - submitEnd > drainS * 1000) break;
    log(
      `drain: ${pending} queued/in_doubt, ${atMeta} at Meta, webhooks: ${toSend} still at the sandbox, ${hooks.pending} batches not applied`,
    );
    await sleep(3_000);
  }
  const webhooksAtEnd = { ...(await webhookBacklog()), at_sandbox: await sandboxBacklog() };
  const drainSeconds = (Date.now() - submitEnd) / 1000;
  await sleep(2_000); // a late duplicate would show here

  // Count.
  const ledger = ((await http('GET', `${sandbox.url}/_sandbox/ledger?phone_number_id=${PHONE_NUMBER_ID}`)).json ?? {}) as {
    sends?: LedgerSend[];
    dropped?: number;
  };
  const deadLetters: { message_id: string; reason_code: string }[] = [];
  for (let offset = 0; ; offset += 500) {
    const r = await http('GET', `${instances[0].base}/v1/dead-letters?limit=500&offset=${offset}`);
    if (r.status !== 200) throw new Error(`GET /v1/dead-letters: ${r.status} ${JSON.stringify(r.json)}`);
    deadLetters.push(...r.json.dead_letters);
    if (r.json.dead_letters.length < 500) break;
  }
  const statuses = new Map<string, string>();
  for (const row of (await db.query(`SELECT id, status FROM "${ns}".messages`)).rows) statuses.set(row.id, row.status);
  const c = countSoak({
    messages: client.messages,
    ledger: (ledger.sends ?? []) as { to: string; biz_opaque_callback_data: string | null; at: string }[],
    deadLetters,
    statuses,
    faults: faultLog.map((f) => ({ label: f.label, start: f.start, end: f.end })),
  });
  const sample = async (ids: string[]) =>
    Promise.all(
      ids.slice(0, 5).map(async (id) => {
        const r = await http('GET', `${instances[0].base}/v1/messages/${id}`).catch(() => ({ status: 0, json: null }));
        const m = r.json;
        const atMeta = ((await http('GET', `${sandbox.url}/_sandbox/ledger?biz_opaque_callback_data=${id}`)).json?.sends ?? []).map(
          (x: { at: string }) => x.at.slice(11, 23),
        );
        return m?.id
          ? {
              id,
              status: m.status,
              attempts: m.attempts,
              last_error: m.last_error ?? null,
              history: (m.history ?? []).map((h: { status: string; at: string }) => `${h.status}@${h.at?.slice(11, 23)}`),
              at_meta: atMeta,
            }
          : { id, http_status: r.status, at_meta: atMeta };
      }),
    );
  const denied: Record<string, number> = {};
  for (const m of client.messages) if (m.outcome === 'denied') denied[m.detail ?? '?'] = (denied[m.detail ?? '?'] ?? 0) + 1;
  const sb = (await http('GET', `${sandbox.url}/_sandbox/health`)).json ?? {};
  const rel = (t: number) => Math.round((t - runStart) / 100) / 10;
  const result = {
    accepted: c.accepted,
    sent: c.sent,
    lost: c.lost,
    duplicates: c.duplicates,
    stuck: c.stuck,
    dead_letters: c.dead_letters,
    minutes,
    rate_per_s: rate,
    mps_tier: mps,
    instances: INSTANCES,
    offered: client.offered,
    submitted: client.messages.length,
    denied,
    gave_up: client.messages.filter((m) => m.outcome === 'gave_up').length,
    duplicate_recipients: c.duplicate_recipients,
    stuck_unsent: c.stuck_unsent,
    not_in_store: c.not_in_store,
    sent_unacknowledged: c.sent_unacknowledged,
    ledger_dropped: ledger.dropped ?? 0,
    statuses: c.statuses,
    by_phase: c.by_phase,
    problems_by_faults: c.problems_by_faults,
    faults: faultLog.map((f) => ({
      label: f.label,
      start_s: rel(f.start),
      end_s: rel(f.end),
      ...(f.result ?? {}),
      ...(f.error ? { error: f.error } : {}),
    })),
    faults_skipped: skipped,
    webhook_chaos: webhookChaos,
    client: client.stats,
    accept_p50_ms: pct(c.accept_ms, 50),
    accept_p99_ms: pct(c.accept_ms, 99),
    deliver_p50_ms: pct(c.deliver_ms, 50),
    deliver_p99_ms: pct(c.deliver_ms, 99),
    drained,
    drain_s: Math.round(drainSeconds),
    crashes: crashes.map(({ output, ...rest }) => ({ ...rest, output_tail: output.slice(-400) })),
    instance_starts: instances.map((i) => i.starts),
    cpu_s: instances.map((i) => Math.round((i.cpu + cpuSeconds(i.p?.proc.pid)) * 10) / 10),
    // The soak's own process (client, webhook fan-in): a saturated loop here would slow wagate's figures.
    soak_process: {
      cpu_s: Math.round(process.cpuUsage().user / 1e5 + process.cpuUsage().system / 1e5) / 10,
      loop_p99_ms: Math.round(loopDelay.percentile(99) / 1e6),
    },
    pg_proxy: await proxy.stats(),
    webhooks: {
      fan_in: fanIn.stats,
      sandbox: sb.webhooks ?? null,
      batches_unapplied: webhooksAtEnd.pending,
      batches_set_aside: webhooksAtEnd.failed,
      at_sandbox: webhooksAtEnd.at_sandbox,
    },
    meta: sb.counters ?? null,
    problem_samples: await Promise.all(
      c.problem_samples.slice(0, 40).map(async (x) => ({ kind: x.kind, faults: x.faults, ...(await sample([x.id]))[0] })),
    ),
    lost_samples: await sample(c.lost_ids),
    stuck_samples: await sample(c.stuck_ids),
    duplicate_samples: await sample(c.duplicate_ids),
  };
  const failed =
    result.accepted === 0 ||
    result.lost > 0 ||
    result.duplicates > 0 ||
    result.duplicate_recipients > 0 ||
    result.stuck > 0 ||
    crashes.length > 0;
  log(
    `${failed ? 'FAILED' : 'PASSED'}: accepted ${result.accepted}, sent ${result.sent}, lost ${result.lost}, duplicates ${result.duplicates}, stuck ${result.stuck}, dead letters ${JSON.stringify(result.dead_letters)}`,
  );
  await cleanup();
  console.log(JSON.stringify({ ...result, ok: !failed }));
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (err) => {
    console.error(`soak: ${err instanceof Error ? err.stack : String(err)}`);
    await cleanup();
    console.log(
      JSON.stringify({ accepted: 0, sent: 0, lost: 0, duplicates: 0, stuck: 0, dead_letters: {}, minutes, ok: false, error: String(err) }),
    );
    process.exit(2);
  },
);
