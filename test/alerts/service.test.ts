// AlertService against real receivers: an HTTP server standing in for Slack and a generic webhook, a
// real SMTP server, and the real SQLite store. Time is injected (no sleeping for remind intervals).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlertService } from '../../src/alerts/service.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import { createSqliteStore } from '../../src/store/sqlite.ts';
import { createPostgresStore } from '../../src/store/postgres.ts';
import pg from 'pg';
import { createLogger } from '../../src/observability/log.ts';
import { createMetrics, type Metrics } from '../../src/observability/metrics.ts';
import type { Store } from '../../src/store/port.ts';
import type { AlertInput } from '../../src/alerts/port.ts';
import { credentialsInvalidAlert, templateStatusAlert } from '../../src/alerts/messages.ts';
import { decodeSubject, startReceivers, type HttpReceiver, type SmtpReceiver, type Receivers } from './receivers.ts';
import { DATABASE_URL, missing } from '../support/services.ts';

const SECRET = 'whsec-test-123';
const PG_URL = DATABASE_URL; // WAGATE_TEST_DATABASE_URL or the local default; without it that test skips
let http: HttpReceiver;
let smtp: SmtpReceiver;
let dir: string;
let store: Store;
let metrics: Metrics;
let clock: number;
let svc: AlertService;

function alertsConfig(over: Record<string, unknown> = {}) {
  return ConfigSchema.parse({
    alerts: {
      slack_webhook_url: `${http.url}/slack`,
      webhook_url: `${http.url}/hook`,
      webhook_secret: SECRET,
      email: { host: '127.0.0.1', port: smtp.port, from: 'wagate@example.test', to: ['oncall@example.test'] },
      remind_interval_s: 3600,
      ...over,
    },
  }).alerts;
}

function make(over: Record<string, unknown> = {}) {
  return new AlertService({
    store,
    config: alertsConfig(over),
    log: createLogger(process.env.DBG ? 'debug' : 'silent'),
    metrics,
    now: () => clock,
    retry: { base_ms: 5, max_ms: 20, attempts: 4 },
  });
}

const sample = (over: Partial<AlertInput> = {}): AlertInput => ({
  kind: 'credentials_invalid',
  severity: 'critical',
  dedupe_key: 'credentials:main',
  sender_id: 'main',
  title: 'Sender main halted: access token invalid',
  body: 'Token EAAB' + 'x'.repeat(30) + ' was refused.',
  detail: { code: 190 },
  ...over,
});

async function counterValue(name: string, labels: Record<string, string>): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => (x.labels as Record<string, string>)[k] === val));
  return Number(v?.value ?? 0);
}

