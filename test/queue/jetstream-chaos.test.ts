// Chaos: a PRIVATE nats-server (own port, own store dir) is killed with SIGKILL mid-work and restarted
// on the same dir. Nothing enqueued and not acked may be lost; the same queue object reconnects.
import { describe, it, expect, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'nats';
import { createJetStreamQueue, QueueUnavailableError } from '../../src/queue/jetstream.ts';
import type { DeliveryQueue, Lease } from '../../src/queue/port.ts';
import { freePort } from '../pacing/private-redis.ts';
import { sleep } from './contract.ts';
import { missing } from '../support/services.ts';

const dir = mkdtempSync(join(tmpdir(), 'wagate-nats-chaos-'));
let child: ChildProcess | null = null;

async function startNats(port: number): Promise<void> {
  child = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const nc = await connect({ servers: `nats://127.0.0.1:${port}`, reconnect: false, timeout: 500 }).catch(() => null);
    if (nc) {
      const ok = await nc
        .jetstreamManager()
        .then((m) => m.getAccountInfo())
        .then(
          () => true,
          () => false,
        );
      await nc.close();
      if (ok) return;
    }
    await sleep(100);
  }
  throw new Error(`private nats-server on ${port} did not start`);
}

async function killNats(): Promise<void> {
  const c = child;
  if (!c || c.exitCode !== null) return;
  await new Promise<void>((res) => {
    c.once('exit', () => res());
    c.kill('SIGKILL');
  });
}

describe.skipIf(missing('nats-server'))('JetStream queue chaos (private nats-server, kill -9)', () => {
  afterAll(async () => {
    await killNats();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses nothing enqueued and unacked across kill -9 and restart; the queue reconnects by itself', async () => {
    const port = await freePort();
    await startNats(port);
    const url = `nats://127.0.0.1:${port}`;
    const q: DeliveryQueue = await createJetStreamQueue({ url, stream: 'chaos', subject_prefix: 'chaos.delivery', senders: ['main'] });
    const n = 300;
    const ids = Array.from({ length: n }, (_, i) => `job-${i}`);
    for (const id of ids) expect(await q.enqueue({ id, sender_id: 'main', attempts: 0, enqueued_at: Date.now() })).toBe(true);

    // Some done, some in flight (leased, never acked), some retried with a counted attempt.
    const acked = new Set<string>();
    const first = await q.pull('main', 100, { lease_ms: 1_000, wait_ms: 1_000 });
    expect(first.length).toBe(100);
    for (const l of first.slice(0, 40)) {
      await q.ack(l);
      acked.add(l.job.id);
    }
    for (const l of first.slice(40, 60)) await q.retry(l, Date.now() + 300, { count_attempt: true, reason: '131000' });
    const retried = new Set(first.slice(40, 60).map((l) => l.job.id));

    await killNats();
    await expect(q.enqueue({ id: 'while-down', sender_id: 'main', attempts: 0, enqueued_at: Date.now() })).rejects.toBeInstanceOf(
      QueueUnavailableError,
    );
    await startNats(port);

    // The same queue object must come back by itself.
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      up = await q.ping();
      if (!up) await sleep(100);
    }
    expect(up).toBe(true);

    const got = new Map<string, Lease>();
    const unacked = ids.filter((id) => !acked.has(id));
    const end = Date.now() + 8_000;
    let idle = 0;
    // Pull until every unacked job is back, then until the queue stays empty for a while.
    while (Date.now() < end && (unacked.some((id) => !got.has(id)) || idle < 2)) {
      const ls = await q.pull('main', 100, { lease_ms: 1_000, wait_ms: 300 }).catch(() => [] as Lease[]);
      idle = ls.length ? 0 : idle + 1;
      for (const l of ls) {
        got.set(l.job.id, l);
        await q.ack(l);
      }
    }
    const missing = unacked.filter((id) => !got.has(id));
    expect(missing).toEqual([]);
    for (const id of retried) expect(got.get(id)?.job.attempts).toBe(1);
    // nats-server 2.9 keeps a work-queue ack (message removal) in a lazily written index: after a
    // kill -9 some ACKED jobs can come back. That is a duplicate, never a loss; the delivery worker
    // must skip a job whose message the Store already records as sent. Reported, not asserted.
    const reappeared = [...acked].filter((id) => got.has(id)).length;
    console.log(
      JSON.stringify({
        chaos: 'jetstream-kill-9',
        enqueued: n,
        acked_before_kill: acked.size,
        lost: missing.length,
        acked_reappeared: reappeared,
      }),
    );
    expect((await q.stats('main')).depth).toBe(0);
    await q.close();
  });
});
