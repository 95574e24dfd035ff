// The composition root: reads the config, picks one adapter per port (embedded or production), starts
// the sandbox when there are no Meta credentials, and wires the engine, workers and faces together.
// This is the only file that knows every adapter.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Config } from './config/schema.ts';
import { needsSandbox, resolveSenders } from './config/load.ts';
import type { SenderConfig } from './domain/types.ts';
import { createLogger, type Logger } from './observability/log.ts';
import { createMetrics } from './observability/metrics.ts';
import type { AppContext } from './engine/context.ts';
import { buildContext } from './engine/build-context.ts';
import { AlertService } from './alerts/service.ts';
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
import { DeliveryService } from './delivery/service.ts';
import { HealthMonitor } from './senders/health.ts';
import { WebhookProcessor } from './webhooks/processor.ts';
import { buildHttpServer } from './http/server.ts';
import { syncTemplates } from './engine/templates.ts';
import type { FastifyInstance } from 'fastify';
import { Components, StartupError } from './observability/components.ts';
import { errorText } from './shared/error-text.ts';
import { EngineError } from './engine/context.ts';
import { RollupRecorder } from './observability/rollups.ts';
import { CampaignService } from './campaigns/service.ts';
import { campaignStoreFor } from './store/campaign-store.ts';

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
  /** Start the campaign dispatcher and scheduled messages (default: as `workers`). */
  campaigns?: boolean;
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
  /** Each component's state (what /ready reports). */
  components: Components;
  /**
   * Listens on config.port (0 = any) and starts every component; returns the base URL. All or
   * nothing: a component that cannot start rejects with a StartupError naming it and the fix, the
   * components started before it are stopped again, and /ready answers 503 naming it (call stop()).
   */
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

  // Everything opened so far, closed again (newest first) when a later step fails: a failed start
  // leaves no server or connection behind that would keep the process alive, half-started.
  const opened: { close(): Promise<unknown> }[] = [];
  const opening = async <T>(component: string, fix: string, open: () => Promise<T> | T): Promise<T> => {
    try {
      const r = await open();
      if (r && typeof (r as { close?: unknown }).close === 'function') opened.push(r as unknown as { close(): Promise<unknown> });
      return r;
    } catch (err) {
      for (const o of opened.splice(0).reverse()) await Promise.resolve(o.close()).catch(() => {});
      throw new StartupError(component, errorText(err), fix, { cause: err });
    }
  };

  let senders = resolveSenders(config, env);
  let sandbox: SandboxHandle | null = null;
  let apiUrl = config.meta.api_url;
  let appSecret = config.meta.app_secret;
  let verifyToken = config.meta.verify_token;
  if (needsSandbox(config, senders)) {
    if (senders.length === 0) senders = [SANDBOX_DEFAULT_SENDER];
    senders = senders.map((s) => ({ ...s, access_token: s.access_token || `sandbox-token-${s.id}` }));
    const sandboxSecret = (appSecret = appSecret ?? 'sandbox-app-secret');
    verifyToken = verifyToken ?? randomBytes(12).toString('hex');
    sandbox = await opening(
      'sandbox',
      `Set WAGATE_SANDBOX_PORT (sandbox.port, now ${config.sandbox.port}) to a free port, or configure senders with access tokens to use Meta instead of the built-in sandbox.`,
      () =>
        startSandbox({
          port: config.sandbox.port,
          host: '127.0.0.1',
          app_secret: sandboxSecret,
          numbers: senders.map((s) => ({
            phone_number_id: s.phone_number_id,
            waba_id: s.waba_id,
            display_phone_number: s.display_phone_number ?? `+${s.phone_number_id}`,
            throughput_mps: s.throughput_mps,
          })),
          tokens: senders.map((s) => s.access_token),
          logger: log.child({ component: 'sandbox' }),
        }),
    );
    apiUrl = sandbox.url;
  }
  const effective: Config = { ...config, meta: { ...config.meta, api_url: apiUrl, app_secret: appSecret, verify_token: verifyToken } };

  if (!config.database_url || !config.nats_url) mkdirSync(config.data_dir, { recursive: true });
  // Production adapters are imported only when configured: embedded mode never loads pg, ioredis or nats.
  const dataDirFix = `Check that the data directory ${config.data_dir} (WAGATE_DATA_DIR) exists, is writable and is not on a full disk.`;
  const store: Store = await opening(
    'store',
    config.database_url
      ? 'Check WAGATE_DATABASE_URL (database_url) and that PostgreSQL answers there and accepts the login (wagate doctor).'
      : dataDirFix,
    async () =>
      config.database_url
        ? await (await import('./store/postgres.ts')).createPostgresStore(config.database_url, {
            schema: ns,
            pool_max: config.database_pool_max,
          })
        : await createSqliteStore(join(config.data_dir, 'wagate.db')),
  );
  const redisFix = 'Check WAGATE_REDIS_URL (redis_url) and that Redis answers there (wagate doctor).';
  const gate: GateState = await opening('gate', redisFix, async () =>
    config.redis_url
      ? // Shared by every instance: a joining instance loads only an empty Redis (never wipes live state),
        // and a Redis that comes back empty is reseeded from the store (the gate fails closed meanwhile).
        new (await import('./gate/redis.ts')).RedisGateState({
          url: config.redis_url,
          prefix: ns,
          policies: config.policies,
          senders,
          load: 'if_empty',
          reseed: () => store.loadGateSeed(now()),
        })
      : new MemoryGateState({ policies: config.policies, senders }),
  );
  const pacer: Pacer = await opening('pacing', redisFix, async () =>
    config.redis_url ? new (await import('./pacing/redis.ts')).RedisPacer({ url: config.redis_url, prefix: ns }) : new MemoryPacer(),
  );
  const queue: DeliveryQueue = await opening(
    'queue',
    config.nats_url
      ? 'Check WAGATE_NATS_URL (nats_url) and that NATS answers there with JetStream enabled (nats-server -js; wagate doctor).'
      : dataDirFix,
    async () =>
      config.nats_url
        ? await (await import('./queue/jetstream.ts')).createJetStreamQueue({
            url: config.nats_url,
            stream: `${ns}_delivery`,
            subject_prefix: `${ns}.delivery`,
            senders: senders.map((s) => s.id),
          })
        : new EmbeddedQueue({ path: join(config.data_dir, 'queue.db') }),
  );
  const meta = new GraphClient({
    api_url: apiUrl,
    api_version: config.meta.api_version,
    connect_timeout_ms: config.meta.connect_timeout_ms,
    request_timeout_ms: config.meta.request_timeout_ms,
  });

  const alerts = new AlertService({ store, config: config.alerts, log: log.child({ component: 'alerts' }), metrics, now });
  const ctx = buildContext({
    config: effective,
    alerts,
    senders,
    store,
    gate,
    queue,
    pacer,
    meta,
    log,
    metrics,
    now,
    backends: {
      gate: config.redis_url ? 'redis' : 'memory',
      pacing: config.redis_url ? 'redis' : 'memory',
      store: config.database_url ? 'postgres' : 'sqlite',
      queue: config.nats_url ? 'jetstream' : 'embedded',
      meta: sandbox ? 'sandbox' : 'graph',
    },
    sandboxUrl: sandbox?.url ?? null,
  });

  // Rebuild the fast gate state from the durable store: a restart loses no opt-out and no window.
  await opening(
    'gate',
    `The gate state could not be rebuilt from the store: check the store${config.redis_url ? ' and Redis' : ''} (wagate doctor).`,
    async () => gate.load(await store.loadGateSeed(now())),
  );

  // The dashboard's per-minute series (src/observability/rollups.ts): written from start to stop.
  const rollups = new RollupRecorder({
    store,
    metrics,
    log: log.child({ component: 'rollups' }),
    now,
    retention_days: config.dashboard.rollup_retention_days,
  });
  const webhooks = new WebhookProcessor(ctx);
  const delivery = new DeliveryService(ctx);
  const monitor = new HealthMonitor(ctx);
  const campaigns = new CampaignService(ctx, campaignStoreFor(store));
  ctx.campaigns = campaigns;
  const components = new Components(['http', 'webhooks', 'templates', 'monitor', 'workers', 'campaigns'], now);
  if (opts.monitor === false) components.set('monitor', 'disabled');
  if (opts.workers === false) components.set('workers', 'disabled');
  const runCampaigns = opts.campaigns ?? opts.workers !== false;
  if (!runCampaigns) components.set('campaigns', 'disabled');
  const http = await opening('http', 'Report this with the log: the HTTP routes could not be registered.', () =>
    buildHttpServer(ctx, { webhooks, delivery, monitor, components }),
  );
  /** Components started, newest last: what stop() (or a failed start) stops again. */
  const running: { name: string; stop: () => Promise<void> }[] = [];
  const stopRunning = async () => {
    for (const c of running.splice(0).reverse()) {
      await c.stop().catch((err) => log.error({ err, component: c.name }, 'component did not stop cleanly'));
      components.set(c.name, 'stopped');
    }
  };
  /** Starts one component: running, or failed with the reason and the fix (start() then rejects). */
  const step = async (name: string, fix: string, start: () => Promise<void>, stop?: () => Promise<void>) => {
    components.set(name, 'starting');
    try {
      await start();
    } catch (err) {
      components.set(name, 'failed', { error: errorText(err), fix });
      log.error({ err, component: name, fix }, `${name} could not start`);
      await stopRunning();
      throw new StartupError(name, errorText(err), fix, { cause: err });
    }
    components.set(name, 'running');
    if (stop) running.push({ name, stop });
  };

  return {
    ctx,
    http,
    sandbox,
    delivery,
    monitor,
    webhooks,
    components,
    async start() {
      // HTTP first: the sandbox needs the webhook URL, and /ready says 503 (with each component's
      // state) until every component below runs.
      let address = '';
      await step(
        'http',
        `Port ${config.port} on ${config.host} is taken or not allowed: set WAGATE_PORT (port) to a free port, or stop the process that uses it.`,
        async () => {
          address = await http.listen({ port: config.port, host: config.host });
        },
      );
      rollups.start();
      running.push({ name: 'http', stop: () => rollups.stop() }); // its last flush runs before the store closes
      const base = address.replace('0.0.0.0', '127.0.0.1').replace('[::]', '127.0.0.1');
      if (sandbox) sandbox.setWebhookUrl(`${base}/webhook`);
      await step(
        'webhooks',
        'The webhook processor could not read its pending batches from the store: check the database (wagate doctor). A batch that cannot be applied never stops a start: it is set aside (GET /v1/webhooks/failed).',
        () => webhooks.start(),
        () => webhooks.stop(),
      );
      // Templates decide categories and approval at the gate: load them from Meta (or the sandbox) at
      // start. Meta failing (token invalid, Meta down: a META_* error) is not fatal: the component is
      // `degraded`, /ready stays 200, and template webhooks and POST /v1/templates/sync catch up; the
      // gate denies templates it does not know meanwhile. Anything else (the store refusing them) is.
      components.set('templates', 'starting');
      try {
        await syncTemplates(ctx);
        components.set('templates', 'running');
      } catch (err) {
        if (err instanceof EngineError && err.code.startsWith('META_')) {
          log.warn({ err: errorText(err) }, 'template sync at start failed; templates catch up from webhooks and POST /v1/templates/sync');
          components.set('templates', 'degraded', { error: errorText(err), fix: `${err.fix} Then POST /v1/templates/sync.` });
        } else {
          await step('templates', 'The templates from Meta could not be recorded: check the database (wagate doctor).', () =>
            Promise.reject(err),
          );
        }
      }
      if (opts.monitor !== false)
        await step(
          'monitor',
          'The sender health monitor could not start: check the store (wagate doctor) and the log line above.',
          () => monitor.start(),
          () => monitor.stop(),
        );
      if (opts.workers !== false)
        await step(
          'workers',
          `The delivery workers could not start: check the queue (${config.nats_url ? 'WAGATE_NATS_URL' : `${config.data_dir}/queue.db`}) and the store (wagate doctor).`,
          () => delivery.start(),
          () => delivery.stop(),
        );
      if (runCampaigns)
        await step(
          'campaigns',
          'The campaign dispatcher could not start: check the store (wagate doctor).',
          async () => campaigns.startDispatcher(),
          () => campaigns.stopDispatcher(),
        );
      return base;
    },
    async stop() {
      await stopRunning(); // workers, monitor, then webhooks: the reverse of start
      // Workers a caller started by hand (createApp with workers: false, then delivery.start()) are
      // not in `running`: stop them too, before the queue and the store close under their jobs.
      await delivery.stop();
      components.set('http', 'stopped');
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
