// A hand-built AppContext of real components for the webhook tests: the real SQLite store (in memory),
// the real gate state when src/gate/memory.ts exists, the real AlertService, registry, metrics, bus.
import { createBus } from '../../src/engine/bus.ts';
import { ConfigSchema, type Config } from '../../src/config/schema.ts';
import { createSqliteStore } from '../../src/store/sqlite.ts';
import { SenderRegistry } from '../../src/senders/registry.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { createLogger } from '../../src/observability/log.ts';
import { AlertService } from '../../src/alerts/service.ts';
import type { AppContext } from '../../src/engine/context.ts';
import type { GateState } from '../../src/gate/port.ts';
import type { MessageRecord, SenderConfig } from '../../src/domain/types.ts';
import { signPayload } from '../../src/webhooks/signature.ts';

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
  /** False while src/gate/memory.ts is not in the tree (a recorder stands in for it). */
  realGate: boolean;
  alerts: AlertService;
  clock: { t: number };
  close(): Promise<void>;
}

/** The real MemoryGateState. Until the gate engineer's file lands, a recorder with the same port. */
async function makeGate(config: Config): Promise<GateState> {
  const path = '../../src/gate/memory.ts';
  try {
    const mod = (await import(/* @vite-ignore */ path)) as { MemoryGateState: new (o: unknown) => GateState };
    return new mod.MemoryGateState({ policies: config.policies, senders: [SENDER] });
  } catch {
    const templates = new Map<string, unknown>();
    const noop = async () => {};
    return {
      stand_in: true,
      templates,
      check: async () => { throw new Error('no gate'); },
      checkAndReserve: async () => { throw new Error('no gate'); },
      release: noop,
      recordInbound: noop,
      updateCustomer: noop,
      upsertTemplate: async (t) => { templates.set(`${t.waba_id}:${t.name}:${t.language}`, t); },
      setSenderStatus: noop,
      tierUsage: async () => 0,
      marketingCount: async () => 0,
      load: noop,
      ping: async () => true,
      close: noop,
    } as GateState;
  }
}

export async function makeCtx(overrides: Record<string, unknown> = {}): Promise<TestCtx> {
  const config = ConfigSchema.parse({ meta: { app_secret: SECRET, app_secrets_previous: [OLD_SECRET], verify_token: VERIFY_TOKEN }, log_level: 'silent', ...overrides });
  const clock = { t: Date.UTC(2026, 5, 1, 12, 0, 0) };
  const now = () => clock.t;
  const store = await createSqliteStore(':memory:');
  const log = createLogger('silent');
  const metrics = createMetrics();
  const alerts = new AlertService({ store, config: config.alerts, log, metrics, now, notifiers: [] });
  const gate = await makeGate(config);
  const bus = createBus();
  const ctx = {
    config,
    senders: new SenderRegistry([SENDER]),
    store,
    gate,
    queue: null as never,
    pacer: null as never,
    outbox: null as never,
    meta: null as never,
    alerts,
    log,
    metrics,
    now,
    bus,
    backends: { store: 'sqlite', gate: 'memory' },
    sandboxUrl: null,
  } satisfies AppContext;
  return {
    ctx,
    realGate: !('stand_in' in gate),
    alerts,
    clock,
    async close() {
      await alerts.flush();
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
