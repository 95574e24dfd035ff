// HealthMonitor and the sender engine functions against the real Meta sandbox (tokens valid, expiring,
// revoked, renewed; number quality and limit), the real SQLite store, and real alert receivers.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HealthMonitor } from '../../src/senders/health.ts';
import { EngineError } from '../../src/engine/context.ts';
import {
  haltAll,
  pauseSender,
  resumeSender,
  scopeCoverage,
  setSenderToken,
  getSenderHealth,
  listSenders,
  listAlerts,
  applyReloadedTokens,
} from '../../src/engine/senders.ts';
import { startReceivers, decodeSubject, type HttpReceiver, type SmtpReceiver, type Receivers } from '../alerts/receivers.ts';
import { makeHarness, SENDER, type Harness } from './harness.ts';

let http: HttpReceiver;
let smtp: SmtpReceiver;
let h: Harness;
let monitor: HealthMonitor;

const QUIET = { halted_recheck_ms: 3_600_000, ops_check_ms: 3_600_000, persist_every_ms: 3_600_000 };
const slackKinds = () => http.byPath('/slack').map((x) => String(x.json.text));
const hookKinds = () => http.byPath('/hook').map((x) => String(x.json.kind));

async function gaugeValue(name: string, sender: string, of: Harness = h): Promise<number | undefined> {
  const m = (await of.ctx.metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => (x.labels as Record<string, string>).sender === sender);
  return v === undefined ? undefined : Number(v.value);
}

let rx: Receivers;
beforeAll(async () => void ({ http, smtp } = rx = await startReceivers()));
afterAll(() => rx.close());
beforeEach(async () => {
  rx.reset();
  h = await makeHarness({ http, smtp });
  monitor = new HealthMonitor(h.ctx, QUIET);
});
afterEach(async () => {
  await monitor.stop();
  await h.close();
});

