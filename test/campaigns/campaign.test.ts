// Campaigns end to end on a real embedded wagate and the sandbox's ledger (Meta's own count of sends).
import { afterEach, describe, expect, it } from 'vitest';
import { setConsent } from '../../src/engine/customers.ts';
import { waitFor } from '../delivery/harness.ts';
import { lostAndDuplicates, phone, sendsByRecipient, startCampaignHarness, type CampaignHarness } from './helpers.ts';

let h: CampaignHarness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const rows = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ to: `+${phone(from + i)}`, variables: [`N${from + i}`] }));

describe('a campaign', () => {
  it('reports invalid rows by index, previews the gate for everyone, sends each allowed recipient exactly once and counts it all', async () => {
    h = await startCampaignHarness({ mps: 200 });
    const optedOut = phone(3);
    await setConsent(h.app.ctx, { wa_id: optedOut, category: 'marketing', state: 'opted_out', source: 'test' });
    const list = [
      ...rows(12),
      { to: 'not a phone' },
      { to: `+${phone(20)}`, variables: ['a', 'b', 'c'] },
      { to: `+${phone(0)}`, variables: ['dup'] },
    ];
    const c = await h.campaigns.create(
      { name: 'spring', template: { name: 'spring_sale', language: 'en_US' }, audience: { recipients: list } },
      'test',
    );
    expect(c.status).toBe('draft');
    expect(c.template.category).toBe('marketing');
    expect(c.counts.total).toBe(12);
    expect(c.audience.invalid_count).toBe(3);
    expect(c.audience.invalid.map((r) => r.index)).toEqual([12, 13, 14]);
    expect(c.audience.invalid[0].reason).toMatch(/^to: /);
    expect(c.audience.invalid[1].reason).toMatch(/variables do not fit template "spring_sale"/);
    expect(c.audience.invalid[2].reason).toMatch(/duplicate/);

    const p = await h.campaigns.preview(c.id);
    expect(p).toMatchObject({ total: 12, allowed: 11, denied: { OPTED_OUT: 1 } });
    expect((p.cost as { by_country: Record<string, unknown> }).by_country.IN).toBeDefined();
    expect(await h.ledger()).toHaveLength(0); // a preview sends nothing
    expect(await h.app.ctx.gate.marketingCount(phone(0), h.app.ctx.now())).toBe(0); // ...and reserves nothing

    await h.campaigns.start(c.id, 'test');
    const done = await waitFor('completed', async () => {
      const v = await h!.campaigns.get(c.id);
      return v.status === 'completed' && v.counts.queued === 0 && v.counts.sent === 0 ? v : null;
    });
    const sends = await h.ledger();
    const allowed = rows(12)
      .map((r) => r.to.slice(1))
      .filter((x) => x !== optedOut);
    expect(lostAndDuplicates(allowed, sends)).toEqual({ lost: 0, duplicates: 0 });
    expect(sendsByRecipient(sends).get(optedOut)).toBeUndefined();
    expect(sends).toHaveLength(11);
    expect(done.counts).toMatchObject({ total: 12, pending: 0, denied: 1, denied_by_reason: { OPTED_OUT: 1 } });
    expect(done.counts.delivered + done.counts.read).toBe(11);
    const r = await h.campaigns.recipients(c.id);
    expect(r.recipients.find((x) => x.recipient === optedOut)).toMatchObject({
      state: 'denied',
      outcome: 'denied',
      reason_code: 'OPTED_OUT',
    });
    expect(r.recipients.filter((x) => x.outcome === 'delivered' || x.outcome === 'read')).toHaveLength(11);
  });

  it('a filter audience takes known customers by tag and never an opted-out one', async () => {
    h = await startCampaignHarness({ mps: 200 });
    const ctx = h.app.ctx;
    for (let i = 0; i < 6; i++) await ctx.store.upsertCustomer(phone(40 + i), { tags: i % 2 ? ['vip'] : ['other'] }, ctx.now());
    await setConsent(ctx, { wa_id: phone(41), category: 'marketing', state: 'opted_out', source: 'test' });
    const c = await h.campaigns.create(
      { name: 'vips', template: { name: 'spring_sale' }, audience: { filter: { tags: ['vip'] } }, variables: ['VIP'] },
      'test',
    );
    expect(c.audience.kind).toBe('filter');
    const r = await h.campaigns.recipients(c.id);
    expect(r.recipients.map((x) => x.recipient).sort()).toEqual([phone(43), phone(45)]);
  });

  it('the quality guard pauses a running campaign and alerts when its template is paused', async () => {
    h = await startCampaignHarness({ mps: 80 });
    const c = await h.campaigns.create(
      {
        name: 'guarded',
        template: { name: 'spring_sale', language: 'en_US' },
        audience: { recipients: rows(40, 60) },
        options: { rate_mps: 5 },
      },
      'test',
    );
    await h.campaigns.start(c.id, 'test');
    await waitFor('first sends', async () => (await h!.ledger()).length >= 1);
    await h.sandbox('POST', '/_sandbox/templates/spring_sale', { status: 'PAUSED' });
    const paused = await waitFor('paused by the guard', async () => {
      const v = await h!.campaigns.get(c.id);
      return v.status === 'paused' ? v : null;
    });
    expect(paused.status_reason).toMatch(/spring_sale.*PAUSED/);
    const alerts = await h.app.ctx.store.listAlerts({ limit: 50 });
    expect(alerts.find((a) => a.kind === 'campaign_paused' && a.detail.campaign_id === c.id)).toBeDefined();
    const atPause = (await h.ledger()).length;
    expect(atPause).toBeLessThan(40);
    // Resuming while the template is still paused is refused with the reason.
    await expect(h.campaigns.resume(c.id, 'test')).rejects.toMatchObject({ code: 'CAMPAIGN_NOT_READY' });
  });

  it('answers bad input with the field and the fix, never a 500', async () => {
    h = await startCampaignHarness({ workers: false });
    const post = (b: unknown) => h!.api('POST', '/v1/campaigns', b);
    const noName = await post({ template: { name: 'spring_sale' }, audience: { recipients: [] } });
    expect(noName.status).toBe(400);
    expect(noName.json.error).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'name' } });
    const noTpl = await post({ name: 'x', template: { name: 'nope' }, audience: { recipients: [] } });
    expect(noTpl.status).toBe(404);
    expect(noTpl.json.error.code).toBe('TEMPLATE_NOT_FOUND');
    const badAud = await post({ name: 'x', template: { name: 'spring_sale' }, audience: { recipients: 'all' } });
    expect(badAud.json.error).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'audience' } });
    const badFilter = await post({ name: 'x', template: { name: 'spring_sale' }, audience: { filter: { color: 'red' } } });
    expect(badFilter.json.error.message).toMatch(/unknown keys: color/);
    const badTime = await post({ name: 'x', template: { name: 'spring_sale' }, audience: { recipients: [] }, deliver_at: 'tomorrow' });
    expect(badTime.json.error).toMatchObject({ details: { field: 'deliver_at' } });
    const empty = await post({ name: 'x', template: { name: 'spring_sale' }, audience: { recipients: [{ to: 'x' }] } });
    expect(empty.status).toBe(201);
    const start = await h.api('POST', `/v1/campaigns/${empty.json.id}/start`);
    expect(start.status).toBe(422);
    expect(start.json.error.code).toBe('CAMPAIGN_NOT_READY');
    const badCsv = await fetch(`${h.base}/v1/campaigns?name=x&template=spring_sale`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: 'to,1\n"unterminated,x\n',
    });
    expect(badCsv.status).toBeLessThan(500);
    expect((await h.api('GET', '/v1/campaigns/cmp_nope')).status).toBe(404);
    expect((await h.api('GET', '/v1/campaigns?status=weird')).json.error).toMatchObject({
      code: 'INVALID_REQUEST',
      details: { field: 'status' },
    });
  });
});
