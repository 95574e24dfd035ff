// Engine functions for senders: resolve a caller's sender reference, list, health, halt, pause,
// resume, token replacement, alerts, and each sender's rate limits and account quality.
// A halt (credential error) stops every consumer: workers listen to the registry's "state" events.
// Resume and token replacement ask Meta (debug_token) first: a sender never resumes on a token Meta
// still refuses, and the caller is told why.
import type { AppContext } from './context.ts';
import type { EngineError } from './context.ts';
import { appError, unknownSenderError } from '../shared/errors/app-error.ts';
import type { SenderConfig, SenderStatus } from '../domain/types.ts';
import type { DebugTokenInfo } from '../meta/types.ts';
import type { AlertRecord } from '../store/port.ts';
import { alertKeys, credentialsInvalidAlert, explainCredentialError, REQUIRED_SCOPES, tokenFixSteps } from '../alerts/messages.ts';
import { explain } from '../domain/errors/index.ts';
import { UnknownSenderError } from '../senders/registry.ts';
import { PAIR_BURST, PAIR_INTERVAL_MS } from '../pacing/port.ts';

/** The sender a caller named (alias or phone_number_id), or the default one when none is named. */
export function resolveSender(ctx: AppContext, ref: string | undefined | null): SenderConfig {
  try {
    return ctx.senders.resolve(ref ?? null);
  } catch (err) {
    if (!(err instanceof UnknownSenderError)) throw err;
    throw unknownSenderError(err);
  }
}

// ---------------------------------------------------------------------------------------------
// Token validation (shared by the health monitor, resume and PUT token)

export interface TokenCheck {
  /** Meta says the token is valid. */
  valid: boolean;
  /** Meta could not be asked (network, 5xx, bad app token): neither valid nor invalid. */
  unreachable: boolean;
  checked_at: number;
  type: string | null;
  /** Seconds since epoch; 0 = never expires; null = unknown. */
  expires_at: number | null;
  data_access_expires_at: number | null;
  scopes: string[];
  granular_scopes: { scope: string; target_ids?: string[] }[];
  /** Required permissions the token does not have at all. */
  missing_scopes: string[];
  /** Required permissions granted, but for other WABAs / numbers than this sender's. */
  uncovered_scopes: string[];
  error: { code: number | null; subcode: number | null; message: string } | null;
}

/** Which required permissions are absent, and which are granted only for other assets. */
export function scopeCoverage(
  info: Pick<DebugTokenInfo, 'scopes' | 'granular_scopes'>,
  s: Pick<SenderConfig, 'waba_id' | 'phone_number_id'>,
): { missing: string[]; uncovered: string[] } {
  const scopes = info.scopes ?? [];
  const granular = info.granular_scopes ?? [];
  const missing = REQUIRED_SCOPES.filter((r) => !scopes.includes(r) && !granular.some((g) => g.scope === r));
  const uncovered = REQUIRED_SCOPES.filter((r) => {
    if (missing.includes(r)) return false;
    const g = granular.filter((x) => x.scope === r);
    // No target_ids = granted for every asset (admin system user); otherwise the WABA or number must be listed.
    const targets = g.flatMap((x) => x.target_ids ?? []);
    if (g.length === 0 || g.some((x) => !x.target_ids || x.target_ids.length === 0)) return false;
    return !targets.includes(s.waba_id) && !targets.includes(s.phone_number_id);
  });
  return { missing, uncovered };
}

