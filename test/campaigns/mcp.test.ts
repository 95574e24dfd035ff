// The campaign tools over MCP (Streamable HTTP, the SDK's own client) on a real embedded wagate: the
// reference's names and parameters, JSON-in-a-string arguments, and the refusals it got wrong.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { setConsent } from '../../src/engine/customers.ts';
import { waitFor } from '../delivery/harness.ts';
import { bodyOf, expectExplainedRefusal, type ToolCallResult } from '../mcp/helpers.ts';
import { lostAndDuplicates, phone, startCampaignHarness, type CampaignHarness } from './helpers.ts';

let h: CampaignHarness;
let client: Client;
const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args }) as Promise<ToolCallResult>;

beforeAll(async () => {
  h = await startCampaignHarness({ mps: 80 });
  client = new Client({ name: 'campaign-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${h.base}/mcp`)));
});
afterAll(async () => {
  await client?.close();
  await h?.close();
});

describe('campaign tools', () => {
  it('schedule_campaign takes JSON-string recipients, previews, runs to completion; get/list/pause/cancel answer with the reference fields', async () => {
    const recipients = JSON.stringify(Array.from({ length: 8 }, (_, i) => ({ to: `+${phone(300 + i)}` })));
    const later = await call('schedule_campaign', {
      name: 'later',
      template_name: 'spring_sale',
      locale: 'en_US',
      variables: '["Ana"]',
      recipients,
      deliver_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(later.isError).toBeFalsy();
    const lc = later.structuredContent as Record<string, any>;
    expect(lc).toMatchObject({ status: 'scheduled', name: 'later' });
    expect(lc.campaign_id).toMatch(/^cmp_/);
    const prev = await call('preview_campaign', { campaign_id: lc.campaign_id });
    expect(prev.structuredContent).toMatchObject({ total: 8, allowed: 8, denied: {} });
    const paused = await call('pause_campaign', { campaign_id: lc.campaign_id });
    expect(paused.structuredContent).toMatchObject({ status: 'paused', from_status: 'scheduled' });
    const cancelled = await call('cancel_campaign', { campaign_id: lc.campaign_id, reason: 'not needed' });
    expect(cancelled.structuredContent).toMatchObject({ status: 'cancelled', from_status: 'paused', status_reason: 'not needed' });
    const terminal = expectExplainedRefusal(await call('cancel_campaign', { campaign_id: lc.campaign_id }));
    expect((terminal.error as { code: string }).code).toBe('CAMPAIGN_TERMINAL_STATE');
    expect(await h.ledger()).toHaveLength(0);

    const now = await call('schedule_campaign', { name: 'now', template_name: 'spring_sale', variables: ['Bo'], recipients });
    const id = (now.structuredContent as Record<string, string>).campaign_id;
    expect((now.structuredContent as Record<string, string>).status).toBe('running');
    await waitFor('completed', async () => {
      const g = await call('get_campaign', { campaign_id: id });
      const c = g.structuredContent as Record<string, any>;
      return c.status === 'completed' && c.counts.queued === 0 && c.counts.sent === 0 ? c : null;
    });
    expect(
      lostAndDuplicates(
        Array.from({ length: 8 }, (_, i) => phone(300 + i)),
        await h.ledger(),
      ),
    ).toEqual({ lost: 0, duplicates: 0 });
    const list = (await call('list_campaigns', { status: 'completed,cancelled' })).structuredContent as Record<string, any>;
    expect(list.campaigns.map((c: { campaign_id: string }) => c.campaign_id).sort()).toEqual([id, lc.campaign_id].sort());
    const bad = expectExplainedRefusal(await call('get_campaign', { campaign_id: 'cmp_nope' }));
    expect((bad.error as { code: string }).code).toBe('CAMPAIGN_NOT_FOUND');
  });

  it('schedule_message refuses content that would change the recipient, and an opted-out customer at once', async () => {
    const redirect = expectExplainedRefusal(
      await call('schedule_message', {
        customer_id: `+${phone(400)}`,
        message_type: 'utility',
        content: JSON.stringify({ to: `+${phone(401)}`, template_name: 'order_update', locale: 'en_US', variables: ['Ana', 'A-1'] }),
        deliver_at: new Date(Date.now() + 60_000).toISOString(),
      }),
    );
    expect(redirect.error).toMatchObject({ code: 'INVALID_ARGUMENTS', details: { field: 'content.to' } });
    await setConsent(h.app.ctx, { wa_id: phone(402), category: 'utility', state: 'opted_out', source: 'test' });
    const out = expectExplainedRefusal(
      await call('schedule_message', {
        customer_id: `+${phone(402)}`,
        message_type: 'utility',
        content: { template_name: 'order_update', variables: ['Ana', 'A-1'] },
        deliver_at: new Date(Date.now() + 60_000).toISOString(),
      }),
    );
    expect(out.error).toMatchObject({ code: 'SCHEDULE_REFUSED' });
    const ok = await call('schedule_message', {
      customer_id: `+${phone(403)}`,
      message_type: 'utility',
      content: { template_name: 'order_update', variables: ['Ana', 'A-1'] },
      deliver_at: new Date(Date.now() + 300).toISOString(),
    });
    expect(ok.isError).toBeFalsy();
    const m = ok.structuredContent as Record<string, string>;
    expect(m).toMatchObject({ status: 'scheduled', customer_id: phone(403) });
    await waitFor('sent when due', async () => (await h.ledger()).some((s) => s.to === phone(403)));
    expect(bodyOf(ok).message_id).toBe(m.message_id);
  });
});
