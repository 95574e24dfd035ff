// `wagate sandbox`: the Meta Graph API sandbox alone, until SIGINT/SIGTERM. Options: --port
// (or WAGATE_SANDBOX_PORT, default 8081), --webhook-url, --app-secret (or WAGATE_APP_SECRET).
// With no numbers configured it serves 106540352242922 / WABA 102290129340398, token sandbox-token-main.
import { startSandbox, SANDBOX_DEFAULT_NUMBER, SANDBOX_DEFAULT_TOKEN } from '../meta/sandbox/server.ts';
import { createLogger } from '../observability/log.ts';

export class SandboxCliError extends Error {}

function parsePort(v: unknown, from: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new SandboxCliError(`${from} must be a port number 0-65535, got "${String(v)}"`);
  return n;
}

export async function run(opts: Record<string, unknown>, _args: string[] = [], env: Record<string, string | undefined> = process.env): Promise<number> {
  const port = opts.port !== undefined ? parsePort(opts.port, '--port') : env.WAGATE_SANDBOX_PORT ? parsePort(env.WAGATE_SANDBOX_PORT, 'WAGATE_SANDBOX_PORT') : 8081;
  const appSecret = (opts.appSecret as string | undefined) ?? env.WAGATE_APP_SECRET ?? 'sandbox-app-secret';
  const webhookUrl = opts.webhookUrl as string | undefined;
  if (webhookUrl !== undefined && !/^https?:\/\/\S+$/.test(webhookUrl)) throw new SandboxCliError(`--webhook-url must be an http(s) URL, got "${webhookUrl}"`);
  const logger = createLogger(env.WAGATE_LOG_LEVEL ?? 'warn', { stderr: true });
  let sandbox;
  try {
    sandbox = await startSandbox({ port, host: '127.0.0.1', app_secret: appSecret, webhook_url: webhookUrl, logger });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') throw new SandboxCliError(`port ${port} is already in use: pass --port <other> or set WAGATE_SANDBOX_PORT (0 = any free port)`);
    throw err;
  }
  const u = sandbox.url;
  const pn = SANDBOX_DEFAULT_NUMBER.phone_number_id;
  const auth = `-H 'authorization: Bearer ${SANDBOX_DEFAULT_TOKEN}' -H 'content-type: application/json'`;
  process.stderr.write(
    [
      `Meta sandbox listening on ${u}  (Graph API emulator: nothing here reaches WhatsApp)`,
      `  number ${pn} (WABA ${SANDBOX_DEFAULT_NUMBER.waba_id}), token ${SANDBOX_DEFAULT_TOKEN}`,
      `  webhooks → ${webhookUrl ?? '(none yet: POST /_sandbox/webhooks {"url": ...})'}, signed with the app secret${opts.appSecret || env.WAGATE_APP_SECRET ? '' : ' "sandbox-app-secret"'}`,
      '',
      '  try:',
      `  curl -s ${u}/v23.0/${pn}/messages ${auth} -d '{"messaging_product":"whatsapp","to":"447700900123","type":"template","template":{"name":"hello_world","language":{"code":"en_US"}}}'`,
      `  curl -s ${u}/_sandbox/inbound -H 'content-type: application/json' -d '{"phone_number_id":"${pn}","from":"447700900123","type":"text","text":{"body":"hi"}}'`,
      `  curl -s ${u}/v23.0/${SANDBOX_DEFAULT_NUMBER.waba_id}/message_templates ${auth}`,
      `  curl -s ${u}/_sandbox/ledger`,
      `  curl -s ${u}/_sandbox/tokens -H 'content-type: application/json' -d '{"state":"revoked","subcode":460}'`,
      '',
    ].join('\n'),
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await sandbox.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  return -1;
}
