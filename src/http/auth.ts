// Installed on the root instance by src/http/server.ts before any route, so it covers every route:
//  - auth: API keys from config api.keys (only SHA-256 hashes are stored), `Authorization: Bearer <key>`
//    or `X-API-Key`, each key with a role (read < send < admin, per route from the OpenAPI registry) and
//    the senders it may use; no keys configured = open (embedded/dev), with a warning;
//  - the ingress rate limit per API key (@fastify/rate-limit), separate from Meta pacing (none when
//    no keys are configured: embedded/dev mode has no key to count against).
// /health, /ready, /metrics, /webhook, /openapi.json and /docs stay open (the webhook has its own
// signature check); /mcp takes a key, and each tool then checks its own role.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { AppContext } from '../engine/context.ts';
import { sendError } from './errors.ts';
import { appError } from '../shared/errors/app-error.ts';
import { accessFor, routeSpec, senderField } from './openapi.ts';
import { hasRole, LOCAL_PRINCIPAL, senderAllowed, type Principal } from '../mcp/principal.ts';
import { csrfProblem, sessionCookie, sessionsFor } from './session.ts';

export const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

export type AuthedRequest = FastifyRequest & { apiKey?: Principal; principal?: Principal };

function keyOf(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (typeof h === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (m) return m[1];
  }
  const x = req.headers['x-api-key'];
  const v = Array.isArray(x) ? x[0] : x;
  return typeof v === 'string' && v.trim() ? v.trim() : null;
}

/** The sender a request names: body/query `sender`, or the :id of a /v1/senders/:id route. */
function senderOf(req: FastifyRequest): { named: boolean; ref: string | undefined } {
  const url = req.routeOptions.url ?? '';
  if (url.startsWith('/v1/senders/:id')) return { named: true, ref: (req.params as { id?: string }).id };
  const b = req.body as Record<string, unknown> | undefined;
  if (b && typeof b === 'object' && !Array.isArray(b) && typeof b.sender === 'string') return { named: true, ref: b.sender };
  const q = req.query as Record<string, unknown> | undefined;
  if (q && typeof q.sender === 'string') return { named: true, ref: q.sender };
  return { named: false, ref: undefined };
}

export async function installAuth(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const keys = new Map(
    ctx.config.api.keys.map((k) => [k.key_sha256, { name: k.name, role: k.role, senders: k.senders } satisfies Principal]),
  );
  const open = keys.size === 0;
  const sessions = sessionsFor(app, ctx);
  if (open)
    ctx.log.warn(
      'api.keys is empty: the HTTP API and /mcp accept requests without an API key (fine for embedded/dev; configure keys before exposing the port)',
    );

  app.addHook('onRequest', async (req: AuthedRequest, reply: FastifyReply) => {
    // An unmatched path (404) is judged by its raw path: under /v1 it still needs a key.
    const access = accessFor(req.method, req.routeOptions.url ?? req.url.split('?')[0]);
    if (access === 'public') return;
    if (open) {
      req.principal = LOCAL_PRINCIPAL;
      return;
    }
    const key = keyOf(req);
    // No key header: the dashboard's session cookie stands for the key it was opened with (src/http/session.ts).
    const session = key ? null : await sessions.get(sessionCookie(req));
    if (session) {
      const csrf = csrfProblem(req, session);
      if (csrf) return sendError(reply, csrf);
    }
    if (!key && !session) {
      return sendError(reply.header('www-authenticate', 'Bearer'), appError('UNAUTHORIZED', 'No API key in the request.'));
    }
    const p = session ? session.principal : keys.get(sha256Hex(key!));
    if (!p) {
      return sendError(
        reply.header('www-authenticate', 'Bearer error="invalid_token"'),
        appError('INVALID_API_KEY', 'The API key is not known.'),
      );
    }
    if (!hasRole(p, access)) {
      const message = `API key "${p.name}" has role "${p.role}"; ${req.method} ${req.routeOptions.url} needs role "${access}" or higher.`;
      return sendError(
        reply,
        appError('FORBIDDEN_ROLE', message, {
          fix: `Use a key with role ${access}${access === 'admin' ? '' : ' or admin'}.`,
          details: { role: p.role, required: access },
        }),
      );
    }
    req.apiKey = p;
    req.principal = p;
  });

  // Sender restrictions need the parsed body: checked after parsing, before the handler. A key limited
  // to some senders that names none gets its first one (never the global default it may not use).
  app.addHook('preHandler', async (req: AuthedRequest, reply: FastifyReply) => {
    const p = req.apiKey;
    if (!p || p.senders.includes('*') || req.routeOptions.url === '/mcp') return;
    const { named, ref } = senderOf(req);
    if (!named) {
      const where = senderField(routeSpec(req.method, req.routeOptions.url));
      const target = where === 'body' ? req.body : where === 'query' ? req.query : null;
      if (target && typeof target === 'object' && !Array.isArray(target)) (target as Record<string, unknown>).sender = p.senders[0];
      return;
    }
    if (!senderAllowed(ctx, p, ref)) {
      const message = `API key "${p.name}" may not use sender "${ref ?? '(default)'}".`;
      return sendError(
        reply,
        appError('FORBIDDEN_SENDER', message, {
          fix: `Name one of the senders this key allows: ${p.senders.join(', ')}.`,
          details: { sender: ref ?? null, allowed: p.senders },
        }),
      );
    }
  });

  // Per API key. With no keys configured (embedded/dev, open) there is no key to count against.
  if (!open) {
    await app.register(rateLimit, {
      global: true,
      max: ctx.config.api.rate_limit_per_minute,
      timeWindow: 60_000,
      keyGenerator: (req) => `key:${(req as AuthedRequest).apiKey?.name ?? ''}`,
      allowList: (req) => !(req as AuthedRequest).apiKey,
      errorResponseBuilder: (_req, c) => ({
        statusCode: 429,
        code: 'RATE_LIMITED',
        message: `Rate limit exceeded: ${c.max} requests per minute for this API key. Retry in ${Math.ceil(c.ttl / 1000)} s.`,
      }),
    });
  }
}
