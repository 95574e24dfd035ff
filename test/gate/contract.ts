// The GateState contract: every adapter (memory, redis) runs this suite unchanged through the port.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { PoliciesSchema } from '../../src/domain/policies.ts';
import type { GateState } from '../../src/gate/port.ts';
import {
  BR,
  BR2,
  BR3,
  DAY_MS_EXPORT as DAY,
  H,
  MIN,
  PROMO_PARAMS,
  SENDERS,
  T0,
  TEMPLATES,
  makeReq,
  toSeed,
  type GateFactory,
} from './cases.ts';

const promo = (extra: Parameters<typeof makeReq>[0] = {}) => makeReq({ template: 'promo', components: PROMO_PARAMS, ...extra });
const welcome = (extra: Parameters<typeof makeReq>[0] = {}) => makeReq({ sender: 'tiny', template: 'welcome', ...extra });

export function gateContract(name: string, make: GateFactory): void {
  describe(`GateState contract (${name})`, () => {
    async function gate(policies: Record<string, unknown> = {}): Promise<GateState> {
      const g = await make({ policies: PoliciesSchema.parse(policies), senders: Object.values(SENDERS) });
      await g.load(toSeed({}));
      return g;
    }
    async function using(policies: Record<string, unknown>, fn: (g: GateState) => Promise<void>): Promise<void> {
      const g = await gate(policies);
      try {
        await fn(g);
      } finally {
        await g.close();
      }
    }

    it('check() decides without reserving; checkAndReserve() reserves', () =>
      using({}, async (g) => {
        const r = promo();
        expect((await g.check(r, T0)).decision.allowed).toBe(true);
        expect((await g.check(r, T0)).reservation).toBeUndefined();
        expect(await g.marketingCount(BR, T0)).toBe(0);
        const out = await g.checkAndReserve(r, T0);
        expect(out.category).toBe('marketing');
        expect(out.reservation).toMatchObject({
          message_id: r.message_id,
          to: BR,
          category: 'marketing',
          marketing_slot: true,
          tier_slot: true,
          at: T0,
        });
        expect(await g.marketingCount(BR, T0)).toBe(1);
        expect(await g.tierUsage('biz1', T0)).toBe(1);
      }));

    it('the cap holds across messages and the third is denied with retry_after until the oldest slot frees', () =>
      using({}, async (g) => {
        expect((await g.checkAndReserve(promo(), T0)).decision.allowed).toBe(true);
        expect((await g.checkAndReserve(promo(), T0 + H)).decision.allowed).toBe(true);
        const third = await g.checkAndReserve(promo(), T0 + 2 * H);
        expect(third.decision.reason_code).toBe('FREQUENCY_CAP');
        expect(third.decision.retry_after_s).toBe((DAY - 2 * H) / 1000);
        expect((await g.checkAndReserve(promo(), T0 + DAY + MIN)).decision.allowed).toBe(true); // sliding 24h
      }));

    it('release() gives the slot back and is idempotent', () =>
      using({}, async (g) => {
        const a = promo();
        const b = promo();
        await g.checkAndReserve(a, T0);
        await g.checkAndReserve(b, T0);
        expect((await g.checkAndReserve(promo(), T0)).decision.reason_code).toBe('FREQUENCY_CAP');
        await g.release(a.message_id);
        await g.release(a.message_id);
        await g.release('msg_never_reserved');
        expect(await g.marketingCount(BR, T0)).toBe(1);
        expect((await g.checkAndReserve(promo(), T0)).decision.allowed).toBe(true);
        expect((await g.checkAndReserve(promo(), T0)).decision.reason_code).toBe('FREQUENCY_CAP');
      }));

    it('check() ignores the reservation held by the same message (dispatch-time re-check)', () =>
      using({ marketing_cap_per_24h: 1 }, async (g) => {
        const a = promo();
        expect((await g.checkAndReserve(a, T0)).decision.allowed).toBe(true);
        expect((await g.check(a, T0 + MIN)).decision.allowed).toBe(true);
        expect((await g.check(promo(), T0 + MIN)).decision.reason_code).toBe('FREQUENCY_CAP');
      }));

    it('the same message reserved twice takes one slot', () =>
      using({ marketing_cap_per_24h: 2 }, async (g) => {
        const a = promo();
        await g.checkAndReserve(a, T0);
        const again = await g.checkAndReserve(a, T0 + MIN);
        expect(again.decision.allowed).toBe(true);
        expect(await g.marketingCount(BR, T0 + MIN)).toBe(1);
      }));

    it('tier usage counts unique recipients per portfolio, 24h sliding', () =>
      using({}, async (g) => {
        await g.checkAndReserve(welcome({ to: BR }), T0);
        await g.checkAndReserve(welcome({ to: BR }), T0 + MIN);
        await g.checkAndReserve(welcome({ to: BR2 }), T0 + 2 * MIN);
        expect(await g.tierUsage('biz2', T0 + 3 * MIN)).toBe(2);
        expect(await g.tierUsage('biz1', T0 + 3 * MIN)).toBe(0);
        const denied = await g.checkAndReserve(welcome({ to: BR3 }), T0 + 3 * MIN);
        expect(denied.decision.reason_code).toBe('TIER_LIMIT');
        // A recipient leaves the count 24h after its LATEST send: BR (last at T0+1min) frees first.
        expect(denied.decision.retry_after_s).toBe((DAY - 2 * MIN) / 1000);
        expect(await g.tierUsage('biz2', T0 + DAY + MIN / 2)).toBe(2); // BR's first send expired, not its second
        expect(await g.tierUsage('biz2', T0 + DAY + MIN + 1)).toBe(1);
        expect((await g.checkAndReserve(welcome({ to: BR3 }), T0 + DAY + MIN + 1)).decision.allowed).toBe(true);
      }));

    it('an inbound message opens the window on that sender; a template send never does', () =>
      using({}, async (g) => {
        await g.checkAndReserve(promo(), T0);
        expect((await g.check(makeReq({ text: true }), T0 + MIN)).decision.reason_code).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
        await g.recordInbound('main', BR, T0 + MIN);
        expect((await g.check(makeReq({ text: true }), T0 + 2 * MIN)).decision.allowed).toBe(true);
        expect((await g.check(makeReq({ text: true, sender: 'alt' }), T0 + 2 * MIN)).decision.reason_code).toBe(
          'WINDOW_CLOSED_TEMPLATE_REQUIRED',
        );
        expect((await g.check(makeReq({ text: true }), T0 + MIN + DAY)).decision.reason_code).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
        // An older inbound recorded late never shortens the window.
        await g.recordInbound('main', BR, T0 - H);
        expect((await g.check(makeReq({ text: true }), T0 + 2 * MIN)).decision.allowed).toBe(true);
      }));

    it('customer updates apply at once: opt-out, opt back in, tags, 131049', () =>
      using({ exclude_tags: [{ tag: 'churned' }] }, async (g) => {
        await g.updateCustomer({ wa_id: BR, consent: { marketing: 'opted_out' }, consent_at: { marketing: T0 } });
        expect((await g.check(promo(), T0)).decision.reason_code).toBe('OPTED_OUT');
        await g.updateCustomer({ wa_id: BR, consent: { marketing: 'opted_in' }, consent_at: { marketing: T0 + MIN } });
        expect((await g.check(promo(), T0)).decision.allowed).toBe(true);
        await g.updateCustomer({ wa_id: BR, tags: ['churned'] });
        expect((await g.check(promo(), T0)).decision.reason_code).toBe('POLICY_EXCLUDED_TAG');
        await g.updateCustomer({ wa_id: BR, tags: [], marketing_limited_at: T0 });
        expect((await g.check(promo(), T0 + H)).decision.reason_code).toBe('MARKETING_LIMITED_BY_META');
      }));

    it('template and sender changes apply at once', () =>
      using({}, async (g) => {
        await g.upsertTemplate({ ...TEMPLATES[0], status: 'PAUSED' });
        expect((await g.check(promo(), T0)).decision.reason_code).toBe('TEMPLATE_PAUSED');
        await g.upsertTemplate({ ...TEMPLATES[0], status: 'APPROVED', category: 'UTILITY' as never });
        const out = await g.check(promo(), T0);
        expect(out.decision.allowed).toBe(true);
        expect(out.category).toBe('utility'); // Meta re-categorised it: the record decides
        await g.setSenderStatus({
          sender_id: 'main',
          state: 'paused',
          reason: 'test',
          reason_code: 'MANUAL',
          credentials_valid: true,
          since: T0,
        });
        expect((await g.check(promo(), T0)).decision.reason_code).toBe('SENDER_PAUSED');
        await g.setSenderStatus({
          sender_id: 'main',
          state: 'active',
          reason: null,
          reason_code: null,
          credentials_valid: true,
          since: T0,
        });
        expect((await g.check(promo(), T0)).decision.allowed).toBe(true);
      }));

    it('setPortfolioLimit: the limit Meta reported replaces the configured one at once, and load(seed) keeps it', () =>
      using({}, async (g) => {
        // tiny: configured messaging_limit 2 (biz2).
        for (const [i, to] of [BR2, BR3].entries())
          expect((await g.checkAndReserve(welcome({ to, message_id: `msg_pl${i}` }), T0)).decision.allowed).toBe(true);
        expect((await g.check(welcome({ message_id: 'msg_pl9' }), T0)).decision.reason_code).toBe('TIER_LIMIT');
        await g.setPortfolioLimit('biz2', 2000, T0);
        const ok = await g.checkAndReserve(welcome({ message_id: 'msg_pl3' }), T0);
        expect(ok.decision.allowed).toBe(true);
        expect(ok.reservation?.tier_slot).toBe(true);
        await g.setPortfolioLimit('biz2', 3, T0 + 1);
        expect((await g.checkAndReserve(welcome({ to: '5541987654321', message_id: 'msg_pl4' }), T0)).decision.reason_code).toBe(
          'TIER_LIMIT',
        );
        await g.setPortfolioLimit('biz2', null, T0 + 2); // -1: unlimited
        expect((await g.checkAndReserve(welcome({ to: '5541987654321', message_id: 'msg_pl5' }), T0)).decision.allowed).toBe(true);
        await g.load({ ...toSeed({}), portfolio_limits: [{ business_id: 'biz2', limit: 0 + 1, at: T0 }] });
        await g.checkAndReserve(welcome({ to: BR2, message_id: 'msg_pl6' }), T0);
        expect((await g.check(welcome({ to: BR3, message_id: 'msg_pl7' }), T0)).decision.reason_code).toBe('TIER_LIMIT');
      }));

    it("setSenderRestrictions: Meta's restriction denies what it covers at once, takes no slot, holds until it expires, and [] lifts it", () =>
      using({}, async (g) => {
        await g.setSenderRestrictions('main', [
          { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expires_at: T0 + H, remediation: 'Review your messaging practices.' },
        ]);
        const denied = await g.checkAndReserve(promo({ message_id: 'msg_r1' }), T0);
        expect(denied.decision.reason_code).toBe('SENDER_RESTRICTED');
        expect(denied.decision.suggested_action).toMatch(/Review your messaging practices/);
        expect(denied.reservation).toBeUndefined();
        expect(await g.tierUsage('biz1', T0)).toBe(0); // the slot the script took was given back
        expect(await g.marketingCount(BR, T0)).toBe(0);
        // Another sender is not restricted; after the expiry the same sender sends again.
        expect((await g.check(promo({ sender: 'alt' }), T0)).decision.allowed).toBe(true);
        expect((await g.check(promo(), T0 + H)).decision.allowed).toBe(true);
        // A reply in a window the customer opened is not covered.
        await g.recordInbound('main', BR2, T0 - MIN);
        expect((await g.check(makeReq({ text: true, to: BR2 }), T0)).decision.allowed).toBe(true);
        await g.setSenderRestrictions('main', []);
        expect((await g.checkAndReserve(promo({ message_id: 'msg_r2' }), T0)).decision.allowed).toBe(true);
        // load(seed) restores them (a restart, an emptied Redis).
        await g.load({
          ...toSeed({ inbound: [{ to: BR2, at: T0 - MIN }] }),
          restrictions: [
            { sender_id: 'main', restrictions: [{ type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING', expires_at: null, remediation: null }] },
          ],
        });
        expect((await g.check(makeReq({ text: true, to: BR2 }), T0)).decision.reason_code).toBe('SENDER_RESTRICTED');
        expect((await g.check(promo(), T0)).decision.allowed).toBe(true);
      }));

    it('load(seed) replaces all state: windows, opt-outs and reservations survive a restart', () =>
      using({}, async (g) => {
        await g.updateCustomer({ wa_id: BR2, consent: { marketing: 'opted_out' } });
        await g.load(
          toSeed({
            customers: [{ wa_id: BR, consent: { marketing: 'opted_out' }, consent_at: { marketing: T0 - H } }],
            inbound: [{ to: BR3, at: T0 - H }],
            prior: [
              { to: BR2, category: 'marketing', at: T0 - H },
              { to: BR2, category: 'marketing', at: T0 - H + MIN },
            ],
          }),
        );
        expect((await g.check(promo(), T0)).decision.reason_code).toBe('OPTED_OUT');
        expect((await g.check(makeReq({ to: BR3, text: true }), T0)).decision.allowed).toBe(true);
        expect(await g.marketingCount(BR2, T0)).toBe(2);
        expect((await g.check(promo({ to: BR2 }), T0)).decision.reason_code).toBe('FREQUENCY_CAP'); // not OPTED_OUT: the seed replaced it
        await g.release('msg_prior_0');
        expect((await g.check(promo({ to: BR2 }), T0)).decision.allowed).toBe(true);
      }));

    it('mergeIdentities: the slots a BSUID took count under its phone once learned (one person, counted once)', () =>
      using({}, async (g) => {
        const U = 'US.13491208655302741918';
        const first = promo({ to: U });
        expect((await g.checkAndReserve(first, T0)).decision.allowed).toBe(true);
        expect((await g.checkAndReserve(promo({ to: BR }), T0 + MIN)).decision.allowed).toBe(true);
        expect(await g.tierUsage('biz1', T0 + MIN)).toBe(2);
        // Another portfolio's link never matches: the BSUID is scoped to biz1.
        await g.mergeIdentities([{ business_id: 'biz2', user_id: U, wa_id: BR }]);
        expect(await g.marketingCount(U, T0 + MIN)).toBe(1);
        await g.mergeIdentities([{ business_id: 'biz1', user_id: U, wa_id: BR }]);
        await g.mergeIdentities([{ business_id: 'biz1', user_id: U, wa_id: BR }]); // idempotent
        expect(await g.marketingCount(U, T0 + MIN)).toBe(0);
        expect(await g.marketingCount(BR, T0 + MIN)).toBe(2);
        expect(await g.tierUsage('biz1', T0 + MIN)).toBe(1);
        expect((await g.checkAndReserve(promo({ to: BR }), T0 + 2 * MIN)).decision.reason_code).toBe('FREQUENCY_CAP');
        // The moved reservation is released where it now is.
        await g.release(first.message_id);
        expect(await g.marketingCount(BR, T0 + 2 * MIN)).toBe(1);
        expect((await g.checkAndReserve(promo({ to: BR }), T0 + 2 * MIN)).decision.allowed).toBe(true);
        // After a restart, the seed's links count a BSUID's reservation under the phone.
        await g.load({
          ...toSeed({
            prior: [
              { to: U, category: 'marketing', at: T0 - H },
              { to: BR, category: 'marketing', at: T0 - H + MIN },
            ],
          }),
          identity_links: [{ business_id: 'biz1', user_id: U, wa_id: BR }],
        });
        expect(await g.marketingCount(BR, T0)).toBe(2);
        expect(await g.tierUsage('biz1', T0)).toBe(1);
        await g.release('msg_prior_0');
        expect(await g.marketingCount(BR, T0)).toBe(1);
      }));

    it('concurrent reservations at a cap: exactly the cap is granted (marketing cap and tier)', () =>
      using({ marketing_cap_per_24h: 3 }, async (g) => {
        const many = await Promise.all(Array.from({ length: 200 }, () => g.checkAndReserve(promo(), T0)));
        expect(many.filter((o) => o.decision.allowed)).toHaveLength(3);
        expect(many.filter((o) => o.decision.reason_code === 'FREQUENCY_CAP')).toHaveLength(197);
        expect(await g.marketingCount(BR, T0)).toBe(3);
        const recipients = Array.from({ length: 100 }, (_, i) => `5511987650${String(i).padStart(3, '0')}`);
        const tier = await Promise.all(recipients.map((to) => g.checkAndReserve(welcome({ to }), T0)));
        expect(tier.filter((o) => o.decision.allowed)).toHaveLength(2);
        expect(await g.tierUsage('biz2', T0)).toBe(2);
      }));

    it('random reserve/release/time sequences agree with a plain model of the cap and the tier', async () => {
      const recipients = [BR, BR2, BR3];
      const op = fc.oneof(
        fc.record({ kind: fc.constant('reserve' as const), who: fc.nat(2), advance: fc.integer({ min: 0, max: 10 * H }) }),
        fc.record({ kind: fc.constant('release' as const), pick: fc.nat(50), advance: fc.constant(0) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
          const g = await gate({ marketing_cap_per_24h: 2 });
          try {
            let now = T0;
            const held: { id: string; to: string; at: number }[] = [];
            for (const o of ops) {
              now += o.advance;
              const live = held.filter((h) => h.at > now - DAY);
              if (o.kind === 'reserve') {
                const to = recipients[o.who];
                const r = makeReq({ sender: 'tiny', to, template: 'promo_tiny' });
                const mine = live.filter((h) => h.to === to).length;
                const tierUsed = new Set(live.map((h) => h.to));
                const expectAllowed = mine < 2 && (tierUsed.has(to) || tierUsed.size < 2);
                const out = await g.checkAndReserve(r, now);
                expect(out.decision.allowed, out.decision.explanation).toBe(expectAllowed);
                if (out.decision.allowed) held.push({ id: r.message_id, to, at: now });
              } else if (live.length) {
                const h = live[o.pick % live.length];
                await g.release(h.id);
                held.splice(held.indexOf(h), 1);
              }
              const still = held.filter((h) => h.at > now - DAY);
              for (const to of recipients) expect(await g.marketingCount(to, now)).toBe(still.filter((h) => h.to === to).length);
              expect(await g.tierUsage('biz2', now)).toBe(new Set(still.map((h) => h.to)).size);
            }
          } finally {
            await g.close();
          }
        }),
        { numRuns: 60 },
      );
    });

    it('ping() answers', () => using({}, async (g) => expect(await g.ping()).toBe(true)));
  });
}