/** Asks Meta's debug_token about a sender's token (or a candidate token). Never throws. */
export async function checkToken(
  ctx: Pick<AppContext, 'meta' | 'config' | 'now'>,
  sender: SenderConfig,
  token: string = sender.access_token,
): Promise<TokenCheck> {
  const base: TokenCheck = {
    valid: false,
    unreachable: false,
    checked_at: ctx.now(),
    type: null,
    expires_at: null,
    data_access_expires_at: null,
    scopes: [],
    granular_scopes: [],
    missing_scopes: [],
    uncovered_scopes: [],
    error: null,
  };
  if (!token) return { ...base, error: { code: null, subcode: null, message: 'no access token configured for this sender' } };
  const appToken = ctx.config.meta.app_token;
  let res: Awaited<ReturnType<AppContext['meta']['debugToken']>>;
  try {
    res = await ctx.meta.debugToken(token, appToken);
  } catch (err) {
    return { ...base, unreachable: true, error: { code: null, subcode: null, message: `debug_token failed: ${(err as Error).message}` } };
  }
  if (!res.ok) {
    const e = res.error;
    const msg = { code: e.code, subcode: e.subcode, message: e.message };
    // The call itself failed. With the token as its own access_token, a 4xx auth error IS the answer
    // (Meta refuses an invalid token outright). With an app token, it is the app token's problem.
    const transport = e.source === 'transport' || (e.http_status ?? 0) >= 500 || e.http_status === 429;
    if (transport || appToken) return { ...base, unreachable: true, error: msg };
    return { ...base, error: msg };
  }
  const info = res.value;
  const cov = scopeCoverage(info, sender);
  return {
    ...base,
    valid: info.is_valid === true,
    type: info.type ?? null,
    expires_at: typeof info.expires_at === 'number' ? info.expires_at : null,
    data_access_expires_at: typeof info.data_access_expires_at === 'number' ? info.data_access_expires_at : null,
    scopes: info.scopes ?? [],
    granular_scopes: info.granular_scopes ?? [],
    missing_scopes: cov.missing,
    uncovered_scopes: cov.uncovered,
    error: info.is_valid
      ? null
      : { code: info.error?.code ?? 190, subcode: info.error?.subcode ?? null, message: info.error?.message ?? 'token is not valid' },
  };
}

