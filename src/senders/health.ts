// HealthMonitor: never a silent outage. Checks every sender's token (debug_token) and number (quality,
// messaging limit, throughput) on start and periodically, halts a sender whose token Meta refuses
// BEFORE a send fails, re-checks halted senders every ~15 s so a renewed token resumes them, and
// watches the operational signals (tier usage, dead letters, queue age, backends). Every finding is an
// alert through ctx.alerts (deduplicated there). It also persists sender state so a pause survives a
// restart, and a token replaced through the API survives one too.
import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { AppContext } from '../engine/context.ts';
import type { SenderConfig, SenderStatus } from '../domain/types.ts';
import type { PhoneNumberInfo } from '../meta/types.ts';
import { checkToken, haltSender, pauseSender, resumeSender, markResumed, tokenSummary, type TokenCheck } from '../engine/senders.ts';
import {
  alertKeys,
  backendAlert,
  credentialsExpiringAlert,
  deadLettersAlert,
  limitChangedAlert,
  qualityDroppedAlert,
  queueAgeAlert,
  scopesMissingAlert,
  storedTokenUnreadableAlert,
  tierLimitAlert,
} from '../alerts/messages.ts';
import { lookup } from '../domain/errors/index.ts';
import { accountLifts, accountStopsSending } from '../domain/account-events.ts';
import type { AccountUpdateNotice, MessageStatusChange, PhoneQualityNotice } from '../engine/bus.ts';
import { openSealedToken, sealToken } from './token-vault.ts';

export interface HealthMonitorOptions {
  /** Re-check of halted senders' tokens (ms). Default 15 s. */
  halted_recheck_ms?: number;
  /** Tier usage, dead letters, queue age and backend checks (ms). Default 60 s. */
  ops_check_ms?: number;
  /** Longest start() waits for the first round of Meta checks before going on in the background. */
  start_timeout_ms?: number;
  /** How often last-send facts (last success / last error) are written to the store (ms). */
  persist_every_ms?: number;
}

/** One sender's health record (store.saveSenderHealth data; GET /v1/senders/:id/health). */
export interface SenderHealth {
  sender_id: string;
  phone_number_id: string;
  waba_id: string;
  state: SenderStatus['state'];
  paused_reason: string | null;
  paused_reason_code: string | null;
  state_since: string | null;
  token: Record<string, unknown> | null;
  token_seconds_to_expiry: number | null; // -1 = never
  quality_rating: string | null;
  messaging_limit_tier: string | null;
  throughput_level: string | null;
  display_phone_number: string | null;
  verified_name: string | null;
  phone_check_error: Record<string, unknown> | null;
  last_error: Record<string, unknown> | null;
  last_success_at: string | null;
  checked_at: string | null;
  next_check_at: string | null;
  /** Set when a token set through the API could not be restored at start (what happened and how to fix it). */
  stored_token_error: string | null;
}

const QUALITY_RANK: Record<string, number> = { GREEN: 3, YELLOW: 2, RED: 1 };
const STATE_VALUE = { active: 0, paused: 1, halted: 2 } as const;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());

function isCredentialCode(code: number | null | undefined): boolean {
  if (code == null) return false;
  return lookup(code)?.action === 'halt_all' || code === 190 || (code >= 200 && code <= 299);
}

export class HealthMonitor {
  private readonly ctx: AppContext;
  private readonly opts: Required<HealthMonitorOptions>;
  private readonly health = new Map<string, SenderHealth>();
  private readonly nextCheck = new Map<string, NodeJS.Timeout>();
  private readonly inflight = new Map<string, Promise<SenderHealth>>();
  private readonly dirty = new Set<string>();
  /** sha256 of each sender's token as configured (decides whether a token set through the API still applies). */
  private readonly configTokenHash = new Map<string, string>();
  /** Per sender, why its token set through the API could not be restored at start (the health note). */
  private readonly storedTokenError = new Map<string, string>();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly loops: NodeJS.Timeout[] = [];
  private running = false;
  private opsRunning: Promise<void> | null = null;

  constructor(ctx: AppContext, opts: HealthMonitorOptions = {}) {
    this.ctx = ctx;
    this.opts = { halted_recheck_ms: 15_000, ops_check_ms: 60_000, start_timeout_ms: 10_000, persist_every_ms: 5_000, ...opts };
    for (const s of ctx.senders.list()) this.configTokenHash.set(s.id, sha256(s.access_token ?? ''));
  }

