// Several instances: TWO real wagate processes (`node bin/wagate.js start`) on one Redis, one NATS and
// one PostgreSQL, with the same namespace, sending for one sender through a shared external sandbox
// (`node bin/wagate.js sandbox`). Their combined rate at the sandbox stays within the sender's
// throughput (token-bucket envelope, 1% allowed), both processes send, and every message is sent once.
import { describe, it, expect } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { SENDER_BURST_S } from '../../src/pacing/buckets.ts';
import { countLedger, http, orderUpdate, recipient, waitFor, type LedgerSend } from '../delivery/harness.ts';
import { DATABASE_URL, NATS_URL, REDIS_URL, dropNamespace, freePort, leftovers, spawnWagate, stopProcess } from './backends.ts';
import { missing } from '../support/services.ts';

const PHONE_NUMBER_ID = '106540352242922'; // the standalone sandbox's default number
const MPS = 25;
const N = 150;
/**
 * Arrival-time allowance at the sandbox: see worstExcess. The sandbox stamps a send when its event loop
 * gets to it; on a 2-core box at load 10 that loop stalls for up to ~0.4 s and stamps the queued sends
 * in a bunch (measured: 8 sends over the bare envelope with three test files in parallel, 2-4 alone).
 * Two instances each pacing on their own would send 50/s: over 3 s that is ~55 sends past this
 * envelope, so the test still catches it.
 */
const JITTER_MS = 500;

/**
 * Most sends seen in any interval beyond what a token bucket of `mps` (+1%) holding `burst` tokens
 * allows. The sandbox stamps ARRIVAL, not the moment a token was granted: a process the scheduler
 * pauses for a moment delivers late and makes the next interval look short, so each interval is
 * widened by `jitterMs` (a timing allowance, not a rate one).
 */
function worstExcess(times: number[], mps: number, burst: number, jitterMs: number): { excess: number; at: string } {
  let worst = { excess: -Infinity, at: '' };
  for (let i = 0; i < times.length; i++) {
    for (let j = i + 1; j < times.length; j++) {
      const allowed = burst + (mps * 1.01 * (times[j] - times[i] + jitterMs)) / 1000;
      const excess = j - i + 1 - allowed;
      if (excess > worst.excess) worst = { excess, at: `${j - i + 1} sends in ${times[j] - times[i]} ms` };
    }
  }
  return worst;
}

