// /v1/compliance/check and /v1/customers/:phone: thin adapters over src/engine/compliance.ts and
// src/engine/customers.ts. A dry-run decision is always 200 (allowed or not): the Decision is the answer.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../../engine/context.ts';
import type { Services } from '../server.ts';
import { checkCompliance } from '../../engine/compliance.ts';
import { getCustomerView, recordInboundFromInput, setConsentFromInput, updateCustomerFromInput } from '../../engine/customers.ts';
import { actorOf, customerFor, principalOf } from '../actor.ts';
import { mayLiftOptOut } from '../../mcp/principal.ts';


const phoneOf = (req: FastifyRequest) => (req.params as { phone: string }).phone;

export default async function complianceRoutes(app: FastifyInstance, ctx: AppContext, _services: Services): Promise<void> {
  // Meta's message body (messaging_product optional) plus an optional `sender` (alias or phone_number_id).
  app.post('/v1/compliance/check', async (req) => checkCompliance(ctx, { body: req.body }));

  // Consent and profile are per customer; a key limited to some senders sees only their windows and
  // may not lift an opt-out (README, HTTP API → Auth).
  app.get('/v1/customers/:phone', async (req) => customerFor(ctx, req, await getCustomerView(ctx, phoneOf(req))));
  app.put('/v1/customers/:phone', async (req) => customerFor(ctx, req, await updateCustomerFromInput(ctx, phoneOf(req), req.body, actorOf(req))));
  app.put('/v1/customers/:phone/consent', async (req) => customerFor(ctx, req, await setConsentFromInput(ctx, phoneOf(req), req.body, actorOf(req), { may_lift_opt_out: mayLiftOptOut(principalOf(req)) })));
  app.post('/v1/customers/:phone/inbound', async (req) => customerFor(ctx, req, await recordInboundFromInput(ctx, phoneOf(req), req.body, actorOf(req))));
}
