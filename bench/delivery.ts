// bench:delivery — sustained send rate of the whole pipeline against the Meta sandbox, per throughput
// tier. Messages are submitted through the engine (validate → gate → store → queue) at the tier's rate
// for ~10 s while the workers deliver; figures come from the store (enqueue → Meta accept) and from
// the sandbox ledger (lost, duplicates: Meta's own count).
//   npm run bench:delivery [-- --backend embedded|production] [-- --seconds 10]
// With --backend production also a run of two wagate processes sharing one sender (bench/delivery-instances.ts)
// at --instances-mps (default 1000); --instances 0 skips it.
// LAST line: {"backend", "tiers":[{"mps_tier","achieved_mps","throttled_130429","p50_ms","p99_ms","lost","duplicates"}], "halt",
//   "instances" (production only): {"instances","mps_tier","achieved_mps","p50_ms","p99_ms","lost","duplicates","submitted","per_instance_accepted","throttled_130429"}}
import { parseArgs } from 'node:util';
import { startHarness, startSandboxProcess, recipient, orderUpdate, countLedger, type Harness } from '../test/delivery/harness.ts';
import { submitMessage } from '../src/engine/messages.ts';
import { pct, sustainedMps } from './stats.ts';
import { STATUS_RANK } from '../src/domain/types.ts';
import { runInstances } from './delivery-instances.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'embedded' },
    seconds: { type: 'string', default: '10' },
    tiers: { type: 'string', default: '80,1000' },
    instances: { type: 'string', default: '2' },
    'instances-mps': { type: 'string', default: '1000' },
  },
});
const backend = values.backend === 'production' ? 'production' : 'embedded';
const seconds = Math.max(1, Number(values.seconds) || 10);
const tiers = String(values.tiers)
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const instances = Math.max(0, Math.floor(Number(values.instances) || 0));
const instancesMps = Math.max(1, Number(values['instances-mps']) || 1000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Like an API client: a temporary refusal (retry_after_s, e.g. GATE_UNAVAILABLE under load) is retried. */
async function submitOne(h: Harness, n: number, i: number): Promise<string | null> {
  for (let tries = 0; tries < 5; tries++) {
    const r = await submitMessage(h.ctx, { body: orderUpdate(recipient(n), i), actor: 'bench' });
    if (r.http_status === 202 && r.id) return r.id;
    if (r.decision.retry_after_s === undefined) {
      console.error(`submit refused: ${r.decision.reason_code}: ${r.decision.explanation}`);
      return null;
    }
    await sleep(r.decision.retry_after_s * 1000);
  }
  return null;
}

async function runTier(mps: number, offset: number) {
  // Meta is remote: the sandbox runs in its own process, like the real one would on its own machines.
  const sandbox = await startSandboxProcess(mps);
  const h = await startHarness({
    mps,
    sandboxUrl: sandbox.url,
    production: backend === 'production',
    delivery: {
      concurrency_per_sender: Math.max(16, Math.min(256, Math.ceil(mps / 4))),
      backoff_base_ms: 200,
      backoff_max_ms: 5_000,
      in_doubt_grace_ms: 60_000,
    },
  });
  try {
    const total = mps * seconds;
    const ids: string[] = [];
    let refused = 0;
    const t0 = performance.now();
    // Open-loop submission at the tier's rate, in 10 ms slices.
    let submitted = 0;
    while (submitted < total) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * mps) + 1);
      const batch: Promise<void>[] = [];
      for (; submitted < due; submitted++) {
        const i = submitted;
        batch.push(submitOne(h, offset + i, i).then((id) => void (id ? ids.push(id) : refused++)));
      }
      await Promise.all(batch);
      await sleep(10);
    }
    // Drain: wait until every message is settled (or 30 s without progress).
    let lastDone = -1;
    let stuckSince = Date.now();
    for (;;) {
      const counts = await h.ctx.queue.stats(h.ctx.senders.resolve('main').id);
      const done = ids.length - counts.depth;
      if (counts.depth === 0) break;
      if (done !== lastDone) {
        lastDone = done;
        stuckSince = Date.now();
      } else if (Date.now() - stuckSince > 30_000) break;
      await sleep(50);
    }
    const latencies: number[] = [];
    const latencyAt: number[] = [];
    for (const id of ids) {
      const m = await h.ctx.store.getMessage(id);
      if (!m || STATUS_RANK[m.status] < STATUS_RANK.accepted || m.status === 'dead_lettered' || m.status === 'failed') continue;
      const acc = m.history.find((e) => e.status === 'accepted');
      if (!acc) continue;
      latencies.push(acc.at - m.created_at);
      latencyAt.push(acc.at);
    }
    latencies.sort((a, b) => a - b);
    const { lost, duplicates } = countLedger(ids, await h.ledger());
    const throttled = (await h.ctx.metrics.sends.get()).values.filter((v) => v.labels.code === '130429').reduce((a, v) => a + v.value, 0);
    const tier = {
      mps_tier: mps,
      // Sustained: accepts between the 10th and 90th percentile accept times (start burst and drain tail excluded).
      achieved_mps: sustainedMps(latencyAt.sort((a, b) => a - b)),
      throttled_130429: throttled,
      p50_ms: pct(latencies, 50),
      p99_ms: pct(latencies, 99),
      lost,
      duplicates,
      submitted: ids.length,
      submit_refused: refused,
      accepted: latencies.length,
      seconds,
    };
    console.log(JSON.stringify({ tier }));
    return tier;
  } finally {
    await h.close();
    await sandbox.stop();
  }
}

