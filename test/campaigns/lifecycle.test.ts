// Pause, resume, cancel, STOP during a campaign, the tier budget and quiet hours: over HTTP where
// the operator would act, on a real embedded wagate, counted on the sandbox ledger.
import { afterEach, describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { waitFor } from '../delivery/harness.ts';
import { lostAndDuplicates, phone, sendsByRecipient, startCampaignHarness, type CampaignHarness } from './helpers.ts';

let h: CampaignHarness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const rows = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ to: `+${phone(from + i)}`, variables: [`N${from + i}`] }));
const phones = (n: number, from = 0) => Array.from({ length: n }, (_, i) => phone(from + i));

async function create(h: CampaignHarness, body: Record<string, unknown>): Promise<any> {
  const r = await h.api('POST', '/v1/campaigns', { name: 'c', template: { name: 'spring_sale', language: 'en_US' }, ...body });
  expect(r.status).toBe(201);
  return r.json;
}

const settled = (h: CampaignHarness, id: string, status: string) =>
  waitFor(
    `campaign ${status}, nothing queued`,
    async () => {
      const r = await h.api('GET', `/v1/campaigns/${id}`);
      return r.json.status === status && r.json.counts.queued === 0 && r.json.counts.sent === 0 ? r.json : null;
    },
    20_000,
  );

