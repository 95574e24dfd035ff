// /v1/templates: the sender's message templates, listed (with the parameters a send must give),
// synced from Meta (all, or one template's status) and created at Meta.
import { createTemplate, listTemplates, syncTemplates, syncTemplateStatus } from '../../engine/templates.ts';
import { TemplateCreateBody, TemplatesQuery, TemplateSyncBody } from '../openapi.ts';
import { parseInput } from '../validation.ts';
import type { RouteModule } from '../types.ts';

const templateRoutes: RouteModule = async (app, ctx) => {
  app.get('/v1/templates', async (req) => {
    const q = parseInput(TemplatesQuery, req.query, 'query string');
    return listTemplates(ctx, {
      sender: q.sender,
      status_filter: q.status,
      category_filter: q.category,
      locale_filter: q.language,
      name: q.name,
      limit: q.limit,
      offset: q.offset,
    });
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
};

export default templateRoutes;
