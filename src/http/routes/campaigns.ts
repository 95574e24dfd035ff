// /v1/campaigns and /v1/scheduled-messages: thin adapters over src/campaigns/service.ts. Records of a
// sender the caller's key may not use answer 404; a refused transition is 409 with the current state.
import type { FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { appError } from '../../shared/errors/app-error.ts';
import type { AppContext } from '../../engine/context.ts';
import { audienceRows, type CampaignService } from '../../campaigns/service.ts';
import { actorOf, principalOf, requireVisible, senderFilter } from '../actor.ts';
import { allSenders, requireSender } from '../../mcp/principal.ts';
import { CampaignIdParam, CampaignListQuery, CampaignUploadQuery, RecipientsQuery, InvalidRowsQuery } from '../campaign-api.ts';
import { parseInput } from '../validation.ts';
import type { RouteModule } from '../types.ts';

const UPLOAD_LIMIT = 200 * 1024 * 1024;

function service(ctx: AppContext): CampaignService {
  if (!ctx.campaigns)
    throw appError('NOT_FOUND', 'Campaigns are not available in this process.', {
      fix: 'Use `wagate start`, which runs the campaign service.',
    });
  return ctx.campaigns;
}

function body(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (!b || typeof b !== 'object' || Array.isArray(b))
    throw appError('INVALID_REQUEST', 'The body must be a JSON object.', {
      fix: 'Send e.g. {"name": "spring", "template": {"name": "spring_sale", "language": "en_US"}, "audience": {"recipients": [{"to": "+447700900123"}]}}.',
    });
  return b as Record<string, unknown>;
}

/** A JSON value in the query string of an upload (the body is the file). */
function queryJson(v: string, field: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    throw appError('INVALID_REQUEST', `${field} in the query string is not valid JSON.`, {
      fix: `URL-encode a JSON object, e.g. ${field}=${encodeURIComponent('{"local_time":"10:00"}')}.`,
      details: { field },
    });
  }
}