  /** Restores persisted state and tokens, subscribes to events, runs the first checks, starts timers. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const { ctx } = this;
    await this.restoreStatuses();
    await this.restoreTokens();
    for (const s of ctx.senders.list()) {
      const rec = await ctx.store.getSenderHealth(s.id).catch(() => null);
      this.health.set(s.id, {
        ...this.blank(s),
        ...this.own(rec?.data ?? {}),
        sender_id: s.id,
        stored_token_error: this.storedTokenError.get(s.id) ?? null,
      });
      this.applyStatus(ctx.senders.status(s.id));
    }
    this.on(ctx.senders, 'state', (s: SenderStatus) => this.onState(s));
    this.on(ctx.senders, 'token', (s: SenderConfig) => void this.persistToken(s));
    this.on(ctx.bus, 'message.status', (m: MessageStatusChange) => this.onMessageStatus(m));
    this.on(ctx.bus, 'meta.phone_quality', (p: PhoneQualityNotice) => this.onPhoneQuality(p));
    this.on(ctx.bus, 'meta.account_update', (p: AccountUpdateNotice) => this.onAccountUpdate(p));

    // First round before workers start: a sender with a dead token is halted before any send fails.
    const first = Promise.allSettled([this.checkAll(), this.checkOperational()]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([first, new Promise<void>((r) => (timer = setTimeout(r, this.opts.start_timeout_ms)))]);
    clearTimeout(timer);

    this.loops.push(this.every(this.opts.halted_recheck_ms, () => this.recheckHalted()));
    this.loops.push(this.every(this.opts.ops_check_ms, () => this.checkOperational()));
    this.loops.push(this.every(this.opts.persist_every_ms, () => this.persistDirty()));
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.loops) clearInterval(t);
    this.loops.length = 0;
    for (const t of this.nextCheck.values()) clearTimeout(t);
    this.nextCheck.clear();
    for (const u of this.unsubscribe) u();
    this.unsubscribe.length = 0;
    await Promise.allSettled([...this.inflight.values()]);
    if (this.opsRunning) await this.opsRunning.catch(() => {});
    await this.persistDirty();
  }

  /** Latest in-memory health of a sender (the store holds the same after each check). */
  get(id: string): SenderHealth | undefined {
    return this.health.get(this.ctx.senders.resolve(id).id);
  }

  async checkAll(): Promise<void> {
    await Promise.allSettled(this.ctx.senders.list().map((s) => this.checkSender(s.id)));
  }

  /** Halted senders only: is the token good again? (sandbox renew, token rotated at Meta, new config). */
  async recheckHalted(): Promise<void> {
    const halted = this.ctx.senders.statusesList().filter((s) => s.state === 'halted');
    await Promise.allSettled(halted.map((s) => this.checkSender(s.sender_id)));
  }

  /** Full check of one sender; concurrent calls for the same sender share one check. */
  checkSender(id: string): Promise<SenderHealth> {
    const sender = this.ctx.senders.resolve(id);
    const running = this.inflight.get(sender.id);
    if (running) return running;
    const p = this.doCheck(sender).finally(() => this.inflight.delete(sender.id));
    this.inflight.set(sender.id, p);
    return p;
  }

  private async doCheck(sender: SenderConfig, hints: { limit?: string | null } = {}): Promise<SenderHealth> {
    const { ctx } = this;
    const now = ctx.now();
    const prev = this.health.get(sender.id) ?? this.blank(sender);
    const h: SenderHealth = { ...prev };
    const token = await checkToken(ctx, sender);
    h.token = tokenSummary(token);
    h.checked_at = iso(now);

    if (token.unreachable) {
      // Meta did not answer: no verdict either way; try again at the next check.
      ctx.log.warn({ sender: sender.id, error: token.error?.message }, 'token check: Meta unreachable');
    } else if (!token.valid) {
      haltSender(ctx, sender, token, 'debug_token');
      ctx.metrics.tokenExpiry.set({ sender: sender.id }, 0);
      h.token_seconds_to_expiry = 0;
    } else {
      this.tokenFindings(sender, token, now, h);
      const phone = await this.phoneFindings(sender, prev, h, hints);
      const st = ctx.senders.status(sender.id);
      if (st.state === 'halted') {
        // Valid token: lift the halt unless Meta still refuses this number's assets.
        if (phone.credentialError) {
          ctx.log.warn({ sender: sender.id, code: phone.credentialError }, 'token valid but the number refuses it: staying halted');
        } else if (token.missing_scopes.length || token.uncovered_scopes.length) {
          // Sends would fail again (10/200): no automatic resume; the scopes alert says what to fix.
          ctx.log.warn(
            { sender: sender.id, missing: token.missing_scopes, uncovered: token.uncovered_scopes },
            'token valid but lacks WhatsApp permissions: staying halted',
          );
        } else {
          markResumed(ctx, sender, st, 'monitor');
          ctx.log.info({ sender: sender.id }, 'token valid again: sender resumed');
        }
      } else if (!st.credentials_valid) {
        ctx.senders.setState(sender.id, st.state, { at: now, credentials_valid: true });
      }
    }
    this.applyStatus(ctx.senders.status(sender.id), h);
    h.next_check_at = iso(this.schedule(sender, token, now));
    this.health.set(sender.id, h);
    await this.save(sender.id, h);
    return h;
  }

