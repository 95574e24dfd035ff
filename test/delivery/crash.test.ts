// A worker killed mid-send (a real child process, kill -9) loses nothing and sends nothing twice,
// counted by the sandbox ledger. Some sends are held open by the sandbox when the kill lands: three
// that Meta accepted (the answer never came back: in doubt, resolved by their status webhooks) and two
// that Meta never got (in doubt, resent after the grace period).
import { describe, it, expect, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { startSandbox, type SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { startHarness, http, recipient, orderUpdate, waitFor, countLedger, PHONE_NUMBER_ID, WABA_ID, type Harness } from './harness.ts';
import { STATUS_RANK } from '../../src/domain/types.ts';

const here = dirname(fileURLToPath(import.meta.url));
let sandbox: SandboxHandle | null = null;
let child: ChildProcess | null = null;
let h: Harness | null = null;
const dataDir = mkdtempSync(join(tmpdir(), 'wagate-crash-'));

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await h?.close().catch(() => {});
  await sandbox?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function startChild(sandboxUrl: string): Promise<{ proc: ChildProcess; base: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(here, 'crash-child.ts')], {
    env: { ...process.env, CRASH_DATA_DIR: dataDir, CRASH_SANDBOX_URL: sandboxUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err += String(d)));
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.once('line', (line) => resolve({ proc, base: JSON.parse(line).base }));
    proc.once('exit', (code) => reject(new Error(`child exited ${code}: ${err.slice(-2000)}`)));
  });
}

describe('crash mid-send', () => {
  it('kill -9 during sends: zero lost, zero duplicates (sandbox ledger)', async () => {
    sandbox = await startSandbox({
      port: 0,
      host: '127.0.0.1',
      app_secret: 'sandbox-app-secret',
      numbers: [{ phone_number_id: PHONE_NUMBER_ID, waba_id: WABA_ID, display_phone_number: '+1 555 010 0001', throughput_mps: 80 }],
      tokens: ['sandbox-token-main'],
    });
    const c = await startChild(sandbox.url);
    child = c.proc;
    sandbox.setWebhookUrl(`${c.base}/webhook`);
    const N = 60;
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      const r = await http('POST', `${c.base}/v1/messages`, orderUpdate(recipient(9000 + i), i));
      expect(r.status, JSON.stringify(r.json)).toBe(202);
      ids.push(r.json.id);
      if (i === 9) {
        // The next sends hang: 3 processed by Meta (answer lost), then 2 never processed.
        await http('POST', `${sandbox.url}/_sandbox/faults`, { status: 'hang', accept: true, hang_ms: 60_000, count: 3 });
        await http('POST', `${sandbox.url}/_sandbox/faults`, { status: 'hang', accept: false, hang_ms: 60_000, count: 2 });
      }
    }
    // Kill once Meta has some but not all of them and the hung sends are in flight.
    await waitFor(
      'some sends accepted',
      async () =>
        countLedger(ids, (await http('GET', `${sandbox!.url}/_sandbox/ledger?phone_number_id=${PHONE_NUMBER_ID}`)).json.sends).lost <=
        N - 20,
      15_000,
      5,
    );
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    const atKill = countLedger(ids, (await http('GET', `${sandbox.url}/_sandbox/ledger?phone_number_id=${PHONE_NUMBER_ID}`)).json.sends);
    expect(atKill.lost).toBeGreaterThan(0);

    // A new process over the same files; statuses for the sends Meta accepted now come to it.
    h = await startHarness({
      dataDir,
      sandboxUrl: sandbox.url,
      mps: 80,
      delivery: { lease_ms: 1_500, in_doubt_grace_ms: 3_000, concurrency_per_sender: 8 },
    });
    sandbox.setWebhookUrl(`${h.base}/webhook`);
    await waitFor(
      'every message settled',
      async () => {
        for (const id of ids) {
          const m = await h!.ctx.store.getMessage(id);
          if (!m || STATUS_RANK[m.status] < STATUS_RANK.accepted) return false;
        }
        return true;
      },
      20_000,
      100,
    );
    const final = countLedger(ids, await h.ledger());
    expect(final.lost).toBe(0);
    expect(final.duplicates).toBe(0);
    // The in-doubt path was really taken: at least the two sends Meta never got were in doubt (the
    // three it accepted may have been resolved by their status webhooks before the kill).
    const inDoubt = (await Promise.all(ids.map((id) => h!.ctx.store.getMessage(id)))).filter((m) =>
      m!.history.some((e) => e.status === 'in_doubt'),
    );
    expect(inDoubt.length).toBeGreaterThanOrEqual(2);
    for (const m of await Promise.all(ids.map((id) => h!.ctx.store.getMessage(id)))) expect(m!.status).not.toBe('dead_lettered');
  });
});