describe.skipIf(missing('postgres', 'redis', 'nats'))('several instances', () => {
  it('two wagate processes share one sender: combined rate within its cap, every message sent once', async () => {
    const ns = `inst_${randomBytes(4).toString('hex')}`;
    const dir = mkdtempSync(join(tmpdir(), 'wagate-instances-'));
    const sandboxPort = await freePort();
    const sandbox = spawnWagate(['sandbox', '--port', String(sandboxPort)]);
    const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
    const procs: { proc: ChildProcess; output: () => string }[] = [];
    try {
      await waitFor('the sandbox', async () => (await http('GET', `${sandboxUrl}/_sandbox/ledger`)).status === 200, 20_000, 100);
      const bases: string[] = [];
      for (const name of ['a', 'b']) {
        const port = await freePort();
        const file = join(dir, `${name}.yaml`);
        writeFileSync(
          file,
          stringify({
            port,
            host: '127.0.0.1',
            log_level: 'warn',
            data_dir: join(dir, name),
            namespace: ns,
            redis_url: REDIS_URL,
            nats_url: NATS_URL,
            database_url: DATABASE_URL,
            sandbox: { mode: 'never' },
            meta: { api_url: sandboxUrl, app_secret: 'sandbox-app-secret', verify_token: 'instances-test' },
            senders: [
              {
                id: 'main',
                phone_number_id: PHONE_NUMBER_ID,
                waba_id: '102290129340398',
                business_id: 'instances',
                access_token: 'sandbox-token-main',
                throughput_mps: MPS,
                messaging_limit: null,
              },
            ],
          }),
        );
        const p = spawnWagate(['--config', file, 'start']);
        procs.push(p);
        const base = `http://127.0.0.1:${port}`;
        // One after the other: the second start reloads the gate from the same store, before any send.
        await waitFor(
          `wagate ${name} ready`,
          async () => {
            if (p.proc.exitCode !== null) throw new Error(`wagate ${name} exited: ${p.output()}`);
            return (await http('GET', `${base}/ready`).catch(() => ({ status: 0 }))).status === 200;
          },
          30_000,
          100,
        );
        bases.push(base);
      }

      // Submit to both processes at once (half each), as a load balancer would.
      const ids: string[] = [];
      await Promise.all(
        Array.from({ length: 10 }, async (_, lane) => {
          for (let i = lane; i < N; i += 10) {
            // A client retries GATE_UNAVAILABLE (a loaded Redis timed out) with the same Idempotency-Key.
            let r = await http('POST', `${bases[i % 2]}/v1/messages`, orderUpdate(recipient(i), i), { 'idempotency-key': `${ns}-${i}` });
            for (let t = 0; t < 5 && r.json?.decision?.reason_code === 'GATE_UNAVAILABLE'; t++) {
              await new Promise((res) => setTimeout(res, 200));
              r = await http('POST', `${bases[i % 2]}/v1/messages`, orderUpdate(recipient(i), i), { 'idempotency-key': `${ns}-${i}` });
            }
            if (r.status !== 202) throw new Error(`submit ${i}: ${r.status} ${JSON.stringify(r.json)}`);
            ids.push(r.json.id);
          }
        }),
      );
      const ledger = async () =>
        ((await http('GET', `${sandboxUrl}/_sandbox/ledger?phone_number_id=${PHONE_NUMBER_ID}`)).json?.sends ?? []) as LedgerSend[];
      await waitFor(`${N} sends in the ledger`, async () => (await ledger()).length >= N, 60_000, 250);
      await new Promise((r) => setTimeout(r, 500)); // a late duplicate would show up here
      const sends = await ledger();
      const { lost, duplicates } = countLedger(ids, sends);
      expect({ lost, duplicates, total: sends.length }).toEqual({ lost: 0, duplicates: 0, total: N });

      // Both processes did part of the sending.
      for (const base of bases) {
        const text = (await http('GET', `${base}/metrics`)).json as string;
        const accepted = [...String(text).matchAll(/^wagate_sends_total\{[^}]*outcome="accepted"[^}]*\} (\d+)/gm)].reduce(
          (a, m) => a + Number(m[1]),
          0,
        );
        expect(accepted, `${base} sent nothing`).toBeGreaterThan(0);
      }

      // The combined rate: no interval holds more sends than the shared bucket allows.
      const times = sends.map((s) => new Date(s.at).getTime()).sort((a, b) => a - b);
      const burst = Math.max(1, MPS * SENDER_BURST_S);
      const worst = worstExcess(times, MPS, burst, JITTER_MS);
      const strict = worstExcess(times, MPS, burst, 0);
      const overall = ((times.length - 1 - burst) * 1000) / (times[times.length - 1] - times[0]);
      console.log(
        JSON.stringify({
          instances: 2,
          mps_cap: MPS,
          sends: times.length,
          overall_mps: Math.round(overall * 100) / 100,
          worst_interval: worst.at,
          excess_without_jitter_allowance: Math.round(strict.excess * 100) / 100,
        }),
      );
      expect(worst.excess, `over the cap: ${worst.at}`).toBeLessThanOrEqual(0);
    } finally {
      for (const p of procs) await stopProcess(p.proc);
      await stopProcess(sandbox.proc);
      await dropNamespace(ns);
      rmSync(dir, { recursive: true, force: true });
    }
    expect(await leftovers(ns)).toEqual({ redis_keys: 0, streams: [], schema: false });
  }, 120_000);
});