  private tokenFindings(sender: SenderConfig, token: TokenCheck, now: number, h: SenderHealth): void {
    const { ctx } = this;
    if (token.missing_scopes.length || token.uncovered_scopes.length)
      ctx.alerts.raise(scopesMissingAlert(sender, token.missing_scopes, token.uncovered_scopes));
    else ctx.alerts.resolve(alertKeys.scopes(sender.id));

    const warnMs = ctx.config.health.expiry_warning_days * 86_400_000;
    if (token.expires_at && token.expires_at > 0) {
      const left = token.expires_at * 1000 - now;
      h.token_seconds_to_expiry = Math.max(0, Math.floor(left / 1000));
      if (left < warnMs) ctx.alerts.raise(credentialsExpiringAlert(sender, token.expires_at, now));
      else ctx.alerts.resolve(alertKeys.expiring(sender.id));
    } else {
      h.token_seconds_to_expiry = token.expires_at === 0 ? -1 : null;
      ctx.alerts.resolve(alertKeys.expiring(sender.id));
    }
    if (h.token_seconds_to_expiry != null) ctx.metrics.tokenExpiry.set({ sender: sender.id }, h.token_seconds_to_expiry);
    // Data-access expiry is a user-token (Facebook Login) notion; system-user tokens report 0 or ignore it.
    const dae = token.data_access_expires_at;
    if (dae && dae > 0 && !/SYSTEM/i.test(token.type ?? '') && dae * 1000 - now < warnMs) {
      ctx.alerts.raise(credentialsExpiringAlert(sender, dae, now, 'data_access_expires_at'));
    } else ctx.alerts.resolve(alertKeys.dataAccessExpiring(sender.id));
  }

  private async phoneFindings(
    sender: SenderConfig,
    prev: SenderHealth,
    h: SenderHealth,
    hints: { limit?: string | null },
  ): Promise<{ credentialError: number | null }> {
    const { ctx } = this;
    let info: PhoneNumberInfo | null = null;
    try {
      const res = await ctx.meta.getPhoneNumber({
        phone_number_id: sender.phone_number_id,
        waba_id: sender.waba_id,
        access_token: sender.access_token,
      });
      if (res.ok) {
        info = res.value;
        h.phone_check_error = null;
      } else {
        h.phone_check_error = { code: res.error.code, subcode: res.error.subcode, message: res.error.message, at: iso(ctx.now()) };
        if (isCredentialCode(res.error.code) && res.error.source !== 'transport') return { credentialError: res.error.code };
      }
    } catch (err) {
      h.phone_check_error = { message: String((err as Error).message ?? err), at: iso(ctx.now()) };
    }
    if (info) {
      h.display_phone_number = info.display_phone_number ?? h.display_phone_number;
      h.verified_name = info.verified_name ?? h.verified_name;
      h.throughput_level = info.throughput?.level ?? h.throughput_level;
      const q = info.quality_rating ?? null;
      if (q) {
        const was = prev.quality_rating;
        if (was && QUALITY_RANK[was] && QUALITY_RANK[q] && QUALITY_RANK[q] < QUALITY_RANK[was])
          ctx.alerts.raise(qualityDroppedAlert(sender, was, q));
        // Better than (or equal to) a rating we alerted on: that condition is over.
        for (const r of Object.keys(QUALITY_RANK))
          if (QUALITY_RANK[q] && QUALITY_RANK[r] < QUALITY_RANK[q]) ctx.alerts.resolve(alertKeys.quality(sender.id, r));
        h.quality_rating = q;
      }
    }
    const limit = info?.messaging_limit_tier ?? hints.limit ?? null;
    if (limit) {
      const was = prev.messaging_limit_tier;
      if (was && was !== limit) {
        ctx.alerts.resolve(alertKeys.limit(sender.id, was));
        ctx.alerts.raise(limitChangedAlert(sender, was, limit));
      }
      h.messaging_limit_tier = limit;
    }
    return { credentialError: null };
  }

