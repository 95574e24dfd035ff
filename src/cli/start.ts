// `wagate start`: the whole server. Prints a banner that says which backends run and whether the
// built-in Meta sandbox is in use, then runs until SIGINT/SIGTERM (graceful shutdown).
// All or nothing: when a backend or a component cannot start, it says which one, why and the fix on
// stderr, closes what did start, and exits 1 (never an HTTP port that answers with nothing behind it).
import { loadConfig, resolveSenders } from '../config/load.ts';
import { applyReloadedTokens } from '../engine/senders.ts';
import { createApp, type App } from '../app.ts';
import { StartupError } from '../observability/components.ts';
import { errorText } from '../shared/error-text.ts';

/** How long a failed start may take to close what it opened before the process exits anyway. */
const FAILED_STOP_MS = 10_000;

/** The failure as the operator reads it: what failed, why, and the fix. */
export function startupFailureText(err: unknown): string {
  if (err instanceof StartupError) return `wagate: could not start: ${err.component} failed: ${err.reason}\n  fix: ${err.fix}\n`;
  return `wagate: could not start: ${errorText(err)}\n  fix: see the log above; \`wagate doctor\` checks the config and every backend.\n`;
}

async function failed(err: unknown, app: App | null): Promise<never> {
  process.stderr.write(startupFailureText(err));
  if (app) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([app.stop().catch(() => {}), new Promise((r) => (timer = setTimeout(r, FAILED_STOP_MS)))]);
    clearTimeout(timer);
  }
  // Exit now: a connection or timer left open must not keep a process that did not start alive.
  process.exit(1);
}

export async function run(opts: Record<string, unknown>): Promise<number> {
  const { config, file } = loadConfig({ file: (opts.config as string | undefined) ?? null });
  let app: App | null = null;
  let base: string;
  try {
    app = await createApp({ config });
    base = await app.start();
  } catch (err) {
    return failed(err, app);
  }
  const { ctx } = app;
  const lines = [
    `wagate listening on ${base}  (config: ${file ?? 'defaults'})`,
    `  dashboard: ${base}/dashboard${ctx.config.api.keys.length ? ' (sign in with an API key)' : ''}`,
    `  backends: ${Object.entries(ctx.backends)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
    `  senders: ${ctx.senders
      .list()
      .map((s) => `${s.id} (${s.phone_number_id}, ${s.throughput_mps} mps)`)
      .join(', ')}`,
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
