// The pure rules of campaigns (src/campaigns/plan.ts): transitions, audience rows, what a decision
// means at dispatch, counters and the quality guard.
import { describe, expect, it } from 'vitest';
import {
  AudienceBuilder,
  TRANSITIONS,
  countsOf,
  guardTrips,
  qualityTrips,
  isTerminal,
  matchesFilter,
  parseRow,
  parseVariables,
  recipientKey,
  verdictOf,
} from '../../src/campaigns/plan.ts';
import { CAMPAIGN_STATUSES } from '../../src/campaigns/port.ts';
import { allow, deny } from '../../src/domain/decision.ts';

describe('campaign state machine', () => {
  it('allows each action only from its states and never leaves a terminal state', () => {
    for (const [action, t] of Object.entries(TRANSITIONS)) {
      for (const s of t.from) expect(isTerminal(s), `${action} from ${s}`).toBe(false);
      expect(CAMPAIGN_STATUSES).toContain(t.to);
    }
    expect(TRANSITIONS.resume.from).toEqual(['paused']);
    expect(TRANSITIONS.pause.from).not.toContain('paused');
    expect(TRANSITIONS.cancel.from).not.toContain('completed');
    expect(isTerminal('completed') && isTerminal('cancelled')).toBe(true);
  });
});

describe('audience rows', () => {
  it('normalises phones, keeps BSUIDs, parses variables (JSON strings too) and says what is wrong', () => {
    expect(parseRow({ to: '+44 7700 900123', variables: '["Ana"]' })).toEqual({ ok: true, recipient: '447700900123', variables: ['Ana'] });
    expect(parseRow({ recipient: 'US.13491208655302741918' })).toEqual({ ok: true, recipient: 'US.13491208655302741918', variables: null });
    expect(parseRow({ to: '12' })).toMatchObject({ ok: false, reason: expect.stringMatching(/^to: /) });
    expect(parseRow({ variables: ['x'] })).toMatchObject({ ok: false, reason: expect.stringMatching(/no recipient/) });
    expect(parseRow('nope')).toMatchObject({ ok: false });
    expect(parseVariables({ name: 'Ana', n: 3 })).toEqual({ ok: true, vars: { name: 'Ana', n: '3' } });
    expect(parseVariables([{}])).toMatchObject({ ok: false, reason: 'variables[0]: must be a string' });
    expect(parseVariables('{')).toMatchObject({ ok: false });
  });

  it('numbers valid rows in order, drops duplicates and rows the template check refuses, and keeps going', () => {
    const b = new AudienceBuilder((v) => (v && Array.isArray(v) && v.length === 1 ? null : 'needs one variable'));
    b.add({ to: '+447700900001', variables: ['a'] }, 0);
    b.add({ to: '+447700900001', variables: ['b'] }, 1);
    b.add({ to: '+447700900002' }, 2);
    b.add({ __invalid: 'not valid JSON' }, 3);
    b.add({ to: '+447700900003', variables: ['c'] }, 4);
    expect(b.rows.map((r) => [r.seq, r.recipient])).toEqual([
      [0, '447700900001'],
      [1, '447700900003'],
    ]);
    expect(b.invalid).toEqual([
      { index: 1, reason: expect.stringMatching(/duplicate/) },
      { index: 2, reason: 'needs one variable' },
      { index: 3, reason: 'not valid JSON' },
    ]);
    expect(b.invalid_count).toBe(3);
  });

  it('filters known customers: never opted out; tags, exclusions, consent, country, last inbound, sender', () => {
    const c = { wa_id: '447700900001', tags: ['vip', 'uk'], consent: 'opted_in' as const, last_inbound_at: 1000 };
    const cc = () => 'GB';
    expect(matchesFilter(c, {}, cc)).toBe(true);
    expect(matchesFilter({ ...c, consent: 'opted_out' }, {}, cc)).toBe(false);
    expect(matchesFilter(c, { tags: ['vip', 'uk'] }, cc)).toBe(true);
    expect(matchesFilter(c, { tags: ['vip', 'de'] }, cc)).toBe(false);
    expect(matchesFilter(c, { exclude_tags: ['uk'] }, cc)).toBe(false);
    expect(matchesFilter({ ...c, consent: 'unknown' }, { consent: ['opted_in'] }, cc)).toBe(false);
    expect(matchesFilter(c, { country: ['gb'] }, cc)).toBe(true);
    expect(matchesFilter(c, { country: ['IN'] }, cc)).toBe(false);
    expect(matchesFilter(c, { last_inbound_since: 1001 }, cc)).toBe(false);
    // sender: the facts' last inbound is to that sender; never having written there leaves the customer out.
    expect(matchesFilter(c, { sender: 'shop_b' }, cc)).toBe(true);
    expect(matchesFilter({ ...c, last_inbound_at: null }, { sender: 'shop_b' }, cc)).toBe(false);
    expect(matchesFilter({ ...c, last_inbound_at: null }, {}, cc)).toBe(true);
  });
});