describe('HealthMonitor against the sandbox', () => {
  it('records a full health record for a healthy sender and raises nothing', async () => {
    await monitor.start();
    await h.alerts.flush();
    const rec = await h.store.getSenderHealth('main');
    expect(rec?.data).toMatchObject({
      sender_id: 'main',
      state: 'active',
      token_seconds_to_expiry: -1,
      quality_rating: 'GREEN',
      token: { valid: true, type: 'SYSTEM_USER', expires_at: 'never', missing_scopes: [], uncovered_scopes: [] },
    });
    expect(typeof rec?.data.messaging_limit_tier).toBe('string');
    expect(typeof rec?.data.throughput_level).toBe('string');
    expect(rec?.data.next_check_at).toBe(new Date(h.clock.now + 86_400_000).toISOString()); // daily
    expect(http.hits).toHaveLength(0);
    expect(await gaugeValue('wagate_token_seconds_to_expiry', 'main')).toBe(-1);
    expect(await gaugeValue('wagate_sender_state', 'main')).toBe(0);
  });

  it('warns about a token expiring within expiry_warning_days and checks hourly from then on', async () => {
    const exp = Math.floor(h.clock.now / 1000) + 3 * 86_400;
    await h.control('/tokens', { token: SENDER.access_token, state: 'expiring', expires_at: exp });
    await monitor.start();
    await h.alerts.flush();
    expect(hookKinds()).toEqual(['credentials_expiring']);
    expect(slackKinds()[0]).toMatch(/expires in 3\.0 days/);
    const health = monitor.get('main')!;
    expect(health.state).toBe('active'); // expiring is a warning, not a halt
    expect(health.next_check_at).toBe(new Date(h.clock.now + 3_600_000).toISOString());
    const left = await gaugeValue('wagate_token_seconds_to_expiry', 'main');
    expect(left).toBeGreaterThan(3 * 86_400 - 5);
    expect(left).toBeLessThanOrEqual(3 * 86_400);
    // A new check inside the remind interval (1 h) does not alert again (deduplicated).
    h.clock.now += 1_800_000;
    await monitor.checkSender('main');
    await h.alerts.flush();
    expect(hookKinds()).toEqual(['credentials_expiring']);
  });

  it('halts a sender whose token was revoked, alerts once with the subcode, and resumes when renewed', async () => {
    await monitor.start();
    await h.control('/tokens', { token: SENDER.access_token, state: 'revoked', subcode: 460 });
    await monitor.checkSender('main');
    expect(h.ctx.senders.status('main')).toMatchObject({ state: 'halted', reason_code: 'CREDENTIALS_INVALID', credentials_valid: false });
    // Still revoked at the 15 s re-check: stays halted, no second alert.
    await monitor.recheckHalted();
    await h.alerts.flush();
    expect(h.ctx.senders.status('main').state).toBe('halted');
    expect(http.byPath('/slack')).toHaveLength(1);
    expect(smtp.mails).toHaveLength(1);
    const body = String(http.byPath('/hook')[0].json.body);
    expect(body).toMatch(/Password Changed/);
    expect(body).toMatch(/main/);
    expect(body).toMatch(/PUT \/v1\/senders\/main\/token/);
    expect(decodeSubject(smtp.mails[0].subject)).toMatch(/190\/460/);
    expect(await gaugeValue('wagate_sender_state', 'main')).toBe(2);

    await h.control('/tokens', { token: SENDER.access_token, state: 'valid' });
    await monitor.recheckHalted();
    await h.alerts.flush();
    expect(h.ctx.senders.status('main')).toMatchObject({ state: 'active', credentials_valid: true });
    expect((await h.store.getAlertByDedupeKey('credentials:main'))?.resolved_at).not.toBeNull();
    expect(await gaugeValue('wagate_sender_state', 'main')).toBe(0);
  });

  it('the 190 halt from a worker and the monitor finding share ONE alert', async () => {
    await monitor.start();
    await h.control('/tokens', { token: SENDER.access_token, state: 'revoked' });
    haltAll(h.ctx, {
      reason: 'send failed with 190',
      reason_code: 'META_190',
      sender_id: 'main',
      detail: { code: 190, subcode: null, message: 'Invalid OAuth access token' },
    });
    await monitor.recheckHalted();
    await h.alerts.flush();
    expect(http.byPath('/slack')).toHaveLength(1);
    expect(smtp.mails).toHaveLength(1);
    expect(hookKinds()).toEqual(['credentials_invalid']);
  });

  it('after a halt-all, a sender whose own token is valid resumes at the re-check; the culprit stays halted', async () => {
    await monitor.stop();
    await h.close();
    const other = {
      ...SENDER,
      id: 'second',
      phone_number_id: '106540352242923',
      display_phone_number: '+1 555 010 0002',
      access_token: 'sandbox-token-second',
    };
    h = await makeHarness({ http, smtp, senders: [SENDER, other] });
    monitor = new HealthMonitor(h.ctx, QUIET);
    await monitor.start();
    await h.control('/tokens', { token: SENDER.access_token, state: 'revoked' });
    haltAll(h.ctx, { reason: 'send failed with 190', reason_code: 'META_190', sender_id: 'main', detail: { code: 190 } });
    expect(h.ctx.senders.statusesList().map((s) => s.state)).toEqual(['halted', 'halted']);
    await monitor.recheckHalted();
    expect(h.ctx.senders.status('main').state).toBe('halted');
    expect(h.ctx.senders.status('second').state).toBe('active');
    await h.alerts.flush();
    expect(String(http.byPath('/hook')[0].json.body)).toMatch(/every other sender \(second\) is halted too/);
  });

  it('alerts on a quality drop and a messaging-limit change (also when a webhook says so)', async () => {
    await monitor.start();
    await h.control(`/numbers/${SENDER.phone_number_id}`, { quality_rating: 'YELLOW' });
    await monitor.checkSender('main');
    await h.alerts.flush();
    expect(hookKinds()).toEqual(['quality_dropped']);
    const before = monitor.get('main')!.messaging_limit_tier;
    await h.control(`/numbers/${SENDER.phone_number_id}`, { messaging_limit: 10_000 });
    // The webhook processor re-emits phone_number_quality_update on the bus: the monitor re-reads the number.
    h.ctx.bus.emit('meta.phone_quality', {
      waba_id: SENDER.waba_id,
      sender_id: null,
      sender_ids: [],
      display_phone_number: '15550100001',
      event: 'UPGRADE',
      current_limit: 'TIER_10K',
      old_limit: null,
      max_daily_conversations_per_business: null,
      at: Date.now(),
    });
    await new Promise((r) => setTimeout(r, 200));
    await monitor.checkSender('main');
    await h.alerts.flush();
    expect(hookKinds()).toEqual(['quality_dropped', 'limit_changed']);
    expect(String(http.byPath('/hook')[1].json.title)).toContain(`${before} → TIER_10K`);
    // Quality back to GREEN: the YELLOW alert is resolved.
    await h.control(`/numbers/${SENDER.phone_number_id}`, { quality_rating: 'GREEN' });
    await monitor.checkSender('main');
    await h.alerts.flush();
    expect((await h.store.getAlertByDedupeKey('quality:main:YELLOW'))?.resolved_at).not.toBeNull();
  });

  it('pauses the senders of a WABA on account_update PARTNER_APP_UNINSTALLED', async () => {
    await monitor.start();
    // What the webhook handler emits: the senders resolved, Meta's fields read.
    const notice = (event: string) => ({
      waba_id: SENDER.waba_id,
      sender_ids: ['main'],
      event,
      ban_state: null,
      stop_sending: event === 'PARTNER_APP_UNINSTALLED',
      ban_info: null,
      violation_info: null,
      at: Date.now(),
    });
    h.ctx.bus.emit('meta.account_update', notice('PARTNER_APP_UNINSTALLED'));
    expect(h.ctx.senders.status('main')).toMatchObject({ state: 'paused', reason_code: 'ACCOUNT_PARTNER_APP_UNINSTALLED' });
    // An informational event changes nothing.
    await resumeSender(h.ctx, 'main');
    h.ctx.bus.emit('meta.account_update', notice('VOLUME_BASED_PRICING_TIER_UPDATE'));
    expect(h.ctx.senders.status('main').state).toBe('active');
  });

  it('ACCOUNT_OFFBOARDED pauses the number; ACCOUNT_RECONNECTED lifts that pause only', async () => {
    await monitor.start();
    const notice = (event: string, stop_sending: boolean) => ({
      waba_id: SENDER.waba_id,
      sender_ids: ['main'],
      event,
      ban_state: null,
      stop_sending,
      ban_info: null,
      violation_info: null,
      at: Date.now(),
    });
    h.ctx.bus.emit('meta.account_update', notice('ACCOUNT_OFFBOARDED', true));
    expect(h.ctx.senders.status('main')).toMatchObject({ state: 'paused', reason_code: 'ACCOUNT_ACCOUNT_OFFBOARDED' });
    h.ctx.bus.emit('meta.account_update', notice('ACCOUNT_RECONNECTED', false));
    await expect.poll(() => h.ctx.senders.status('main').state).toBe('active');
    // A pause for another cause is not lifted by a reconnection.
    h.ctx.bus.emit('meta.account_update', notice('PARTNER_REMOVED', true));
    h.ctx.bus.emit('meta.account_update', notice('ACCOUNT_RECONNECTED', false));
    await new Promise((r) => setTimeout(r, 50));
    expect(h.ctx.senders.status('main')).toMatchObject({ state: 'paused', reason_code: 'ACCOUNT_PARTNER_REMOVED' });
  });

  it('keeps the keys other writers (the webhook processor) put in the shared health record', async () => {
    await h.store.saveSenderHealth({ sender_id: 'main', data: { webhook_phone_quality: { event: 'ONBOARDING' } }, updated_at: 1 });
    await monitor.start();
    await h.store.saveSenderHealth({
      sender_id: 'main',
      data: { ...(await h.store.getSenderHealth('main'))!.data, webhook_phone_quality: { event: 'THROUGHPUT_UPGRADE' } },
      updated_at: 2,
    });
    await monitor.checkSender('main');
    const rec = await h.store.getSenderHealth('main');
    expect(rec?.data.webhook_phone_quality).toEqual({ event: 'THROUGHPUT_UPGRADE' });
    expect(rec?.data.token).toMatchObject({ valid: true });
  });

  it('keeps a pause and a replaced token across a restart', async () => {
    await monitor.start();
    await h.control('/tokens', { token: 'sandbox-token-new', state: 'valid' });
    await setSenderToken(h.ctx, 'main', 'sandbox-token-new');
    pauseSender(h.ctx, 'main', { reason: 'maintenance', reason_code: 'MANUAL', actor: 'test' });
    await new Promise((r) => setTimeout(r, 50));
    await monitor.stop();

    const h2 = await h.restart();
    const m2 = new HealthMonitor(h2.ctx, QUIET);
    try {
      expect(h2.ctx.senders.status('main').state).toBe('active'); // fresh registry
      expect(h2.ctx.senders.resolve('main').access_token).toBe(SENDER.access_token);
      await m2.start();
      expect(h2.ctx.senders.status('main')).toMatchObject({ state: 'paused', reason: 'maintenance', reason_code: 'MANUAL' });
      expect(h2.ctx.senders.resolve('main').access_token).toBe('sandbox-token-new');
      expect(await gaugeValue('wagate_sender_state', 'main', h2)).toBe(1);
      // At rest the token is sealed (AES-GCM under the app secret), never in clear.
      const stored = await h2.store.getSetting('sender_token:main');
      expect(stored).toBeTruthy();
      expect(stored).not.toContain('sandbox-token-new');
    } finally {
      await m2.stop();
      h = h2; // afterEach closes the newest harness (and the shared store and sandbox)
    }
  });
});

