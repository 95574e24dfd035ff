// Dashboard sessions: the login page exchanges an API key for a session cookie, and the cookie then
// stands for that key on /v1 (same role, same senders) so the dashboard is a thin face over the API.
//  - the cookie (wagate_session) is a random 32-byte id, httpOnly, SameSite=Strict, Path=/, Secure when
//    the request came over TLS; only its SHA-256 is kept, in the store (dashboard_sessions, migration
//    9), so every instance sharing the store (production: one PostgreSQL) honours a session any of
//    them issued, and a restart keeps it;
//  - sessions end after 12 h, or 30 min without a request, or at logout (on every instance at once);
//    the idle clock is written at most every TOUCH_MS per session, not on each request;
//  - the key a session stands for is looked up in api.keys on every request: a key taken out of the
//    config ends its sessions;
//  - every state-changing request made with the cookie carries the session's CSRF token in the
//    X-Wagate-CSRF header (the page got it at login) and, when the browser sends an Origin, comes from
//    this very origin; anything else is refused (CSRF_REJECTED). SameSite=Strict already keeps the
//    cookie off cross-site requests: the token and the Origin check are the second and third locks.
//    The token is derived from the cookie (a keyed hash no reader of the store can compute), so any
//    instance knows it without storing it.
// The key itself is never kept, logged or sent back.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { fastifyCookie } from '@fastify/cookie';
import type { Principal } from '../mcp/principal.ts';
import type { Store } from '../store/port.ts';
import type { Config } from '../config/schema.ts';
import { appError, type EngineError } from '../shared/errors/app-error.ts';

export const SESSION_COOKIE = 'wagate_session';
export const CSRF_HEADER = 'x-wagate-csrf';
const ABSOLUTE_MS = 12 * 3_600_000;
const IDLE_MS = 30 * 60_000;
/** The idle clock's resolution: a session's last_seen is written when it is this much behind. */
const TOUCH_MS = 30_000;
/** Expired rows are deleted at most this often per process (at a login). */
const PRUNE_EVERY_MS = 60_000;

export interface DashboardSession {
  principal: Principal;
  csrf: string;
  created_at: number;
  last_seen: number;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const hashOf = (id: string) => sha256(id);
const csrfOf = (id: string) => createHash('sha256').update('wagate dashboard csrf\0', 'utf8').update(id, 'utf8').digest('base64url');
/** What a session row names its key by (src/store/session-store.ts). */
const keyRefOf = (key_sha256: string) => sha256(`wagate session key\0${key_sha256}`);

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class DashboardSessions {
  private readonly byRef = new Map<string, Principal>();
  private lastPrune = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: Store,
    keys: Config['api']['keys'],
    private readonly now: () => number,
  ) {
    for (const k of keys) this.byRef.set(keyRefOf(k.key_sha256), { name: k.name, role: k.role, senders: k.senders });
  }

  /** The principal of an API key (by its SHA-256), as sessions resolve it; undefined when unknown. */
  principalOfKey(key_sha256: string): Principal | undefined {
    return this.byRef.get(keyRefOf(key_sha256));
  }

  /** A new session for the key with this SHA-256: the cookie value (returned once) and the CSRF token. */
  async create(key_sha256: string): Promise<{ id: string; session: DashboardSession } | null> {
    const principal = this.principalOfKey(key_sha256);
    if (!principal) return null;
    await this.prune();
    const id = randomBytes(32).toString('base64url');
    const t = this.now();
    await this.store.createSession({ id_sha256: hashOf(id), key_ref: keyRefOf(key_sha256), created_at: t, last_seen: t });
    return { id, session: { principal, csrf: csrfOf(id), created_at: t, last_seen: t } };
  }

  /** The live session of a cookie value (its idle clock restarts), or null. */
  async get(id: string | undefined): Promise<DashboardSession | null> {
    if (!id || id.length > 200) return null;
    const h = hashOf(id);
    const s = await this.store.getSession(h);
    if (!s) return null;
    const t = this.now();
    const principal = this.byRef.get(s.key_ref);
    if (!principal || t - s.created_at > ABSOLUTE_MS || t - s.last_seen > IDLE_MS) {
      await this.store.deleteSession(h);
      return null;
    }
    if (t - s.last_seen >= TOUCH_MS) await this.store.touchSession(h, t);
    return { principal, csrf: csrfOf(id), created_at: s.created_at, last_seen: Math.max(s.last_seen, t) };
  }

  async delete(id: string | undefined): Promise<void> {
    if (id) await this.store.deleteSession(hashOf(id));
  }

  /** Deletes the expired sessions of every instance (at most once a minute per process). */
  private async prune(): Promise<void> {
    const t = this.now();
    if (t - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = t;
    await this.store.pruneSessions({ created_before: t - ABSOLUTE_MS, seen_before: t - IDLE_MS });
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
export function sessionsFor(app: object, ctx: { store: Store; config: Pick<Config, 'api'>; now: () => number }): DashboardSessions {
  let s = perServer.get(app);
  if (!s) perServer.set(app, (s = new DashboardSessions(ctx.store, ctx.config.api.keys, ctx.now)));
  return s;
}
