// `wagate sandbox`: the Meta Graph API sandbox alone, until SIGINT/SIGTERM. Options: --port
// (or WAGATE_SANDBOX_PORT, default 8081), --webhook-url, --app-secret (or WAGATE_APP_SECRET).
// The senders of the config file (if any) become the sandbox's numbers, with their tokens (or
// "sandbox-token-<id>"), as in `wagate start`; with none it serves 106540352242922 / WABA
// 102290129340398, token sandbox-token-main.
import { maskToken, startSandbox, SANDBOX_DEFAULT_NUMBER, SANDBOX_DEFAULT_TOKEN } from '../meta/sandbox/server.ts';
import type { SandboxNumberInput } from '../meta/sandbox/state.ts';
import { loadConfig, resolveSenders } from '../config/load.ts';
import { createLogger } from '../observability/log.ts';

export class SandboxCliError extends Error {}

function parsePort(v: unknown, from: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new SandboxCliError(`${from} must be a port number 0-65535, got "${String(v)}"`);
  return n;
}

export async function run(
  opts: Record<string, unknown>,
  _args: string[] = [],
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  const { config } = loadConfig({ file: (opts.config as string | undefined) ?? null, env });
  const senders = resolveSenders(config, env);
  const numbers: SandboxNumberInput[] = senders.map((x) => ({
    phone_number_id: x.phone_number_id,
    waba_id: x.waba_id,
    display_phone_number: x.display_phone_number ?? `+${x.phone_number_id}`,
    throughput_mps: x.throughput_mps,
  }));
  const tokens = senders.map((x) => x.access_token || `sandbox-token-${x.id}`);
  const port =
    opts.port !== undefined
      ? parsePort(opts.port, '--port')
      : env.WAGATE_SANDBOX_PORT
        ? parsePort(env.WAGATE_SANDBOX_PORT, 'WAGATE_SANDBOX_PORT')
        : config.sandbox.port;
  const appSecret = (opts.appSecret as string | undefined) ?? env.WAGATE_APP_SECRET ?? config.meta.app_secret ?? 'sandbox-app-secret';
  const webhookUrl = opts.webhookUrl as string | undefined;
  if (webhookUrl !== undefined && !/^https?:\/\/\S+$/.test(webhookUrl))
    throw new SandboxCliError(`--webhook-url must be an http(s) URL, got "${webhookUrl}"`);
  const logger = createLogger(env.WAGATE_LOG_LEVEL ?? 'warn', { stderr: true });
  let sandbox: Awaited<ReturnType<typeof startSandbox>>;
  try {
    sandbox = await startSandbox({ port, host: '127.0.0.1', app_secret: appSecret, webhook_url: webhookUrl, logger, numbers, tokens });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE')
      throw new SandboxCliError(`port ${port} is already in use: pass --port <other> or set WAGATE_SANDBOX_PORT (0 = any free port)`);
    throw err;
  }
  const u = sandbox.url;
  const first = numbers[0] ?? SANDBOX_DEFAULT_NUMBER;
  const pn = first.phone_number_id;
  // Only sandbox-made tokens are printed: a token from the config file is a secret.
  const shown = (tok: string) => (tok.startsWith('sandbox-token-') ? tok : maskToken(tok));
  const token = tokens[0] && !tokens[0].startsWith('sandbox-token-') ? '<your token>' : (tokens[0] ?? SANDBOX_DEFAULT_TOKEN);
  const auth = `-H 'authorization: Bearer ${token}' -H 'content-type: application/json'`;
  process.stderr.write(
    [
      `Meta sandbox listening on ${u}  (Graph API emulator: nothing here reaches WhatsApp)`,
      ...(numbers.length ? numbers : [SANDBOX_DEFAULT_NUMBER]).map(
        (n, i) => `  number ${n.phone_number_id} (WABA ${n.waba_id}), token ${tokens.length ? shown(tokens[i]) : SANDBOX_DEFAULT_TOKEN}`,
      ),
      `  webhooks → ${webhookUrl ?? '(none yet: POST /_sandbox/webhooks {"url": ...})'}, signed with the app secret${appSecret === 'sandbox-app-secret' ? ' "sandbox-app-secret"' : ''}`,
      '',
      '  try:',
      `  curl -s ${u}/v23.0/${pn}/messages ${auth} -d '{"messaging_product":"whatsapp","to":"447700900123","type":"template","template":{"name":"hello_world","language":{"code":"en_US"}}}'`,
      `  curl -s ${u}/_sandbox/inbound -H 'content-type: application/json' -d '{"phone_number_id":"${pn}","from":"447700900123","type":"text","text":{"body":"hi"}}'`,
      `  curl -s ${u}/v23.0/${first.waba_id}/message_templates ${auth}`,
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
