// /openapi.json (generated from the route registry, src/http/openapi.ts) and /docs (a self-contained
// page that renders it: no CDN). Both open, like /health.
import { DOCS_HTML, openApiDocument } from '../openapi.ts';
import type { RouteModule } from '../types.ts';

const docsRoutes: RouteModule = async (app) => {
  app.get('/openapi.json', async () => openApiDocument());
  app.get('/docs', async (_req, reply) => reply.type('text/html; charset=utf-8').send(DOCS_HTML));
};

export default docsRoutes;
