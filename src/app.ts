// The composition root: reads the config, picks one adapter per port (embedded or production), starts
// the sandbox when there are no Meta credentials, and wires the engine, workers and faces together.
// This is the only file that knows every adapter.
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Config } from './config/schema.ts';
import { needsSandbox, resolveSenders } from './config/load.ts';
import type { SenderConfig } from './domain/types.ts';
import { createLogger, type Logger } from './observability/log.ts';
import { createMetrics } from './observability/metrics.ts';
import { SenderRegistry } from './senders/registry.ts';
import type { AppContext } from './engine/context.ts';
import type { Store } from './store/port.ts';
import type { GateState } from './gate/port.ts';
import type { DeliveryQueue } from './queue/port.ts';
import type { Pacer } from './pacing/port.ts';
import { createSqliteStore } from './store/sqlite.ts';
import { MemoryGateState } from './gate/memory.ts';
import { EmbeddedQueue } from './queue/embedded.ts';
import { MemoryPacer } from './pacing/memory.ts';
import { GraphClient } from './meta/client.ts';
import { startSandbox, type SandboxHandle } from './meta/sandbox/server.ts';
import { AlertService } from './alerts/service.ts';
import { DeliveryService } from './delivery/service.ts';
import { HealthMonitor } from './senders/health.ts';
import { WebhookProcessor } from './webhooks/processor.ts';
import { buildHttpServer } from './http/server.ts';
import { syncTemplates } from './engine/templates.ts';
import type { FastifyInstance } from 'fastify';

/** Default sandbox identities (Meta's documentation examples), used when no sender is configured. */
export const SANDBOX_DEFAULT_SENDER: SenderConfig = {
  id: 'main',
  phone_number_id: '106540352242922',
  waba_id: '102290129340398',
  business_id: 'sandbox-business',
  display_phone_number: '+1 555 010 0001',
  access_token: 'sandbox-token-main',
  throughput_mps: 80,
  messaging_limit: 250,
  default_time_zone: 'UTC',
};

export interface AppOptions {
  config: Config;
  env?: Record<string, string | undefined>;
  logger?: Logger;
  /** Start workers (default true). Tests of the submit path alone may turn them off. */
  workers?: boolean;
  /** Start the health monitor (default true). */
  monitor?: boolean;
  /** Injected clock. */
  now?: () => number;
}

export interface App {
  ctx: AppContext;
  http: FastifyInstance;
  sandbox: SandboxHandle | null;
  delivery: DeliveryService;
  monitor: HealthMonitor;
  webhooks: WebhookProcessor;
  /** Listens on config.port (0 = any) and starts workers; returns the base URL. */
  start(): Promise<string>;
  stop(): Promise<void>;
}

