// The one way to assemble an AppContext from its parts: the composition root (src/app.ts), the CLI's
// offline checks and the tests all build it here, so the wiring (the bus, the sender registry and its
// link to the gate, the outbox over the store and queue, alerts) is the same everywhere.
import { createBus } from './bus.ts';
import type { AppContext } from './context.ts';
import { Outbox } from './outbox.ts';
import { Submissions } from './submissions.ts';
import type { Config } from '../config/schema.ts';
import type { SenderConfig } from '../domain/types.ts';
import type { GateState } from '../gate/port.ts';
import type { Store } from '../store/port.ts';
import type { DeliveryQueue } from '../queue/port.ts';
import type { Pacer } from '../pacing/port.ts';
import type { MetaClient } from '../meta/types.ts';
import type { Alerter } from '../alerts/port.ts';
import { AlertService } from '../alerts/service.ts';
import type { Logger } from '../observability/log.ts';
import { createMetrics, type Metrics } from '../observability/metrics.ts';
import { SenderRegistry } from '../senders/registry.ts';

export interface ContextParts {
  config: Config;
  senders: readonly SenderConfig[];
  store: Store;
  gate: GateState;
  queue: DeliveryQueue;
  pacer: Pacer;
  meta: MetaClient;
  log: Logger;
  /** Backend names for /ready and the banner. */
  backends: Record<string, string>;
  metrics?: Metrics;
  /** Default: an AlertService over the store with config.alerts. */
  alerts?: Alerter;
  now?: () => number;
  sandboxUrl?: string | null;
}

export function buildContext(p: ContextParts): AppContext {
  const now = p.now ?? Date.now;
  const metrics = p.metrics ?? createMetrics();
  const bus = createBus();
  bus.setMaxListeners(100);
  const registry = new SenderRegistry([...p.senders], p.config.default_sender);
  const alerts =
    p.alerts ?? new AlertService({ store: p.store, config: p.config.alerts, log: p.log.child({ component: 'alerts' }), metrics, now });
  const outbox = new Outbox(
    { store: p.store, queue: p.queue, gate: p.gate, log: p.log.child({ component: 'outbox' }), now, bus },
    { interval_ms: p.config.delivery.relay_interval_ms, grace_ms: p.config.delivery.relay_grace_ms },
  );
  // Sender state changes reach the gate at once (a pause or halt denies new sends immediately).
  registry.on('state', (s) => {
    void p.gate.setSenderStatus(s).catch((err) => p.log.error({ err }, 'gate.setSenderStatus failed'));
  });
  return {
    config: p.config,
    senders: registry,
    store: p.store,
    gate: p.gate,
    queue: p.queue,
    pacer: p.pacer,
    outbox,
    submissions: new Submissions(),
    meta: p.meta,
    alerts,
    log: p.log,
    metrics,
    now,
    bus,
    backends: p.backends,
    sandboxUrl: p.sandboxUrl ?? null,
  };
}
