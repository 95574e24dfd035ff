// `wagate sandbox`: a long-running process that prints its URL and curl examples, serves the default
// number and token (or the config file's senders), and exits 0 on SIGTERM; bad options are refused
// with a clear message (exit 2).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PNID, WABA } from './helpers.ts';

const BIN = new URL('../../bin/wagate.js', import.meta.url).pathname;
// Run outside the repo with no WAGATE_CONFIG, so no wagate.yaml changes what the default run serves.
const ENV = { ...process.env, WAGATE_SANDBOX_PORT: '', WAGATE_CONFIG: '' };
const CWD = tmpdir();
const HELLO = JSON.stringify({
  messaging_product: 'whatsapp',
  to: '447700900123',
  type: 'template',
  template: { name: 'hello_world', language: { code: 'en_US' } },
});

function run(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: ENV, cwd: CWD });
  const out = { err: '' };
  child.stderr.on('data', (d) => (out.err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  return { child, out, exited };
}

/** Starts `wagate <args>` and waits for the sandbox's "listening on <url>" line. */
async function startCli(args: string[]) {
  const r = run(args);
  const t0 = Date.now();
  const re = /listening on (http:\/\/127\.0\.0\.1:\d+)/;
  while (!re.test(r.out.err) && Date.now() - t0 < 20_000) await new Promise((res) => setTimeout(res, 50));
  const url = re.exec(r.out.err)?.[1];
  expect(url, r.out.err).toBeTruthy();
  const send = (pnid: string, token: string) =>
    fetch(`${url}/v23.0/${pnid}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: HELLO,
    });
  const stop = async () => {
    r.child.kill('SIGTERM');
    return r.exited;
  };
  return { url: url!, err: r.out.err, send, stop };
}

describe('wagate sandbox', () => {
  it('prints its URL, serves the default number and token, and exits 0 on SIGTERM', async () => {
    const cli = await startCli(['sandbox', '--port', '0', '--app-secret', 'cli-secret']);
    expect(cli.err).toContain('curl -s');
    expect(cli.err).toContain('sandbox-token-main');
    expect((await cli.send(PNID, 'sandbox-token-main')).status).toBe(200);
    const tpls = await fetch(`${cli.url}/v23.0/${WABA}/message_templates`, { headers: { authorization: 'Bearer sandbox-token-main' } });
    expect(((await tpls.json()) as { data: unknown[] }).data).toHaveLength(4);
    expect(await cli.stop()).toBe(0);
  }, 30_000);

  it('serves the senders of the config file, never printing a configured token', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'wagate-sbx-')), 'wagate.yaml');
    writeFileSync(
      file,
      [
        'senders:',
        '  - id: shop',
        '    phone_number_id: "111222333"',
        '    waba_id: "444555666"',
        '    business_id: "b1"',
        '    access_token: EAAsecretTOKENvalue1234567890',
        '  - id: support',
        '    phone_number_id: "777888999"',
        '    waba_id: "444555666"',
        '    business_id: "b1"',
        '',
      ].join('\n'),
    );
    const cli = await startCli(['--config', file, 'sandbox', '--port', '0']);
    expect(cli.err).not.toContain('EAAsecretTOKENvalue1234567890');
    expect(cli.err).toContain('sandbox-token-support');
    expect((await cli.send('111222333', 'EAAsecretTOKENvalue1234567890')).status).toBe(200);
    expect((await cli.send('777888999', 'sandbox-token-support')).status).toBe(200);
    expect((await cli.send(PNID, 'sandbox-token-support')).status).toBe(400); // the default number is not served
    expect(await cli.stop()).toBe(0);
  }, 30_000);

  it('refuses a bad port with a clear message and exit code 2', async () => {
    const r = run(['sandbox', '--port', 'eighty']);
    expect(await r.exited).toBe(2);
    expect(r.out.err).toContain('--port must be a port number');
  }, 30_000);
});
