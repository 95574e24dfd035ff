// Queue throughput: enqueue + pull (batches) + ack per second, for one sender.
// `npx tsx bench/queue.ts [--backend embedded|jetstream] [--n 20000] [--batch 50]`. Last line: one JSON object.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { DeliveryQueue } from '../src/queue/port.ts';
import { EmbeddedQueue } from '../src/queue/embedded.ts';
import { createJetStreamQueue, deleteJetStreamQueue } from '../src/queue/jetstream.ts';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
};
const backend = arg('backend', 'embedded');
const n = Number(arg('n', '20000'));
const batch = Number(arg('batch', '50'));
const natsUrl = arg('nats', 'nats://127.0.0.1:4222');

const run = randomBytes(4).toString('hex');
let q: DeliveryQueue;
let cleanup: () => Promise<void>;
if (backend === 'jetstream') {
  const stream = `bench_${run}`;
  q = await createJetStreamQueue({ url: natsUrl, stream, subject_prefix: `bench_${run}.delivery`, senders: ['s'] });
  cleanup = () => deleteJetStreamQueue({ url: natsUrl, stream });
} else {
  const dir = mkdtempSync(join(tmpdir(), 'wagate-bench-queue-'));
  q = new EmbeddedQueue({ path: join(dir, 'queue.db') });
  cleanup = async () => rmSync(dir, { recursive: true, force: true });
}

const t0 = performance.now();
// Producer and consumer run concurrently, as in the gateway (submit path vs workers).
const producer = (async () => {
  const inflight: Promise<boolean>[] = [];
  for (let i = 0; i < n; i++) {
    inflight.push(q.enqueue({ id: `m${i}`, sender_id: 's', attempts: 0, enqueued_at: Date.now() }));
    if (inflight.length >= 256) await Promise.all(inflight.splice(0));
  }
  await Promise.all(inflight);
})();
let done = 0;
const consumer = (async () => {
  while (done < n) {
    const ls = await q.pull('s', batch, { lease_ms: 30_000, wait_ms: 200 });
    await Promise.all(ls.map((l) => q.ack(l)));
    done += ls.length;
  }
})();
await Promise.all([producer, consumer]);
const secs = (performance.now() - t0) / 1000;
const stats = await q.stats('s');
await q.close();
await cleanup();
console.log(
  JSON.stringify({
    bench: 'queue',
    backend,
    jobs: n,
    batch,
    seconds: Number(secs.toFixed(3)),
    jobs_per_s: Math.round(n / secs),
    left_in_queue: stats.depth,
  }),
);
