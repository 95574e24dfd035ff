// The HTTP face: one Fastify instance serving /v1, /webhook, /mcp, /health, /ready, /metrics.
// Each concern registers its routes from src/http/routes/<concern>.ts; handlers call engine functions only.
import Fastify, { type FastifyInstance } from 'fastify';
import type { AppContext } from '../engine/context.ts';
import type { DeliveryService } from '../delivery/service.ts';
import type { HealthMonitor } from '../senders/health.ts';
import type { WebhookProcessor } from '../webhooks/processor.ts';
import { installErrorHandler } from './errors.ts';
import healthRoutes from './routes/health.ts';
import complianceRoutes from './routes/compliance.ts';
import messageRoutes from './routes/messages.ts';
import senderRoutes from './routes/senders.ts';
import webhookRoutes from './routes/webhooks.ts';
import apiRoutes from './routes/api.ts';

export interface Services {
  webhooks: WebhookProcessor;
  delivery: DeliveryService;
  monitor: HealthMonitor;
}

export type RouteModule = (app: FastifyInstance, ctx: AppContext, services: Services) => Promise<void>;

export async function buildHttpServer(ctx: AppContext, services: Services): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  installErrorHandler(app, ctx.log);
  // api.ts first: it installs auth, rate limiting, OpenAPI and MCP over HTTP for everything after it.
  for (const routes of [apiRoutes, healthRoutes, complianceRoutes, messageRoutes, senderRoutes, webhookRoutes] as RouteModule[]) {
    await routes(app, ctx, services);
  }
  return app;
}