const campaignRoutes: RouteModule = async (app, ctx) => {
  // Uploads: the raw body as a stream (parsed row by row, never held whole).
  for (const type of ['text/csv', 'application/x-ndjson', 'application/jsonl'])
    app.addContentTypeParser(type, { bodyLimit: UPLOAD_LIMIT }, (_req, payload, done) => done(null, payload));

  const visible = async (req: FastifyRequest, id: string) => {
    const c = await service(ctx).record(id);
    requireVisible(ctx, req, c.sender_id, 'campaign', id);
    return c;
  };

  app.post('/v1/campaigns', { bodyLimit: UPLOAD_LIMIT }, async (req, reply) => {
    const s = service(ctx);
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]
      .trim();
    if (type === 'text/csv' || type === 'application/x-ndjson' || type === 'application/jsonl') {
      const q = parseInput(CampaignUploadQuery, req.query, 'query string');
      const rows = audienceRows(req.body as Readable, type === 'text/csv' ? 'csv' : 'jsonl');
      const c = await s.create(
        {
          name: q.name,
          sender: q.sender,
          template: { name: q.template, language: q.language },
          audience: {},
          deliver_at: q.deliver_at,
          options: q.options === undefined ? undefined : queryJson(q.options, 'options'),
          variables: q.variables,
        },
        actorOf(req),
        rows,
      );
      return reply.status(201).send(c);
    }
    const b = body(req);
    // A filter over another sender's customers needs that sender too (FORBIDDEN_SENDER, as for `sender`);
    // a key limited to some senders that names none gets only the campaign sender's customers.
    const filterSender = (b.audience as { filter?: { sender?: unknown } } | undefined)?.filter?.sender;
    if (typeof filterSender === 'string') requireSender(ctx, principalOf(req), filterSender);
    const c = await s.create(
      {
        name: b.name,
        sender: b.sender,
        template: b.template,
        audience: b.audience,
        deliver_at: b.deliver_at,
        options: b.options,
        variables: b.variables,
      },
      actorOf(req),
      undefined,
      { own_customers_only: !allSenders(principalOf(req)) },
    );
    return reply.status(201).send(c);
  });

  app.get('/v1/campaigns', async (req) => {
    const q = parseInput(CampaignListQuery, req.query, 'query string');
    const list = await service(ctx).list({ status: q.status, limit: q.limit, offset: q.offset, visible: senderFilter(ctx, req) });
    return { campaigns: list, limit: q.limit ?? 50, offset: q.offset ?? 0 };
  });

  app.get('/v1/campaigns/:id', async (req) => {
    const { id } = parseInput(CampaignIdParam, req.params, 'path');
    return service(ctx).view(await visible(req, id));
  });

  app.get('/v1/campaigns/:id/recipients', async (req) => {
    const { id } = parseInput(CampaignIdParam, req.params, 'path');
    const q = parseInput(RecipientsQuery, req.query, 'query string');
    await visible(req, id);
    return { ...(await service(ctx).recipients(id, q)), limit: q.limit ?? 100, offset: q.offset ?? 0 };
  });

  app.get('/v1/campaigns/:id/invalid-rows', async (req) => {
    const { id } = parseInput(CampaignIdParam, req.params, 'path');
    const q = parseInput(InvalidRowsQuery, req.query, 'query string');
    await visible(req, id);
    return service(ctx).invalidRows(id, q);
  });

  app.post('/v1/campaigns/:id/preview', async (req) => {
    const { id } = parseInput(CampaignIdParam, req.params, 'path');
    await visible(req, id);
    return service(ctx).preview(id);
  });

  const reason = (req: FastifyRequest): string | undefined => {
    const r = (req.body as { reason?: unknown } | null | undefined)?.reason;
    return typeof r === 'string' && r ? r.slice(0, 500) : undefined;
  };
  for (const action of ['start', 'pause', 'resume', 'cancel'] as const) {
    app.post(`/v1/campaigns/:id/${action}`, async (req) => {
      const { id } = parseInput(CampaignIdParam, req.params, 'path');
      await visible(req, id);
      const s = service(ctx);
      const actor = actorOf(req);
      if (action === 'start') return s.start(id, actor);
      if (action === 'pause') return s.pause(id, actor, reason(req));
      if (action === 'resume') return s.resume(id, actor);
      return s.cancel(id, actor, reason(req));
    });
  }

  app.post('/v1/scheduled-messages', async (req, reply) => {
    const { deliver_at, sender, ...message } = body(req);
    if (sender !== undefined && (typeof sender !== 'string' || !sender))
      throw appError('INVALID_REQUEST', '"sender" must be a sender alias or phone_number_id string.', { details: { field: 'sender' } });
    if (deliver_at === undefined)
      throw appError('INVALID_REQUEST', 'deliver_at is required: when to send the message.', {
        fix: 'Add "deliver_at": "2026-06-01T10:00:00Z" next to the message fields.',
        details: { field: 'deliver_at' },
      });
    const r = await service(ctx).schedule({ body: message, sender: sender as string | undefined, deliver_at }, actorOf(req));
    return reply.status(201).send(r);
  });

  app.get('/v1/scheduled-messages/:id', async (req) => {
    const { id } = parseInput(CampaignIdParam, req.params, 'path');
    const m = await service(ctx).scheduledRecord(id);
    requireVisible(ctx, req, m.sender_id, 'scheduled message', id);
    return service(ctx).getScheduled(id);
  });

  app.delete('/v1/scheduled-messages/:id', async (req) => {
    const { id } = parseInput(CampaignIdParam, req.params, 'path');
    const m = await service(ctx).scheduledRecord(id);
    requireVisible(ctx, req, m.sender_id, 'scheduled message', id);
    return service(ctx).cancelScheduled(id, actorOf(req));
  });
};

export default campaignRoutes;
