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

  it('with local_time prices each recipient on the day it is sent, even when the sends straddle 1 Oct 2026', async () => {
    // 30 Sep 2026, 12:00 UTC. The next 10:00 local: in São Paulo (UTC-3) 13:00 UTC on 30 Sep, under the
    // old rules; in India (UTC+5:30) 04:30 UTC on 1 Oct, under the new ones.
    h.advance(Date.UTC(2026, 8, 30, 12) - h.app.ctx.now());
    const c = await h.api('POST', '/v1/campaigns', {
      name: 'straddle',
      template: { name: 'spring_sale', language: 'en_US' },
      audience: {
        recipients: [
          { to: '+5511987654321', variables: ['Bia'] },
          { to: '+919812345678', variables: ['Dev'] },
        ],
      },
      options: { local_time: '10:00' },
    });
    expect(c.status, JSON.stringify(c.json)).toBe(201);
    const p = (await h.api('POST', `/v1/campaigns/${c.json.id}/preview`)).json;
    expect(p.allowed, JSON.stringify(p)).toBe(2);
    expect(p.local_time).toMatchObject({ first_send_at: '2026-09-30T13:00:00.000Z', last_send_at: '2026-10-01T04:30:00.000Z' });
    expect(p.cost.pricing_rules, JSON.stringify(p.cost)).toBe('pmp_2025_07,pmp_2026_10');
    expect(Object.keys(p.cost.by_country).sort()).toEqual(['BR', 'IN']);
  });
});
