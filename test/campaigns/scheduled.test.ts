// Scheduled messages: the gate at schedule time and when due, the recipient fixed at schedule time,
// and each due message handed to the queue exactly once across a restart and a claimer that died.
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { setConsent } from '../../src/engine/customers.ts';
import { createSqliteStore } from '../../src/store/sqlite.ts';
import { campaignStoreFor } from '../../src/store/campaign-store.ts';
import { orderUpdate, waitFor } from '../delivery/harness.ts';
import { lostAndDuplicates, phone, sendsByRecipient, startCampaignHarness, type CampaignHarness } from './helpers.ts';

let h: CampaignHarness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const soon = (ms: number) => new Date(Date.now() + ms).toISOString();

describe('scheduled messages', () => {
  it('refuses an opted-out customer at once, a past time and bad input with the field; cancels one not yet due', async () => {
    h = await startCampaignHarness();
    await setConsent(h.app.ctx, { wa_id: phone(1), category: 'utility', state: 'opted_out', source: 'test' });
    const refused = await h.api('POST', '/v1/scheduled-messages', { ...orderUpdate(phone(1)), deliver_at: soon(60_000) });
    expect(refused.status).toBe(422);
    expect(refused.json.error).toMatchObject({ code: 'SCHEDULE_REFUSED', details: { decision: { reason_code: 'OPTED_OUT' } } });
    const past = await h.api('POST', '/v1/scheduled-messages', { ...orderUpdate(phone(2)), deliver_at: '2020-01-01T00:00:00Z' });
    expect(past.status).toBe(400);
    expect(past.json.error.details.field).toBe('deliver_at');
    const noTime = await h.api('POST', '/v1/scheduled-messages', orderUpdate(phone(2)));
    expect(noTime.json.error).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'deliver_at' } });
    const ok = await h.api('POST', '/v1/scheduled-messages', { ...orderUpdate(phone(2)), deliver_at: soon(3_600_000) });
    expect(ok.status).toBe(201);
    expect(ok.json).toMatchObject({ status: 'scheduled', recipient: phone(2) });
    const del = await h.api('DELETE', `/v1/scheduled-messages/${ok.json.id}`);
    expect(del.json.status).toBe('cancelled');
    expect((await h.api('DELETE', `/v1/scheduled-messages/${ok.json.id}`)).json.error.code).toBe('SCHEDULED_MESSAGE_CLOSED');
    expect((await h.api('GET', '/v1/scheduled-messages/sch_nope')).json.error.code).toBe('SCHEDULED_MESSAGE_NOT_FOUND');
  });

  it('runs the gate again when due: a customer who opted out meanwhile gets nothing', async () => {
    h = await startCampaignHarness();
    const r = await h.api('POST', '/v1/scheduled-messages', { ...orderUpdate(phone(3)), deliver_at: soon(800) });
    expect(r.status).toBe(201);
    await setConsent(h.app.ctx, { wa_id: phone(3), category: 'utility', state: 'opted_out', source: 'test' });
    const v = await waitFor('decided when due', async () => {
      const g = await h!.api('GET', `/v1/scheduled-messages/${r.json.id}`);
      return g.json.status !== 'scheduled' ? g.json : null;
    });
    expect(v).toMatchObject({ status: 'denied', message_id: null, decision: { reason_code: 'OPTED_OUT' } });
    expect(await h.ledger()).toHaveLength(0);
  });

  it('hands each due message to the queue exactly once across a restart and a claimer that died holding some', async () => {
    h = await startCampaignHarness();
    const dataDir = h.dataDir;
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await h.api('POST', '/v1/scheduled-messages', {
        ...orderUpdate(phone(100 + i), i),
        deliver_at: soon(1_500 + (i % 4) * 100),
      });
      expect(r.status).toBe(201);
      ids.push(r.json.id);
    }
    await h.app.stop(); // down before they are due (the data stays)
    h = null;
    // Another instance claimed 5 of them (as due a moment later) and died holding them: its claims expire.
    const store = await createSqliteStore(join(dataDir, 'wagate.db'));
    const dead = await campaignStoreFor(store).claimDueScheduled(Date.now() + 2_000, 5, 1, 'dead-instance');
    await store.close();
    expect(dead).toHaveLength(5);
    h = await startCampaignHarness({ dataDir });
    const done = await waitFor(
      'all submitted',
      async () => {
        const all = await Promise.all(ids.map((id) => h!.campaigns.getScheduled(id)));
        return all.every((m) => m.status === 'submitted') ? all : null;
      },
      20_000,
    );
    expect(new Set(done.map((m) => m.message_id)).size).toBe(20);
    await waitFor('all sent', async () => (await h!.ledger()).length >= 20);
    expect(
      lostAndDuplicates(
        Array.from({ length: 20 }, (_, i) => phone(100 + i)),
        await h.ledger(),
      ),
    ).toEqual({ lost: 0, duplicates: 0 });
    expect([...sendsByRecipient(await h.ledger()).values()].every((n) => n === 1)).toBe(true);
  });
});