describe('a decision at dispatch', () => {
  const now = 1_000_000;
  it('queues, denies, defers quiet hours to when they end, waits for the tier budget, pauses on campaign-wide reasons', () => {
    expect(verdictOf(202, allow([]), now)).toEqual({ kind: 'queued' });
    expect(verdictOf(422, deny('OPTED_OUT', 'x', 'y', []), now)).toEqual({ kind: 'deny', reason: 'OPTED_OUT' });
    expect(verdictOf(422, deny('FREQUENCY_CAP', 'x', 'y', [], 3600), now)).toEqual({ kind: 'deny', reason: 'FREQUENCY_CAP' });
    expect(verdictOf(422, deny('POLICY_QUIET_HOURS', 'x', 'y', [], 7200), now)).toEqual({
      kind: 'defer',
      at: now + 7_200_000,
      reason: 'POLICY_QUIET_HOURS',
    });
    expect(verdictOf(422, deny('TIER_LIMIT', 'x', 'y', [], 86_000), now)).toEqual({
      kind: 'wait',
      at: now + 86_000_000,
      reason: 'TIER_LIMIT',
    });
    expect(verdictOf(422, deny('TEMPLATE_PAUSED', 'x', 'y', []), now)).toEqual({ kind: 'pause', reason: 'TEMPLATE_PAUSED' });
    expect(verdictOf(422, deny('SENDER_PAUSED', 'x', 'y', []), now).kind).toBe('pause');
    expect(verdictOf(503, deny('GATE_UNAVAILABLE', 'x', 'y', [], 1), now)).toEqual({
      kind: 'defer',
      at: now + 1000,
      reason: 'GATE_UNAVAILABLE',
    });
  });

  it('ties a recipient to one idempotency key per generation', () => {
    expect(recipientKey('cmp_1', 7, 0)).toBe('campaign:cmp_1:7:0');
    expect(recipientKey('cmp_1', 7, 1)).not.toBe(recipientKey('cmp_1', 7, 0));
  });
});

describe('counters and the quality guard', () => {
  const tally = (messages: Record<string, number>, opted = 0) => ({
    states: { queued: Object.values(messages).reduce((a, b) => a + b, 0), pending: 5, claimed: 1, denied: 2 },
    denied: { OPTED_OUT: 2 },
    messages,
    failed_by_code: { '131026': messages.failed ?? 0 },
    opted_out_during: opted,
  });
  it('adds recipients up from their states and their messages', () => {
    const c = countsOf(tally({ queued: 1, accepted: 2, sent: 3, delivered: 4, read: 5, failed: 6, dead_lettered: 1 }));
    expect(c).toMatchObject({ total: 30, pending: 6, queued: 1, sent: 5, delivered: 4, read: 5, failed: 7, denied: 2 });
    expect(c.denied_by_reason).toEqual({ OPTED_OUT: 2 });
  });
  it('pauses past the failure or opt-out rate, only after the minimum sample', () => {
    expect(guardTrips(countsOf(tally({ delivered: 30, failed: 10 })), {})).toBeNull(); // 40 < 50 finished
    expect(guardTrips(countsOf(tally({ delivered: 60, failed: 20 })), {})).toMatch(/20 of 80 sends failed \(25%\)/);
    expect(guardTrips(countsOf(tally({ delivered: 60, failed: 20 })), { max_failure_rate: 0.3 })).toBeNull();
    expect(guardTrips(countsOf(tally({ delivered: 100 }, 6)), {})).toMatch(/6 of 100 recipients opted out/);
    expect(guardTrips(countsOf(tally({ delivered: 100 }, 6)), { guard_min_sample: 200 })).toBeNull();
  });
  it('pauses on a template quality drop: any drop by default, only RED with pause_on_quality RED; an unrated template is no drop', () => {
    expect(qualityTrips('GREEN', {})).toBe(false);
    expect(qualityTrips('YELLOW', {})).toBe(true);
    expect(qualityTrips('RED', {})).toBe(true);
    expect(qualityTrips('YELLOW', { pause_on_quality: 'RED' })).toBe(false);
    expect(qualityTrips('RED', { pause_on_quality: 'RED' })).toBe(true);
    expect(qualityTrips('UNKNOWN', {})).toBe(false);
    expect(qualityTrips(null, {})).toBe(false);
  });
});
