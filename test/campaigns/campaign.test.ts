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
});
