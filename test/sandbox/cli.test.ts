// `wagate sandbox`: a long-running process that prints its URL and curl examples, serves the default
// number and token, and exits 0 on SIGTERM; bad options are refused with a clear message (exit 2).
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { PNID, WABA } from './helpers.ts';

const BIN = new URL('../../bin/wagate.js', import.meta.url).pathname;
// Run outside the repo with no WAGATE_CONFIG, so no wagate.yaml changes what the default run serves.
const ENV = { ...process.env, WAGATE_SANDBOX_PORT: '', WAGATE_CONFIG: '' };
const CWD = tmpdir();

describe('wagate sandbox', () => {
  it('prints its URL, serves the default number and token, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, 'sandbox', '--port', '0', '--app-secret', 'cli-secret'], { stdio: ['ignore', 'pipe', 'pipe'], env: ENV, cwd: CWD });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    const t0 = Date.now();
    while (!/listening on (http:\/\/127\.0\.0\.1:\d+)/.test(err) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err)?.[1];
    expect(url, err).toBeTruthy();
    expect(err).toContain('curl -s');
    expect(err).toContain('sandbox-token-main');
    const res = await fetch(`${url}/v23.0/${PNID}/messages`, {
      method: 'POST',
      headers: { authorization: 'Bearer sandbox-token-main', 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', to: '447700900123', type: 'template', template: { name: 'hello_world', language: { code: 'en_US' } } }),
    });
    expect(res.status).toBe(200);
    const tpls = await fetch(`${url}/v23.0/${WABA}/message_templates`, { headers: { authorization: 'Bearer sandbox-token-main' } });
    expect(((await tpls.json()) as { data: unknown[] }).data).toHaveLength(4);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 30_000);

  it('serves the senders of the config file, never printing a configured token', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'wagate-sbx-'));
    const file = join(dir, 'wagate.yaml');
    writeFileSync(file, ['senders:', '  - id: shop', '    phone_number_id: "111222333"', '    waba_id: "444555666"', '    business_id: "b1"', '    access_token: EAAsecretTOKENvalue1234567890', '  - id: support', '    phone_number_id: "777888999"', '    waba_id: "444555666"', '    business_id: "b1"', ''].join('\n'));
    const child = spawn(process.execPath, [BIN, '--config', file, 'sandbox', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: ENV, cwd: CWD });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    const t0 = Date.now();
    while (!/listening on (http:\/\/127\.0\.0\.1:\d+)/.test(err) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err)?.[1];
    expect(url, err).toBeTruthy();
    expect(err).not.toContain('EAAsecretTOKENvalue1234567890');
    expect(err).toContain('sandbox-token-support');
    const send = (pnid: string, token: string) =>
      fetch(`${url}/v23.0/${pnid}/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ messaging_product: 'whatsapp', to: '447700900123', type: 'template', template: { name: 'hello_world', language: { code: 'en_US' } } }) });
    expect((await send('111222333', 'EAAsecretTOKENvalue1234567890')).status).toBe(200);
    expect((await send('777888999', 'sandbox-token-support')).status).toBe(200);
    expect((await send(PNID, 'sandbox-token-support')).status).toBe(400); // the default number is not served
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 30_000);

  it('refuses a bad port with a clear message and exit code 2', async () => {
    const child = spawn(process.execPath, [BIN, 'sandbox', '--port', 'eighty'], { stdio: ['ignore', 'pipe', 'pipe'], env: ENV, cwd: CWD });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toContain('--port must be a port number');
  }, 30_000);
});
