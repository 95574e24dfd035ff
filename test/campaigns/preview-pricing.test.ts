// A campaign's forecast prices its sends by Meta's rules on the day they go (deliver_at), not today's:
// a campaign written in September 2026 for October is priced under the 1 Oct 2026 rules.
import { afterAll, describe, expect, it } from 'vitest';
import { type CampaignHarness, startCampaignHarness } from './helpers.ts';

let h: CampaignHarness;
afterAll(async () => {
  await h?.close();
});

describe('campaign preview pricing', () => {
  it('prices a scheduled campaign at its deliver_at, under the rules in force that day', async () => {
    h = await startCampaignHarness({ mps: 80 });
    // The app's clock back to 20 Sep 2026, 12:00 UTC (before the October 2026 rules).
    h.advance(Date.UTC(2026, 8, 20, 12) - h.app.ctx.now());
    const body = (deliver_at?: string) => ({
      name: 'autumn',
      template: { name: 'spring_sale', language: 'en_US' },
      audience: { recipients: [{ to: '+447700900123', variables: ['Ana'] }] },
      ...(deliver_at ? { deliver_at } : {}),
    });
    const now = await h.api('POST', '/v1/campaigns', body());
    expect(now.status, JSON.stringify(now.json)).toBe(201);
    const later = await h.api('POST', '/v1/campaigns', body('2026-10-05T09:00:00Z'));
    expect(later.status, JSON.stringify(later.json)).toBe(201);
    const p1 = (await h.api('POST', `/v1/campaigns/${now.json.id}/preview`)).json;
    const p2 = (await h.api('POST', `/v1/campaigns/${later.json.id}/preview`)).json;
    expect(p1.cost).toMatchObject({ pricing_rules: 'pmp_2025_07', at: expect.stringMatching(/^2026-09-20T12:00/) });
    expect(p2.cost).toMatchObject({ pricing_rules: 'pmp_2026_10', at: '2026-10-05T09:00:00.000Z' });
  });
});
