// A real AppContext for sender-health tests, built from real parts: the Meta sandbox on 127.0.0.1, the
// Graph client, the SQLite store, the memory gate and pacer, the embedded queue, the AlertService with
// local Slack/webhook/SMTP receivers. No delivery workers (the proof test uses createApp for those).
import { buildContext } from '../../src/engine/build-context.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigSchema, type Config } from '../../src/config/schema.ts';
import type { AppContext } from '../../src/engine/context.ts';
import type { SenderConfig } from '../../src/domain/types.ts';
import { createSqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/port.ts';
import { MemoryGateState } from '../../src/gate/memory.ts';
import { MemoryPacer } from '../../src/pacing/memory.ts';
import { EmbeddedQueue } from '../../src/queue/embedded.ts';
import { GraphClient } from '../../src/meta/client.ts';
import { startSandbox, type SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { AlertService } from '../../src/alerts/service.ts';
import { createLogger } from '../../src/observability/log.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import type { HttpReceiver, SmtpReceiver } from '../alerts/receivers.ts';

export const SENDER: SenderConfig = {
  id: 'main',
  phone_number_id: '106540352242922',
  waba_id: '102290129340398',
  business_id: 'biz-1',
  display_phone_number: '+1 555 010 0001',
  access_token: 'sandbox-token-main',
  throughput_mps: 80,
  messaging_limit: 250,
  default_time_zone: 'UTC',
};

export interface Harness {
  ctx: AppContext;
  alerts: AlertService;
  sandbox: SandboxHandle | null;
  store: Store;
  clock: { now: number };
  /** Control API of the sandbox. */
  control(path: string, body: unknown): Promise<Record<string, unknown>>;
  /** A new registry + context over the same store (a restart), with `config` in place of the first one's when given. */
  restart(config?: Record<string, unknown>): Promise<Harness>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  http: HttpReceiver;
  smtp: SmtpReceiver;
  senders?: SenderConfig[];
  config?: Record<string, unknown>;
  /** Graph API base URL when not the sandbox (a stand-in server). */
  apiUrl?: string;
  dir?: string;
  store?: Store;
  sandbox?: SandboxHandle | null;
  clock?: { now: number };
}

export async function makeHarness(o: HarnessOptions): Promise<Harness> {
  const senders = o.senders ?? [SENDER];
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'wagate-health-'));
  const clock = o.clock ?? { now: Date.now() };
  const now = () => clock.now;
  let sandbox = o.sandbox ?? null;
  if (!o.apiUrl && !sandbox) {
    sandbox = await startSandbox({
      port: 0,
      host: '127.0.0.1',
      app_secret: 'sandbox-app-secret',
      numbers: senders.map((s) => ({
        phone_number_id: s.phone_number_id,
        waba_id: s.waba_id,
        display_phone_number: s.display_phone_number ?? `+${s.phone_number_id}`,
        throughput_mps: s.throughput_mps,
      })),
      tokens: senders.map((s) => s.access_token),
      logger: createLogger('silent'),
    });
  }
  const config: Config = ConfigSchema.parse({
    ...(o.config ?? {}),
    // As app.ts does in sandbox mode: the app secret also seals tokens replaced through the API.
    meta: { app_secret: 'sandbox-app-secret', ...((o.config?.meta as Record<string, unknown>) ?? {}) },
    alerts: {
      slack_webhook_url: `${o.http.url}/slack`,
      webhook_url: `${o.http.url}/hook`,
      webhook_secret: 'whsec',
      email: { host: '127.0.0.1', port: o.smtp.port, from: 'wagate@example.test', to: ['oncall@example.test'] },
      ...((o.config?.alerts as Record<string, unknown>) ?? {}),
    },
  });
  const store = o.store ?? (await createSqliteStore(join(dir, 'wagate.db')));
  const log = createLogger(process.env.DBG ? 'debug' : 'silent');
  const metrics = createMetrics();
  const alerts = new AlertService({ store, config: config.alerts, log, metrics, now, retry: { base_ms: 5, max_ms: 20, attempts: 3 } });
  const gate = new MemoryGateState({ policies: config.policies, senders });
  const queue = new EmbeddedQueue({ path: ':memory:' });
  const meta = new GraphClient({
    api_url: o.apiUrl ?? sandbox!.url,
    api_version: config.meta.api_version,
    connect_timeout_ms: 2000,
    request_timeout_ms: 5000,
  });
  const ctx = buildContext({
    config,
    senders: senders.map((s) => ({ ...s })),
    store,
    gate,
    queue,
    pacer: new MemoryPacer(),
    meta,
    alerts,
    log,
    metrics,
    now,
    backends: { gate: 'memory', pacing: 'memory', store: 'sqlite', queue: 'embedded', meta: 'sandbox' },
    sandboxUrl: sandbox?.url ?? null,
  });

  async function control(path: string, body: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`${sandbox!.url}/_sandbox${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const j = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`sandbox ${path}: ${res.status} ${JSON.stringify(j)}`);
    return j;
  }

  const h: Harness = {
    ctx,
    alerts,
    sandbox,
    store,
    clock,
    control,
    async restart(config) {
      await alerts.close(500);
      await queue.close().catch(() => {});
      await meta.close();
      return makeHarness({ ...o, ...(config ? { config } : {}), dir, store, sandbox, clock });
    },
    async close() {
      await alerts.close(500);
      await queue.close().catch(() => {});
      await meta.close();
      await store.close().catch(() => {});
      if (sandbox) await sandbox.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}