export async function createApp(opts: AppOptions): Promise<App> {
  const { config } = opts;
  const env = opts.env ?? process.env;
  const log = opts.logger ?? createLogger(config.log_level);
  const metrics = createMetrics();
  const now = opts.now ?? Date.now;
  const ns = config.namespace;

  let senders = resolveSenders(config, env);
  let sandbox: SandboxHandle | null = null;
  let apiUrl = config.meta.api_url;
  let appSecret = config.meta.app_secret;
  let verifyToken = config.meta.verify_token;
  if (needsSandbox(config, senders)) {
    if (senders.length === 0) senders = [SANDBOX_DEFAULT_SENDER];
    senders = senders.map((s) => ({ ...s, access_token: s.access_token || `sandbox-token-${s.id}` }));
    appSecret = appSecret ?? 'sandbox-app-secret';
    verifyToken = verifyToken ?? randomBytes(12).toString('hex');
    sandbox = await startSandbox({
      port: config.sandbox.port,
      host: '127.0.0.1',
      app_secret: appSecret,
      numbers: senders.map((s) => ({ phone_number_id: s.phone_number_id, waba_id: s.waba_id, display_phone_number: s.display_phone_number ?? `+${s.phone_number_id}`, throughput_mps: s.throughput_mps })),
      tokens: senders.map((s) => s.access_token),
      logger: log.child({ component: 'sandbox' }),
    });
    apiUrl = sandbox.url;
  }
  const effective: Config = { ...config, meta: { ...config.meta, api_url: apiUrl, app_secret: appSecret, verify_token: verifyToken } };

  if (!config.database_url || !config.nats_url) mkdirSync(config.data_dir, { recursive: true });
  // Production adapters are imported only when configured: embedded mode never loads pg, ioredis or nats.
  const store: Store = config.database_url
    ? await (await import('./store/postgres.ts')).createPostgresStore(config.database_url, { schema: ns, pool_max: config.database_pool_max })
    : await createSqliteStore(join(config.data_dir, 'wagate.db'));
  const gate: GateState = config.redis_url
    ? // Shared by every instance: a joining instance loads only an empty Redis (never wipes live state),
      // and a Redis that comes back empty is reseeded from the store (the gate fails closed meanwhile).
      new (await import('./gate/redis.ts')).RedisGateState({ url: config.redis_url, prefix: ns, policies: config.policies, senders, load: 'if_empty', reseed: () => store.loadGateSeed(now()) })
    : new MemoryGateState({ policies: config.policies, senders });
  const pacer: Pacer = config.redis_url ? new (await import('./pacing/redis.ts')).RedisPacer({ url: config.redis_url, prefix: ns }) : new MemoryPacer();
  const queue: DeliveryQueue = config.nats_url
    ? await (await import('./queue/jetstream.ts')).createJetStreamQueue({ url: config.nats_url, stream: `${ns}_delivery`, subject_prefix: `${ns}.delivery`, senders: senders.map((s) => s.id) })
    : new EmbeddedQueue({ path: join(config.data_dir, 'queue.db') });
  const meta = new GraphClient({ api_url: apiUrl, api_version: config.meta.api_version, connect_timeout_ms: config.meta.connect_timeout_ms, request_timeout_ms: config.meta.request_timeout_ms });

  const registry = new SenderRegistry(senders, config.default_sender);
  const bus = new EventEmitter();
  bus.setMaxListeners(100);
  const alerts = new AlertService({ store, config: config.alerts, log: log.child({ component: 'alerts' }), metrics, now });
  const ctx: AppContext = {
    config: effective,
    senders: registry,
    store,
    gate,
    queue,
    pacer,
    meta,
    alerts,
    log,
    metrics,
    now,
    bus,
    backends: {
      gate: config.redis_url ? 'redis' : 'memory',
      pacing: config.redis_url ? 'redis' : 'memory',
      store: config.database_url ? 'postgres' : 'sqlite',
      queue: config.nats_url ? 'jetstream' : 'embedded',
      meta: sandbox ? 'sandbox' : 'graph',
    },
    sandboxUrl: sandbox?.url ?? null,
  };

  // Rebuild the fast gate state from the durable store: a restart loses no opt-out and no window.
  await gate.load(await store.loadGateSeed(now()));
  // Sender state changes reach the gate at once (a pause or halt denies new sends immediately).
  registry.on('state', (s) => {
    void gate.setSenderStatus(s).catch((err) => log.error({ err }, 'gate.setSenderStatus failed'));
  });

  const webhooks = new WebhookProcessor(ctx);
  const delivery = new DeliveryService(ctx);
  const monitor = new HealthMonitor(ctx);
  const http = await buildHttpServer(ctx, { webhooks, delivery, monitor });
  let started = false;

  return {
    ctx,
    http,
    sandbox,
    delivery,
    monitor,
    webhooks,
    async start() {
      const address = await http.listen({ port: config.port, host: config.host });
      const base = address.replace('0.0.0.0', '127.0.0.1').replace('[::]', '127.0.0.1');
      if (sandbox) sandbox.setWebhookUrl(`${base}/webhook`);
      await webhooks.start();
      // Templates decide categories and approval at the gate: load them from Meta (or the sandbox) at
      // start. A failure (token invalid, Meta down) is logged, not fatal: webhooks and the monitor catch up.
      await syncTemplates(ctx).catch((err) => log.warn({ err: (err as Error).message }, 'template sync at start failed'));
      if (opts.monitor !== false) await monitor.start();
      if (opts.workers !== false) await delivery.start();
      started = true;
      return base;
    },
    async stop() {
      if (started) {
        await delivery.stop();
        await monitor.stop();
        await webhooks.stop();
      }
      await alerts.close(); // waits (bounded) for alerts in flight, then closes SMTP connections
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
