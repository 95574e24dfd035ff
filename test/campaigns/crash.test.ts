// A wagate killed (kill -9, a real child process) in the middle of a campaign: a new process over the
// same files finishes it with every recipient sent exactly once, counted on the sandbox's ledger.
// Some sends hang in Meta when the kill lands (never processed): they are in doubt, resent after grace.
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { startSandbox, type SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { http, PHONE_NUMBER_ID, WABA_ID, waitFor } from '../delivery/harness.ts';
import { lostAndDuplicates, phone, startCampaignHarness, type CampaignHarness } from './helpers.ts';

const here = dirname(fileURLToPath(import.meta.url));
let sandbox: SandboxHandle | null = null;
let child: ChildProcess | null = null;
let h: CampaignHarness | null = null;
const dataDir = mkdtempSync(join(tmpdir(), 'wagate-cmp-crash-'));

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await h?.app.stop().catch(() => {});
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
    createInterface({ input: proc.stdout! }).once('line', (line) => resolve({ proc, base: JSON.parse(line).base }));
    proc.once('exit', (code) => reject(new Error(`child exited ${code}: ${err.slice(-2000)}`)));
  });
}

describe('crash mid-campaign', () => {
  it('kill -9 while dispatching: 0 lost, 0 duplicates', async () => {
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
    const N = 200;
    const recipients = Array.from({ length: N }, (_, i) => ({ to: `+${phone(700 + i)}`, variables: [`N${i}`] }));
    const created = await http('POST', `${c.base}/v1/campaigns`, {
      name: 'crash',
      template: { name: 'spring_sale', language: 'en_US' },
      audience: { recipients },
      options: { rate_mps: 60 },
    });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect((await http('POST', `${c.base}/v1/campaigns/${created.json.id}/start`)).status).toBe(200);
    const ledger = async () => (await http('GET', `${sandbox!.url}/_sandbox/ledger?phone_number_id=${PHONE_NUMBER_ID}`)).json.sends;
    await waitFor('some sent', async () => (await ledger()).length >= 30, 15_000, 5);
    // The next two sends hang in Meta and are never processed: in flight when the kill lands.
    await http('POST', `${sandbox.url}/_sandbox/faults`, { status: 'hang', accept: false, hang_ms: 60_000, count: 2 });
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    const all = recipients.map((r) => r.to.slice(1));
    expect(lostAndDuplicates(all, await ledger()).lost).toBeGreaterThan(0); // really mid-campaign

    h = await startCampaignHarness({
      dataDir,
      sandboxUrl: sandbox.url,
      mps: 80,
      delivery: { lease_ms: 1_500, in_doubt_grace_ms: 3_000, concurrency_per_sender: 8 },
    });
    sandbox.setWebhookUrl(`${h.base}/webhook`);
    const done = await waitFor(
      'campaign completed and settled',
      async () => {
        const v = await h!.campaigns.get(created.json.id);
        return v.status === 'completed' && v.counts.queued === 0 && v.counts.sent === 0 ? v : null;
      },
      90_000,
      100,
    );
    expect(lostAndDuplicates(all, await ledger())).toEqual({ lost: 0, duplicates: 0 });
    expect(done.counts.delivered + done.counts.read).toBe(N);
  }, 120_000);
});
