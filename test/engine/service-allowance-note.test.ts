// The gate's pricing note reads the free service allowance the sender has actually used this month
// (issue 14, changes-2026.md §2): from 1 Oct 2026 a service message is free within the number's monthly
// allowance and charged at the utility rate past it. The count comes from delivered service messages
// (Meta-shaped status webhooks through the real processor), as estimate_cost's does.
import { describe, expect, it } from 'vitest';
import { checkCompliance } from '../../src/engine/compliance.ts';
import { recordInbound } from '../../src/engine/customers.ts';
import { message, st, statusBody, useProcessor } from '../webhooks/helpers.ts';

const CUSTOMER = '447700900401';
const h = useProcessor({ pricing: { service_free_allowance: 2 } });

const note = async () => {
  const d = await checkCompliance(h.t.ctx, { body: { to: `+${CUSTOMER}`, type: 'text', text: { body: 'Your order shipped.' } } });
  expect(d.allowed).toBe(true);
  return d.checks.find((c) => c.rule === 'pricing')!.detail;
};

/** One service message of the sender delivered (its status webhook, Meta's v25 shape). */
async function delivered(i: number, at: number) {
  await h.t.ctx.store.insertMessage(
    message(`msg_a${i}`, { wamid: `wamid.a${i}`, category: 'service', type: 'text', template_name: null, template_language: null }),
  );
  const pricing = { billable: false, pricing_model: 'PMP', type: 'free_customer_service', category: 'service' };
  await h.proc.applyBody(statusBody([st(`wamid.a${i}`, 'delivered', at, { biz_opaque_callback_data: `msg_a${i}`, pricing })]));
}

describe("the gate's pricing note and the free service allowance", () => {
  it('says free within the allowance with what is used, then charged once it is used up', async () => {
    h.t.clock.t = Date.UTC(2026, 9, 20, 12);
    await recordInbound(h.t.ctx, { sender_id: 'main', wa_id: CUSTOMER, at: h.t.clock.t - 60_000, source: 'webhook' });
    expect(await note()).toBe(
      "Free: within the number's monthly free service allowance (0 of 2 used in 2026-10, counted from delivered service messages).",
    );
    await delivered(1, h.t.clock.t - 30_000);
    expect(await note()).toMatch(/^Free: within .*\(1 of 2 used in 2026-10/);
    await delivered(2, h.t.clock.t - 20_000);
    expect(await note()).toBe(
      "Charged by Meta at the market's utility rate when delivered: the number's 2 free service messages of 2026-10 are used up (2 counted).",
    );
    // A new month starts a new allowance.
    h.t.clock.t = Date.UTC(2026, 10, 1, 9);
    await recordInbound(h.t.ctx, { sender_id: 'main', wa_id: CUSTOMER, at: h.t.clock.t - 60_000, source: 'webhook' });
    expect(await note()).toMatch(/^Free: within .*\(0 of 2 used in 2026-11/);
  });

  it('before 1 Oct 2026 a service message is free whatever the count', async () => {
    h.t.clock.t = Date.UTC(2026, 8, 30, 12);
    await recordInbound(h.t.ctx, { sender_id: 'main', wa_id: CUSTOMER, at: h.t.clock.t - 60_000, source: 'webhook' });
    expect(await note()).toMatch(/^Free: a service message inside the customer service window \(until 1 Oct 2026\)/);
  });
});
