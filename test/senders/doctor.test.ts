// `wagate doctor` against the real local services (PostgreSQL, Redis, NATS) and the Meta sandbox; the
// checks that need them skip without them (test/support/services.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/doctor.ts';
import { startSandbox, type SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { createLogger } from '../../src/observability/log.ts';
import { SENDER } from './harness.ts';
import { DATABASE_URL, NATS_URL, REDIS_URL, missing } from '../support/services.ts';

let sandbox: SandboxHandle;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wagate-doctor-'));
  sandbox = await startSandbox({
    port: 0,
    host: '127.0.0.1',
    app_secret: 'sandbox-app-secret',
    numbers: [
      {
        phone_number_id: SENDER.phone_number_id,
        waba_id: SENDER.waba_id,
        display_phone_number: SENDER.display_phone_number!,
        throughput_mps: 80,
      },
    ],
    tokens: [SENDER.access_token, 'sandbox-token-other'],
    logger: createLogger('silent'),
  });
});
afterAll(async () => {
  await sandbox.close();
  rmSync(dir, { recursive: true, force: true });
});

function configFile(name: string, over: { redis?: string; appToken?: string; extra?: string } = {}): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    [
      `data_dir: ${join(dir, 'data')}`,
      `database_url: ${DATABASE_URL}`,
      `redis_url: ${over.redis ?? REDIS_URL}`,
      `nats_url: ${NATS_URL}`,
      'sandbox: { mode: never }',
      'meta:',
      `  api_url: ${sandbox.url}`,
      '  app_secret: ${DOCTOR_APP_SECRET}',
      '  verify_token: vt-123',
      over.appToken ? `  app_token: "${over.appToken}"` : '',
      'senders:',
      '  - id: main',
      `    phone_number_id: "${SENDER.phone_number_id}"`,
      `    waba_id: "${SENDER.waba_id}"`,
      '    access_token: ${DOCTOR_TOKEN}',
      'alerts:',
      '  slack_webhook_url: http://127.0.0.1:9/slack',
      over.extra ?? '',
    ].join('\n'),
  );
  return path;
}

async function doctor(config: string | undefined, env: Record<string, string | undefined>): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await run({ config, env, write: (l) => lines.push(l), timeout_ms: 2_000 });
  return { code, out: lines.join('\n') };
}

const ENV = { DOCTOR_APP_SECRET: 'app-secret', DOCTOR_TOKEN: SENDER.access_token };

describe('wagate doctor', () => {
  it.skipIf(missing('postgres', 'redis', 'nats'))(
    'exit 0 when config, backends, token, permissions, number and webhooks are all fine',
    async () => {
      // debug_token with the app token ("app_id|app_secret"), as in production.
      const { code, out } = await doctor(configFile('good', { appToken: '100000000000000|sandbox-app-secret' }), ENV);
      expect(out).toMatch(/✓ PostgreSQL answers/);
      expect(out).toMatch(/✓ Redis answers/);
      expect(out).toMatch(/✓ NATS JetStream answers/);
      expect(out).toMatch(/✓ sender main \(106540352242922\): token valid \(SYSTEM_USER, never expires\)/);
      expect(out).toMatch(/✓ sender main .*permissions whatsapp_business_messaging, whatsapp_business_management cover WABA/);
      expect(out).toMatch(/✓ sender main .*quality GREEN/);
      expect(out).toMatch(/✓ app secret set/);
      expect(out).not.toContain('✗');
      expect(out).not.toContain(SENDER.access_token);
      expect(code).toBe(0);
    },
  );

  // Redis is the backend made to be down; the other two must answer for the count to be 4.
  it.skipIf(missing('postgres', 'nats'))('exit 1 with the fix when a token is revoked or a backend is down', async () => {
    const { code, out } = await doctor(configFile('bad', { redis: 'redis://127.0.0.1:1', appToken: 'not-an-app-token' }), {
      ...ENV,
      DOCTOR_TOKEN: 'sandbox-token-other',
      DOCTOR_APP_SECRET: undefined,
    });
    expect(code).toBe(1);
    expect(out).toMatch(/✗ Redis at redis:\/\/127\.0\.0\.1:1 does not answer/);
    expect(out).toMatch(/✗ meta\.app_token is not an app access token/);
    // With an unusable app token Meta cannot be asked: said plainly, not reported as a bad sender token.
    expect(out).toMatch(/✗ sender main .*could not ask Meta about the token/);
    expect(out).toMatch(/✗ meta\.app_secret is not set/);
    expect(out).toMatch(/4 problem\(s\) found/);
  });

  it.skipIf(missing('postgres', 'redis', 'nats'))('a revoked sender token: exit 1, what it means and how to fix it', async () => {
    await fetch(`${sandbox.url}/_sandbox/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'sandbox-token-other', state: 'revoked', subcode: 460 }),
    });
    const { code, out } = await doctor(configFile('revoked'), { ...ENV, DOCTOR_TOKEN: 'sandbox-token-other' });
    expect(code).toBe(1);
    expect(out).toMatch(/✗ sender main .*token INVALID \(Password Changed/);
    expect(out).toMatch(/fix: generate a new System User token with whatsapp_business_messaging and whatsapp_business_management/);
    expect(out).toMatch(/1 problem\(s\) found/);
  });

  it('exit 2 on an invalid config, naming the key and the fix', async () => {
    const path = join(dir, 'broken.yaml');
    writeFileSync(path, 'senders:\n  - id: main\n    phone_number_id: "abc"\n    waba_id: "102290129340398"\n');
    const { code, out } = await doctor(path, {});
    expect(code).toBe(2);
    expect(out).toMatch(/✗ config senders\.0\.phone_number_id/);
    expect(out).toMatch(/fix:/);
  });

  it('sandbox mode (no senders) is a warning, not a failure', async () => {
    const path = join(dir, 'sandbox.yaml');
    writeFileSync(path, `data_dir: ${join(dir, 'data2')}\n`);
    const { code, out } = await doctor(path, {});
    expect(out).toMatch(/! no sender has a Meta access token: wagate runs the built-in Meta SANDBOX/);
    expect(out).toMatch(/! no alert channel configured/);
    expect(code).toBe(0);
  });
});
