// Who made a request, for audit rows: "api:<key name>" when an API key authenticated it (set by the
// auth hook in routes/api.ts), else "api".
import type { FastifyRequest } from 'fastify';
import { EngineError, type AppContext } from '../engine/context.ts';
import { LOCAL_PRINCIPAL, senderAllowed, type Principal } from '../mcp/principal.ts';

export function actorOf(req: FastifyRequest): string {
  const r = req as unknown as { apiKey?: { name?: string }; actor?: string };
  return r.actor ?? (r.apiKey?.name ? `api:${r.apiKey.name}` : 'api');
}

/** The caller's principal (set by the auth hook in routes/api.ts); no keys configured = the local operator. */
export function principalOf(req: FastifyRequest): Principal {
  return (req as unknown as { principal?: Principal }).principal ?? LOCAL_PRINCIPAL;
}

/**
 * Records of a sender the caller's key may not use answer 404, as if they did not exist (a 403 would
 * confirm the id). Keys limited to some senders see only those senders' messages, dead letters, alerts.
 */
export function requireVisible(ctx: AppContext, req: FastifyRequest, sender_id: string | null | undefined, what: string, id: string): void {
  if (sender_id && !senderAllowed(ctx, principalOf(req), sender_id)) {
    throw new EngineError(`${what.toUpperCase().replace(/ /g, '_')}_NOT_FOUND`, `No ${what} with id "${id}".`, `Check the id; this API key sees only senders ${principalOf(req).senders.join(', ')}.`, 404);
  }
}

export function onlyVisible<T>(ctx: AppContext, req: FastifyRequest, items: T[], senderOf: (t: T) => string | null | undefined): T[] {
  const p = principalOf(req);
  if (p.senders.includes('*')) return items;
  return items.filter((t) => {
    const s = senderOf(t);
    return !s || senderAllowed(ctx, p, s);
  });
}
