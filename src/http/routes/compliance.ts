// POST /v1/compliance/check: a thin adapter over src/engine/compliance.ts. A dry-run decision is
// always 200 (allowed or not): the Decision is the answer.
import { checkCompliance } from '../../engine/compliance.ts';
import type { RouteModule } from '../types.ts';

const complianceRoutes: RouteModule = async (app, ctx) => {
  // Meta's message body (messaging_product optional) plus an optional `sender` (alias or phone_number_id).
  app.post('/v1/compliance/check', async (req) => checkCompliance(ctx, { body: req.body }));
};

export default complianceRoutes;