/** The token facts safe to show (never the token). */
export function tokenSummary(c: TokenCheck): Record<string, unknown> {
  const iso = (s: number | null) => (s == null ? null : s === 0 ? 'never' : new Date(s * 1000).toISOString());
  return {
    valid: c.valid,
    unreachable: c.unreachable,
    type: c.type,
    expires_at: iso(c.expires_at),
    data_access_expires_at: iso(c.data_access_expires_at),
    scopes: c.scopes,
    granular_scopes: c.granular_scopes,
    missing_scopes: c.missing_scopes,
    uncovered_scopes: c.uncovered_scopes,
    error: c.error,
    checked_at: new Date(c.checked_at).toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------
// Halt, pause, resume

function num(v: unknown): number | null {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

/** Pulls {code, subcode, message} out of whatever a caller put in a halt's detail. */
function credentialErrorOf(cause: { reason: string; reason_code: string; detail?: Record<string, unknown> }): {
  code: number | null;
  subcode: number | null;
  message: string | null;
} {
  const d = cause.detail ?? {};
  const e = (d.error ?? d.meta_error ?? d) as Record<string, unknown>;
  const fromCode = /(\d+)/.exec(cause.reason_code)?.[1];
  return {
    code: num(e.code) ?? (fromCode ? Number(fromCode) : null),
    subcode: num(e.subcode) ?? num(e.error_subcode),
    message: typeof e.message === 'string' ? e.message : null,
  };
}

/** Error 190 and other credential errors: stop every sender at once, alert a human. */
export function haltAll(
  ctx: AppContext,
  cause: { reason: string; reason_code: string; sender_id?: string; detail?: Record<string, unknown> },
): void {
  const at = ctx.now();
  for (const s of ctx.senders.list()) {
    const cur = ctx.senders.status(s.id);
    if (cur.state === 'halted') continue;
    ctx.senders.setState(s.id, 'halted', {
      reason: cause.reason,
      reason_code: cause.reason_code,
      credentials_valid: s.id === cause.sender_id ? false : cur.credentials_valid,
      at,
    });
  }
  ctx.bus.emit('sender.halt_all', cause);
  const culprit = cause.sender_id ? ctx.senders.find(cause.sender_id) : undefined;
  if (culprit) {
    // Same dedupe key as the health monitor's invalid-token alert: one condition, one alert.
    const alert = credentialsInvalidAlert(culprit, { ...credentialErrorOf(cause), source: 'send' });
    const others = ctx.senders
      .list()
      .filter((s) => s.id !== culprit.id)
      .map((s) => s.id);
    if (others.length)
      alert.body += `\nAs a precaution every other sender (${others.join(', ')}) is halted too; each resumes once the health monitor confirms its own token is valid (within ~15 s).`;
    alert.detail = { ...alert.detail, reason_code: cause.reason_code, halt_all: true };
    ctx.alerts.raise(alert);
  } else {
    ctx.alerts.raise({
      kind: 'sender_halted',
      severity: 'critical',
      dedupe_key: `halt_all:${cause.reason_code}`,
      sender_id: cause.sender_id ?? null,
      title: `wagate halted all sending: ${cause.reason_code}`,
      body: cause.reason,
      detail: cause.detail ?? {},
    });
  }
  void ctx.store
    .appendAudit({
      at,
      actor: 'worker',
      action: 'sender.halt_all',
      subject: cause.sender_id ?? null,
      detail: { reason_code: cause.reason_code, reason: cause.reason },
    })
    .catch(() => {});
}

export function pauseSender(ctx: AppContext, id: string, cause: { reason: string; reason_code: string; actor: string }): SenderStatus {
  const at = ctx.now();
  const s = ctx.senders.setState(id, 'paused', { reason: cause.reason, reason_code: cause.reason_code, at });
  ctx.alerts.raise({
    kind: 'sender_paused',
    severity: 'warning',
    dedupe_key: alertKeys.paused(s.sender_id, cause.reason_code),
    sender_id: s.sender_id,
    title: `Sender ${s.sender_id} paused: ${cause.reason_code}`,
    body: `${cause.reason}\nQueued messages wait; nothing is dropped. Resume with POST /v1/senders/${s.sender_id}/resume once the cause is fixed.`,
  });
  void ctx.store.appendAudit({ at, actor: cause.actor, action: 'sender.paused', subject: s.sender_id, detail: cause }).catch(() => {});
  return s;
}

/** Marks a halted sender invalid (if not already) and raises the credentials alert. */
export function haltSender(ctx: AppContext, sender: SenderConfig, check: TokenCheck, source: 'debug_token' | 'resume'): SenderStatus {
  const cur = ctx.senders.status(sender.id);
  const { name } = explainCredentialError(check.error?.code ?? 190, check.error?.subcode ?? null);
  let next = cur;
  if (cur.state === 'paused') {
    // A deliberate pause stays a pause (no auto-resume later); it just records the bad token.
    if (cur.credentials_valid) next = ctx.senders.setState(sender.id, 'paused', { credentials_valid: false, at: ctx.now() });
  } else if (cur.state !== 'halted' || cur.credentials_valid) {
    next = ctx.senders.setState(sender.id, 'halted', {
      reason: `access token invalid (${name})`,
      reason_code: 'CREDENTIALS_INVALID',
      credentials_valid: false,
      at: ctx.now(),
    });
  }
  ctx.alerts.raise(
    credentialsInvalidAlert(sender, {
      code: check.error?.code ?? 190,
      subcode: check.error?.subcode ?? null,
      message: check.error?.message ?? null,
      source,
    }),
  );
  if (next !== cur)
    void ctx.store
      .appendAudit({
        at: ctx.now(),
        actor: 'monitor',
        action: 'sender.halted',
        subject: sender.id,
        detail: { reason_code: 'CREDENTIALS_INVALID', error: check.error },
      })
      .catch(() => {});
  return next;
}

/** Sets a sender active again and clears the alerts of the condition that stopped it (token already checked). */
export function markResumed(ctx: AppContext, sender: SenderConfig, prev: SenderStatus, actor: string): SenderStatus {
  const next = ctx.senders.setState(sender.id, 'active', { at: ctx.now(), credentials_valid: true });
  ctx.alerts.resolve(alertKeys.credentials(sender.id));
  if (prev.reason_code) ctx.alerts.resolve(alertKeys.paused(sender.id, prev.reason_code));
  if (prev.reason_code) ctx.alerts.resolve(`halt_all:${prev.reason_code}`);
  ctx.bus.emit('sender.resume', { sender_id: sender.id });
  void ctx.store
    .appendAudit({
      at: ctx.now(),
      actor,
      action: 'sender.resumed',
      subject: sender.id,
      detail: { from: prev.state, reason_code: prev.reason_code },
    })
    .catch(() => {});
  return next;
}

function unreachableError(id: string, check: TokenCheck): EngineError {
  return appError(
    'META_UNREACHABLE',
    `Could not verify the token of sender ${id} with Meta (debug_token): ${check.error?.message ?? 'no answer'}.`,
    {
      fix: 'Retry in a moment; if it persists check network access to the Graph API and meta.app_token (if set).',
      details: { sender_id: id },
    },
  );
}

/**
 * Resumes a paused or halted sender. The token is re-validated with debug_token first: still invalid
 * → the sender stays halted and the error says why and how to fix it.
 */
export async function resumeSender(ctx: AppContext, id: string, opts: { actor?: string } = {}): Promise<SenderStatus> {
  const sender = ctx.senders.resolve(id);
  const cur = ctx.senders.status(sender.id);
  if (cur.state === 'active') return cur;
  const check = await checkToken(ctx, sender);
  if (check.unreachable) throw unreachableError(sender.id, check);
  if (!check.valid) {
    haltSender(ctx, sender, check, 'resume');
    const { name, meaning } = explainCredentialError(check.error?.code ?? 190, check.error?.subcode ?? null);
    throw appError(
      'CREDENTIALS_INVALID',
      `Sender ${sender.id} stays halted: Meta says its access token is invalid (${name}): ${meaning}.`,
      { fix: tokenFixSteps(sender).replace(/\n/g, ' '), details: { sender_id: sender.id, state: 'halted', token: tokenSummary(check) } },
    );
  }
  return markResumed(ctx, ctx.senders.resolve(sender.id), ctx.senders.status(sender.id), opts.actor ?? 'api');
}

/**
 * Replaces a sender's token after Meta confirms it (valid, with both WhatsApp permissions covering the
 * sender's WABA); a halted sender then resumes. An invalid token changes nothing and says why.
 */
export async function setSenderToken(
  ctx: AppContext,
  id: string,
  token: unknown,
  opts: { actor?: string } = {},
): Promise<{ sender: SenderStatus; token: Record<string, unknown> }> {
  const sender = ctx.senders.resolve(id);
  if (typeof token !== 'string' || token.trim() === '') {
    throw appError('INVALID_REQUEST', 'access_token is required: a non-empty string.', {
      fix: 'Send {"access_token": "<System User token>"}.',
    });
  }
  const t = token.trim();
  if (/\s/.test(t) || t.length < 8) {
    throw appError('INVALID_REQUEST', 'access_token does not look like a Meta access token (it contains spaces or is too short).', {
      fix: 'Paste the whole token as generated in Business Settings → System users.',
    });
  }
  const check = await checkToken(ctx, sender, t);
  if (check.unreachable) throw unreachableError(sender.id, check);
  if (!check.valid) {
    const { name, meaning } = explainCredentialError(check.error?.code ?? 190, check.error?.subcode ?? null);
    throw appError(
      'TOKEN_INVALID',
      `The new token for sender ${sender.id} is not valid (${name}): ${meaning}. The current token and state are unchanged.`,
      { fix: tokenFixSteps(sender).replace(/\n/g, ' '), details: { sender_id: sender.id, token: tokenSummary(check) } },
    );
  }
  if (check.missing_scopes.length || check.uncovered_scopes.length) {
    const what = [
      check.missing_scopes.length ? `missing ${check.missing_scopes.join(', ')}` : '',
      check.uncovered_scopes.length ? `${check.uncovered_scopes.join(', ')} not granted for WABA ${sender.waba_id}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    throw appError(
      'TOKEN_SCOPES_MISSING',
      `The new token for sender ${sender.id} lacks WhatsApp permissions (${what}). The current token and state are unchanged.`,
      { fix: tokenFixSteps(sender).replace(/\n/g, ' '), details: { sender_id: sender.id, token: tokenSummary(check) } },
    );
  }
  ctx.senders.setToken(sender.id, t);
  const actor = opts.actor ?? 'api';
  await ctx.store
    .appendAudit({
      at: ctx.now(),
      actor,
      action: 'sender.token_replaced',
      subject: sender.id,
      detail: { type: check.type, expires_at: check.expires_at },
    })
    .catch(() => {});
  ctx.alerts.resolve(alertKeys.scopes(sender.id));
  ctx.alerts.resolve(alertKeys.expiring(sender.id));
  const cur = ctx.senders.status(sender.id);
  // Only a credentials halt is lifted by a new token; a manual or quality pause stays until resumed.
  const status = cur.state === 'halted' ? markResumed(ctx, ctx.senders.resolve(sender.id), cur, actor) : cur;
  return { sender: status, token: tokenSummary(check) };
}

// ---------------------------------------------------------------------------------------------
// Read faces

const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());

export function senderView(ctx: AppContext, s: SenderConfig): Record<string, unknown> {
  const st = ctx.senders.status(s.id);
  return {
    id: s.id,
    phone_number_id: s.phone_number_id,
    waba_id: s.waba_id,
    business_id: s.business_id,
    display_phone_number: s.display_phone_number ?? null,
    throughput_mps: s.throughput_mps,
    messaging_limit: s.messaging_limit,
    state: st.state,
    reason: st.reason,
    reason_code: st.reason_code,
    credentials_valid: st.credentials_valid,
    since: iso(st.since),
  };
}

export function listSenders(ctx: AppContext): { senders: Record<string, unknown>[] } {
  return { senders: ctx.senders.list().map((s) => senderView(ctx, s)) };
}

/** The last health record (token, quality, limit, throughput, last error/success) plus the live state. */
export async function getSenderHealth(ctx: AppContext, id: string): Promise<Record<string, unknown>> {
  const s = ctx.senders.resolve(id);
  const rec = await ctx.store.getSenderHealth(s.id);
  return {
    ...(rec?.data ?? { checked: false, note: 'no health check has run yet for this sender' }),
    ...senderView(ctx, s),
    updated_at: iso(rec?.updated_at ?? null),
  };
}

function alertView(a: AlertRecord): Record<string, unknown> {
  return {
    ...a,
    created_at: iso(a.created_at),
    last_sent_at: iso(a.last_sent_at),
    resolved_at: iso(a.resolved_at),
    open: a.resolved_at === null,
  };
}

export async function listAlerts(
  ctx: AppContext,
  opts: { limit?: number; unresolved?: boolean } = {},
): Promise<{ alerts: Record<string, unknown>[] }> {
  const limit = Math.min(Math.max(1, Math.floor(opts.limit ?? 100)), 1000);
  const rows = await ctx.store.listAlerts({ limit, unresolved: opts.unresolved });
  return { alerts: rows.map(alertView) };
}

/**
 * Config reload (SIGHUP): every sender whose token in the re-read config differs from the one in use
 * gets it through setSenderToken, so it is validated with debug_token first and a credentials halt is
 * lifted only by a valid token. Returns one line per changed sender; an invalid token changes nothing.
 */
export async function applyReloadedTokens(
  ctx: AppContext,
  reloaded: SenderConfig[],
  actor = 'config-reload',
): Promise<{ sender_id: string; ok: boolean; state: string; error?: string }[]> {
  const out: { sender_id: string; ok: boolean; state: string; error?: string }[] = [];
  for (const next of reloaded) {
    const cur = ctx.senders.find(next.id);
    if (!cur || !next.access_token || next.access_token === cur.access_token) continue;
    try {
      const r = await setSenderToken(ctx, cur.id, next.access_token, { actor });
      out.push({ sender_id: cur.id, ok: true, state: r.sender.state });
    } catch (err) {
      out.push({ sender_id: cur.id, ok: false, state: ctx.senders.status(cur.id).state, error: (err as Error).message });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rate limit, account quality

export async function getRateLimit(ctx: AppContext, input: { sender?: string } = {}): Promise<Record<string, unknown>> {
  const s = resolveSender(ctx, input.sender);
  const now = ctx.now();
  const [health, queue, used] = await Promise.all([
    ctx.store.getSenderHealth(s.id).catch(() => null),
    ctx.queue.stats(s.id).catch(() => null),
    ctx.gate.tierUsage(s.business_id, now),
  ]);
  const status = ctx.senders.status(s.id);
  return {
    sender: s.id,
    phone_number_id: s.phone_number_id,
    state: status.state,
    capacity_mps: s.throughput_mps,
    meta_throughput_level: (health?.data?.throughput_level as string | undefined) ?? null,
    pair_limit: {
      messages: 1,
      per_seconds: PAIR_INTERVAL_MS / 1000,
      burst: PAIR_BURST,
      note: "Meta's limit for one business number to one user (error 131056).",
    },
    messaging_limit: {
      unique_recipients_24h: used,
      limit: s.messaging_limit,
      remaining: s.messaging_limit === null ? null : Math.max(0, s.messaging_limit - used),
      scope: `business portfolio ${s.business_id}, rolling 24 h, business-initiated conversations outside a care window`,
    },
    queue: queue
      ? { depth: queue.depth, ready: queue.ready, in_flight: queue.in_flight, oldest_age_s: Math.round(queue.oldest_age_ms / 1000) }
      : null,
  };
}

/** Quality and limits live on the phone number at Meta (not the WABA): asked live, with the last health record. */
export async function getAccountQuality(ctx: AppContext, input: { sender?: string } = {}): Promise<Record<string, unknown>> {
  const s = resolveSender(ctx, input.sender);
  const live = await ctx.meta.getPhoneNumber({ phone_number_id: s.phone_number_id, waba_id: s.waba_id, access_token: s.access_token });
  const health = await getSenderHealth(ctx, s.id);
  const out: Record<string, unknown> = {
    sender: s.id,
    waba_id: s.waba_id,
    phone_number_id: s.phone_number_id,
    state: health.state,
    credentials_valid: health.credentials_valid,
    source: live.ok ? 'meta' : 'last_health_check',
    quality_rating: null,
    messaging_limit_tier: null,
    throughput_level: null,
  };
  if (live.ok) {
    const p = live.value;
    Object.assign(out, {
      display_phone_number: p.display_phone_number ?? null,
      verified_name: p.verified_name ?? null,
      quality_rating: p.quality_rating ?? null,
      messaging_limit_tier: p.messaging_limit_tier ?? null,
      throughput_level: p.throughput?.level ?? null,
      name_status: p.name_status ?? null,
      status: p.status ?? null,
    });
  } else {
    const x = explain(live.error.code, live.error.subcode);
    Object.assign(out, {
      quality_rating: health.quality_rating ?? null,
      messaging_limit_tier: health.messaging_limit_tier ?? null,
      throughput_level: health.throughput_level ?? null,
      meta_error: { code: live.error.code, message: live.error.message, fix: x.fix },
      checked_at: health.updated_at ?? null,
    });
  }
  return out;
}
