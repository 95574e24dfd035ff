import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { EmbeddedQueue, DONE_TTL_MS } from '../../src/queue/embedded.ts';
import { queueContract } from './contract.ts';

queueContract('embedded (SQLite file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wagate-queue-'));
  const path = join(dir, 'queue.db');
  return {
    open: async () => new EmbeddedQueue({ path }),
    destroy: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe('EmbeddedQueue', () => {
  it("works in ':memory:'", async () => {
    const q = new EmbeddedQueue({ path: ':memory:' });
    expect(await q.enqueue({ id: 'a', sender_id: 's', attempts: 0, enqueued_at: Date.now() })).toBe(true);
    expect((await q.pull('s', 5, { lease_ms: 1000 })).map((l) => l.job.id)).toEqual(['a']);
    await q.close();
    expect(await q.ping()).toBe(false);
  });

  it('forgets done ids after DONE_TTL_MS (pruned), not before', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wagate-queue-'));
    const path = join(dir, 'q.db');
    try {
      const q = new EmbeddedQueue({ path });
      for (const id of ['old', 'recent']) {
        await q.enqueue({ id, sender_id: 's', attempts: 0, enqueued_at: Date.now() });
        const [l] = await q.pull('s', 1, { lease_ms: 1000 });
        await q.ack(l);
      }
      await q.close();
      // Age one done id beyond the TTL (the prune runs on the next ack after a restart).
      const db = new Database(path);
      db.prepare('UPDATE done_ids SET done_at = ? WHERE id = ?').run(Date.now() - DONE_TTL_MS - 1000, 'old');
      db.close();
      const q2 = new EmbeddedQueue({ path });
      await q2.enqueue({ id: 'trigger', sender_id: 's', attempts: 0, enqueued_at: Date.now() });
      await q2.ack((await q2.pull('s', 1, { lease_ms: 1000 }))[0]);
      expect(await q2.enqueue({ id: 'recent', sender_id: 's', attempts: 0, enqueued_at: Date.now() })).toBe(false);
      expect(await q2.enqueue({ id: 'old', sender_id: 's', attempts: 0, enqueued_at: Date.now() })).toBe(true);
      await q2.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a pending pull returns [] at once when the queue closes', async () => {
    const q = new EmbeddedQueue({ path: ':memory:' });
    const p = q.pull('s', 1, { lease_ms: 1000, wait_ms: 10_000 });
    const t0 = Date.now();
    await q.close();
    expect(await p).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(500);
  });
});
