// What every route module receives, in one leaf module: route modules import it (and never
// src/http/server.ts, which imports them), so the HTTP face has no import circle.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../engine/context.ts';
import type { DeliveryService } from '../delivery/service.ts';
import type { HealthMonitor } from '../senders/health.ts';
import type { WebhookProcessor } from '../webhooks/processor.ts';
import type { Components } from '../observability/components.ts';

/** The running services a route may call besides the engine (built by src/app.ts). */
export interface Services {
  webhooks: WebhookProcessor;
  delivery: DeliveryService;
  monitor: HealthMonitor;
  /** The process's components and their state (for /ready); absent when no app assembled them. */
  components?: Components;
}

/**
 * A route module (src/http/routes/<resource>.ts): registers one resource's routes on the root
 * instance. Called in order by buildHttpServer after the error handler, the JSON parser and auth
 * (src/http/auth.ts) are installed, so every route gets them.
 */
export type RouteModule = (app: FastifyInstance, ctx: AppContext, services: Services) => Promise<void>;
