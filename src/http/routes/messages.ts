// /v1/messages: submit (gate, then queue), read one with its history, list, retry failed ones
// through the gate, mark an inbound one as read. Thin adapters over src/engine/messages.ts and the
// engine's retry and read-receipt functions.
import { z } from 'zod';
import { appError } from '../../shared/errors/app-error.ts';
import { getMessage, listMessages, submitMessage } from '../../engine/messages.ts';
import { markAsRead } from '../../engine/read-receipts.ts';
import { retryFailedMessages } from '../../engine/retries.ts';
import { actorOf, onlyVisible, requireVisible, senderFilter } from '../actor.ts';
import { ReadBody, RetryBody } from '../openapi.ts';
import { parseInput } from '../validation.ts';
import { messageView } from '../views.ts';
import type { RouteModule } from '../types.ts';

const IdParam = z.object({ id: z.string().min(1).max(100) });
const ListMessagesQuery = z.object({
  status: z.string().optional(),
  sender: z.string().optional(),
  to: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  offset: z.coerce.number().int().min(0).optional(),
});

const messageRoutes: RouteModule = async (app, ctx) => {
  app.post('/v1/messages', async (req, reply) => {
    const raw = req.body;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
      throw appError('INVALID_REQUEST', 'The body must be a JSON object: Meta\'s message body (to, type, ...) plus an optional "sender".', {
        fix: 'Send e.g. {"to":"+447700900123","type":"text","text":{"body":"hi"}} with Content-Type: application/json.',
      });
    }
    const { sender, ...body } = raw as Record<string, unknown>;
    if (sender !== undefined && (typeof sender !== 'string' || !sender)) {
      throw appError('INVALID_REQUEST', '"sender" must be a sender alias or phone_number_id string.', {
        fix: 'Omit "sender" for the default sender, or use an id from GET /v1/senders.',
      });
    }
    const keyHeader = req.headers['idempotency-key'];
    const key = Array.isArray(keyHeader) ? keyHeader[0] : keyHeader;
    const r = await submitMessage(ctx, { body, sender: sender as string | undefined, idempotency_key: key, actor: actorOf(req) });
    if (r.replayed) reply.header('idempotent-replayed', 'true');
    if (r.http_status === 422) return reply.status(422).send({ decision: r.decision });
    if (r.http_status === 503)
      return reply
        .status(503)
        .header('retry-after', String(r.decision.retry_after_s ?? 1))
        .send({ decision: r.decision });
    return reply
      .status(r.http_status)
      .send({ id: r.id, status: r.status, decision: r.decision, ...(r.replayed ? { replayed: true } : {}) });
  });

  app.get('/v1/messages/:id', async (req) => {
    const { id } = parseInput(IdParam, req.params, 'path');
    const m = await getMessage(ctx, id);
    requireVisible(ctx, req, m.sender_id, 'message', id);
    return messageView(m);
  });

  app.get('/v1/messages', async (req) => {
    const q = parseInput(ListMessagesQuery, req.query, 'query string');
    const list = onlyVisible(ctx, req, await listMessages(ctx, q), (m) => m.sender_id);
    return { messages: list.map(messageView), limit: q.limit ?? 50, offset: q.offset ?? 0 };
  });

  app.post('/v1/messages/retry', async (req) => {
    const b = parseInput(RetryBody, req.body, 'request body');
    return retryFailedMessages(ctx, { message_ids: b.message_ids, actor: actorOf(req), visible: senderFilter(ctx, req) });
  });

  app.post('/v1/messages/read', async (req) => {
    const b = parseInput(ReadBody, req.body, 'request body');
    return markAsRead(ctx, b);
  });
};

export default messageRoutes;
