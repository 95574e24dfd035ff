// Dashboard sessions: the login page exchanges an API key for a session cookie, and the cookie then
// stands for that key on /v1 (same role, same senders) so the dashboard is a thin face over the API.
//  - the cookie (wagate_session) is a random 32-byte id, httpOnly, SameSite=Strict, Path=/, Secure when
//    the request came over TLS; only its SHA-256 is kept, in this process's memory (a restart, or
//    another instance behind a balancer without stickiness, means logging in again);
//  - sessions end after 12 h, or 30 min without a request, or at logout;
//  - every state-changing request made with the cookie carries the session's CSRF token in the
//    X-Wagate-CSRF header (the page got it at login) and, when the browser sends an Origin, comes from
//    this very origin; anything else is refused (CSRF_REJECTED). SameSite=Strict already keeps the
//    cookie off cross-site requests: the token and the Origin check are the second and third locks.
// The key itself is never kept, logged or sent back.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { fastifyCookie } from '@fastify/cookie';
import type { Principal } from '../mcp/principal.ts';
import { appError, type EngineError } from '../shared/errors/app-error.ts';

export const SESSION_COOKIE = 'wagate_session';
export const CSRF_HEADER = 'x-wagate-csrf';
const ABSOLUTE_MS = 12 * 3_600_000;
const IDLE_MS = 30 * 60_000;
const MAX_SESSIONS = 10_000;

export interface DashboardSession {
  principal: Principal;
  csrf: string;
  created_at: number;
  last_seen: number;
}

const hashOf = (id: string) => createHash('sha256').update(id, 'utf8').digest('hex');

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class DashboardSessions {
  private readonly byHash = new Map<string, DashboardSession>();

  constructor(private readonly now: () => number) {}

  /** A new session for the principal: the cookie value (returned once) and the CSRF token. */
  create(principal: Principal): { id: string; session: DashboardSession } {
    this.sweep();
    const id = randomBytes(32).toString('base64url');
    const t = this.now();
    const session = { principal, csrf: randomBytes(24).toString('base64url'), created_at: t, last_seen: t };
    this.byHash.set(hashOf(id), session);
    return { id, session };
  }

  /** The live session of a cookie value (its idle clock restarts), or null. */
  get(id: string | undefined): DashboardSession | null {
    if (!id) return null;
    const h = hashOf(id);
    const s = this.byHash.get(h);
    if (!s) return null;
    const t = this.now();
    if (t - s.created_at > ABSOLUTE_MS || t - s.last_seen > IDLE_MS) {
      this.byHash.delete(h);
      return null;
    }
    s.last_seen = t;
    return s;
  }

  delete(id: string | undefined): void {
    if (id) this.byHash.delete(hashOf(id));
  }

  /** Ends the expired sessions; past MAX_SESSIONS, the oldest too (a login flood cannot grow memory). */
  private sweep(): void {
    const t = this.now();
    for (const [h, s] of this.byHash) if (t - s.created_at > ABSOLUTE_MS || t - s.last_seen > IDLE_MS) this.byHash.delete(h);
    while (this.byHash.size >= MAX_SESSIONS) {
      const first = this.byHash.keys().next().value;
      if (first === undefined) break;
      this.byHash.delete(first);
    }
  }
}

/**
 * @fastify/cookie, registered without its per-request hook: only the parse and serialize functions
 * (the package loads its cookie module when registered). Called by routes/dashboard.ts.
 */
export async function installCookies(app: FastifyInstance): Promise<void> {
  await app.register(fastifyCookie, { hook: false });
}

/** The session cookie's value in a request, if any. */
export function sessionCookie(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie;
  if (!header || typeof req.server.parseCookie !== 'function') return undefined;
  return req.server.parseCookie(header)[SESSION_COOKIE];
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Why a request made with the session cookie is refused as cross-site, or null when it may go on. */
export function csrfProblem(req: FastifyRequest, s: DashboardSession): EngineError | null {
  if (!UNSAFE.has(req.method)) return null;
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== 'null') {
    let host: string | null = null;
    try {
      host = new URL(origin).host;
    } catch {
      host = null;
    }
    if (host !== req.headers.host) return appError('CSRF_REJECTED', `The request came from another origin (${origin.slice(0, 100)}).`);
  } else if (origin === 'null') {
    return appError('CSRF_REJECTED', 'The request came from an opaque origin ("null").');
  }
  const token = req.headers[CSRF_HEADER];
  const value = Array.isArray(token) ? token[0] : token;
  if (typeof value !== 'string' || !sameSecret(value, s.csrf)) {
    return appError('CSRF_REJECTED', `The request has no valid ${CSRF_HEADER} header for its session.`);
  }
  return null;
}

/** Set-Cookie value for a new session (or an expired one, to clear it). */
export function sessionSetCookie(req: FastifyRequest, value: string, maxAgeS: number): string {
  return req.server.serializeCookie(SESSION_COOKIE, value, {
    httpOnly: true,
    sameSite: 'strict',
    secure: req.protocol === 'https',
    path: '/',
    maxAge: maxAgeS,
  });
}

export const SESSION_MAX_AGE_S = ABSOLUTE_MS / 1000;

const perServer = new WeakMap<object, DashboardSessions>();

/** The sessions of one HTTP server (auth.ts reads them on every request, routes/dashboard.ts creates them). */
export function sessionsFor(app: object, now: () => number): DashboardSessions {
  let s = perServer.get(app);
  if (!s) perServer.set(app, (s = new DashboardSessions(now)));
  return s;
}
