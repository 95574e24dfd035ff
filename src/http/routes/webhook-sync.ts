// POST /v1/webhooks/sync: catches up on what webhooks should have said: re-syncs every template from
// Meta and lists messages whose status webhook is overdue (Meta has no per-message status query).
import { syncWebhooks } from '../../engine/delivery-status.ts';
import { WebhookSyncBody } from '../openapi.ts';
import { parseInput } from '../validation.ts';
import type { RouteModule } from '../types.ts';

const webhookSyncRoutes: RouteModule = async (app, ctx) => {
  app.post('/v1/webhooks/sync', async (req) => {
    const b = parseInput(WebhookSyncBody, req.body, 'request body');
    return syncWebhooks(ctx, b);
  });
};

export default webhookSyncRoutes;
