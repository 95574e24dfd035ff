// /v1 routes for what the MCP tools do that no other route file covers: conversations, customer
// context and frequency cap, templates (list, sync, create), errors catalog, pricing, rate limit and
// quality per sender, retry, read receipts, webhook re-sync. Thin adapters: input is validated with the
// schemas of the OpenAPI registry (src/http/openapi.ts), then one engine call.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { AppContext } from '../../engine/context.ts';
import { EngineError } from '../../engine/context.ts';
import { zodErrorBody } from '../errors.ts';
import {
  archiveChat,
  checkConversation,
  checkFrequencyCap,
  getAccountQuality,
  getCustomerContext,
  getRateLimit,
  listConversations,
  listTemplates,
  markAsRead,
  retryFailedMessages,
  syncTemplateStatus,
  syncWebhooks,
} from '../../engine/conversations.ts';
import { createTemplate, syncTemplates } from '../../engine/templates.ts';
import { explainError } from '../../engine/errors.ts';
import { estimateCost, estimatePricing } from '../../engine/pricing.ts';
import {
  ConversationsQuery,
  CostBody,
  ErrorCodeParam,
  ErrorCodeQuery,
  PricingQuery,
  ReadBody,
  RetryBody,
  SenderQuery,
  TemplateCreateBody,
  TemplatesQuery,
  TemplateSyncBody,
  WebhookSyncBody,
} from '../openapi.ts';
import { actorOf, customerFor, principalOf, senderFilter } from '../actor.ts';
import { requireSender } from '../../mcp/principal.ts';

export function parseInput<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value ?? {});
  if (!r.success) {
    const b = zodErrorBody(r.error, what).error;
    throw new EngineError(b.code, b.message, b.fix, 400, b.details);
  }
  return r.data;
}


const param = (req: FastifyRequest, k: string) => String((req.params as Record<string, string>)[k] ?? '');

export default async function extraRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  // conversations
  app.get('/v1/conversations', async (req) => {
    const q = parseInput(ConversationsQuery, req.query, 'query string');
    return listConversations(ctx, q);
  });
  app.get('/v1/conversations/:id', async (req) => {
    const id = param(req, 'id');
    const m = /^([^:]+):(.+)$/.exec(id);
    if (!m) throw new EngineError('INVALID_REQUEST', `Conversation id "${id.slice(0, 60)}" is not "<sender>:<customer digits>".`, 'Use an id from GET /v1/conversations, e.g. "main:447700900123".', 400, { field: 'id' });
    // The "<sender>:" of the id names a sender, as `sender` does: another one → 403 FORBIDDEN_SENDER.
    requireSender(ctx, principalOf(req), m[1]);
    return checkConversation(ctx, { sender: m[1], customer_id: m[2] });
  });
  app.post('/v1/conversations/:id/archive', async (req) => {
    const id = param(req, 'id');
    const named = /^([^:]+):/.exec(id);
    if (named) requireSender(ctx, principalOf(req), named[1]);
    return archiveChat(ctx, { conversation_id: id, actor: actorOf(req) });
  });

  // customers: context and cap
  app.get('/v1/customers/:phone/context', async (req) => {
    const q = parseInput(SenderQuery, req.query, 'query string');
    return customerFor(ctx, req, await getCustomerContext(ctx, { customer_id: param(req, 'phone'), sender: q.sender }));
  });
  app.get('/v1/customers/:phone/frequency-cap', async (req) => {
    const q = parseInput(SenderQuery, req.query, 'query string');
    return checkFrequencyCap(ctx, { customer_id: param(req, 'phone'), sender: q.sender });
  });

  // templates
  app.get('/v1/templates', async (req) => {
    const q = parseInput(TemplatesQuery, req.query, 'query string');
    return listTemplates(ctx, { sender: q.sender, status_filter: q.status, category_filter: q.category, locale_filter: q.language, name: q.name, limit: q.limit, offset: q.offset });
  });
  app.post('/v1/templates/sync', async (req) => {
    const b = parseInput(TemplateSyncBody, req.body, 'request body');
    if (b.template_name) return syncTemplateStatus(ctx, { template_name: b.template_name, locale: b.locale, sender: b.sender });
    return syncTemplates(ctx, b.sender);
  });
  app.post('/v1/templates', async (req, reply) => {
    const b = parseInput(TemplateCreateBody, req.body, 'request body');
    const { sender, ...tpl } = b;
    return reply.status(201).send(await createTemplate(ctx, sender, tpl));
  });

  // senders: limits and quality
  app.get('/v1/senders/:id/rate-limit', async (req) => getRateLimit(ctx, { sender: param(req, 'id') }));
  app.get('/v1/senders/:id/quality', async (req) => getAccountQuality(ctx, { sender: param(req, 'id') }));

  // messages: retry, read receipts
  app.post('/v1/messages/retry', async (req) => {
    const b = parseInput(RetryBody, req.body, 'request body');
    return retryFailedMessages(ctx, { message_ids: b.message_ids, actor: actorOf(req), visible: senderFilter(ctx, req) });
  });
  app.post('/v1/messages/read', async (req) => {
    const b = parseInput(ReadBody, req.body, 'request body');
    return markAsRead(ctx, b);
  });

  // errors catalog, pricing, webhooks
  app.get('/v1/errors/:code', async (req) => {
    const p = parseInput(ErrorCodeParam, req.params, 'path');
    const q = parseInput(ErrorCodeQuery, req.query, 'query string');
    return explainError(ctx, { code: p.code as unknown as number, subcode: q.subcode as unknown as number | undefined });
  });
  app.post('/v1/pricing/estimate', async (req) => {
    const b = parseInput(CostBody, req.body, 'request body');
    return estimateCost(ctx, b);
  });
  app.get('/v1/pricing', async (req) => {
    const q = parseInput(PricingQuery, req.query, 'query string');
    return estimatePricing(q);
  });
  app.post('/v1/webhooks/sync', async (req) => {
    const b = parseInput(WebhookSyncBody, req.body, 'request body');
    return syncWebhooks(ctx, b);
  });
}
