// TEMPORARY: embedded-only wiring of the real components, used by the harness while src/app.ts cannot
// load (its production adapters are still being written). Mirrors createApp for the embedded path.
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../src/config/schema.ts';
import { resolveSenders } from '../../src/config/load.ts';
import { createLogger } from '../../src/observability/log.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { SenderRegistry } from '../../src/senders/registry.ts';
import type { AppContext } from '../../src/engine/context.ts';
import { createSqliteStore } from '../../src/store/sqlite.ts';
import { MemoryGateState } from '../../src/gate/memory.ts';
import { EmbeddedQueue } from '../../src/queue/embedded.ts';
import { MemoryPacer } from '../../src/pacing/memory.ts';
import { GraphClient } from '../../src/meta/client.ts';
import { startSandbox } from '../../src/meta/sandbox/server.ts';
import { AlertService } from '../../src/alerts/service.ts';
import { DeliveryService } from '../../src/delivery/service.ts';
import { HealthMonitor } from '../../src/senders/health.ts';
import { WebhookProcessor } from '../../src/webhooks/processor.ts';
import { buildHttpServer } from '../../src/http/server.ts';

export async function createEmbeddedApp(opts: { config: Config; workers?: boolean }): Promise<any> {
  const { config } = opts;
  const log = createLogger(config.log_level);
  const metrics = createMetrics();
  const now = Date.now;
  let senders = resolveSenders(config, {});
  let sandbox = null as Awaited<ReturnType<typeof startSandbox>> | null;
  let apiUrl = config.meta.api_url;
  const appSecret = config.meta.app_secret ?? 'sandbox-app-secret';
  if (config.sandbox.mode === 'always') {
    senders = senders.map((s) => ({ ...s, access_token: s.access_token || `sandbox-token-${s.id}` }));
    sandbox = await startSandbox({ port: 0, host: '127.0.0.1', app_secret: appSecret, numbers: senders.map((s) => ({ phone_number_id: s.phone_number_id, waba_id: s.waba_id, display_phone_number: `+${s.phone_number_id}`, throughput_mps: s.throughput_mps })), tokens: senders.map((s) => s.access_token), logger: log });
    apiUrl = sandbox.url;
  }
  const effective: Config = { ...config, meta: { ...config.meta, api_url: apiUrl, app_secret: appSecret, verify_token: config.meta.verify_token ?? 'vt' } };
  mkdirSync(config.data_dir, { recursive: true });
  const store = await createSqliteStore(join(config.data_dir, 'wagate.db'));
  const gate = new MemoryGateState({ policies: config.policies, senders });
  const pacer = new MemoryPacer();
  const queue = new EmbeddedQueue({ path: join(config.data_dir, 'queue.db') });
  const meta = new GraphClient({ api_url: apiUrl, api_version: config.meta.api_version, connect_timeout_ms: config.meta.connect_timeout_ms, request_timeout_ms: config.meta.request_timeout_ms });
  const registry = new SenderRegistry(senders, config.default_sender);
  const bus = new EventEmitter();
  bus.setMaxListeners(100);
  const alerts = new AlertService({ store, config: config.alerts, log, metrics, now });
  const ctx: AppContext = { config: effective, senders: registry, store, gate, queue, pacer, meta, alerts, log, metrics, now, bus, backends: { gate: 'memory', store: 'sqlite', queue: 'embedded', pacing: 'memory' }, sandboxUrl: sandbox?.url ?? null };
  await gate.load(await store.loadGateSeed(now()));
  registry.on('state', (s) => void gate.setSenderStatus(s).catch(() => {}));
  const webhooks = new WebhookProcessor(ctx);
  const delivery = new DeliveryService(ctx);
  const monitor = new HealthMonitor(ctx);
  const http = await buildHttpServer(ctx, { webhooks, delivery, monitor });
  let started = false;
  return {
    ctx, http, sandbox, delivery, monitor, webhooks,
    async start() {
      const address = await http.listen({ port: 0, host: '127.0.0.1' });
      if (sandbox) sandbox.setWebhookUrl(`${address}/webhook`);
      await webhooks.start();
      if (opts.workers !== false) await delivery.start();
      started = true;
      return address;
    },
    async stop() {
      if (started) {
        await delivery.stop();
        await webhooks.stop();
      }
      await http.close();
      await queue.close();
      await pacer.close();
      await gate.close();
      await store.close();
      await meta.close();
      if (sandbox) await sandbox.close();
    },
  };
}
