// Error 190 halts every consumer within a second, keeps every message queued and unsent, and after a
// valid token (sender set active again) everything goes out exactly once.
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { startHarness, recipient, orderUpdate, waitFor, countLedger, type Harness } from './harness.ts';
import { STATUS_RANK } from '../../src/domain/types.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ mps: 80 });
});
afterAll(async () => {
  await h?.close();
});

describe('halt on 190', () => {
  it('stops everything, loses nothing, resumes with zero loss and zero duplicates', async () => {
    const sender = h.ctx.senders.resolve('main');
    // Queue 30 messages first (workers stopped), then revoke the token and start the workers.
    await h.app.delivery.stop();
    let haltedAt = 0;
    h.ctx.senders.on('state', (s) => {
      if (s.state === 'halted' && !haltedAt) haltedAt = Date.now();
    });

    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await h.post(orderUpdate(recipient(5000 + i), i));
      expect(r.status, JSON.stringify(r.json)).toBe(202);
      ids.push(r.json.id);
    }
    await h.sandbox('POST', '/_sandbox/tokens', { state: 'revoked', subcode: 460 });
    await h.app.delivery.start();
    await waitFor('sender halted', async () => h.ctx.senders.status(sender.id).state === 'halted');
    expect(h.ctx.senders.status(sender.id).reason_code).toBe('META_190');
    // Every consumer stops (how fast is a benchmark figure: bench:delivery's halt_stop_ms).
    await waitFor('workers stopped', async () => h.app.delivery.stats().senders.every((s) => !s.running && s.in_flight === 0), 5_000, 10);
    expect(haltedAt).toBeGreaterThan(0);

    // Nothing sent, nothing lost: every message still waiting in the queue.
    const ledgerBefore = countLedger(ids, await h.ledger());
    expect(ledgerBefore.lost).toBe(ids.length);
    const stats = await h.ctx.queue.stats(sender.id);
    expect(stats.depth).toBe(ids.length);
    for (const id of ids) {
      const m = (await h.ctx.store.getMessage(id))!;
      expect(STATUS_RANK[m.status]).toBeLessThan(STATUS_RANK.accepted);
      expect(m.status).not.toBe('dead_lettered');
    }
    // New submissions are denied at the gate while halted.
    const denied = await h.post(orderUpdate(recipient(5999)));
    expect(denied.status).toBe(422);
    expect(['CREDENTIALS_INVALID', 'SENDER_PAUSED']).toContain(denied.json.decision.reason_code);

    // Stays halted: no send attempt leaks out while halted.
    await new Promise((r) => setTimeout(r, 300));
    expect(countLedger(ids, await h.ledger()).lost).toBe(ids.length);

    // The token is valid again; the health engineer's resume sets the sender active.
    await h.sandbox('POST', '/_sandbox/tokens', { state: 'valid' });
    h.ctx.senders.setState(sender.id, 'active', { at: Date.now(), credentials_valid: true });
    await waitFor('all accepted', async () => {
      for (const id of ids) if (STATUS_RANK[(await h.ctx.store.getMessage(id))!.status] < STATUS_RANK.accepted) return false;
      return true;
    });
    const after = countLedger(ids, await h.ledger());
    expect(after.lost).toBe(0);
    expect(after.duplicates).toBe(0);
    // Halts are not attempts: nothing was dead-lettered for running out of attempts.
    expect((await h.ctx.store.listDeadLetters({})).length).toBe(0);
  });
});
