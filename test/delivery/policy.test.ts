import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { backoffMs, recheckVerdict } from '../../src/delivery/policy.ts';

describe('backoffMs', () => {
  it('stays within [exp/2, exp] where exp = min(max, base * 2^(attempt-1))', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 1_000_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, base, max, r) => {
        const exp = Math.min(max, base * 2 ** Math.min(attempt - 1, 30));
        const d = backoffMs(attempt, base, max, () => r);
        expect(d).toBeGreaterThanOrEqual(Math.floor(exp / 2));
        expect(d).toBeLessThanOrEqual(Math.ceil(exp));
      }),
    );
  });

  it('grows exponentially until the cap, and jitter spreads retries', () => {
    expect(backoffMs(1, 1000, 300_000, () => 1)).toBe(1000);
    expect(backoffMs(4, 1000, 300_000, () => 1)).toBe(8000);
    expect(backoffMs(20, 1000, 300_000, () => 1)).toBe(300_000);
    const seen = new Set(Array.from({ length: 50 }, () => backoffMs(3, 1000, 300_000)));
    expect(seen.size).toBeGreaterThan(10);
  });
});

describe('recheckVerdict', () => {
  it('dead-letters what can change while a message waits, requeues sender states, sends the rest', () => {
    expect(recheckVerdict(null)).toBe('send');
    expect(recheckVerdict('OPTED_OUT')).toBe('dead_letter');
    expect(recheckVerdict('WINDOW_CLOSED_TEMPLATE_REQUIRED')).toBe('dead_letter');
    expect(recheckVerdict('TEMPLATE_PAUSED')).toBe('dead_letter');
    expect(recheckVerdict('TEMPLATE_NOT_APPROVED')).toBe('dead_letter');
    expect(recheckVerdict('SENDER_PAUSED')).toBe('requeue');
    expect(recheckVerdict('CREDENTIALS_INVALID')).toBe('requeue');
    // Judged at submit and already reserved: the message must not deny itself on its own slot.
    expect(recheckVerdict('FREQUENCY_CAP')).toBe('send');
    expect(recheckVerdict('TIER_LIMIT')).toBe('send');
    expect(recheckVerdict('POLICY_QUIET_HOURS')).toBe('send');
  });
});
