// /v1/senders and /v1/alerts: thin adapters over src/engine/senders.ts.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../engine/context.ts';
import { EngineError } from '../../engine/context.ts';
import type { Services } from '../server.ts';
import { getSenderHealth, listAlerts, listSenders, pauseSender, resumeSender, senderView, setSenderToken } from '../../engine/senders.ts';
import { zodErrorBody } from '../errors.ts';
import { actorOf, onlyVisible } from '../actor.ts';


function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value ?? {});
  if (!r.success) {
    const b = zodErrorBody(r.error, what).error;
    throw new EngineError(b.code, b.message, b.fix, 400, b.details);
  }
  return r.data;
}

const IdParam = z.object({ id: z.string().min(1).max(100) });
const PauseBody = z.object({ reason: z.string().min(1).max(500).optional() }).passthrough();
// `token` is accepted too: the error catalog's fix text names it.
const TokenBody = z
  .object({ access_token: z.string().optional(), token: z.string().optional() })
  .refine((b) => typeof (b.access_token ?? b.token) === 'string', { message: 'access_token is required (the new System User token)', path: ['access_token'] });
const AlertsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  unresolved: z.enum(['true', 'false', '1', '0']).optional(),
});

export default async function senderRoutes(app: FastifyInstance, ctx: AppContext, services: Services): Promise<void> {
  app.get('/v1/senders', async (req) => ({ senders: onlyVisible(ctx, req, listSenders(ctx).senders, (s) => s.id as string) }));

  app.get('/v1/senders/:id/health', async (req) => {
    const { id } = parse(IdParam, req.params, 'path');
    return getSenderHealth(ctx, id);
  });

  // Runs a fresh check now (debug_token + phone number) instead of returning the last one.
  app.post('/v1/senders/:id/check', async (req) => {
    const { id } = parse(IdParam, req.params, 'path');
    await services.monitor.checkSender(id);
    return getSenderHealth(ctx, id);
  });

  app.post('/v1/senders/:id/pause', async (req) => {
    const { id } = parse(IdParam, req.params, 'path');
    const body = parse(PauseBody, req.body, 'request body');
    const actor = actorOf(req);
    pauseSender(ctx, id, { reason: body.reason ?? `paused by ${actor}`, reason_code: 'MANUAL', actor });
    return senderView(ctx, ctx.senders.resolve(id));
  });

  app.post('/v1/senders/:id/resume', async (req) => {
    const { id } = parse(IdParam, req.params, 'path');
    await resumeSender(ctx, id, { actor: actorOf(req) });
    return senderView(ctx, ctx.senders.resolve(id));
  });

  app.put('/v1/senders/:id/token', async (req) => {
    const { id } = parse(IdParam, req.params, 'path');
    const body = parse(TokenBody, req.body, 'request body');
    const { token } = await setSenderToken(ctx, id, body.access_token ?? body.token, { actor: actorOf(req) });
    return { ...senderView(ctx, ctx.senders.resolve(id)), token };
  });

  app.get('/v1/alerts', async (req) => {
    const q = parse(AlertsQuery, req.query, 'query string');
    const r = await listAlerts(ctx, { limit: q.limit, unresolved: q.unresolved === 'true' || q.unresolved === '1' ? true : undefined });
    return { ...r, alerts: onlyVisible(ctx, req, r.alerts, (a) => a.sender_id as string | null) };
  });
}
