// /v1/conversations: one per customer and sender (the care window), listed, read one, archived.
// Thin adapters over the engine's conversation functions; input validated with the registry's schemas.
import type { FastifyRequest } from 'fastify';
import { appError } from '../../shared/errors/app-error.ts';
import { archiveChat, checkConversation, listConversations } from '../../engine/conversations.ts';
import { requireSender } from '../../mcp/principal.ts';
import { actorOf, principalOf } from '../actor.ts';
import { ConversationsQuery } from '../openapi.ts';
import { parseInput } from '../validation.ts';
import type { RouteModule } from '../types.ts';

const idOf = (req: FastifyRequest) => String((req.params as Record<string, string>).id ?? '');

const conversationRoutes: RouteModule = async (app, ctx) => {
  app.get('/v1/conversations', async (req) => {
    const q = parseInput(ConversationsQuery, req.query, 'query string');
    return listConversations(ctx, q);
  });
  app.get('/v1/conversations/:id', async (req) => {
    const id = idOf(req);
    const m = /^([^:]+):(.+)$/.exec(id);
    if (!m)
      throw appError('INVALID_REQUEST', `Conversation id "${id.slice(0, 60)}" is not "<sender>:<customer digits>".`, {
        fix: 'Use an id from GET /v1/conversations, e.g. "main:447700900123".',
        details: { field: 'id' },
      });
    // The "<sender>:" of the id names a sender, as `sender` does: another one → 403 FORBIDDEN_SENDER.
    requireSender(ctx, principalOf(req), m[1]);
    return checkConversation(ctx, { sender: m[1], customer_id: m[2] });
  });
  app.post('/v1/conversations/:id/archive', async (req) => {
    const id = idOf(req);
    const named = /^([^:]+):/.exec(id);
    if (named) requireSender(ctx, principalOf(req), named[1]);
    return archiveChat(ctx, { conversation_id: id, actor: actorOf(req) });
  });
};

export default conversationRoutes;
