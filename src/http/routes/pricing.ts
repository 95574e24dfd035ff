// /v1/pricing: the rate per delivered message for a category in a market, and the cost of a number
// of messages (src/engine/pricing.ts, from the pricing data file with its source and date), by the
// rules of the send date (send_at, default now).
import { estimateCost, estimatePricing } from '../../engine/pricing.ts';
import { CostBody, PricingQuery } from '../openapi.ts';
import { parseInput } from '../validation.ts';
import type { RouteModule } from '../types.ts';

const pricingRoutes: RouteModule = async (app, ctx) => {
  app.post('/v1/pricing/estimate', async (req) => {
    const b = parseInput(CostBody, req.body, 'request body');
    return estimateCost(ctx, b);
  });
  app.get('/v1/pricing', async (req) => {
    const q = parseInput(PricingQuery, req.query, 'query string');
    return estimatePricing(q, ctx);
  });
};

export default pricingRoutes;