describe('engine: resume and token replacement re-validate with debug_token', () => {
  beforeEach(async () => {
    await monitor.start();
    await h.control('/tokens', { token: SENDER.access_token, state: 'revoked', subcode: 463 });
    await monitor.checkSender('main');
  });

  it('resume with a still-invalid token keeps the halt and says why', async () => {
    const err = await resumeSender(h.ctx, 'main').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({ code: 'CREDENTIALS_INVALID', status: 409 });
    expect((err as EngineError).message).toMatch(/stays halted/);
    expect((err as EngineError).message).toMatch(/Expired/);
    expect((err as EngineError).fix).toMatch(/whatsapp_business_messaging/);
    expect(h.ctx.senders.status('main').state).toBe('halted');
  });

  it('an unknown new token is refused and changes nothing; a valid one resumes the sender', async () => {
    const bad = await setSenderToken(h.ctx, 'main', 'not-a-known-token').catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'TOKEN_INVALID', status: 422 });
    expect(h.ctx.senders.resolve('main').access_token).toBe(SENDER.access_token);
    expect(h.ctx.senders.status('main').state).toBe('halted');

    const short = await setSenderToken(h.ctx, 'main', 'a b').catch((e: unknown) => e);
    expect(short).toMatchObject({ code: 'INVALID_REQUEST', status: 400 });

    await h.control('/tokens', { token: 'sandbox-token-rotated', state: 'valid' });
    const ok = await setSenderToken(h.ctx, 'main', 'sandbox-token-rotated');
    expect(ok.sender.state).toBe('active');
    expect(ok.token).toMatchObject({ valid: true, expires_at: 'never' });
    expect(JSON.stringify(ok)).not.toContain('sandbox-token-rotated');
    expect(h.ctx.senders.resolve('main').access_token).toBe('sandbox-token-rotated');
    const audit = await h.store.listAudit({ action: 'sender.token_replaced' });
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toContain('sandbox-token-rotated');
  });

  it('a config reload with a new token validates it first: invalid changes nothing, valid resumes', async () => {
    const bad = await applyReloadedTokens(h.ctx, [{ ...SENDER, access_token: 'not-a-known-token' }]);
    expect(bad).toMatchObject([{ sender_id: 'main', ok: false, state: 'halted' }]);
    expect(bad[0].error).toMatch(/not valid/);
    expect(h.ctx.senders.resolve('main').access_token).toBe(SENDER.access_token);
    expect(await applyReloadedTokens(h.ctx, [{ ...SENDER }])).toEqual([]); // unchanged token: nothing to do
    await h.control('/tokens', { token: 'sandbox-token-reloaded', state: 'valid' });
    const ok = await applyReloadedTokens(h.ctx, [{ ...SENDER, access_token: 'sandbox-token-reloaded' }]);
    expect(ok).toEqual([{ sender_id: 'main', ok: true, state: 'active' }]);
    expect(h.ctx.senders.resolve('main').access_token).toBe('sandbox-token-reloaded');
  });

  it('lists senders and alerts, and shows the health record with the live state', async () => {
    await h.alerts.flush();
    expect(listSenders(h.ctx).senders[0]).toMatchObject({ id: 'main', phone_number_id: SENDER.phone_number_id, state: 'halted' });
    expect(JSON.stringify(listSenders(h.ctx))).not.toContain(SENDER.access_token);
    const health = await getSenderHealth(h.ctx, 'main');
    expect(health).toMatchObject({ id: 'main', state: 'halted', token: { valid: false, error: { code: 190, subcode: 463 } } });
    const { alerts } = await listAlerts(h.ctx, { unresolved: true });
    expect(alerts.map((a) => a.kind)).toEqual(['credentials_invalid']);
    expect(alerts[0].open).toBe(true);
  });
});

