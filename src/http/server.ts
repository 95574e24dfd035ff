// The HTTP face: one Fastify instance serving /v1, /webhook, /mcp, /health, /ready, /metrics.
// Root-wide concerns are installed first (error handler, JSON parser, auth and rate limit); then each
// resource registers its routes from src/http/routes/<resource>.ts (src/http/README.md lists them).
// Handlers call engine functions only. Route modules import src/http/types.ts, never this file.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { AppContext } from '../engine/context.ts';
import { clientErrorHandler, frameworkErrorReply, installErrorHandler, MAX_PARAM_LENGTH } from './errors.ts';
import { appError, type EngineError } from '../shared/errors/app-error.ts';
import { MAX_JSON_DEPTH, tooDeepOffset } from '../shared/json-depth.ts';
import { installAuth } from './auth.ts';
import type { RouteModule, Services } from './types.ts';
import docsRoutes from './routes/docs.ts';
import mcpRoutes from './routes/mcp.ts';
import healthRoutes from './routes/health.ts';
import complianceRoutes from './routes/compliance.ts';
import messageRoutes from './routes/messages.ts';
import deadLetterRoutes from './routes/dead-letters.ts';
import customerRoutes from './routes/customers.ts';
import conversationRoutes from './routes/conversations.ts';
import templateRoutes from './routes/templates.ts';
import senderRoutes from './routes/senders.ts';
import errorCatalogRoutes from './routes/error-catalog.ts';
import pricingRoutes from './routes/pricing.ts';
import webhookRoutes from './routes/webhooks.ts';
import failedWebhookRoutes from './routes/failed-webhooks.ts';
import webhookSyncRoutes from './routes/webhook-sync.ts';
import dashboardRoutes from './routes/dashboard.ts';
import campaignRoutes from './routes/campaigns.ts';

export type { RouteModule, Services } from './types.ts';

/** Every route module, in registration order (the order only shows in printRoutes). */
const ROUTE_MODULES: RouteModule[] = [
  docsRoutes,
  mcpRoutes,
  healthRoutes,
  complianceRoutes,
  messageRoutes,
  deadLetterRoutes,
  customerRoutes,
  conversationRoutes,
  templateRoutes,
  senderRoutes,
  errorCatalogRoutes,
  pricingRoutes,
  webhookRoutes,
  failedWebhookRoutes,
  webhookSyncRoutes,
  campaignRoutes,
  dashboardRoutes,
];

export async function buildHttpServer(ctx: AppContext, services: Services): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: frameworkErrorReply,
    clientErrorHandler,
  });
  installErrorHandler(app, ctx.log);
  installJsonParser(app);
  // Before any route: its hooks (and the rate limit's) apply to the routes added after it.
  await installAuth(app, ctx);
  for (const routes of ROUTE_MODULES) await routes(app, ctx, services);
  return app;
}

/**
 * application/json bodies, for every route (the webhook keeps its raw-bytes parser for the signature).
 * Before parsing: text nesting deeper than MAX_JSON_DEPTH is refused (400 BODY_TOO_DEEP), so nothing
 * after the parse recurses thousands of levels. Parsing: valid JSON is accepted, "__proto__" keys and
 * "constructor.prototype" are dropped (they can never reach a prototype), and invalid JSON says where.
 */
function installJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('remove', 'remove');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string' },
    (req: FastifyRequest, text: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
      const s = String(text);
      const at = tooDeepOffset(s);
      if (at >= 0) {
        return done(
          appError('BODY_TOO_DEEP', `The JSON body nests more than ${MAX_JSON_DEPTH} objects/arrays (the limit), at character ${at}.`, {
            details: { limit: MAX_JSON_DEPTH, position: at },
          }),
        );
      }
      parse(req, s, (err: Error | null, body?: unknown) => {
        if (!err || (err as FastifyError).code !== 'FST_ERR_CTP_INVALID_JSON_BODY') return done(err, body);
        done(invalidJson(s));
      });
    },
  );
}

/** Where JSON.parse stopped, from its own message (V8: "... at position 23" or "... (line 1 column 24)"). */
function invalidJson(text: string): EngineError {
  let reason = 'not valid JSON';
  let position: number | null = null;
  try {
    JSON.parse(text);
  } catch (e) {
    reason = String((e as Error).message).slice(0, 200);
    const m = /at position (\d+)/.exec(reason);
    if (m) position = Number(m[1]);
  }
  return appError('INVALID_JSON', `The body is not valid JSON: ${reason}.`, { details: { position } });
}
