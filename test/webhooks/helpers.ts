// An AppContext of real components for the webhook tests (buildContext, as the app builds it): the
// SQLite store in memory, the memory gate, the embedded queue, the real AlertService, metrics and bus.
import { ConfigSchema } from '../../src/config/schema.ts';
import { createSqliteStore } from '../../src/store/sqlite.ts';
import { buildContext } from '../../src/engine/build-context.ts';
import { MemoryGateState } from '../../src/gate/memory.ts';
import { EmbeddedQueue } from '../../src/queue/embedded.ts';
import { MemoryPacer } from '../../src/pacing/memory.ts';
import { GraphClient } from '../../src/meta/client.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { createLogger } from '../../src/observability/log.ts';
import { AlertService } from '../../src/alerts/service.ts';
import type { AppContext } from '../../src/engine/context.ts';
import type { MessageRecord, SenderConfig } from '../../src/domain/types.ts';
import { signPayload } from '../../src/webhooks/signature.ts';
import { WebhookProcessor } from '../../src/webhooks/processor.ts';
import { afterEach, beforeEach } from 'vitest';

export const SECRET = 'test-app-secret';
export const OLD_SECRET = 'previous-app-secret';
export const VERIFY_TOKEN = 'vibecoding';
export const WABA = '102290129340398';
export const PNID = '106540352242922';
export const CUSTOMER = '16505551234';

export const SENDER: SenderConfig = {
  id: 'main',
  phone_number_id: PNID,
  waba_id: WABA,
  business_id: 'biz',
  display_phone_number: '15550783881',
  access_token: 'sandbox-token-main',
  throughput_mps: 80,
  messaging_limit: 250,
  default_time_zone: 'UTC',
};

export interface TestCtx {
  ctx: AppContext;
  alerts: AlertService;
  clock: { t: number };
  close(): Promise<void>;
}

/** The real components, wired by buildContext like the app: SQLite store in memory, memory gate, embedded queue, memory pacer. */
export async function makeCtx(overrides: Record<string, unknown> = {}): Promise<TestCtx> {
  const config = ConfigSchema.parse({
    meta: { app_secret: SECRET, app_secrets_previous: [OLD_SECRET], verify_token: VERIFY_TOKEN },
    log_level: 'silent',
    ...overrides,
  });
  const clock = { t: Date.UTC(2026, 5, 1, 12, 0, 0) };
  const now = () => clock.t;
  const store = await createSqliteStore(':memory:');
  const log = createLogger('silent');
  const metrics = createMetrics();
  const alerts = new AlertService({ store, config: config.alerts, log, metrics, now, notifiers: [] });
  const gate = new MemoryGateState({ policies: config.policies, senders: [SENDER] });
  const queue = new EmbeddedQueue({ path: ':memory:' });
  // No Meta here: a handler that sends (a confirmation reply) goes through the queue, never to Meta directly.
  const meta = new GraphClient({
    api_url: 'http://127.0.0.1:9',
    api_version: config.meta.api_version,
    connect_timeout_ms: 200,
    request_timeout_ms: 200,
  });
  const ctx = buildContext({
    config,
    senders: [SENDER],
    store,
    gate,
    queue,
    pacer: new MemoryPacer(),
    meta,
    log,
    metrics,
    alerts,
    now,
    backends: { store: 'sqlite', gate: 'memory' },
  });
  return {
    ctx,
    alerts,
    clock,
    async close() {
      await alerts.flush();
      await ctx.outbox.stop();
      await meta.close();
      await queue.close();
      await gate.close();
      await store.close();
    },
  };
}

export function message(id: string, over: Partial<MessageRecord> = {}): MessageRecord {
  return {
    id,
    sender_id: 'main',
    to: CUSTOMER,
    category: 'marketing',
    type: 'template',
    template_name: 'spring_sale',
    template_language: 'en_US',
    payload: {},
    status: 'accepted',
    wamid: null,
    attempts: 1,
    idempotency_key: null,
    request_hash: null,
    last_error: null,
    pricing: null,
    reserved_marketing: true,
    reserved_tier: true,
    created_at: 1,
    updated_at: 1,
    history: [],
    ...over,
  };
}

// ---- Meta payload builders: the shapes of cloud-api.md §7 --------------------------------------

export function envelope(field: string, value: unknown, entry: Record<string, unknown> = {}): Record<string, unknown> {
  return { object: 'whatsapp_business_account', entry: [{ id: WABA, ...entry, changes: [{ value, field }] }] };
}

export function messagesValue(extra: Record<string, unknown>): Record<string, unknown> {
  return { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: PNID }, ...extra };
}

export function inbound(msg: Record<string, unknown>, name = 'Sheena Nelson', from = CUSTOMER): Record<string, unknown> {
  return envelope('messages', messagesValue({ contacts: [{ profile: { name }, wa_id: from }], messages: [{ from, ...msg }] }));
}

export function textMsg(id: string, body: string, ts: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return inbound({ id, timestamp: String(Math.floor(ts / 1000)), type: 'text', text: { body }, ...extra });
}

export function statusBody(statuses: Record<string, unknown>[]): Record<string, unknown> {
  return envelope('messages', messagesValue({ statuses }));
}

export function st(wamid: string, status: string, ts: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: wamid, status, timestamp: String(Math.floor(ts / 1000)), recipient_id: CUSTOMER, ...extra };
}

export function signed(body: unknown, secret = SECRET): { raw: string; sig: string } {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  return { raw, sig: signPayload(raw, secret) };
}

/** Polls `fn` until it returns something truthy (webhooks arrive asynchronously). */
export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Per-file harness: before each test a fresh context (makeCtx) and a started webhook processor over
 * it; after each, both stopped. Read them as `h.t` and `h.proc` inside the tests.
 */
export function useProcessor(overrides: Record<string, unknown> = {}): { t: TestCtx; proc: WebhookProcessor } {
  const h = {} as { t: TestCtx; proc: WebhookProcessor };
  beforeEach(async () => {
    h.t = await makeCtx(overrides);
    h.proc = new WebhookProcessor(h.t.ctx);
    await h.proc.start();
  });
  afterEach(async () => {
    await h.proc.stop();
    await h.t.close();
  });
  return h;
}
