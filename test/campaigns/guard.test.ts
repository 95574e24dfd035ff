// The quality guard, each trigger on a real embedded wagate driven through the sandbox: the template's
// quality drops to RED (Meta's quality webhook), failures at Meta pass options.max_failure_rate, and
// opt-outs among the recipients reached pass options.max_opt_out_rate. Each pauses the running
// campaign with the reason, raises the campaign_paused alert, and nothing more leaves while paused.
// (The template-paused trigger is in campaign.test.ts.)
import { afterEach, describe, expect, it } from 'vitest';
import { PHONE_NUMBER_ID, waitFor } from '../delivery/harness.ts';
import { phone, sendsByRecipient, startCampaignHarness, type CampaignHarness } from './helpers.ts';

let h: CampaignHarness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const N = 40;
const rows = (from: number) => Array.from({ length: N }, (_, i) => ({ to: `+${phone(from + i)}`, variables: [`N${i}`] }));

async function start(h: CampaignHarness, from: number, options: Record<string, unknown>): Promise<string> {
  const c = await h.api('POST', '/v1/campaigns', {
    name: `guarded ${from}`,
    template: { name: 'spring_sale', language: 'en_US' },
    audience: { recipients: rows(from) },
    options: { rate_mps: 5, ...options },
  });
  expect(c.status).toBe(201);
  expect((await h.api('POST', `/v1/campaigns/${c.json.id}/start`)).status).toBe(200);
  return c.json.id as string;
}

/** Waits for the guard's pause, checks its alert, and that nothing more leaves while paused. */
async function pausedByGuard(h: CampaignHarness, id: string, reason: RegExp): Promise<any> {
  const paused = await waitFor(
    'paused by the quality guard',
    async () => {
      const r = (await h.api('GET', `/v1/campaigns/${id}`)).json;
      return r.status === 'paused' ? r : null;
    },
    20_000,
  );
  expect(paused.status_reason).toMatch(reason);
  const alerts = await h.app.ctx.store.listAlerts({ limit: 50 });
  const alert = alerts.find((a) => a.kind === 'campaign_paused' && a.detail.campaign_id === id);
  expect(alert?.detail.reason).toMatch(reason);
  const audit = await h.app.ctx.store.listAudit({ subject: id, action: 'campaign.paused' });
  expect(audit[0]?.detail).toMatchObject({ by: 'quality_guard' });
  // Held: once what was handed over before the pause is out, the ledger stays still.
  await waitFor('in-flight sends settled', async () => {
    const r = (await h.api('GET', `/v1/campaigns/${id}`)).json;
    return r.counts.queued === 0 ? r : null;
  });
  const atPause = (await h.ledger()).length;
  expect(atPause).toBeLessThan(N);
  await new Promise((r) => setTimeout(r, 700));
  expect((await h.ledger()).length).toBe(atPause);
  expect((await h.api('GET', `/v1/campaigns/${id}`)).json.status).toBe('paused');
  return paused;
}

