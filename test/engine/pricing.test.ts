// Meta's pricing rules answer by the date of the send (issue 14, changes-2026.md §2): before 1 Oct 2026
// service messages and utility inside the window are free; from then service costs the utility rate
// beyond the number's monthly free allowance (counted from delivered statuses, in the store) and
// utility inside the window is charged; a free-entry-point window stays free throughout.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { billingAt, billingMonth, pricingEraAt } from '../../src/domain/pricing-rules.ts';
import { decide, emptySnapshot } from '../../src/domain/decide.ts';
import { PoliciesSchema } from '../../src/domain/policies.ts';
import { estimateCost, estimatePricing, loadPricing } from '../../src/engine/pricing.ts';
import { EngineError } from '../../src/engine/context.ts';
import { WebhookProcessor } from '../../src/webhooks/processor.ts';
import { makeReq } from '../gate/cases.ts';
import { makeCtx, message, st, statusBody, type TestCtx } from '../webhooks/helpers.ts';

const SEP30 = Date.UTC(2026, 8, 30, 23, 59, 59);
const OCT1 = Date.UTC(2026, 9, 1, 0, 0, 0);
const IN_UTILITY = loadPricing().markets.find((m) => m.id === 'india')!.rates.utility!;

describe('pricing rules by the date of the send', () => {
  const at = (category: 'service' | 'utility' | 'marketing' | 'authentication', when: number, w: { csw?: boolean; fep?: boolean } = {}) =>
    billingAt({ category, at: when, in_csw: w.csw ?? false, in_fep: w.fep ?? false, service_used: 0 });

  it('switch at 00:00 UTC on 1 Oct 2026: service and utility in the window become charged', () => {
    expect(pricingEraAt(SEP30)?.id).toBe('pmp_2025_07');
    expect(pricingEraAt(OCT1)?.id).toBe('pmp_2026_10');
    expect(at('service', SEP30, { csw: true })).toMatchObject({ billable: false, free_reason: 'service_message' });
    expect(at('service', OCT1, { csw: true })).toMatchObject({
      billable: false,
      free_reason: 'service_free_allowance',
      uses_allowance: true,
    });
    expect(billingAt({ category: 'service', at: OCT1, in_csw: true, in_fep: false, service_used: 1000 })).toMatchObject({
      billable: true,
      rate_category: 'utility',
    });
    expect(at('utility', SEP30, { csw: true })).toMatchObject({ billable: false, free_reason: 'utility_in_customer_service_window' });
    expect(at('utility', OCT1, { csw: true })).toMatchObject({ billable: true, rate_category: 'utility' });
    for (const when of [SEP30, OCT1]) {
      expect(at('marketing', when, { fep: true })).toMatchObject({ billable: false, free_reason: 'free_entry_point' });
      expect(at('service', when, { fep: true })).toMatchObject({ billable: false, free_reason: 'free_entry_point' });
      expect(at('marketing', when, { csw: true })).toMatchObject({ billable: true, rate_category: 'marketing' });
      expect(at('authentication', when)).toMatchObject({ billable: true, rate_category: 'authentication' });
    }
    // Before per-message pricing (1 Jul 2025) wagate does not price: it says so instead of guessing.
    expect(billingAt({ category: 'utility', at: Date.UTC(2025, 5, 30), in_csw: false, in_fep: false })).toBeNull();
    expect(billingMonth(OCT1 - 1)).toBe('2026-09');
    expect(billingMonth(OCT1)).toBe('2026-10');
  });

  it("the gate's pricing note follows the day of the decision", () => {
    const policies = PoliciesSchema.parse({});
    const note = (now: number) => {
      const snap = { ...emptySnapshot(), window: { last_inbound_at: now - 3_600_000, referral_at: null, fep_opened_at: null } };
      const r = decide({ req: makeReq({ text: true }), snapshot: snap, policies, now });
      expect(r.decision.allowed).toBe(true);
      return r.decision.checks.find((c) => c.rule === 'pricing')!.detail;
    };
    expect(note(SEP30)).toMatch(/^Free: a service message/);
    expect(note(OCT1)).toMatch(/utility rate .*since 1 Oct 2026.*free service allowance/);
  });
});

