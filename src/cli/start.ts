// `wagate start`: the whole server. Prints a banner that says which backends run and whether the
// built-in Meta sandbox is in use, then runs until SIGINT/SIGTERM (graceful shutdown).
import { loadConfig, resolveSenders } from '../config/load.ts';
import { applyReloadedTokens } from '../engine/senders.ts';
import { createApp } from '../app.ts';

export async function run(opts: Record<string, unknown>): Promise<number> {
  const { config, file } = loadConfig({ file: (opts.config as string | undefined) ?? null });
  const app = await createApp({ config });
  const base = await app.start();
  const { ctx } = app;
  const lines = [
    `wagate listening on ${base}  (config: ${file ?? 'defaults'})`,
    `  backends: ${Object.entries(ctx.backends).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    `  senders: ${ctx.senders.list().map((s) => `${s.id} (${s.phone_number_id}, ${s.throughput_mps} mps)`).join(', ')}`,
  ];
  if (app.sandbox) {
    lines.push(
      '',
      '  *** SANDBOX MODE: no Meta credentials configured. Messages go to the built-in Meta sandbox ***',
      `  *** at ${app.sandbox.url}, not to WhatsApp. Configure senders with access tokens to go live. ***`,
      `  webhook verify token: ${ctx.config.meta.verify_token}`,
      `  try: curl -s ${app.sandbox.url}/_sandbox/inbound -H 'content-type: application/json' -d '{"phone_number_id":"${ctx.senders.list()[0].phone_number_id}","from":"447700900123","type":"text","text":{"body":"hi"}}'`,
    );
  }
  process.stderr.write(lines.join('\n') + '\n');
  let stopping = false;
  const shutdown = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    ctx.log.info({ sig }, 'shutting down');
    await app.stop();
    process.exit(0);
  };
  // SIGHUP: re-read the config and apply new sender tokens (each validated with debug_token before it
  // replaces the old one and lifts a credentials halt). Other keys need a restart.
  process.on('SIGHUP', () => {
    void (async () => {
      try {
        const { config: next } = loadConfig({ file: (opts.config as string | undefined) ?? null });
        const changes = await applyReloadedTokens(ctx, resolveSenders(next));
        ctx.log.info({ changes }, changes.length ? 'config reloaded: sender tokens applied' : 'config reloaded: no sender token changed');
      } catch (err) {
        ctx.log.error({ err: (err as Error).message }, 'config reload failed; the running config is unchanged');
      }
    })();
  });
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  return -1;
}