describe('scopes', () => {
  it('scopeCoverage: missing permissions, and permissions granted for another WABA', () => {
    const s = { waba_id: 'W1', phone_number_id: 'P1' };
    expect(scopeCoverage({ scopes: ['whatsapp_business_management'], granular_scopes: [] }, s)).toEqual({
      missing: ['whatsapp_business_messaging'],
      uncovered: [],
    });
    expect(
      scopeCoverage(
        {
          scopes: ['whatsapp_business_management', 'whatsapp_business_messaging'],
          granular_scopes: [
            { scope: 'whatsapp_business_messaging', target_ids: ['W2'] },
            { scope: 'whatsapp_business_management', target_ids: ['W1'] },
          ],
        },
        s,
      ),
    ).toEqual({ missing: [], uncovered: ['whatsapp_business_messaging'] });
    // No target_ids: granted for all assets (admin system user).
    expect(
      scopeCoverage(
        {
          scopes: ['whatsapp_business_management', 'whatsapp_business_messaging'],
          granular_scopes: [{ scope: 'whatsapp_business_messaging' }],
        },
        s,
      ),
    ).toEqual({ missing: [], uncovered: [] });
  });

  it('alerts when the token lacks a WhatsApp permission (Graph stand-in on 127.0.0.1)', async () => {
    // A real HTTP server answering debug_token with a token that lacks whatsapp_business_messaging.
    const graph: Server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url?.includes('/debug_token')) {
        res.end(
          JSON.stringify({
            data: {
              is_valid: true,
              type: 'SYSTEM_USER',
              expires_at: 0,
              scopes: ['whatsapp_business_management'],
              granular_scopes: [{ scope: 'whatsapp_business_management', target_ids: [SENDER.waba_id] }],
            },
          }),
        );
      } else res.end(JSON.stringify({ id: SENDER.phone_number_id, quality_rating: 'GREEN', throughput: { level: 'STANDARD' } }));
    });
    await new Promise<void>((r) => graph.listen(0, '127.0.0.1', r));
    const h2 = await makeHarness({ http, smtp, apiUrl: `http://127.0.0.1:${(graph.address() as AddressInfo).port}` });
    const m2 = new HealthMonitor(h2.ctx, QUIET);
    try {
      http.reset();
      await m2.start();
      await h2.alerts.flush();
      expect(hookKinds()).toEqual(['scopes_missing']);
      expect(String(http.byPath('/hook')[0].json.body)).toContain('whatsapp_business_messaging');
      expect(h2.ctx.senders.status('main').state).toBe('active');
      // Halted (a send failed): a valid token without the permission does not resume it automatically.
      haltAll(h2.ctx, { reason: 'send failed with 200', reason_code: 'META_200', sender_id: 'main', detail: { code: 200 } });
      await m2.recheckHalted();
      expect(h2.ctx.senders.status('main').state).toBe('halted');
      // And a token without the permission is refused by PUT token.
      const err = await setSenderToken(h2.ctx, 'main', 'EAAnewtokenwithoutscopes').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'TOKEN_SCOPES_MISSING', status: 422 });
    } finally {
      await m2.stop();
      await h2.close();
      await new Promise<void>((r) => graph.close(() => r()));
    }
  });
});

