// Meta unreachable from here (connection refused: the request never left): messages stay queued and
// are retried with backoff, never dead-lettered for it, and go out once when Meta is back.
import { describe, it, expect, afterAll } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { startHarness, recipient, orderUpdate, waitFor, countLedger, PHONE_NUMBER_ID, WABA_ID, type Harness } from './harness.ts';
import { STATUS_RANK } from '../../src/domain/types.ts';
import { freePort } from '../pacing/private-redis.ts';

let sandbox: SandboxHandle | null = null;
let h: Harness | null = null;
afterAll(async () => {
  await h?.close();
  await sandbox?.close();
});

const start = (port: number) =>
  startSandbox({
    port,
    host: '127.0.0.1',
    app_secret: 'sandbox-app-secret',
    numbers: [{ phone_number_id: PHONE_NUMBER_ID, waba_id: WABA_ID, display_phone_number: '+1 555 010 0001', throughput_mps: 80 }],
    tokens: ['sandbox-token-main'],
  });

describe('Meta unreachable', () => {
  it('keeps messages queued through an outage longer than max_attempts, then sends each once', async () => {
    // A port outside the ephemeral range: nobody else can take it while the sandbox is down (freePort).
    sandbox = await start(await freePort());
    const port = sandbox.port;
    h = await startHarness({ sandboxUrl: sandbox.url, delivery: { max_attempts: 2, backoff_base_ms: 20, backoff_max_ms: 100 } });
    await sandbox.close();
    sandbox = null;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await h.post(orderUpdate(recipient(8000 + i), i))).json.id);
    // Many refused connections later (far more than max_attempts = 2)...
    await waitFor(
      'refused sends, each message tried',
      async () => {
        const sends = (await h!.ctx.metrics.sends.get()).values
          .filter((v) => v.labels.outcome === 'not_sent')
          .reduce((a, v) => a + v.value, 0);
        if (sends < 20) return false;
        for (const id of ids) if ((await h!.ctx.store.getMessage(id))?.last_error?.code !== 'NOT_SENT') return false; // a loaded box may not have tried all yet
        return true;
      },
      30_000,
    );
    for (const id of ids) {
      const m = (await h.ctx.store.getMessage(id))!;
      expect(m.status).toBe('queued');
      // 0 at rest; 1 while a retry is on its way (the attempt mark is written before each send and put
      // back when the connection is refused). Counted refusals would have reached max_attempts (2).
      expect(m.attempts).toBeLessThanOrEqual(1);
      expect(m.last_error?.code).toBe('NOT_SENT');
    }
    expect(await h.ctx.store.listDeadLetters({})).toHaveLength(0);
    // Meta is back on the same address.
    sandbox = await start(port);
    await waitFor('all accepted', async () => {
      for (const id of ids) if (STATUS_RANK[(await h!.ctx.store.getMessage(id))!.status] < STATUS_RANK.accepted) return false;
      return true;
    });
    const r = await fetch(`${sandbox.url}/_sandbox/ledger?phone_number_id=${PHONE_NUMBER_ID}`);
    const { lost, duplicates } = countLedger(ids, ((await r.json()) as { sends: never[] }).sends);
    expect(lost).toBe(0);
    expect(duplicates).toBe(0);
  });
});