describe('the quality guard', () => {
  it("pauses and alerts when the template's quality drops to RED", async () => {
    h = await startCampaignHarness({ mps: 80 });
    const id = await start(h, 1000, {});
    await waitFor('first sends', async () => (await h!.ledger()).length >= 2);
    await h.sandbox('POST', '/_sandbox/templates/spring_sale', { quality: 'RED' });
    await pausedByGuard(h, id, /spring_sale.*quality dropped to RED/);
  });

  it("pauses and alerts when the template's quality drops to YELLOW (the default pause_on_quality)", async () => {
    h = await startCampaignHarness({ mps: 80 });
    const id = await start(h, 1400, {});
    await waitFor('first sends', async () => (await h!.ledger()).length >= 2);
    await h.sandbox('POST', '/_sandbox/templates/spring_sale', { quality: 'YELLOW' });
    await pausedByGuard(h, id, /spring_sale.*quality dropped to YELLOW \(options.pause_on_quality: YELLOW\)/);
  });

  it('with pause_on_quality RED, a drop to YELLOW does not pause and the campaign completes', async () => {
    h = await startCampaignHarness({ mps: 80 });
    const id = await start(h, 1500, { pause_on_quality: 'RED', rate_mps: 8 }); // 5 s: the guard (every 2 s) looks at the YELLOW rating
    await waitFor('first sends', async () => (await h!.ledger()).length >= 2);
    await h.sandbox('POST', '/_sandbox/templates/spring_sale', { quality: 'YELLOW' });
    await waitFor('the YELLOW rating reached wagate', async () =>
      (await h!.app.ctx.store.listTemplates()).some((t) => t.name === 'spring_sale' && t.quality === 'YELLOW'),
    );
    const done = await waitFor(
      'completed',
      async () => {
        const r = (await h!.api('GET', `/v1/campaigns/${id}`)).json;
        return r.status === 'completed' ? r : null;
      },
      20_000,
    );
    expect(done.status_reason ?? null).toBeNull();
    expect(sendsByRecipient(await h.ledger()).size).toBe(N);
  });

  it('refuses a pause_on_quality that is not YELLOW or RED, saying which values it takes', async () => {
    h = await startCampaignHarness({ mps: 80 });
    const r = await h.api('POST', '/v1/campaigns', {
      name: 'bad option',
      template: { name: 'spring_sale', language: 'en_US' },
      audience: { recipients: rows(1600) },
      options: { pause_on_quality: 'ORANGE' },
    });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.json)).toMatch(/pause_on_quality/);
    expect(JSON.stringify(r.json)).toMatch(/YELLOW/);
  });

  it('pauses and alerts when failures at Meta pass options.max_failure_rate', async () => {
    h = await startCampaignHarness({ mps: 80 });
    // Half of the first twenty numbers are undeliverable: their sends fail (131026) after Meta took them.
    for (let i = 0; i < 20; i += 2) await h.sandbox('POST', '/_sandbox/undeliverable', { wa_id: phone(1100 + i) });
    const id = await start(h, 1100, { max_failure_rate: 0.3, guard_min_sample: 6 });
    const paused = await pausedByGuard(h, id, /quality guard: \d+ of \d+ sends failed \(\d+(\.\d)?%\), over max_failure_rate 30%/);
    expect(paused.counts.failed).toBeGreaterThan(0);
    expect(paused.counts.failed_by_code['131026']).toBe(paused.counts.failed);
  });

  it('pauses and alerts when opt-outs among the recipients reached pass options.max_opt_out_rate', async () => {
    h = await startCampaignHarness({ mps: 80 });
    const id = await start(h, 1200, { max_opt_out_rate: 0.2, guard_min_sample: 4 });
    // Every recipient reached answers STOP (as to a campaign they did not want). A STOP's time is its
    // webhook's timestamp, in whole seconds: those in the campaign's first second read as before it
    // started and are not counted, so the test does not rely on any one of them.
    const stopped = new Set<string>();
    const paused = await waitFor(
      'paused after the STOPs',
      async () => {
        for (const to of sendsByRecipient(await h!.ledger()).keys()) {
          if (stopped.has(to)) continue;
          stopped.add(to);
          await h!.sandbox('POST', '/_sandbox/inbound', {
            phone_number_id: PHONE_NUMBER_ID,
            from: to,
            type: 'text',
            text: { body: 'STOP' },
          });
        }
        const r = (await h!.api('GET', `/v1/campaigns/${id}`)).json;
        return r.status === 'paused' ? r : null;
      },
      20_000,
      200,
    );
    expect(paused.status_reason).toMatch(/quality guard: \d+ of \d+ recipients opted out during the campaign .*over max_opt_out_rate 20%/);
    await pausedByGuard(h, id, /opted out during the campaign/);
  });

  it('a campaign with a small sample or rates under the thresholds is not paused', async () => {
    h = await startCampaignHarness({ mps: 80 });
    for (let i = 0; i < 4; i += 2) await h.sandbox('POST', '/_sandbox/undeliverable', { wa_id: phone(1300 + i) });
    // 2 failures of 40 (5%) under a 30% threshold: it completes.
    const id = await start(h, 1300, { max_failure_rate: 0.3, guard_min_sample: 6, rate_mps: 40 });
    const done = await waitFor(
      'completed',
      async () => {
        const r = (await h!.api('GET', `/v1/campaigns/${id}`)).json;
        return r.status === 'completed' && r.counts.queued === 0 && r.counts.sent === 0 ? r : null;
      },
      20_000,
    );
    expect(done.counts.failed).toBe(2);
  });
});
