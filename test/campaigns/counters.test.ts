// The progress counters of a campaign, exact when it ends, on a real embedded wagate and the sandbox:
// some recipients are denied by the gate (opted out, a tag policy), two fail at Meta (undeliverable:
// 131026 in their failed status webhook), one writes STOP after its message and one before its turn.
// GET /v1/campaigns/:id and the MCP get_campaign show the same counters, and they agree with the
// recipients' own outcomes and with the sandbox ledger.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { setConsent } from '../../src/engine/customers.ts';
import { PHONE_NUMBER_ID, waitFor } from '../delivery/harness.ts';
import type { ToolCallResult } from '../mcp/helpers.ts';
import { phone, sendsByRecipient, startCampaignHarness, type CampaignHarness } from './helpers.ts';

let h: CampaignHarness;
beforeAll(async () => {
  h = await startCampaignHarness({ mps: 80, policies: { exclude_tags: [{ tag: 'blocked', categories: ['marketing'] }] } });
});
afterAll(async () => {
  await h?.close();
});

const N = 20;
const all = Array.from({ length: N }, (_, i) => phone(900 + i));
const [earlyStop, optedOutA, optedOutB, blocked, failA, failB] = all;
const lateStop = all[N - 1];

const stop = (from: string) =>
  h.sandbox('POST', '/_sandbox/inbound', { phone_number_id: PHONE_NUMBER_ID, from, type: 'text', text: { body: 'STOP' } });
const optedOut = (wa_id: string) =>
  waitFor(`${wa_id} opted out`, async () => (await h.app.ctx.store.getCustomer(wa_id))?.consent.marketing.state === 'opted_out');