let rx: Receivers;
beforeAll(async () => void ({ http, smtp } = rx = await startReceivers()));
afterAll(() => rx.close());
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wagate-alerts-'));
  store = await createSqliteStore(join(dir, 'wagate.db'));
  metrics = createMetrics();
  clock = Date.UTC(2026, 0, 10, 12, 0, 0);
  http.hits.length = 0;
  http.reset();
  smtp.mails.length = 0;
  svc = make();
});
afterEach(async () => {
  await svc.close(1000);
  await store.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

describe('AlertService', () => {
  it('delivers a critical alert to Slack, the signed webhook and e-mail, and stores it', async () => {
    svc.raise(sample());
    expect(http.hits.length).toBe(0); // raise() returned before any delivery happened
    await svc.flush();

    const slack = http.byPath('/slack');
    expect(slack).toHaveLength(1);
    expect(String(slack[0].json.text)).toContain('Sender main halted');
    expect(Array.isArray(slack[0].json.blocks)).toBe(true);
    expect(slack[0].raw).not.toMatch(/EAAB[x]{20}/); // secrets scrubbed

    const hook = http.byPath('/hook');
    expect(hook).toHaveLength(1);
    const sig = String(hook[0].headers['x-wagate-signature-256']);
    const expected = 'sha256=' + createHmac('sha256', SECRET).update(hook[0].raw).digest('hex');
    expect(timingSafeEqual(Buffer.from(sig), Buffer.from(expected))).toBe(true);
    expect(hook[0].json).toMatchObject({
      kind: 'credentials_invalid',
      severity: 'critical',
      dedupe_key: 'credentials:main',
      sender_id: 'main',
      reminder: false,
    });

    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0].to).toEqual(['oncall@example.test']);
    expect(decodeSubject(smtp.mails[0].subject)).toContain('Sender main halted');

    const stored = await store.listAlerts({});
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ dedupe_key: 'credentials:main', resolved_at: null, last_sent_at: clock });
    expect(await counterValue('wagate_alerts_sent_total', { kind: 'credentials_invalid', channel: 'slack', result: 'ok' })).toBe(1);
  });

  it('deduplicates: once, then a reminder after remind_interval_s, and afresh after resolve()', async () => {
    for (let i = 0; i < 50; i++) svc.raise(sample());
    await svc.flush();
    clock += 30 * 60_000; // 30 min: inside the interval
    svc.raise(sample());
    await svc.flush();
    expect(http.byPath('/slack')).toHaveLength(1);
    expect(smtp.mails).toHaveLength(1);

    clock += 31 * 60_000; // 61 min after the first: remind
    svc.raise(sample());
    await svc.flush();
    const slack = http.byPath('/slack');
    expect(slack).toHaveLength(2);
    expect(String(slack[1].json.text)).toContain('[reminder]');
    expect(http.byPath('/hook')[1].json.reminder).toBe(true);

    svc.resolve('credentials:main');
    await svc.flush();
    expect((await store.getAlertByDedupeKey('credentials:main'))?.resolved_at).toBe(clock);
    clock += 1000;
    svc.raise(sample());
    await svc.flush();
    expect(http.byPath('/slack')).toHaveLength(3);
    expect(http.byPath('/hook')[2].json.reminder).toBe(false);
    // History kept: the resolved record and the new one.
    const all = await store.listAlerts({});
    expect(all.filter((a) => a.dedupe_key === 'credentials:main')).toHaveLength(2);
    expect(await store.listAlerts({ unresolved: true })).toHaveLength(1);
  });

  it('an open alert that gets worse (warning → critical) notifies at once, e-mail included', async () => {
    svc.raise(sample({ kind: 'credentials_expiring', severity: 'warning', dedupe_key: 'credentials_expiring:main' }));
    await svc.flush();
    expect(http.byPath('/slack')).toHaveLength(1);
    expect(smtp.mails).toHaveLength(0);
    clock += 60_000;
    svc.raise(sample({ kind: 'credentials_expiring', severity: 'warning', dedupe_key: 'credentials_expiring:main' }));
    svc.raise(sample({ kind: 'credentials_expiring', severity: 'critical', dedupe_key: 'credentials_expiring:main' }));
    await svc.flush();
    expect(http.byPath('/slack')).toHaveLength(2);
    expect(smtp.mails).toHaveLength(1);
    clock += 60_000;
    svc.raise(sample({ kind: 'credentials_expiring', severity: 'critical', dedupe_key: 'credentials_expiring:main' }));
    await svc.flush();
    expect(http.byPath('/slack')).toHaveLength(2);
  });

  it('dedupes across a restart through the store', async () => {
    svc.raise(sample());
    await svc.flush();
    await svc.close();
    svc = make(); // a new process, same store
    clock += 60_000;
    svc.raise(sample());
    await svc.flush();
    expect(http.byPath('/slack')).toHaveLength(1);
  });

  it('routes by severity: info reaches only the webhook, warning adds Slack, critical adds e-mail', async () => {
    svc.raise(sample({ severity: 'info', kind: 'limit_changed', dedupe_key: 'limit:main:TIER_2K' }));
    svc.raise(sample({ severity: 'warning', kind: 'quality_dropped', dedupe_key: 'quality:main:YELLOW' }));
    await svc.flush();
    expect(
      http
        .byPath('/hook')
        .map((h) => h.json.kind)
        .sort(),
    ).toEqual(['limit_changed', 'quality_dropped']);
    expect(http.byPath('/slack').map((h) => String(h.json.text))).toHaveLength(1);
    expect(smtp.mails).toHaveLength(0);
  });

  it('retries a failing notifier with backoff without holding back the others', async () => {
    http.failNext('/slack', 2, 503);
    svc.raise(sample());
    await svc.flush();
    expect(http.failed.filter((f) => f.path === '/slack')).toHaveLength(2);
    expect(http.byPath('/slack')).toHaveLength(1);
    expect(http.byPath('/hook')).toHaveLength(1);
    expect(smtp.mails).toHaveLength(1);
    expect(await counterValue('wagate_alerts_sent_total', { channel: 'slack', result: 'error' })).toBe(2);
    expect(await counterValue('wagate_alerts_sent_total', { channel: 'slack', result: 'ok' })).toBe(1);
  });

  it('gives up after the configured attempts and counts the loss', async () => {
    http.failNext('/slack', 10, 500);
    svc.raise(sample());
    await svc.flush();
    expect(http.failed.filter((f) => f.path === '/slack')).toHaveLength(4);
    expect(http.byPath('/slack')).toHaveLength(0);
    expect(await counterValue('wagate_alerts_sent_total', { channel: 'slack', result: 'failed' })).toBe(1);
    expect(http.byPath('/hook')).toHaveLength(1);
  });

  it.skipIf(missing('postgres'))('still notifies (and dedupes in memory) when the store is down', async () => {
    // A real PostgreSQL store whose tables vanish under it: every store call fails.
    const schema = `wg_alerts_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
    const pgStore = await createPostgresStore(PG_URL, { schema });
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      await admin.query(`drop schema ${schema} cascade`);
      await expect(pgStore.listAlerts({})).rejects.toThrow();
      const broken = new AlertService({
        store: pgStore,
        config: alertsConfig(),
        log: createLogger('silent'),
        metrics,
        now: () => clock,
        retry: { base_ms: 5, max_ms: 20, attempts: 4 },
      });
      broken.raise(sample({ kind: 'backend_unreachable', dedupe_key: 'backend:store' }));
      await broken.flush();
      broken.raise(sample({ kind: 'backend_unreachable', dedupe_key: 'backend:store' }));
      await broken.flush();
      await broken.close();
      expect(http.byPath('/slack')).toHaveLength(1);
      expect(smtp.mails).toHaveLength(1);
    } finally {
      await pgStore.close().catch(() => {});
      await admin.query(`drop schema if exists ${schema} cascade`).catch(() => {});
      await admin.end();
    }
  });

  it('never throws from raise(), even for malformed input', () => {
    expect(() => svc.raise(undefined as unknown as AlertInput)).not.toThrow();
    expect(() => svc.raise({ ...sample(), dedupe_key: '' })).not.toThrow();
    expect(() => svc.resolve('')).not.toThrow();
  });

  it('stores and logs only when no notifier is configured', async () => {
    await svc.close();
    svc = new AlertService({ store, config: ConfigSchema.parse({}).alerts, log: createLogger('silent'), metrics, now: () => clock });
    expect(svc.channels()).toEqual([]);
    svc.raise(sample());
    await svc.flush();
    expect(http.hits).toHaveLength(0);
    expect(await store.listAlerts({})).toHaveLength(1);
  });
});

describe('alert wording', () => {
  it('the 190 alert names the sender, the subcode, its meaning and the fix steps', () => {
    const a = credentialsInvalidAlert(
      { id: 'main', phone_number_id: '106540352242922', waba_id: '102290129340398' },
      { code: 190, subcode: 460, source: 'send' },
    );
    expect(a.dedupe_key).toBe('credentials:main');
    expect(a.title).toContain('main');
    expect(a.title).toContain('190/460');
    expect(a.body).toMatch(/Password Changed/);
    expect(a.body).toMatch(/password/i);
    expect(a.body).toContain('whatsapp_business_messaging');
    expect(a.body).toContain('PUT /v1/senders/main/token');
    const plain = credentialsInvalidAlert({ id: 'b', phone_number_id: '1', waba_id: '2' }, { code: 190, source: 'debug_token' });
    expect(plain.body).toMatch(/expired|revoked/);
  });

  it('template alerts distinguish paused from disabled', () => {
    expect(templateStatusAlert({ waba_id: '1', name: 'promo', language: 'en_US', status: 'PAUSED' })).toMatchObject({
      kind: 'template_paused',
      severity: 'warning',
    });
    expect(templateStatusAlert({ waba_id: '1', name: 'promo', language: 'en_US', status: 'DISABLED' })).toMatchObject({
      kind: 'template_disabled',
      severity: 'critical',
    });
  });
});