  /** Next periodic check: daily, hourly in the last week before expiry (config.health). */
  private schedule(sender: SenderConfig, token: TokenCheck, now: number): number | null {
    const old = this.nextCheck.get(sender.id);
    if (old) clearTimeout(old);
    if (!this.running) return null;
    const cfg = this.ctx.config.health;
    const nearMs = Math.max(7, cfg.expiry_warning_days) * 86_400_000;
    const near = token.expires_at != null && token.expires_at > 0 && token.expires_at * 1000 - now < nearMs;
    const ms = (near ? cfg.check_interval_near_expiry_s : cfg.check_interval_s) * 1000;
    // setTimeout caps at ~24.8 days; intervals are far below that.
    const t = setTimeout(() => void this.checkSender(sender.id).catch(() => {}), Math.min(ms, 2 ** 31 - 1));
    t.unref();
    this.nextCheck.set(sender.id, t);
    return now + ms;
  }

  /** Tier usage (80% / 100%), open dead letters, queue age and backend reachability. */
  checkOperational(): Promise<void> {
    if (this.opsRunning) return this.opsRunning;
    this.opsRunning = this.doOperational().finally(() => (this.opsRunning = null));
    return this.opsRunning;
  }

  private async doOperational(): Promise<void> {
    const { ctx } = this;
    const now = ctx.now();
    const cfg = ctx.config.alerts;
    const down = new Set<string>();

    const probes: [string, () => Promise<boolean>][] = [
      ['store', () => ctx.store.ping()],
      ['gate', () => ctx.gate.ping()],
      ['queue', () => ctx.queue.ping()],
      ['pacing', () => ctx.pacer.ping()],
    ];
    await Promise.all(
      probes.map(async ([name, fn]) => {
        const r = await probe(fn);
        if (r.ok) ctx.alerts.resolve(alertKeys.backend(name));
        else {
          down.add(name);
          ctx.alerts.raise(backendAlert(name, ctx.backends[name] ?? name, r.error));
        }
      }),
    );

    if (!down.has('gate')) {
      const byBusiness = new Map<string, SenderConfig[]>();
      for (const s of ctx.senders.list()) byBusiness.set(s.business_id, [...(byBusiness.get(s.business_id) ?? []), s]);
      for (const [business, senders] of byBusiness) {
        const limits = senders.map((s) => s.messaging_limit).filter((l): l is number => l != null);
        if (!limits.length) continue; // unlimited
        const limit = Math.min(...limits);
        const usage = await ctx.gate.tierUsage(business, now).catch(() => null);
        if (usage == null) continue;
        const ids = senders.map((s) => s.id);
        if (usage >= limit) ctx.alerts.raise(tierLimitAlert(business, ids, usage, limit));
        else ctx.alerts.resolve(alertKeys.tier100(business));
        if (usage >= 0.8 * limit && usage < limit) ctx.alerts.raise(tierLimitAlert(business, ids, usage, limit));
        else if (usage < 0.8 * limit) ctx.alerts.resolve(alertKeys.tier80(business));
      }
    }

    if (!down.has('store')) {
      const open = await ctx.store.listDeadLetters({ state: 'open', limit: cfg.dead_letters_threshold + 1 }).catch(() => null);
      if (open) {
        if (open.length > cfg.dead_letters_threshold) ctx.alerts.raise(deadLettersAlert(open.length, cfg.dead_letters_threshold));
        else ctx.alerts.resolve(alertKeys.deadLetters());
      }
    }

    if (!down.has('queue')) {
      for (const s of ctx.senders.list()) {
        const st = await ctx.queue.stats(s.id).catch(() => null);
        if (!st) continue;
        const ageS = st.oldest_age_ms / 1000;
        ctx.metrics.queueDepth.set({ sender: s.id }, st.depth);
        ctx.metrics.queueAge.set({ sender: s.id }, ageS);
        if (st.depth > 0 && ageS > cfg.queue_age_threshold_s)
          ctx.alerts.raise(queueAgeAlert(s.id, ageS, cfg.queue_age_threshold_s, ctx.senders.status(s.id).state));
        else ctx.alerts.resolve(alertKeys.queueAge(s.id));
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Events

  private onState(s: SenderStatus): void {
    this.applyStatus(s);
    void this.persistStatus(s);
  }

  private applyStatus(s: SenderStatus, target?: SenderHealth): void {
    this.ctx.metrics.senderState.set({ sender: s.sender_id }, STATE_VALUE[s.state]);
    const h = target ?? this.health.get(s.sender_id);
    if (!h) return;
    h.state = s.state;
    h.paused_reason = s.reason;
    h.paused_reason_code = s.reason_code;
    h.state_since = iso(s.since);
    if (!target) this.dirty.add(s.sender_id);
  }

  private onMessageStatus(m: MessageStatusChange): void {
    const h = m && this.health.get(m.sender_id);
    if (!h) return;
    if (m.status === 'accepted' || m.status === 'sent' || m.status === 'delivered' || m.status === 'read') {
      if (m.status === 'accepted' || !h.last_success_at) h.last_success_at = iso(m.updated_at);
    } else if (m.status === 'failed' || m.status === 'dead_lettered') {
      h.last_error = { message_id: m.id, status: m.status, at: iso(m.updated_at), error: m.last_error };
    } else return;
    this.dirty.add(m.sender_id);
  }

  private sendersFor(p: { sender_ids: string[]; waba_id: string | null; display_phone_number?: string | null }): SenderConfig[] {
    // The webhook handler already resolved the senders: trust that first.
    const known = p.sender_ids.map((id) => this.ctx.senders.find(id)).filter((s): s is SenderConfig => !!s);
    if (known.length) return known;
    const display = p.display_phone_number?.replace(/\D/g, '');
    return this.ctx.senders
      .list()
      .filter(
        (s) => (display && s.display_phone_number?.replace(/\D/g, '') === display) || (!display && p.waba_id && s.waba_id === p.waba_id),
      );
  }

  /** phone_number_quality_update: Meta changed the number's limit or throughput; re-read it. */
  private onPhoneQuality(p: PhoneQualityNotice): void {
    const limit = typeof p.current_limit === 'string' ? p.current_limit : null;
    for (const s of this.sendersFor(p)) {
      if (this.inflight.has(s.id)) continue;
      const run = this.doCheck(s, { limit }).finally(() => this.inflight.delete(s.id));
      this.inflight.set(s.id, run);
      run.catch((err) => this.ctx.log.error({ err, sender: s.id }, 'health check after quality webhook failed'));
    }
  }

  /** account_update: uninstall, removal, ban → pause the WABA's senders (a human must resume). */
  private onAccountUpdate(p: AccountUpdateNotice): void {
    const event = p.event ?? '';
    const ban = p.ban_state;
    const senders = this.sendersFor(p);
    const lifts = accountLifts(p.event, ban);
    if (lifts) {
      for (const s of senders) {
        const st = this.ctx.senders.status(s.id);
        if (st.state === 'paused' && st.reason_code === lifts) {
          void resumeSender(this.ctx, s.id, { actor: 'webhook' }).catch((err) =>
            this.ctx.log.warn({ sender: s.id, err: String(err) }, `${event}: resume failed`),
          );
        }
      }
      return;
    }
    if (!accountStopsSending(p.event, ban)) return;
    for (const s of senders) {
      const st = this.ctx.senders.status(s.id);
      if (st.state !== 'active') continue;
      pauseSender(this.ctx, s.id, {
        reason: `Meta sent account_update ${event}${ban ? ` (${String(ban)})` : ''} for WhatsApp account ${s.waba_id}: sending from ${s.id} would fail or breach Meta's rules. Check WhatsApp Manager → Account, fix the cause (reinstall the app, re-share the WABA, appeal the ban), then resume.`,
        reason_code: `ACCOUNT_${event}`,
        actor: 'webhook',
      });
    }
  }

  // ------------------------------------------------------------------------------------------
  // Persistence

  private async persistStatus(s: SenderStatus): Promise<void> {
    try {
      await this.ctx.store.saveSenderStatus(s);
    } catch (err) {
      this.ctx.log.error({ err: String(err), sender: s.sender_id }, 'could not persist sender state (a restart would forget it)');
    }
  }

  private async restoreStatuses(): Promise<void> {
    let saved: SenderStatus[] = [];
    try {
      saved = await this.ctx.store.listSenderStatuses();
    } catch (err) {
      this.ctx.log.error({ err: String(err) }, 'could not read persisted sender states');
      return;
    }
    for (const s of saved) {
      if (!this.ctx.senders.find(s.sender_id)) continue;
      this.ctx.senders.restore(s);
      // restore() emits nothing: tell the gate directly so its denials match.
      await this.ctx.gate.setSenderStatus(s).catch((err) => this.ctx.log.error({ err: String(err) }, 'gate.setSenderStatus failed'));
    }
  }

  // A token set with PUT /v1/senders/:id/token is kept in the store's settings; it applies after a
  // restart only while the configured token is the one it replaced (a new config token wins).
  private async persistToken(s: SenderConfig): Promise<void> {
    const configHash = this.configTokenHash.get(s.id) ?? '';
    if (sha256(s.access_token) === configHash) {
      await this.ctx.store.setSetting(`sender_token:${s.id}`, null).catch(() => {});
      return;
    }
    const secret = this.ctx.config.meta.app_secret;
    if (!secret) {
      this.ctx.log.warn(
        { sender: s.id },
        'no meta.app_secret to seal the replaced token with: it is not persisted (a restart uses the configured one)',
      );
      return;
    }
    try {
      await this.ctx.store.setSetting(
        `sender_token:${s.id}`,
        JSON.stringify({ sealed: sealToken(s.access_token, secret), replaces_sha256: configHash, at: this.ctx.now() }),
      );
      this.storedTokenRestored(s.id);
    } catch (err) {
      this.ctx.log.error(
        { err: String(err), sender: s.id },
        'could not persist the replaced token (a restart would use the configured one)',
      );
    }
  }

  /**
   * Puts back the tokens set through the API. Opened with meta.app_secret, else with each of
   * meta.app_secrets_previous (a rotation; then sealed again under the current secret). One that none
   * opens is never deleted: the configured token is used meanwhile, and an alert and the health record
   * say how to get it back. Only a change of the configured token (which then wins) removes it.
   */
  private async restoreTokens(): Promise<void> {
    const { app_secret: secret, app_secrets_previous: previous = [] } = this.ctx.config.meta;
    for (const s of this.ctx.senders.list()) {
      const key = `sender_token:${s.id}`;
      let raw: string | null;
      try {
        raw = await this.ctx.store.getSetting(key);
      } catch (err) {
        this.ctx.log.error(
          { err: String(err), sender: s.id },
          'could not read the token set through the API: the configured token is used until the next start',
        );
        continue;
      }
      if (!raw) continue;
      let saved: Record<string, unknown> | null = null;
      try {
        const v: unknown = JSON.parse(raw);
        if (v && typeof v === 'object') saved = v as Record<string, unknown>;
      } catch {
        saved = null;
      }
      const setAt = typeof saved?.at === 'number' ? saved.at : null;
      if (!saved || typeof saved.sealed !== 'string') {
        this.storedTokenUnreadable(s, 'malformed', setAt);
        continue;
      }
      if (saved.replaces_sha256 !== this.configTokenHash.get(s.id)) {
        // The configured token changed since: it wins (the operator replaced the one the API token replaced).
        this.ctx.log.info(
          { sender: s.id },
          'the configured access token changed since a token was set through the API: the configured one is used and the stored one is removed',
        );
        await this.ctx.store
          .setSetting(key, null)
          .catch((err) =>
            this.ctx.log.error({ err: String(err), sender: s.id }, 'could not remove the superseded token set through the API'),
          );
        this.storedTokenRestored(s.id);
        continue;
      }
      const opened = openSealedToken(saved.sealed, secret, previous);
      if (!opened) {
        this.storedTokenUnreadable(s, secret || previous.length ? 'secret_changed' : 'no_app_secret', setAt);
        continue;
      }
      this.ctx.senders.setToken(s.id, opened.token);
      this.storedTokenRestored(s.id);
      if (opened.resealed) {
        try {
          await this.ctx.store.setSetting(key, JSON.stringify({ ...saved, sealed: opened.resealed }));
          this.ctx.log.info(
            { sender: s.id },
            'the token set through the API was sealed under a previous app secret (meta.app_secrets_previous): sealed again under meta.app_secret',
          );
        } catch (err) {
          this.ctx.log.error(
            { err: String(err), sender: s.id },
            'could not seal the token set through the API again under meta.app_secret: keep the old secret in meta.app_secrets_previous',
          );
        }
      } else if (opened.opened_with === 'previous') {
        this.ctx.log.warn(
          { sender: s.id },
          'the token set through the API opened with meta.app_secrets_previous but meta.app_secret is not set: it stays sealed under the previous secret',
        );
      }
    }
  }

  private storedTokenUnreadable(s: SenderConfig, reason: 'secret_changed' | 'no_app_secret' | 'malformed', setAt: number | null): void {
    const alert = storedTokenUnreadableAlert(s, reason, setAt);
    this.storedTokenError.set(s.id, `${alert.title}. ${alert.body}`);
    this.ctx.log.error({ sender: s.id, reason }, `${alert.title}: ${alert.body}`);
    this.ctx.alerts.raise(alert);
  }

  /** The token set through the API is in use again (or superseded): the alert, also one raised before a restart, is over. */
  private storedTokenRestored(id: string): void {
    this.storedTokenError.delete(id);
    this.ctx.alerts.resolve(alertKeys.storedToken(id));
    const h = this.health.get(id);
    if (h?.stored_token_error) {
      h.stored_token_error = null;
      this.dirty.add(id);
    }
  }

  private async save(id: string, h: SenderHealth): Promise<void> {
    this.dirty.delete(id);
    try {
      // The record is shared: the webhook processor adds its own keys (webhook_phone_quality, ...). Keep them.
      const cur = await this.ctx.store.getSenderHealth(id);
      await this.ctx.store.saveSenderHealth({ sender_id: id, data: { ...(cur?.data ?? {}), ...h }, updated_at: this.ctx.now() });
    } catch (err) {
      this.ctx.log.error({ err: String(err), sender: id }, 'could not save sender health');
    }
  }

  private async persistDirty(): Promise<void> {
    for (const id of [...this.dirty]) {
      const h = this.health.get(id);
      if (h) await this.save(id, h);
    }
  }

  // ------------------------------------------------------------------------------------------

  /** Only the monitor's own fields of a stored record (never carry another writer's stale keys). */
  private own(data: Record<string, unknown>): Partial<SenderHealth> {
    const keys = new Set(Object.keys(this.blank(this.ctx.senders.list()[0] ?? ({} as SenderConfig))));
    return Object.fromEntries(Object.entries(data).filter(([k]) => keys.has(k))) as Partial<SenderHealth>;
  }

  private blank(s: SenderConfig): SenderHealth {
    return {
      sender_id: s.id,
      phone_number_id: s.phone_number_id,
      waba_id: s.waba_id,
      state: 'active',
      paused_reason: null,
      paused_reason_code: null,
      state_since: null,
      token: null,
      token_seconds_to_expiry: null,
      quality_rating: null,
      messaging_limit_tier: null,
      throughput_level: null,
      display_phone_number: s.display_phone_number ?? null,
      verified_name: null,
      phone_check_error: null,
      last_error: null,
      last_success_at: null,
      checked_at: null,
      next_check_at: null,
      stored_token_error: null,
    };
  }

  private on<A extends unknown[]>(em: EventEmitter, event: string, fn: (...a: A) => void): void {
    const safe = (...a: A) => {
      try {
        fn(...a);
      } catch (err) {
        this.ctx.log.error({ err, event }, 'health monitor event handler failed');
      }
    };
    em.on(event, safe);
    this.unsubscribe.push(() => em.off(event, safe));
  }

  private every(ms: number, fn: () => Promise<void>): NodeJS.Timeout {
    const t = setInterval(() => void fn().catch((err) => this.ctx.log.error({ err }, 'health monitor loop failed')), ms);
    t.unref();
    return t;
  }
}

/** Webhook payloads may be the whole change ({field, value}) or just its value: look in both. */
async function probe(fn: () => Promise<boolean>, timeoutMs = 2_000): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const ok = await Promise.race([
      fn(),
      new Promise<boolean>((_, rej) => (timer = setTimeout(() => rej(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
    ]);
    return ok ? { ok } : { ok, error: 'ping returned false' };
  } catch (err) {
    return { ok: false, error: String((err as Error).message ?? err) };
  } finally {
    clearTimeout(timer);
  }
}
