// The operator dashboard: the page and its files (/dashboard, /dashboard/assets/*), the login that
// exchanges an API key for a session cookie (/dashboard/session; src/http/session.ts), and the /v1
// routes its views read beyond the per-resource ones (src/http/dashboard-api.ts, thin adapters over
// src/engine/dashboard.ts). The page itself calls /v1 with the cookie, like any other client.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { RouteModule } from '../types.ts';
import { sendError } from '../errors.ts';
import { appError } from '../../shared/errors/app-error.ts';
import { actorOf, principalOf } from '../actor.ts';
import { parseInput } from '../validation.ts';
import { sha256Hex } from '../auth.ts';
import { LOCAL_PRINCIPAL, type Principal } from '../../mcp/principal.ts';
import {
  acknowledgeAlert,
  bulkDeadLetters,
  customerTimeline,
  dashboardOverview,
  dashboardSeries,
  searchMessages,
  timelineCsv,
} from '../../engine/dashboard.ts';
import {
  AlertIdParam,
  BulkDeadLettersBody,
  OverviewQuery,
  SearchQuery,
  SeriesQuery,
  TimelineParam,
  TimelineQuery,
} from '../dashboard-api.ts';
import { dashboardBundle, encodingFor, type Asset } from '../dashboard-assets.ts';
import { csrfProblem, installCookies, SESSION_MAX_AGE_S, sessionCookie, sessionSetCookie, sessionsFor } from '../session.ts';

const LoginBody = z.strictObject({ key: z.string().min(1).max(512) });
const AssetParam = z.object({ '*': z.string().min(1).max(100) });

/** Failed logins per client address: 10 in 5 minutes, then 429 until the window passes. */
const FAIL_WINDOW_MS = 5 * 60_000;
const FAIL_MAX = 10;

function send(req: FastifyRequest, reply: FastifyReply, a: Asset, headers: Record<string, string> = {}): FastifyReply {
  reply.header('content-type', a.type).header('etag', a.etag).header('vary', 'accept-encoding').header('x-content-type-options', 'nosniff');
  reply.header('cache-control', a.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  for (const [k, v] of Object.entries(headers)) reply.header(k, v);
  if (req.headers['if-none-match'] === a.etag) return reply.status(304).send();
  const { body, encoding } = encodingFor(a, req.headers['accept-encoding'] as string | undefined);
  if (encoding) reply.header('content-encoding', encoding);
  return reply.send(body);
}

const who = (p: Principal) => ({ name: p.name, role: p.role, senders: p.senders });

const dashboardRoutes: RouteModule = async (app, ctx) => {
  await installCookies(app);
  const sessions = sessionsFor(app, ctx);
  const open = ctx.config.api.keys.length === 0;
  const failures = new Map<string, number[]>();

  const page = async (req: FastifyRequest, reply: FastifyReply) => {
    const b = dashboardBundle();
    return send(req, reply, b.page, {
      'content-security-policy': b.csp,
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    });
  };
  app.get('/dashboard', page);
  app.get('/dashboard/', page);
  app.get('/dashboard/assets/*', async (req, reply) => {
    const name = parseInput(AssetParam, req.params, 'path')['*'];
    const a = dashboardBundle().files.get(name);
    if (!a) return sendError(reply, appError('NOT_FOUND', `No dashboard file "${name.slice(0, 100)}".`));
    return send(req, reply, a);
  });

  // Who the page is: with no keys configured, the local operator (and a banner says so).
  app.get('/dashboard/session', async (req, reply) => {
    reply.header('cache-control', 'no-store');
    if (open) return { authenticated: true, open: true, principal: who(LOCAL_PRINCIPAL), csrf: null };
    const s = await sessions.get(sessionCookie(req));
    if (!s) return { authenticated: false, open: false };
    return { authenticated: true, open: false, principal: who(s.principal), csrf: s.csrf };
  });

  app.post('/dashboard/session', async (req, reply) => {
    reply.header('cache-control', 'no-store');
    const origin = req.headers.origin;
    if (typeof origin === 'string' && origin !== `${req.protocol}://${req.headers.host}`)
      return sendError(reply, appError('CSRF_REJECTED', 'A login from another origin is refused.'));
    if (open) return { authenticated: true, open: true, principal: who(LOCAL_PRINCIPAL), csrf: null };
    const now = ctx.now();
    const ip = req.ip;
    const recent = (failures.get(ip) ?? []).filter((t) => now - t < FAIL_WINDOW_MS);
    if (recent.length >= FAIL_MAX)
      return sendError(
        reply.header('retry-after', String(Math.ceil((recent[0] + FAIL_WINDOW_MS - now) / 1000))),
        appError(
          'RATE_LIMITED',
          `Too many failed logins from this address: retry in ${Math.ceil((recent[0] + FAIL_WINDOW_MS - now) / 1000)} s.`,
        ),
      );
    const { key } = parseInput(LoginBody, req.body, 'request body');
    const created = await sessions.create(sha256Hex(key.trim()));
    if (!created) {
      recent.push(now);
      failures.set(ip, recent);
      if (failures.size > 10_000) failures.delete(failures.keys().next().value as string);
      return sendError(reply, appError('INVALID_API_KEY', 'The API key is not known.'));
    }
    failures.delete(ip);
    const { id, session } = created;
    const p = session.principal;
    ctx.log.info({ key: p.name, role: p.role }, 'dashboard login');
    reply.header('set-cookie', sessionSetCookie(req, id, SESSION_MAX_AGE_S));
    return { authenticated: true, open: false, principal: who(p), csrf: session.csrf };
  });

  app.delete('/dashboard/session', async (req, reply) => {
    const value = sessionCookie(req);
    const s = await sessions.get(value);
    if (s) {
      const csrf = csrfProblem(req, s);
      if (csrf) return sendError(reply, csrf);
      await sessions.delete(value);
    }
    reply.header('set-cookie', sessionSetCookie(req, '', 0));
    return { authenticated: false, open };
  });

  // ---- /v1 reads and actions of the views (registry: src/http/dashboard-api.ts)
  app.get('/v1/overview', async (req) => {
    parseInput(OverviewQuery, req.query, 'query string');
    return dashboardOverview(ctx, principalOf(req));
  });
  app.get('/v1/stats/series', async (req) => {
    const q = parseInput(SeriesQuery, req.query, 'query string');
    return dashboardSeries(ctx, principalOf(req), q);
  });
  app.get('/v1/messages/search', async (req) => {
    const q = parseInput(SearchQuery, req.query, 'query string');
    return searchMessages(ctx, principalOf(req), q.q, q.limit);
  });
  app.get('/v1/customers/:phone/timeline', async (req, reply) => {
    const { phone } = parseInput(TimelineParam, req.params, 'path');
    const q = parseInput(TimelineQuery, req.query, 'query string');
    const t = await customerTimeline(ctx, principalOf(req), phone);
    if (q.format !== 'csv') return t;
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="timeline-${t.wa_id.replace(/[^\w.-]/g, '_')}.csv"`)
      .send(timelineCsv(t.events));
  });
  app.post('/v1/alerts/:id/acknowledge', async (req) => {
    const { id } = parseInput(AlertIdParam, req.params, 'path');
    return acknowledgeAlert(ctx, principalOf(req), id, actorOf(req));
  });
  app.post('/v1/dead-letters/bulk', async (req) => {
    const b = parseInput(BulkDeadLettersBody, req.body, 'request body');
    return bulkDeadLetters(ctx, principalOf(req), b, actorOf(req));
  });
};

export default dashboardRoutes;