describe('campaign lifecycle over HTTP', () => {
  it('pause stops dispatch and holds back queued messages; resume finishes with every recipient exactly once; a refused transition is 409 with the state', async () => {
    h = await startCampaignHarness({ mps: 80 });
    const c = await create(h, { audience: { recipients: rows(60) }, options: { rate_mps: 20 } });
    expect((await h.api('POST', `/v1/campaigns/${c.id}/resume`)).json.error).toMatchObject({
      code: 'CAMPAIGN_STATE_CONFLICT',
      details: { status: 'draft' },
    });
    expect((await h.api('POST', `/v1/campaigns/${c.id}/start`)).status).toBe(200);
    await waitFor('some sent', async () => (await h!.ledger()).length >= 10);
    const paused = await h.api('POST', `/v1/campaigns/${c.id}/pause`, { reason: 'checking the copy' });
    expect(paused.status).toBe(200);
    expect(paused.json).toMatchObject({ status: 'paused', status_reason: 'checking the copy' });
    const again = await h.api('POST', `/v1/campaigns/${c.id}/pause`);
    expect(again.status).toBe(409);
    expect(again.json.error.details.status).toBe('paused');
    const held = await settled(h, c.id, 'paused');
    const atPause = (await h.ledger()).length;
    expect(atPause).toBeLessThan(60);
    expect(held.counts.pending).toBe(60 - atPause);
    await new Promise((r) => setTimeout(r, 600));
    expect((await h.ledger()).length).toBe(atPause); // nothing leaves while paused

    expect((await h.api('POST', `/v1/campaigns/${c.id}/resume`)).json.status).toBe('running');
    const done = await settled(h, c.id, 'completed');
    expect(lostAndDuplicates(phones(60), await h.ledger())).toEqual({ lost: 0, duplicates: 0 });
    expect(done.counts.delivered + done.counts.read).toBe(60);
    const terminal = await h.api('POST', `/v1/campaigns/${c.id}/cancel`);
    expect(terminal.status).toBe(409);
    expect(terminal.json.error).toMatchObject({ code: 'CAMPAIGN_TERMINAL_STATE', details: { status: 'completed' } });
  });

  it('cancel withdraws what was not sent and gives back its reservations; nothing more leaves', async () => {
    h = await startCampaignHarness({ mps: 80 });
    const c = await create(h, { audience: { recipients: rows(50) }, options: { rate_mps: 20 } });
    await h.api('POST', `/v1/campaigns/${c.id}/start`);
    await waitFor('some sent', async () => (await h!.ledger()).length >= 5);
    const r = await h.api('POST', `/v1/campaigns/${c.id}/cancel`);
    expect(r.json).toMatchObject({ status: 'cancelled', from_status: 'running', terminal: true });
    const v = await settled(h, c.id, 'cancelled');
    const sent = sendsByRecipient(await h.ledger());
    expect(v.counts.cancelled).toBeGreaterThan(0);
    expect(v.counts.cancelled + v.counts.delivered + v.counts.read).toBe(50);
    await new Promise((res) => setTimeout(res, 500));
    expect(sendsByRecipient(await h.ledger()).size).toBe(sent.size);
    const recips = (await h.api('GET', `/v1/campaigns/${c.id}/recipients?state=cancelled&limit=1000`)).json.recipients as {
      recipient: string;
    }[];
    expect(recips.length).toBe(v.counts.cancelled);
    for (const x of recips) {
      expect(sent.has(x.recipient)).toBe(false);
      // The marketing slot it reserved is free again.
      expect(await h.app.ctx.gate.marketingCount(x.recipient, h.app.ctx.now())).toBe(0);
    }
  });

  it('a recipient who writes STOP during the campaign gets nothing more', async () => {
    h = await startCampaignHarness({ mps: 80 });
    const c = await create(h, { audience: { recipients: rows(30) }, options: { rate_mps: 10 } });
    await h.api('POST', `/v1/campaigns/${c.id}/start`);
    await waitFor('first sends', async () => (await h!.ledger()).length >= 2);
    const stopper = phone(29); // last in line
    await h.sandbox('POST', '/_sandbox/inbound', {
      phone_number_id: '106540352242922',
      from: stopper,
      type: 'text',
      text: { body: 'STOP' },
    });
    await waitFor('opt-out recorded', async () => (await h!.app.ctx.store.getCustomer(stopper))?.consent.marketing.state === 'opted_out');
    const v = await waitFor(
      'finished',
      async () => {
        const r = await h!.api('GET', `/v1/campaigns/${c.id}`);
        return r.json.status === 'completed' && r.json.counts.queued === 0 && r.json.counts.sent === 0 ? r.json : null;
      },
      20_000,
    );
    expect(sendsByRecipient(await h.ledger()).get(stopper)).toBeUndefined();
    expect(lostAndDuplicates(phones(29), await h.ledger())).toEqual({ lost: 0, duplicates: 0 });
    expect(v.counts.denied + v.counts.failed).toBe(1);
  });

  it('waits when the portfolio messaging limit is used up, says until when, and finishes once the 24 h window frees room', async () => {
    h = await startCampaignHarness({ mps: 80 });
    const ctx = h.app.ctx;
    await ctx.gate.setPortfolioLimit('delivery-test', 5, ctx.now());
    const c = await create(h, { audience: { recipients: rows(8) } });
    await h.api('POST', `/v1/campaigns/${c.id}/start`);
    const waiting = await waitFor('waiting for the tier budget', async () => {
      const r = await h!.api('GET', `/v1/campaigns/${c.id}`);
      return r.json.waiting_until ? r.json : null;
    });
    expect(waiting.status).toBe('running');
    expect(waiting.status_reason).toMatch(/tier budget/);
    expect(Date.parse(waiting.waiting_until) - ctx.now()).toBeGreaterThan(23 * 3_600_000);
    await waitFor('5 sent', async () => (await h!.ledger()).length === 5);
    expect(waiting.counts.denied).toBe(0); // waiting, not denied
    h.advance(24 * 3_600_000 + 60_000);
    const done = await settled(h, c.id, 'completed');
    expect(lostAndDuplicates(phones(8), await h.ledger())).toEqual({ lost: 0, duplicates: 0 });
    expect(done.counts.denied).toBe(0);
  });

  it('quiet hours defer recipients to the next allowed local time instead of dropping them', async () => {
    const nowIst = DateTime.now().setZone('Asia/Kolkata');
    const hhmm = (d: DateTime) => d.toFormat('HH:mm');
    h = await startCampaignHarness({
      mps: 80,
      policies: {
        quiet_hours: [
          {
            start: hhmm(nowIst.minus({ hours: 1 })),
            end: hhmm(nowIst.plus({ hours: 2 })),
            categories: ['marketing'],
            senders: ['*'],
            time_zone: 'Asia/Kolkata',
          },
        ],
      },
    });
    const c = await create(h, { audience: { recipients: rows(6) } });
    const p = (await h.api('POST', `/v1/campaigns/${c.id}/preview`)).json;
    expect(p.denied).toEqual({ POLICY_QUIET_HOURS: 6 });
    await h.api('POST', `/v1/campaigns/${c.id}/start`);
    const deferred = await waitFor('deferred', async () => {
      const r = await h!.api('GET', `/v1/campaigns/${c.id}/recipients`);
      return r.json.recipients.every((x: { not_before: string | null }) => x.not_before) ? r.json.recipients : null;
    });
    for (const x of deferred) {
      expect(x.state).toBe('pending');
      const wait = Date.parse(x.not_before) - h.app.ctx.now();
      expect(wait).toBeGreaterThan(90 * 60_000);
      expect(wait).toBeLessThan(2 * 3_600_000 + 60_000);
    }
    expect(await h.ledger()).toHaveLength(0);
    h.advance(2 * 3_600_000 + 60_000);
    await settled(h, c.id, 'completed');
    expect(lostAndDuplicates(phones(6), await h.ledger())).toEqual({ lost: 0, duplicates: 0 });
  });

  it('a campaign with deliver_at waits as scheduled and starts by itself when the time comes', async () => {
    h = await startCampaignHarness({ mps: 80 });
    const at = new Date(h.app.ctx.now() + 3_600_000).toISOString();
    const c = await create(h, { audience: { recipients: rows(5, 90) }, deliver_at: at });
    expect(c).toMatchObject({ status: 'scheduled', deliver_at: at });
    await new Promise((r) => setTimeout(r, 400));
    expect((await h.api('GET', `/v1/campaigns/${c.id}`)).json.status).toBe('scheduled');
    expect(await h.ledger()).toHaveLength(0);
    h.advance(3_600_000 + 1000);
    await settled(h, c.id, 'completed');
    expect(lostAndDuplicates(phones(5, 90), await h.ledger())).toEqual({ lost: 0, duplicates: 0 });
  });
});
