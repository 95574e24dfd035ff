// Who made a request, for audit rows: "api:<key name>" when an API key authenticated it (set by the
// auth hook in src/http/auth.ts), else "api". And what that key may see: the sender scoping of
// src/mcp/principal.ts, applied to a request.
import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../engine/context.ts';
import {
  allSenders,
  LOCAL_PRINCIPAL,
  requireVisible as requireVisibleTo,
  senderAllowed,
  visibleCustomer,
  type Principal,
  type VisibleRecord,
} from '../mcp/principal.ts';

export function actorOf(req: FastifyRequest): string {
  const r = req as unknown as { apiKey?: { name?: string }; actor?: string };
  return r.actor ?? (r.apiKey?.name ? `api:${r.apiKey.name}` : 'api');
}

/** The caller's principal (set by the auth hook in src/http/auth.ts); no keys configured = the local operator. */
export function principalOf(req: FastifyRequest): Principal {
  return (req as unknown as { principal?: Principal }).principal ?? LOCAL_PRINCIPAL;
}

/**
 * Records of a sender the caller's key may not use answer 404, as if they did not exist (a 403 would
 * confirm the id). Keys limited to some senders see only those senders' messages, dead letters, alerts.
 */
export function requireVisible(
  ctx: AppContext,
  req: FastifyRequest,
  sender_id: string | null | undefined,
  what: VisibleRecord,
  id: string,
): void {
  requireVisibleTo(ctx, principalOf(req), sender_id, what, id);
}

export function onlyVisible<T>(ctx: AppContext, req: FastifyRequest, items: T[], senderOf: (t: T) => string | null | undefined): T[] {
  const p = principalOf(req);
  if (allSenders(p)) return items;
  return items.filter((t) => {
    const s = senderOf(t);
    return !s || senderAllowed(ctx, p, s);
  });
}

/** A customer view with only the windows of the caller's senders (consent and profile are per customer). */
export function customerFor<T extends { windows: { sender: string }[] }>(ctx: AppContext, req: FastifyRequest, view: T): T {
  return visibleCustomer(ctx, principalOf(req), view);
}

/** The sender filter for an engine bulk action (retry): true for the senders the caller may use. */
export function senderFilter(ctx: AppContext, req: FastifyRequest): (sender_id: string) => boolean {
  const p = principalOf(req);
  return (sender_id) => senderAllowed(ctx, p, sender_id);
}