describe('estimates by the date of the send, against the stored service counter', () => {
  let t: TestCtx;
  let proc: WebhookProcessor;
  beforeEach(async () => {
    t = await makeCtx();
    proc = new WebhookProcessor(t.ctx);
    await proc.start();
  });
  afterEach(async () => {
    await proc.stop();
    await t.close();
  });

  it('a service estimate: free before 1 Oct 2026, then the utility rate past what is left of the allowance', async () => {
    t.clock.t = SEP30;
    const before = await estimateCost(t.ctx, { message_type: 'service', recipient_country: 'IN', quantity: 1500, sender: 'main' });
    expect(before).toMatchObject({
      pricing_rules: 'pmp_2025_07',
      billable: false,
      free_reason: 'service_message',
      total_estimated_cost: 0,
    });
    // The same request priced for a send on 1 Oct 2026: 1,000 free, 500 at India's utility rate.
    const after = await estimateCost(t.ctx, {
      message_type: 'service',
      recipient_country: 'IN',
      quantity: 1500,
      sender: 'main',
      send_at: '2026-10-01',
    });
    expect(after).toMatchObject({
      send_at: '2026-10-01T00:00:00.000Z',
      pricing_rules: 'pmp_2026_10',
      billable: true,
      free_quantity: 1000,
      billable_quantity: 500,
      cost_per_message: IN_UTILITY,
      service_allowance: { sender: 'main', month: '2026-10', allowance: 1000, used: 0, remaining: 1000 },
    });
    expect(after.total_estimated_cost).toBeCloseTo(500 * IN_UTILITY, 9);
    // A send date in the past is priced by the rules of that day too.
    t.clock.t = Date.UTC(2026, 11, 3);
    const past = await estimateCost(t.ctx, { message_type: 'service', recipient_country: 'IN', send_at: '2026-09-15T10:00:00Z' });
    expect(past).toMatchObject({ pricing_rules: 'pmp_2025_07', billable: false, total_estimated_cost: 0 });
  });

  it('delivered service messages count once in their month (Meta-shaped statuses, unknown fields included)', async () => {
    t.clock.t = Date.UTC(2026, 9, 20, 12);
    for (let i = 0; i < 3; i++)
      await t.ctx.store.insertMessage(
        message(`msg_s${i}`, { wamid: `wamid.s${i}`, category: 'service', type: 'text', template_name: null, template_language: null }),
      );
    await t.ctx.store.insertMessage(message('msg_tpl', { wamid: 'wamid.tpl', category: 'utility' }));
    const ts = Date.UTC(2026, 9, 20, 11);
    // Meta's status shape (v25): pricing, the contacts[] of 2026 and a field wagate does not know.
    const pricing = { billable: false, pricing_model: 'PMP', type: 'free_customer_service', category: 'service', future_field: 1 };
    const cb = (id: string) => ({ biz_opaque_callback_data: id, pricing, recipient_user_id: 'US.13491208655302741918' });
    await proc.applyBody(
      statusBody([
        st('wamid.s0', 'delivered', ts, cb('msg_s0')),
        st('wamid.s1', 'read', ts, cb('msg_s1')), // read without a delivered: reached the phone too
        st('wamid.s2', 'sent', ts, cb('msg_s2')), // not delivered yet: not counted
        st('wamid.tpl', 'delivered', ts, cb('msg_tpl')), // a template: not a service message
      ]),
    );
    await proc.applyBody(statusBody([st('wamid.s0', 'read', ts + 1000, cb('msg_s0'))])); // delivered → read: still one
    await proc.applyBody(statusBody([st('wamid.s1', 'delivered', ts - 1000, cb('msg_s1'))])); // late delivered: stale
    await proc.applyBody(statusBody([st('wamid.s0', 'delivered', ts, cb('msg_s0'))])); // a replay
    expect(await t.ctx.store.getServiceMessageCount('main', '2026-10')).toBe(2);
    // Found by wamid (no callback id): the one-by-one path counts as well.
    await proc.applyBody(statusBody([st('wamid.s2', 'delivered', ts + 2000, { conversation_new_field: true })]));
    expect(await t.ctx.store.getServiceMessageCount('main', '2026-10')).toBe(3);
    const est = await estimateCost(t.ctx, { message_type: 'service', recipient_country: 'BR', quantity: 998, sender: 'main' });
    expect(est).toMatchObject({ free_quantity: 997, billable_quantity: 1, service_allowance: { used: 3, remaining: 997 } });
  });

  it('the allowance is configurable; estimate_pricing gives the service rate by date; bad dates are clear 400s', async () => {
    const c = await makeCtx({ pricing: { service_free_allowance: 10 } });
    try {
      c.clock.t = OCT1;
      const est = await estimateCost(c.ctx, { message_type: 'service', recipient_country: 'IN', quantity: 12, sender: 'main' });
      expect(est).toMatchObject({ free_quantity: 10, billable_quantity: 2, service_allowance: { allowance: 10 } });
      expect(estimatePricing({ conversation_type: 'service', recipient_country: 'IN' }, c.ctx)).toMatchObject({
        pricing_rules: 'pmp_2026_10',
        cost_per_message: IN_UTILITY,
        pricing_category: 'service',
        service_free_allowance: 10,
      });
      expect(estimatePricing({ conversation_type: 'service', recipient_country: 'IN', send_at: '2026-09-30' }, c.ctx)).toMatchObject({
        pricing_rules: 'pmp_2025_07',
        cost_per_message: 0,
        pricing_category: 'free_customer_service',
        service_free_allowance: null,
      });
      for (const bad of ['yesterday', '2025-06-30', '2026-13-45']) {
        const err = await estimateCost(c.ctx, { message_type: 'utility', recipient_country: 'IN', send_at: bad }).catch((e) => e);
        expect(err, bad).toBeInstanceOf(EngineError);
        expect((err as EngineError).code).toBe('INVALID_REQUEST');
        expect((err as EngineError).message).toContain('send_at');
      }
    } finally {
      await c.close();
    }
  });
});
