// THE PROOF (issue 8): revoke the token in the sandbox while messages are flowing. The halt happens
// within a second, the Slack stand-in and the SMTP server each receive exactly one alert, nothing is
// lost, and after a new token (PUT /v1/senders/:id/token) the queue drains completely, exactly once.
// Runs the whole wagate (createApp: HTTP, workers, webhooks, health monitor, in-process sandbox), once
// embedded (SQLite, memory gate, embedded queue) and once on Redis + PostgreSQL + NATS JetStream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigSchema } from '../../src/config/schema.ts';
import { createApp, type App } from '../../src/app.ts';
import type { AlertService } from '../../src/alerts/service.ts';
import { STATUS_RANK } from '../../src/domain/types.ts';
import { createLogger } from '../../src/observability/log.ts';
import {
  approveSeedTemplates,
  countLedger,
  http as call,
  orderUpdate,
  recipient,
  waitFor,
  PHONE_NUMBER_ID,
  WABA_ID,
  type LedgerSend,
} from '../delivery/harness.ts';
import { dropNamespace } from '../production/backends.ts';
import { decodeSubject, startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from '../alerts/receivers.ts';
import { DATABASE_URL, NATS_URL, REDIS_URL, missing } from '../support/services.ts';

const N = 120;
const PROD = { redis_url: REDIS_URL, nats_url: NATS_URL, database_url: DATABASE_URL };

// The production half needs the three local services; without them it skips (test/support/services.ts).
for (const mode of ['embedded', 'production'] as const)
  describe.skipIf(mode === 'production' && missing('postgres', 'redis', 'nats'))(`never a silent outage (${mode} backends)`, () => {
    let slack: HttpReceiver;
    let smtp: SmtpReceiver;
    let dir: string;
    let app: App;
    let base: string;
    let sandboxUrl: string;
    const namespace = `proof_${randomBytes(4).toString('hex')}`;

    beforeAll(async () => {
      slack = await startHttpReceiver();
      smtp = await startSmtpReceiver();
      dir = mkdtempSync(join(tmpdir(), 'wagate-proof-'));
      const config = ConfigSchema.parse({
        port: 0,
        host: '127.0.0.1',
        data_dir: dir,
        log_level: 'silent',
        namespace,
        ...(mode === 'production' ? PROD : {}),
        sandbox: { port: 0, mode: 'always' },
        senders: [
          {
            id: 'main',
            phone_number_id: PHONE_NUMBER_ID,
            waba_id: WABA_ID,
            business_id: 'proof',
            throughput_mps: 20,
            messaging_limit: null,
          },
        ],
        delivery: { backoff_base_ms: 20, backoff_max_ms: 500, lease_ms: 5_000, in_doubt_grace_ms: 2_000 },
        alerts: {
          slack_webhook_url: `${slack.url}/slack`,
          email: { host: '127.0.0.1', port: smtp.port, from: 'wagate@example.test', to: ['oncall@example.test'] },
        },
      });
      app = await createApp({ config, env: {}, logger: createLogger(config.log_level) });
      base = await app.start();
      sandboxUrl = app.sandbox!.url;
      await approveSeedTemplates(app.ctx);
    }, 30_000);

    afterAll(async () => {
      await app?.stop();
      await slack?.close();
      await smtp?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
      if (mode === 'production') await dropNamespace(namespace);
    });

    async function ledger(): Promise<LedgerSend[]> {
      const r = await call('GET', `${sandboxUrl}/_sandbox/ledger?phone_number_id=${PHONE_NUMBER_ID}`);
      return (r.json?.sends ?? []) as LedgerSend[];
    }

    it('revoked under load: halt < 1 s, one Slack alert, one e-mail, nothing lost; new token → queue drains', async () => {
      const { ctx } = app;
      const alerts = ctx.alerts as AlertService;
      let haltedAt = 0;
      ctx.senders.on('state', (s) => {
        if (s.state === 'halted' && !haltedAt) haltedAt = Date.now();
      });

      // Load: N messages accepted (202) faster than the 20 mps tier sends them: a backlog builds.
      const ids: string[] = [];
      for (let i = 0; i < N; i += 20) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(20, N - i) }, (_, k) =>
            call('POST', `${base}/v1/messages`, orderUpdate(recipient(70_000 + i + k), i + k)),
          ),
        );
        for (const r of batch) {
          expect(r.status, JSON.stringify(r.json)).toBe(202);
          ids.push(r.json.id);
        }
      }
      await waitFor('sends flowing', async () => (await ledger()).length >= 20);

      // Revoke every token at "Meta".
      const revokedAt = Date.now();
      await call('POST', `${sandboxUrl}/_sandbox/tokens`, { state: 'revoked', subcode: 467 });
      await waitFor('sender halted', async () => ctx.senders.status('main').state === 'halted', 5_000, 5);
      expect(haltedAt - revokedAt).toBeLessThan(1_000);
      const sentBeforeHalt = countLedger(ids, await ledger());
      expect(sentBeforeHalt.lost).toBeGreaterThan(0); // the outage really interrupted the load

      // Exactly one alert on each channel, naming the sender, the code and the fix.
      await new Promise((r) => setTimeout(r, 500));
      await alerts.flush();
      expect(slack.byPath('/slack')).toHaveLength(1);
      expect(smtp.mails).toHaveLength(1);
      const text = JSON.stringify(slack.byPath('/slack')[0].json);
      expect(text).toContain('main');
      expect(text).toContain('190');
      expect(text).toContain('PUT /v1/senders/main/token');
      expect(decodeSubject(smtp.mails[0].subject)).toMatch(/Sender main halted/);

      // Nothing leaks out while halted; nothing accepted was dropped.
      const frozen = (await ledger()).length;
      await new Promise((r) => setTimeout(r, 300));
      expect((await ledger()).length).toBe(frozen);
      expect(await ctx.store.listDeadLetters({})).toEqual([]);

      // A still-revoked token does not resume; a new one does.
      const stays = await call('POST', `${base}/v1/senders/main/resume`);
      expect(stays.status).toBe(409);
      await call('POST', `${sandboxUrl}/_sandbox/tokens`, { token: 'proof-token-2', state: 'valid' });
      const put = await call('PUT', `${base}/v1/senders/main/token`, { access_token: 'proof-token-2' });
      expect(put.status, JSON.stringify(put.json)).toBe(200);
      expect(put.json.state).toBe('active');

      await waitFor(
        'queue drained',
        async () => {
          for (const id of ids) if (STATUS_RANK[(await ctx.store.getMessage(id))!.status] < STATUS_RANK.accepted) return false;
          return (await ctx.queue.stats('main')).depth === 0;
        },
        30_000,
        100,
      );
      const after = countLedger(ids, await ledger());
      expect(after.lost).toBe(0);
      expect(after.duplicates).toBe(0);
      expect(await ctx.store.listDeadLetters({})).toEqual([]);

      // The health record saw it all: valid token now, the last successful send after the drain.
      const health = await call('GET', `${base}/v1/senders/main/health`);
      expect(health.json).toMatchObject({ id: 'main', state: 'active', credentials_valid: true });
      expect(Date.parse(app.monitor.get('main')!.last_success_at!)).toBeGreaterThan(revokedAt);

      // Still exactly one alert each; the credentials alert is resolved.
      await alerts.flush();
      expect(slack.byPath('/slack')).toHaveLength(1);
      expect(smtp.mails).toHaveLength(1);
      expect((await ctx.store.getAlertByDedupeKey('credentials:main'))?.resolved_at).not.toBeNull();
    }, 60_000);
  });
