// /v1/customers/:phone: the customer (consent, windows, tags, time zone), its updates, an inbound
// message recorded by hand, its eligibility context and its marketing frequency cap. Thin adapters
// over src/engine/customers.ts and the engine's context and cap functions.
// Consent and profile are per customer; a key limited to some senders sees only their windows and
// may not lift an opt-out (README, HTTP API → Auth).
import type { FastifyRequest } from 'fastify';
import { getCustomerView, recordInboundFromInput, setConsentFromInput, updateCustomerFromInput } from '../../engine/customers.ts';
import { checkFrequencyCap, getCustomerContext } from '../../engine/eligibility.ts';
import { mayLiftOptOut } from '../../mcp/principal.ts';
import { actorOf, customerFor, principalOf } from '../actor.ts';
import { SenderQuery } from '../openapi.ts';
import { parseInput } from '../validation.ts';
import type { RouteModule } from '../types.ts';

const phoneOf = (req: FastifyRequest) => (req.params as { phone: string }).phone;

const customerRoutes: RouteModule = async (app, ctx) => {
  app.get('/v1/customers/:phone', async (req) => customerFor(ctx, req, await getCustomerView(ctx, phoneOf(req))));
  app.put('/v1/customers/:phone', async (req) =>
    customerFor(ctx, req, await updateCustomerFromInput(ctx, phoneOf(req), req.body, actorOf(req))),
  );
  app.put('/v1/customers/:phone/consent', async (req) =>
    customerFor(
      ctx,
      req,
      await setConsentFromInput(ctx, phoneOf(req), req.body, actorOf(req), { may_lift_opt_out: mayLiftOptOut(principalOf(req)) }),
    ),
  );
  app.post('/v1/customers/:phone/inbound', async (req) =>
    customerFor(ctx, req, await recordInboundFromInput(ctx, phoneOf(req), req.body, actorOf(req))),
  );

  app.get('/v1/customers/:phone/context', async (req) => {
    const q = parseInput(SenderQuery, req.query, 'query string');
    return customerFor(ctx, req, await getCustomerContext(ctx, { customer_id: phoneOf(req), sender: q.sender }));
  });
  app.get('/v1/customers/:phone/frequency-cap', async (req) => {
    const q = parseInput(SenderQuery, req.query, 'query string');
    return checkFrequencyCap(ctx, { customer_id: phoneOf(req), sender: q.sender });
  });
};

export default customerRoutes;
