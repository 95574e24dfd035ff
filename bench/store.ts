// Store benchmark (not a test): message inserts/s and applyStatus/s for SQLite (file, WAL) and
// PostgreSQL, as the delivery pipeline uses them (one insert + 4 status changes per message), at
// concurrency 1 and 32. Run: npx tsx bench/store.ts [--n 5000] [--backend sqlite|postgres|both]
// The LAST line printed is one JSON object.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { MessageRecord, MessageStatus } from '../src/domain/types.ts';
import type { Store } from '../src/store/port.ts';
import { createSqliteStore } from '../src/store/sqlite.ts';
import { createPostgresStore } from '../src/store/postgres.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const N = Number(arg('n', '5000'));
const BACKEND = arg('backend', 'both');
const PG_URL = process.env.WAGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const STEPS: MessageStatus[] = ['sending', 'accepted', 'sent', 'delivered'];

function msg(i: number, run: string): MessageRecord {
  const to = `55119${String(i).padStart(8, '0')}`;
  return {
    id: `b_${run}_${i}`,
    sender_id: 'main',
    to,
    category: 'utility',
    type: 'template',
    template_name: 'order_update',
    template_language: 'en_US',
    payload: {
      messaging_product: 'whatsapp',
      to,
      type: 'template',
      template: {
        name: 'order_update',
        language: { code: 'en_US' },
        components: [{ type: 'body', parameters: [{ type: 'text', text: `#${i}` }] }],
      },
    },
    status: 'queued',
    wamid: null,
    attempts: 0,
    idempotency_key: `idem_${run}_${i}`,
    request_hash: 'h',
    last_error: null,
    pricing: null,
    reserved_marketing: false,
    reserved_tier: true,
    created_at: Date.now(),
    updated_at: Date.now(),
    history: [{ status: 'queued', at: Date.now(), source: 'gate' }],
  };
}

/** This process's CPU µs per op, by label: less sensitive than ops/s to other load on the machine. */
const cpuUs: Record<string, number> = {};

/** Runs `count` tasks with at most `conc` in flight; returns ops/s (wall clock). */
async function rate(count: number, conc: number, task: (i: number) => Promise<unknown>, label?: string): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < count) await task(next++);
    }),
  );
  const cu = process.cpuUsage(c0);
  if (label) cpuUs[label] = Math.round(((cu.user + cu.system) / count) * 10) / 10;
  return Math.round(count / ((performance.now() - t0) / 1000));
}

async function measure(store: Store, run: string) {
  const out: Record<string, number> = {};
  for (const k of Object.keys(cpuUs)) delete cpuUs[k];
  for (const conc of [1, 32]) {
    const tag = `${run}_c${conc}`;
    out[`inserts_per_s_c${conc}`] = await rate(N, conc, (i) => store.insertMessage(msg(i, tag)), `insert_cpu_us_c${conc}`);
    out[`apply_status_per_s_c${conc}`] = await rate(
      N * STEPS.length,
      conc,
      (k) => {
        const i = Math.floor(k / STEPS.length);
        const st = STEPS[k % STEPS.length];
        return store.applyStatus(
          `b_${tag}_${i}`,
          { status: st, at: Date.now(), source: 'bench' },
          st === 'accepted' ? { wamid: `wamid.${tag}.${i}` } : undefined,
        );
      },
      `apply_status_cpu_us_c${conc}`,
    );
    out[`get_by_wamid_per_s_c${conc}`] = await rate(
      N,
      conc,
      (i) => store.getMessageByWamid(`wamid.${tag}.${i}`),
      `get_by_wamid_cpu_us_c${conc}`,
    );
  }
  return { ...out, ...cpuUs };
}

// Other work on the machine skews ops/s: the load average is printed so a reader can judge.
const result: Record<string, unknown> = { n: N, cpus: cpus().length, load_avg_1m_start: Math.round(loadavg()[0] * 10) / 10 };
if (BACKEND !== 'postgres') {
  const dir = mkdtempSync(join(tmpdir(), 'wagate-bench-store-'));
  const store = await createSqliteStore(join(dir, 'wagate.db'));
  try {
    result.sqlite = await measure(store, 's');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ sqlite: result.sqlite }));
}
if (BACKEND !== 'sqlite') {
  const schema = `wbench_${randomBytes(4).toString('hex')}`;
  const store = await createPostgresStore(PG_URL, { schema });
  try {
    result.postgres = await measure(store, 'p');
  } finally {
    await store.close();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`drop schema if exists "${schema}" cascade`);
    await c.end();
  }
  console.log(JSON.stringify({ postgres: result.postgres }));
}
result.load_avg_1m_end = Math.round(loadavg()[0] * 10) / 10;
console.log(JSON.stringify(result));
