// /v1/senders and their alerts (/v1/alerts): list, health (last check, or a fresh one), pause,
// resume, token replacement, throughput and messaging limits, quality. Thin adapters over
// src/engine/senders.ts and the engine's rate-limit and quality functions.
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { RouteModule } from '../types.ts';
import {
  getAccountQuality,
  getRateLimit,
  getSenderHealth,
  listAlerts,
  listSenders,
  pauseSender,
  resumeSender,
  senderView,
  setSenderToken,
} from '../../engine/senders.ts';
import { actorOf, onlyVisible } from '../actor.ts';
import { parseInput } from '../validation.ts';

const param = (req: FastifyRequest, k: string) => String((req.params as Record<string, string>)[k] ?? '');

const IdParam = z.object({ id: z.string().min(1).max(100) });
const PauseBody = z.object({ reason: z.string().min(1).max(500).optional() }).passthrough();
// `token` is accepted too: the error catalog's fix text names it.
const TokenBody = z
  .object({ access_token: z.string().optional(), token: z.string().optional() })
  .refine((b) => typeof (b.access_token ?? b.token) === 'string', {
    message: 'access_token is required (the new System User token)',
    path: ['access_token'],
  });
const AlertsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  unresolved: z.enum(['true', 'false', '1', '0']).optional(),
});

const senderRoutes: RouteModule = async (app, ctx, services) => {
  app.get('/v1/senders', async (req) => ({ senders: onlyVisible(ctx, req, listSenders(ctx).senders, (s) => s.id as string) }));

  app.get('/v1/senders/:id/health', async (req) => {
    const { id } = parseInput(IdParam, req.params, 'path');
    return getSenderHealth(ctx, id);
  });

  // Runs a fresh check now (debug_token + phone number) instead of returning the last one.
  app.post('/v1/senders/:id/check', async (req) => {
    const { id } = parseInput(IdParam, req.params, 'path');
    await services.monitor.checkSender(id);
    return getSenderHealth(ctx, id);
  });

  app.post('/v1/senders/:id/pause', async (req) => {
    const { id } = parseInput(IdParam, req.params, 'path');
    const body = parseInput(PauseBody, req.body, 'request body');
    const actor = actorOf(req);
    pauseSender(ctx, id, { reason: body.reason ?? `paused by ${actor}`, reason_code: 'MANUAL', actor });
    return senderView(ctx, ctx.senders.resolve(id));
  });

  app.post('/v1/senders/:id/resume', async (req) => {
    const { id } = parseInput(IdParam, req.params, 'path');
    await resumeSender(ctx, id, { actor: actorOf(req) });
    return senderView(ctx, ctx.senders.resolve(id));
  });

  app.put('/v1/senders/:id/token', async (req) => {
    const { id } = parseInput(IdParam, req.params, 'path');
    const body = parseInput(TokenBody, req.body, 'request body');
    const { token } = await setSenderToken(ctx, id, body.access_token ?? body.token, { actor: actorOf(req) });
    return { ...senderView(ctx, ctx.senders.resolve(id)), token };
  });

  // Limits and quality: the :id is the sender's alias or phone_number_id, as the engine resolves it.
  app.get('/v1/senders/:id/rate-limit', async (req) => getRateLimit(ctx, { sender: param(req, 'id') }));
  app.get('/v1/senders/:id/quality', async (req) => getAccountQuality(ctx, { sender: param(req, 'id') }));

  app.get('/v1/alerts', async (req) => {
    const q = parseInput(AlertsQuery, req.query, 'query string');
    const r = await listAlerts(ctx, { limit: q.limit, unresolved: q.unresolved === 'true' || q.unresolved === '1' ? true : undefined });
    return { ...r, alerts: onlyVisible(ctx, req, r.alerts, (a) => a.sender_id as string | null) };
  });
};

export default senderRoutes;
