// GET /v1/errors/:code: a Meta error code (and subcode) explained from the catalog in
// src/domain/errors/ (meaning, whether to retry, the fix). wagate's own error codes are in docs/errors.md.
import { explainError } from '../../engine/errors.ts';
import { ErrorCodeParam, ErrorCodeQuery } from '../openapi.ts';
import { parseInput } from '../validation.ts';
import type { RouteModule } from '../types.ts';

const errorCatalogRoutes: RouteModule = async (app, ctx) => {
  app.get('/v1/errors/:code', async (req) => {
    const p = parseInput(ErrorCodeParam, req.params, 'path');
    const q = parseInput(ErrorCodeQuery, req.query, 'query string');
    return explainError(ctx, { code: p.code as unknown as number, subcode: q.subcode as unknown as number | undefined });
  });
};

export default errorCatalogRoutes;
