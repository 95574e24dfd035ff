// /v1/webhooks/failed: webhook batches set aside because they could not be read or applied (see
// src/webhooks/README.md, "Poison batches"): list, read one with its raw body, replay, discard.
// Admin only (openapi.ts), and only for a key of every sender: a raw body holds customers' numbers
// and messages of any sender (one batch may carry several WABAs), so a key limited to some senders
// gets 403 FORBIDDEN_SENDER.
import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { RouteModule } from '../types.ts';
import type { FailedWebhookBatch } from '../../store/port.ts';
import { sendError } from '../errors.ts';
import { actorOf, principalOf } from '../actor.ts';
import { appError } from '../../shared/errors/app-error.ts';
import { parseInput } from '../validation.ts';
import { FailedWebhookId, FailedWebhooksQuery } from '../openapi.ts';

const iso = (t: number) => new Date(t).toISOString();

export function failedWebhookView(b: FailedWebhookBatch): Record<string, unknown> {
  return {
    id: b.id,
    state: b.state,
    error: b.error,
    attempts: b.attempts,
    received_at: iso(b.received_at),
    failed_at: iso(b.failed_at),
    updated_at: iso(b.updated_at),
    body_length: b.body_length,
    ...(b.body !== undefined ? { body: b.body } : {}),
  };
}

const idOf = (req: FastifyRequest) => parseInput(FailedWebhookId, req.params, 'path').id;

function requireAllSenders(req: FastifyRequest): void {
  const p = principalOf(req);
  if (p.senders.includes('*')) return;
  throw appError(
    'FORBIDDEN_SENDER',
    `API key "${p.name}" is limited to some senders; set-aside webhook batches may hold events of any sender.`,
    {
      fix: 'Use an API key for every sender (config api.keys[].senders left out or ["*"]) to list, read, replay or discard them.',
      details: { allowed: p.senders },
    },
  );
}

const failedWebhookRoutes: RouteModule = async (app, _ctx, services) => {
  const wh = services.webhooks;
  const guarded = { preHandler: async (req: FastifyRequest) => requireAllSenders(req) };

  app.get('/v1/webhooks/failed', guarded, async (req) => {
    const q = parseInput(FailedWebhooksQuery, req.query, 'query string') as z.infer<typeof FailedWebhooksQuery>;
    const list = await wh.listFailed({ state: q.state, limit: q.limit ?? 50, offset: q.offset ?? 0 });
    return { failed: list.map(failedWebhookView), limit: q.limit ?? 50, offset: q.offset ?? 0 };
  });

  app.get('/v1/webhooks/failed/:id', guarded, async (req) => failedWebhookView(await wh.getFailed(idOf(req))));

  app.post('/v1/webhooks/failed/:id/replay', guarded, async (req, reply) => {
    const r = await wh.replayFailed(idOf(req), actorOf(req));
    if (r.replayed) return { replayed: true, batch: failedWebhookView(r.batch), results: r.summary?.results ?? {} };
    const message = `Webhook batch "${r.batch.id}" failed again: ${r.error}. It stays set aside (attempt ${r.batch.attempts}).`;
    return sendError(
      reply,
      appError('WEBHOOK_REPLAY_FAILED', message, { details: { batch: failedWebhookView({ ...r.batch, body: undefined }) } }),
    );
  });

  app.delete('/v1/webhooks/failed/:id', guarded, async (req) => ({
    batch: failedWebhookView(await wh.discardFailed(idOf(req), actorOf(req))),
  }));
};

export default failedWebhookRoutes;
