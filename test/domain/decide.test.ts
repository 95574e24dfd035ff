import { describe, it, expect } from 'vitest';
import { decide, emptySnapshot } from '../../src/domain/decide.ts';
import { PoliciesSchema } from '../../src/domain/policies.ts';
import { REASON_CODES } from '../../src/domain/decision.ts';
import { GATE_CASES, T0, H, makeReq, snapshotFromSeed, toSeed } from '../gate/cases.ts';

describe('decide(): the shared table against the pure function', () => {
  for (const c of GATE_CASES) {
    it(c.name, () => {
      const req = makeReq(c.req);
      const now = T0 + (c.at ?? 0);
      const input = { req, snapshot: snapshotFromSeed(toSeed(c.state), req, now), policies: PoliciesSchema.parse(c.policies ?? {}), now };
      const frozen = JSON.stringify(input);
      const r = decide(input);
      expect(r.decision.reason_code, r.decision.explanation).toBe(c.expect);
      if (c.explain) expect(r.decision.explanation).toMatch(c.explain);
      if (c.suggest) expect(r.decision.suggested_action).toMatch(c.suggest);
      if (c.slots && c.expect === null) expect({ marketing: r.takes_marketing_slot, tier: r.takes_tier_slot }).toEqual(c.slots);
      if (c.retry_after) expect(r.decision.retry_after_s).toBeGreaterThan(0);
      // Pure: the input is untouched and the same input gives the same answer.
      expect(JSON.stringify(input)).toBe(frozen);
      expect(decide(input)).toEqual(r);
    });
  }
});

describe('decide(): properties', () => {
  const policies = PoliciesSchema.parse({});
  it('every reason code in the table is a stable code, and a denial always ends checks[] with the failing rule', () => {
    for (const c of GATE_CASES) if (c.expect) expect(REASON_CODES).toContain(c.expect);
  });

  it('the category of a template comes from the record, never from the caller', () => {
    const req = {
      ...makeReq({
        template: 'promo',
        components: [
          {
            type: 'body',
            parameters: [
              { type: 'text', text: 'a' },
              { type: 'text', text: 'b' },
            ],
          },
        ],
      }),
      category_hint: 'utility' as const,
    };
    const snap = snapshotFromSeed(toSeed(), req, T0);
    expect(decide({ req, snapshot: snap, policies, now: T0 }).category).toBe('marketing');
  });

  it('an allowed decision lists every rule it passed and a pricing note', () => {
    const req = makeReq({ text: true });
    const snap = { ...emptySnapshot(), window: { last_inbound_at: T0 - H, referral_at: T0 - H, fep_opened_at: null } };
    const r = decide({ req, snapshot: snap, policies, now: T0 });
    expect(r.decision.allowed).toBe(true);
    expect(r.decision.checks.map((c) => c.rule)).toEqual([
      'sender_state',
      'recipient_valid',
      'opt_out',
      'care_window',
      'category_policy',
      'pricing',
    ]);
    expect(r.decision.checks.at(-1)!.detail).toMatch(/opens a 72-hour free entry point window/);
  });

  it('the 72h free-entry-point window changes cost, not permission', () => {
    const req = makeReq({ text: true });
    const snap = { ...emptySnapshot(), window: { last_inbound_at: T0 - 30 * H, referral_at: T0 - 30 * H, fep_opened_at: T0 - 29 * H } };
    const r = decide({ req, snapshot: snap, policies, now: T0 });
    expect(r.decision.reason_code).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
    const t = makeReq({
      template: 'promo',
      components: [
        {
          type: 'body',
          parameters: [
            { type: 'text', text: 'a' },
            { type: 'text', text: 'b' },
          ],
        },
      ],
    });
    const withTpl = { ...snapshotFromSeed(toSeed(), t, T0), window: snap.window };
    const ok = decide({ req: t, snapshot: withTpl, policies, now: T0 });
    expect(ok.decision.allowed).toBe(true);
    expect(ok.decision.checks.at(-1)!.detail).toMatch(/Free: inside the 72-hour free entry point window/);
  });

  it('an unreadable template category is treated as marketing (never a silent bypass)', () => {
    const t = makeReq({
      template: 'promo',
      components: [
        {
          type: 'body',
          parameters: [
            { type: 'text', text: 'a' },
            { type: 'text', text: 'b' },
          ],
        },
      ],
    });
    const snap = snapshotFromSeed(toSeed(), t, T0);
    snap.template = { ...snap.template!, category: 'PROMOTIONAL' as never };
    snap.customer = {
      consent: {
        marketing: { state: 'opted_out', at: T0 - H },
        utility: { state: 'unknown', at: null },
        authentication: { state: 'unknown', at: null },
        service: { state: 'unknown', at: null },
      },
      tags: [],
      time_zone: null,
      undeliverable_at: null,
      marketing_limited_at: null,
    };
    expect(decide({ req: t, snapshot: snap, policies, now: T0 }).decision.reason_code).toBe('OPTED_OUT');
  });
});