describe('operational checks', () => {
  it('tier usage at 80% and 100%, open dead letters over the threshold, queue age, unreachable backends', async () => {
    await monitor.stop();
    await h.close();
    http.reset();
    smtp.mails.length = 0;
    h = await makeHarness({
      http,
      smtp,
      senders: [{ ...SENDER, messaging_limit: 10 }],
      config: {
        alerts: {
          dead_letters_threshold: 2,
          queue_age_threshold_s: 1,
          min_severity: { slack: 'critical', webhook: 'info', email: 'critical' },
        },
      },
    });
    monitor = new HealthMonitor(h.ctx, QUIET);
    const t = Date.now();
    const reservation = (i: number) => ({
      message_id: `m${i}`,
      sender_id: 'main',
      to: `4477009${String(i).padStart(5, '0')}`,
      category: 'marketing' as const,
      marketing_slot: false,
      tier_slot: true,
      at: t - 1000,
    });
    const seed = (n: number) => ({
      customers: [],
      windows: [],
      templates: [],
      senders: [],
      reservations: Array.from({ length: n }, (_, i) => reservation(i)),
    });

    await h.ctx.gate.load(seed(7));
    await monitor.checkOperational();
    await h.alerts.flush();
    expect(hookKinds()).toEqual([]);

    await h.ctx.gate.load(seed(8));
    await monitor.checkOperational();
    await h.alerts.flush();
    expect(hookKinds()).toEqual(['tier_limit_80']);

    await h.ctx.gate.load(seed(10));
    for (let i = 0; i < 3; i++) {
      await h.store.addDeadLetter({
        id: `dl_${i}`,
        message_id: `m${i}`,
        sender_id: 'main',
        reason_code: 'META_131026',
        explanation: 'undeliverable',
        fix: null,
        meta_error: null,
        attempts: 1,
        created_at: t,
        state: 'open',
      });
    }
    await h.ctx.queue.enqueue({ id: 'old-1', sender_id: 'main', attempts: 0, enqueued_at: t - 5_000 });
    await monitor.checkOperational();
    await h.alerts.flush();
    expect(hookKinds().sort()).toEqual(['dead_letters_growing', 'queue_age', 'tier_limit_100', 'tier_limit_80']);
    expect(http.byPath('/slack').map((x) => String(x.json.text))).toEqual([expect.stringContaining('Messaging limit reached')]);

    // Back under every bound: all resolved.
    await h.ctx.gate.load(seed(1));
    for (let i = 0; i < 3; i++) await h.store.setDeadLetterState(`dl_${i}`, 'discarded');
    const [lease] = await h.ctx.queue.pull('main', 1, { lease_ms: 1000 });
    await h.ctx.queue.ack(lease);
    await monitor.checkOperational();
    await h.alerts.flush();
    expect(await h.store.listAlerts({ unresolved: true })).toEqual([]);

    // A backend that stops answering.
    await h.ctx.queue.close();
    await monitor.checkOperational();
    await h.alerts.flush();
    const open = await h.store.listAlerts({ unresolved: true });
    expect(open.map((a) => a.dedupe_key)).toEqual(['backend:queue']);
    expect(open[0].body).toContain('embedded');
  });
});
