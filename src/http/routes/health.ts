// /health (process up), /ready (every backend answers AND every component runs), /metrics (Prometheus).
// A process whose webhook processor, workers or monitor did not start is not ready, even though its
// HTTP port answers: /ready says which component and how to fix it (`components`).
import type { RouteModule } from '../types.ts';

async function probe(fn: () => Promise<boolean>, timeoutMs = 1_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([fn(), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

const healthRoutes: RouteModule = async (app, ctx, services) => {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_req, reply) => {
    const checks = {
      store: await probe(() => ctx.store.ping()),
      gate: await probe(() => ctx.gate.ping()),
      queue: await probe(() => ctx.queue.ping()),
      pacing: await probe(() => ctx.pacer.ping()),
    };
    const backends: Record<string, { kind: string; ok: boolean }> = {};
    for (const [name, ok] of Object.entries(checks)) backends[name] = { kind: ctx.backends[name] ?? name, ok };
    const failing = Object.entries(checks)
      .filter(([, ok]) => !ok)
      .map(([n]) => n);
    const components = services?.components;
    if (components) failing.push(...components.notReady());
    return reply
      .status(failing.length ? 503 : 200)
      .send({ ready: failing.length === 0, backends, ...(components ? { components: components.snapshot() } : {}), failing });
  });
  app.get('/metrics', async (_req, reply) => {
    const stats = await ctx.queue.stats().catch(() => null);
    if (stats) {
      ctx.metrics.queueDepth.set({ sender: 'all' }, stats.depth);
      ctx.metrics.queueAge.set({ sender: 'all' }, stats.oldest_age_ms / 1000);
    }
    return reply.header('content-type', ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
};

export default healthRoutes;
