// `wagate mcp`: the MCP server over stdio. stdout carries the protocol and nothing else, ever: the
// logger writes to fd 2 and no component prints to stdout. The rest of wagate runs as in `start`
// (workers deliver what the tools queue; the HTTP server receives Meta's status webhooks), so an
// agent sees a template go from queued to delivered.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { loadConfig } from '../config/load.ts';
import { createApp, type App } from '../app.ts';
import { createLogger } from '../observability/log.ts';
import { createMcpServer } from '../mcp/server.ts';
import { syncTemplates } from '../engine/templates.ts';
import type { Config } from '../config/schema.ts';

async function startApp(config: Config, log: ReturnType<typeof createLogger>): Promise<App> {
  let app: App | null = null;
  try {
    app = await createApp({ config, logger: log });
    await app.start();
    return app;
  } catch (err) {
    // Another wagate (e.g. `wagate start`) holds the HTTP or sandbox port: serve MCP anyway, on free ports.
    // start() names the component that failed (a StartupError) with the listen error as its cause.
    const cause = (err as { cause?: unknown }).cause ?? err;
    if ((cause as NodeJS.ErrnoException).code !== 'EADDRINUSE' && (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    await app?.stop().catch(() => {});
    log.warn(
      { port: config.port, sandbox_port: config.sandbox.port },
      'port in use; this MCP session listens (webhooks, sandbox) on free ports instead',
    );
    const retry = await createApp({ config: { ...config, port: 0, sandbox: { ...config.sandbox, port: 0 } }, logger: log });
    await retry.start();
    return retry;
  }
}

export async function run(opts: Record<string, unknown>): Promise<number> {
  const { config } = loadConfig({ file: (opts.config as string | undefined) ?? null });
  const log = createLogger(config.log_level, { stderr: true });
  const app = await startApp(config, log);
  const { ctx } = app;
  // Templates must be known for the gate to allow template sends and to name fitting ones.
  await syncTemplates(ctx).catch((err) =>
    log.warn({ err: (err as Error).message }, 'initial template sync failed; run sync_template_status later'),
  );
  const server = createMcpServer(ctx, { actor: 'mcp' });
  const transport = new StdioServerTransport();
  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'MCP server stopping');
    await server.close().catch(() => {});
    await app.stop().catch(() => {});
    process.exit(0);
  };
  transport.onclose = () => void shutdown('stdin closed');
  process.stdin.on('end', () => void shutdown('stdin ended'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  await server.connect(transport);
  log.info({ backends: ctx.backends, sandbox: app.sandbox?.url ?? null }, 'MCP server on stdio');
  return -1;
}
