// /v1/messages and /v1/dead-letters: thin adapters over src/engine/messages.ts and dead-letters.ts.
// Times are epoch ms inside wagate and ISO 8601 here, at the face.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../../engine/context.ts';
import { EngineError } from '../../engine/context.ts';
import type { Services } from '../server.ts';
import { getMessage, listMessages, submitMessage } from '../../engine/messages.ts';
import { discardDeadLetter, getDeadLetter, listDeadLetters, replayDeadLetter } from '../../engine/dead-letters.ts';
import type { MessageRecord } from '../../domain/types.ts';
import type { DeadLetter } from '../../store/port.ts';
import { zodErrorBody } from '../errors.ts';
import { actorOf, onlyVisible, requireVisible } from '../actor.ts';

const iso = (t: number | null | undefined) => (typeof t === 'number' ? new Date(t).toISOString() : null);

export function messageView(m: MessageRecord): Record<string, unknown> {
  return {
    id: m.id,
    status: m.status,
    sender: m.sender_id,
    to: m.to,
    category: m.category,
    type: m.type,
    template: m.template_name ? { name: m.template_name, language: m.template_language } : null,
    wamid: m.wamid,
    attempts: m.attempts,
    idempotency_key: m.idempotency_key,
    last_error: m.last_error,
    pricing: m.pricing,
    payload: m.payload,
    created_at: iso(m.created_at),
    updated_at: iso(m.updated_at),
    history: m.history.map((h) => ({ ...(h.detail ?? {}), status: h.status, at: iso(h.at), source: h.source })),
  };
}

export function deadLetterView(d: DeadLetter): Record<string, unknown> {
  return { ...d, created_at: iso(d.created_at) };
}

/** Who is asking: the auth layer (api.ts) may attach an API key name; otherwise plain "api". */

const IdParam = z.object({ id: z.string().min(1).max(100) });
const Paging = {
  limit: z.coerce.number().int().min(1).max(500).optional(),
  offset: z.coerce.number().int().min(0).optional(),
};
const ListMessagesQuery = z.object({ status: z.string().optional(), sender: z.string().optional(), to: z.string().optional(), ...Paging });
const ListDeadLettersQuery = z.object({ state: z.string().optional(), sender: z.string().optional(), ...Paging });

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const b = zodErrorBody(r.error, what).error;
    throw new EngineError(b.code, b.message, b.fix, 400, b.details);
  }
  return r.data;
}

export default async function messageRoutes(app: FastifyInstance, ctx: AppContext, _services: Services): Promise<void> {
  app.post('/v1/messages', async (req, reply) => {
    const raw = req.body;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
      throw new EngineError('INVALID_REQUEST', 'The body must be a JSON object: Meta\'s message body (to, type, ...) plus an optional "sender".', 'Send e.g. {"to":"+447700900123","type":"text","text":{"body":"hi"}} with Content-Type: application/json.', 400);
    }
    const { sender, ...body } = raw as Record<string, unknown>;
    if (sender !== undefined && (typeof sender !== 'string' || !sender)) {
      throw new EngineError('INVALID_REQUEST', '"sender" must be a sender alias or phone_number_id string.', 'Omit "sender" for the default sender, or use an id from GET /v1/senders.', 400);
    }
    const keyHeader = req.headers['idempotency-key'];
    const key = Array.isArray(keyHeader) ? keyHeader[0] : keyHeader;
    const r = await submitMessage(ctx, { body, sender: sender as string | undefined, idempotency_key: key, actor: actorOf(req) });
    if (r.replayed) reply.header('idempotent-replayed', 'true');
    if (r.http_status === 422) return reply.status(422).send({ decision: r.decision });
    if (r.http_status === 503) return reply.status(503).header('retry-after', String(r.decision.retry_after_s ?? 1)).send({ decision: r.decision });
    return reply.status(r.http_status).send({ id: r.id, status: r.status, decision: r.decision, ...(r.replayed ? { replayed: true } : {}) });
  });

  app.get('/v1/messages/:id', async (req) => {
    const { id } = parse(IdParam, req.params, 'path');
    const m = await getMessage(ctx, id);
    requireVisible(ctx, req, m.sender_id, 'message', id);
    return messageView(m);
  });

  app.get('/v1/messages', async (req) => {
    const q = parse(ListMessagesQuery, req.query, 'query string');
    const list = onlyVisible(ctx, req, await listMessages(ctx, q), (m) => m.sender_id);
    return { messages: list.map(messageView), limit: q.limit ?? 50, offset: q.offset ?? 0 };
  });

  app.get('/v1/dead-letters', async (req) => {
    const q = parse(ListDeadLettersQuery, req.query, 'query string');
    const list = onlyVisible(ctx, req, await listDeadLetters(ctx, q), (d) => d.sender_id);
    return { dead_letters: list.map(deadLetterView), limit: q.limit ?? 50, offset: q.offset ?? 0 };
  });

  app.get('/v1/dead-letters/:id', async (req) => {
    const { id } = parse(IdParam, req.params, 'path');
    const r = await getDeadLetter(ctx, id);
    requireVisible(ctx, req, r.dead_letter.sender_id, 'dead letter', id);
    return { ...deadLetterView(r.dead_letter), message: r.message ? messageView(r.message) : null };
  });

  app.post('/v1/dead-letters/:id/replay', async (req, reply) => {
    const { id } = parse(IdParam, req.params, 'path');
    requireVisible(ctx, req, (await getDeadLetter(ctx, id)).dead_letter.sender_id, 'dead letter', id);
    const { dead_letter, result } = await replayDeadLetter(ctx, id, actorOf(req));
    const body: Record<string, unknown> = { dead_letter: deadLetterView(dead_letter), decision: result.decision };
    if (result.id) Object.assign(body, { id: result.id, status: result.status });
    return reply.status(result.http_status).send(body);
  });

  app.delete('/v1/dead-letters/:id', async (req) => {
    const { id } = parse(IdParam, req.params, 'path');
    requireVisible(ctx, req, (await getDeadLetter(ctx, id)).dead_letter.sender_id, 'dead letter', id);
    return { dead_letter: deadLetterView(await discardDeadLetter(ctx, id, actorOf(req))) };
  });
}