describe('campaign counters', () => {
  it('failed by Meta code, denied by reason and opted out during the campaign are exact at the end, over HTTP and MCP', async () => {
    const ctx = h.app.ctx;
    for (const p of [optedOutA, optedOutB]) await setConsent(ctx, { wa_id: p, category: 'marketing', state: 'opted_out', source: 'test' });
    expect((await h.api('PUT', `/v1/customers/${blocked}`, { tags: ['blocked'] })).status).toBe(200);
    for (const p of [failA, failB]) await h.sandbox('POST', '/_sandbox/undeliverable', { wa_id: p });

    const created = await h.api('POST', '/v1/campaigns', {
      name: 'counted',
      template: { name: 'spring_sale', language: 'en_US' },
      audience: { recipients: all.map((p) => ({ to: `+${p}` })) },
      variables: ['Ana'],
      options: { rate_mps: 4 },
    });
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    const started = await h.api('POST', `/v1/campaigns/${id}/start`);
    expect(started.status).toBe(200);

    // The first recipient answers its message with STOP; the last writes STOP before its turn comes.
    // (A STOP's time is its webhook's timestamp, in whole seconds: one in the campaign's first second
    // would read as before the start, so the STOPs come once that second is over.)
    const startedAt = Date.parse(started.json.started_at);
    await waitFor('first message delivered', async () => sendsByRecipient(await h.ledger()).has(earlyStop));
    await waitFor('a second after the start', async () => ctx.now() > startedAt + 1500);
    await stop(earlyStop);
    await stop(lateStop);
    await optedOut(earlyStop);
    await optedOut(lateStop);
    // Counted while it runs (the counters are at most a moment old).
    const mid = await waitFor('the opt-out counted while running', async () => {
      const r = (await h.api('GET', `/v1/campaigns/${id}`)).json;
      return r.counts.opted_out_during_campaign >= 1 ? r : null;
    });
    expect(mid.status).toBe('running');

    const done = await waitFor(
      'completed with every status in',
      async () => {
        const r = (await h.api('GET', `/v1/campaigns/${id}`)).json;
        return r.status === 'completed' && r.counts.queued === 0 && r.counts.sent === 0 && r.counts.failed === 2 ? r : null;
      },
      30_000,
    );
    expect(done.counts).toMatchObject({
      total: N,
      pending: 0,
      queued: 0,
      sent: 0,
      failed: 2,
      failed_by_code: { 131026: 2 },
      denied: 4,
      denied_by_reason: { OPTED_OUT: 3, POLICY_EXCLUDED_TAG: 1 },
      cancelled: 0,
      opted_out_during_campaign: 2,
    });
    expect(done.counts.delivered + done.counts.read).toBe(N - 6);
    expect(done.progress).toMatchObject({ done: N, total: N, percent: 100 });

    // The counters agree with every recipient's own outcome...
    const recipients = (await h.api('GET', `/v1/campaigns/${id}/recipients?limit=1000`)).json.recipients as {
      recipient: string;
      outcome: string;
      reason_code: string | null;
      error: { code?: unknown } | null;
    }[];
    const outcome = new Map(recipients.map((r) => [r.recipient, r]));
    for (const p of [optedOutA, optedOutB, lateStop]) expect(outcome.get(p)).toMatchObject({ outcome: 'denied', reason_code: 'OPTED_OUT' });
    expect(outcome.get(blocked)).toMatchObject({ outcome: 'denied', reason_code: 'POLICY_EXCLUDED_TAG' });
    for (const p of [failA, failB]) {
      expect(outcome.get(p)?.outcome).toBe('failed');
      expect(String(outcome.get(p)?.error?.code)).toBe('131026');
    }
    expect(recipients.filter((r) => r.outcome === 'delivered' || r.outcome === 'read')).toHaveLength(N - 6);
    // Paged by key (after = the previous page's next_after), every recipient comes once, in order.
    const paged: string[] = [];
    let after: number | null = -1;
    while (after !== null) {
      const page: { recipients: { recipient: string }[]; next_after: number | null } = (
        await h.api('GET', `/v1/campaigns/${id}/recipients?limit=7&after=${after}`)
      ).json;
      paged.push(...page.recipients.map((r) => r.recipient));
      after = page.next_after;
    }
    expect(paged).toEqual(all);
    // ...and with Meta's ledger: the denied never reached it, the failed did once, the others once.
    const sends = sendsByRecipient(await h.ledger());
    for (const p of [optedOutA, optedOutB, blocked, lateStop]) expect(sends.get(p)).toBeUndefined();
    for (const p of all.filter((x) => ![optedOutA, optedOutB, blocked, lateStop].includes(x))) expect(sends.get(p)).toBe(1);

    // The MCP tool shows the same counters.
    const client = new Client({ name: 'counters-test', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${h.base}/mcp`)));
    try {
      const r = (await client.callTool({ name: 'get_campaign', arguments: { campaign_id: id } })) as ToolCallResult;
      expect(r.isError).toBeFalsy();
      const got = r.structuredContent as { campaign_id: string; status: string; counts: Record<string, unknown> };
      expect(got).toMatchObject({ campaign_id: id, status: 'completed' });
      expect(got.counts).toEqual(done.counts);
      const listed = (await client.callTool({ name: 'list_campaigns', arguments: { status: 'completed' } })) as ToolCallResult;
      const mine = (listed.structuredContent as { campaigns: { id: string; counts: unknown }[] }).campaigns.find((c) => c.id === id);
      expect(mine?.counts).toEqual(done.counts);
    } finally {
      await client.close();
    }
  });

  it('a send Meta refuses at once (a sync 400) counts as failed by its Meta code too', async () => {
    const list = Array.from({ length: 6 }, (_, i) => phone(960 + i));
    await h.sandbox('POST', '/_sandbox/faults', { status: 400, code: 131009, count: 2 });
    const c = await h.api('POST', '/v1/campaigns', {
      name: 'refused at Meta',
      template: { name: 'spring_sale', language: 'en_US' },
      audience: { recipients: list.map((p) => ({ to: `+${p}`, variables: ['Bo'] })) },
    });
    expect((await h.api('POST', `/v1/campaigns/${c.json.id}/start`)).status).toBe(200);
    const done = await waitFor(
      'completed',
      async () => {
        const r = (await h.api('GET', `/v1/campaigns/${c.json.id}`)).json;
        return r.status === 'completed' && r.counts.queued === 0 && r.counts.sent === 0 ? r : null;
      },
      20_000,
    );
    expect(done.counts).toMatchObject({ total: 6, failed: 2, failed_by_code: { 131009: 2 }, denied: 0 });
    expect(done.counts.delivered + done.counts.read).toBe(4);
    const sends = sendsByRecipient(await h.ledger());
    expect(list.filter((p) => sends.get(p) === 1)).toHaveLength(4);
  });
});
