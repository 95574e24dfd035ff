import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  backoffMs,
  continueTransientRun,
  formatDuration,
  recheckVerdict,
  transientBudgetSpent,
  transientElapsedMs,
  transientRunFields,
} from '../../src/delivery/policy.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import { loadConfig, ConfigError } from '../../src/config/load.ts';

describe('backoffMs', () => {
  it('stays within [exp/2, exp] where exp = min(max, base * 2^(attempt-1))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (attempt, base, max, r) => {
          const exp = Math.min(max, base * 2 ** Math.min(attempt - 1, 30));
          const d = backoffMs(attempt, base, max, () => r);
          expect(d).toBeGreaterThanOrEqual(Math.floor(exp / 2));
          expect(d).toBeLessThanOrEqual(Math.ceil(exp));
        },
      ),
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

describe('transient runs (delivery.retry_max_age_h)', () => {
  const H = 3_600_000;
  it('starts a run at the first transient failure and carries it through any transient code', () => {
    const t0 = 1_700_000_000_000;
    // No previous error, or one that is not part of a run (a counted retry, a pause, an in-doubt send).
    for (const prev of [
      null,
      undefined,
      { code: 'IN_DOUBT', in_doubt_since: t0 - H },
      { code: 131048, repeat: 1 },
      { transient_since: 'x', transient_failures: 2 },
      { transient_since: t0, transient_failures: 0 },
    ]) {
      expect(continueTransientRun(prev as Record<string, unknown> | null, t0)).toEqual({ since: t0, failures: 1 });
    }
    let run = continueTransientRun(null, t0);
    let last: Record<string, unknown> = { code: 131000, ...transientRunFields(run) };
    // 500, 503, network, 130429 in a row: one run, the failures keep counting (the backoff keeps growing).
    for (const [i, code] of [2, 'NOT_SENT', 130429].entries()) {
      run = continueTransientRun(last, t0 + (i + 1) * 1_000);
      last = { code, ...transientRunFields(run) };
    }
    expect(run).toEqual({ since: t0, failures: 4 });
    expect(transientElapsedMs(run, t0 + 3_000)).toBe(3_000);
    expect(transientElapsedMs(run, t0 - 5)).toBe(0); // another instance's clock behind
  });

  it("spends the budget from the first failure of the run, not from the message's creation", () => {
    const run = { since: 10 * H, failures: 300 };
    expect(transientBudgetSpent(run, 10 * H + 24 * H - 1, 24)).toBe(false);
    expect(transientBudgetSpent(run, 10 * H + 24 * H, 24)).toBe(true);
    expect(transientBudgetSpent({ since: 0, failures: 1 }, 1_800, 0.0005)).toBe(true);
    expect(transientBudgetSpent({ since: 0, failures: 1 }, 1_799, 0.0005)).toBe(false);
  });

  it('formats how long it tried for the dead letter', () => {
    expect(formatDuration(250)).toBe('250 ms');
    expect(formatDuration(1_800)).toBe('1.8 s');
    expect(formatDuration(12 * 60_000)).toBe('12 min');
    expect(formatDuration(24 * H)).toBe('24 h');
    expect(formatDuration(90 * H)).toBe('3.8 days');
  });

  it('config: retry_max_age_h defaults to 24 h, accepts fractions, refuses 0, negatives, over 30 days and non-numbers with the key named', () => {
    expect(ConfigSchema.parse({}).delivery).toMatchObject({ retry_max_age_h: 24, max_attempts: 8 });
    expect(ConfigSchema.parse({ delivery: { retry_max_age_h: 0.5 } }).delivery.retry_max_age_h).toBe(0.5);
    for (const [v, why] of [
      ['0', /more than 0/],
      ['-1', /more than 0/],
      ['721', /at most 720/],
      ['"a day"', /number of hours/],
    ] as const) {
      let e: unknown;
      try {
        loadConfig({ text: `delivery:\n  retry_max_age_h: ${v}\n`, env: {} });
      } catch (err) {
        e = err;
      }
      expect(e, v).toBeInstanceOf(ConfigError);
      const p = (e as ConfigError).problems[0]!;
      expect(p.key).toBe('delivery.retry_max_age_h');
      expect(p.where).toMatch(/:2:/);
      expect(p.problem).toMatch(why);
      expect(p.fix).toContain('retry_max_age_h');
    }
  });
});
