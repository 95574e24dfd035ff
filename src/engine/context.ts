// AppContext: the engine's dependencies, built once by the composition root (src/app.ts).
// Engine functions (src/engine/*.ts) take it as their first argument; faces (HTTP, MCP, CLI) only
// ever call engine functions, never adapters directly.
import type { EngineBus } from './bus.ts';
import type { Config } from '../config/schema.ts';
import type { GateState } from '../gate/port.ts';
import type { Store } from '../store/port.ts';
import type { DeliveryQueue } from '../queue/port.ts';
import type { Pacer } from '../pacing/port.ts';
import type { MetaClient } from '../meta/types.ts';
import type { Alerter } from '../alerts/port.ts';
import type { Logger } from '../observability/log.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { SenderRegistry } from '../senders/registry.ts';
import type { Outbox } from './outbox.ts';
import type { Submissions } from './submissions.ts';
import type { CampaignService } from '../campaigns/service.ts';

export interface AppContext {
  config: Config;
  senders: SenderRegistry;
  store: Store;
  gate: GateState;
  queue: DeliveryQueue;
  pacer: Pacer;
  /** Hands stored messages to the queue: the submit path's enqueue and the relay behind it. */
  outbox: Outbox;
  /** This process's recent submits: the hand-off to its own workers, and the Idempotency-Key lock. */
  submissions: Submissions;
  meta: MetaClient;
  alerts: Alerter;
  log: Logger;
  metrics: Metrics;
  /** Injected clock (ms): tests move time without sleeping. */
  now: () => number;
  /** In-process event bus: every event and its payload are in EngineEvents (bus.ts). */
  bus: EngineBus;
  /** Backend names for /ready and the banner: {gate: "memory"|"redis", store: "sqlite"|"postgres", queue: ...}. */
  backends: Record<string, string>;
  /** Set when running against the built-in sandbox (its base URL). */
  sandboxUrl: string | null;
  /** Campaigns and scheduled messages (src/campaigns/), set by the composition root; absent in contexts built without it. */
  campaigns?: CampaignService;
}

// EngineError lives with the error registry (src/shared/errors/); build one with appError().
export { EngineError } from '../shared/errors/app-error.ts';
