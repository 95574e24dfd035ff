// Stopping wagate while workers are mid-delivery: app.stop() returns, and what was accepted is still
// sent exactly once by the next start. The workers here are started by hand (createApp with
// workers: false, then delivery.start(), as bench/api.ts and embedders do): app.stop() used to close
// the queue and the store under their jobs and then wait on them forever.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STATUS_RANK } from '../../src/domain/types.ts';
import { countLedger, orderUpdate, recipient, startHarness, startSandboxProcess, waitFor } from './harness.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'wagate-shutdown-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe('shutdown mid-delivery', () => {
  it('stops with hand-started workers in flight, and the next start sends every accepted message once', async () => {
    // Meta in its own process, so its ledger outlives the first wagate; 20 mps keeps most jobs in flight.
    const sandbox = await startSandboxProcess(20);
    try {
      const first = await startHarness({ mps: 20, workers: false, sandboxUrl: sandbox.url, dataDir });
      const ids: string[] = [];
      for (let i = 0; i < 60; i++) {
        const r = await first.post(orderUpdate(recipient(8100 + i)));
        expect(r.status, JSON.stringify(r.json)).toBe(202);
        ids.push(r.json.id);
      }
      await first.app.delivery.start();
      await waitFor('some sent, more waiting', async () => {
        const n = (await first.ledger()).length;
        return n > 0 && n < ids.length;
      });
      await first.close({ keepData: true }); // bounded by the test's timeout: it hung before
      expect(first.app.delivery.stats().senders).toEqual([]);

      const second = await startHarness({ mps: 1000, sandboxUrl: sandbox.url, dataDir });
      try {
        await waitFor(
          'every accepted message sent',
          async () => {
            for (const id of ids) if (STATUS_RANK[(await second.ctx.store.getMessage(id))!.status] < STATUS_RANK.accepted) return false;
            return true;
          },
          30_000,
        );
        const { lost, duplicates } = countLedger(ids, await second.ledger());
        expect({ lost, duplicates }).toEqual({ lost: 0, duplicates: 0 });
      } finally {
        await second.close({ keepData: true });
      }
    } finally {
      await sandbox.stop();
    }
  }, 60_000);
});