/** 190 mid-stream: time from the halt to every consumer stopped (goal < 1,000 ms), and nothing lost. */
async function haltRun() {
  const sandbox = await startSandboxProcess(80);
  const h = await startHarness({ mps: 80, sandboxUrl: sandbox.url, production: backend === 'production' });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const id = await submitOne(h, 900_000 + i, i);
      if (id) ids.push(id);
    }
    await sleep(500);
    let haltedAt = 0;
    h.ctx.senders.on('state', (s) => {
      if (s.state === 'halted' && !haltedAt) haltedAt = performance.now();
    });
    await fetch(`${sandbox.url}/_sandbox/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'revoked', subcode: 460 }),
    });
    const giveUp = performance.now() + 10_000;
    while ((!haltedAt || !h.app.delivery.stats().senders.every((s) => !s.running && s.in_flight === 0)) && performance.now() < giveUp)
      await sleep(2);
    // Never halted within 10 s (e.g. every message went out before the token was revoked): report
    // null, not the time since the process started (which the old code printed as 38-48 s).
    const halt_stop_ms = haltedAt ? Math.round(performance.now() - haltedAt) : null;
    if (!haltedAt) console.error('bench: the sender never halted after the token was revoked (halt_stop_ms: null)');
    await fetch(`${sandbox.url}/_sandbox/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'valid' }),
    });
    h.ctx.senders.setState('main', 'active', { at: Date.now() });
    const drainBy = Date.now() + 30_000;
    while ((await h.ctx.queue.stats()).depth > 0 && Date.now() < drainBy) await sleep(50);
    const { lost, duplicates } = countLedger(ids, await h.ledger());
    const out = { halt_stop_ms, lost, duplicates };
    console.log(JSON.stringify({ halt: out }));
    return out;
  } finally {
    await h.close();
    await sandbox.stop();
  }
}

const results = [];
let offset = 0;
for (const mps of tiers) {
  results.push(await runTier(mps, offset));
  offset += mps * seconds + 1000;
}
const halt = await haltRun();
// Several processes need the shared servers: embedded mode is one process by design.
const multi =
  backend === 'production' && instances > 0 ? { instances: await runInstances({ instances, mps: instancesMps, seconds, offset }) } : {};
console.log(JSON.stringify({ backend, tiers: results, halt, ...multi }));
process.exit(0);
