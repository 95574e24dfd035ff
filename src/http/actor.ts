// Who made a request, for audit rows: "api:<key name>" when an API key authenticated it (set by the
// auth hook in routes/api.ts), else "api".
import type { FastifyRequest } from 'fastify';

export function actorOf(req: FastifyRequest): string {
  const r = req as unknown as { apiKey?: { name?: string }; actor?: string };
  return r.actor ?? (r.apiKey?.name ? `api:${r.apiKey.name}` : 'api');
}
