// The soak's verdict (bench/soak/count.ts) on hand-built ledgers: each way a message can end is
// counted once, in the right bucket, under the fault it met.
import { describe, it, expect } from 'vitest';
import { attribute, countSoak, faultsMet, type CountInput } from '../../bench/soak/count.ts';

const msg = (i: number, over: Partial<CountInput['messages'][number]> = {}) => ({
  id: `m${i}`,
  to: `91980000000${i}`,
  outcome: 'accepted',
  first_at: 1_000 * i,
  accepted_at: 1_000 * i + 10,
  ...over,
});
const send = (i: number, id: string | null = `m${i}`) => ({
  to: `91980000000${i}`,
  biz_opaque_callback_data: id,
  at: new Date(1_000 * i + 50).toISOString(),
});

describe('soak count', () => {
  it('a clean run: everything sent once, nothing lost, duplicated or stuck', () => {
    const messages = [0, 1, 2].map((i) => msg(i));
    const r = countSoak({
      messages,
      ledger: [send(0), send(1), send(2)],
      deadLetters: [],
      statuses: new Map(messages.map((m) => [m.id!, 'read'])),
      faults: [],
    });
    expect(r).toMatchObject({
      accepted: 3,
      sent: 3,
      lost: 0,
      duplicates: 0,
      duplicate_recipients: 0,
      stuck: 0,
      not_in_store: 0,
      sent_unacknowledged: 0,
    });
    expect(r.by_phase).toEqual({ none: { accepted: 3, denied: 0, lost: 0, stuck: 0, duplicates: 0, dead_letters: 0 } });
    expect(r.deliver_ms).toEqual([40, 40, 40]);
  });

  it('lost, duplicate, stuck, dead-lettered, unknown to the store, denied and unacknowledged each land in their own bucket', () => {
    const messages = [
      msg(0), // sent twice
      msg(1), // not in the ledger, status accepted: lost
      msg(2), // queued after the drain, never sent: stuck (not lost)
      msg(3), // in_doubt but Meta has it: stuck, not unsent
      msg(4), // dead-lettered: neither lost nor stuck
      msg(5), // accepted but the store does not know it, not sent: lost
      msg(6, { id: null, outcome: 'denied' }),
      msg(7, { id: null, outcome: 'gave_up' }), // Meta still got it under another id
    ];
    const statuses = new Map([
      ['m0', 'read'],
      ['m1', 'accepted'],
      ['m2', 'queued'],
      ['m3', 'in_doubt'],
      ['m4', 'dead_lettered'],
    ]);
    const ledger = [send(0), send(0), send(3), send(7, 'x7')];
    const r = countSoak({ messages, ledger, deadLetters: [{ message_id: 'm4', reason_code: 'MAX_ATTEMPTS' }], statuses, faults: [] });
    expect(r).toMatchObject({
      accepted: 6,
      sent: 2,
      lost: 2,
      duplicates: 1,
      duplicate_recipients: 1,
      stuck: 2,
      stuck_unsent: 1,
      dead_letters: { MAX_ATTEMPTS: 1 },
      not_in_store: 1,
      sent_unacknowledged: 1,
    });
    expect(r.lost_ids.sort()).toEqual(['m1', 'm5']);
    expect(r.stuck_ids.sort()).toEqual(['m2', 'm3']);
    expect(r.duplicate_ids).toEqual(['m0']);
    expect(r.statuses).toEqual({ read: 1, accepted: 1, queued: 1, in_doubt: 1, dead_lettered: 1 });
    expect(r.by_phase.none).toEqual({ accepted: 6, denied: 1, lost: 2, stuck: 2, duplicates: 1, dead_letters: 1 });
  });

  it('one Idempotency-Key answered with two ids shows as a duplicate recipient, not as a duplicate id', () => {
    const r = countSoak({
      messages: [msg(0)],
      ledger: [send(0), send(0, 'other')],
      deadLetters: [],
      statuses: new Map([['m0', 'read']]),
      faults: [],
    });
    expect(r).toMatchObject({ duplicates: 0, duplicate_recipients: 1, sent_unacknowledged: 1 });
  });

  it('attributes a message to the fault it was accepted in, the next one within the horizon, or the one just before', () => {
    const faults = [
      { label: 'nats_restart#1', start: 10_000, end: 15_000 },
      { label: 'pg_stop#1', start: 40_000, end: 45_000 },
    ];
    expect(attribute(12_000, faults, 15_000)).toBe('nats_restart#1');
    expect(attribute(1_000, faults, 15_000)).toBe('before:nats_restart#1');
    expect(attribute(17_000, faults, 15_000)).toBe('after:nats_restart#1');
    expect(attribute(30_000, faults, 15_000)).toBe('before:pg_stop#1');
    expect(attribute(21_000, faults, 15_000)).toBe('none');
    expect(attribute(60_000, faults, 15_000)).toBe('none');
  });

  it('puts each problem under the faults it met between its 202 and its first send (duplicates) or within the horizon (lost, stuck)', () => {
    const faults = [
      { label: 'meta_5xx#1', start: 0, end: 500 },
      { label: 'kill_instance#1', start: 1_100, end: 5_000 },
      { label: 'pg_stop#1', start: 60_000, end: 65_000 },
    ];
    expect(faultsMet(100, 1_200, faults)).toBe('meta_5xx#1+kill_instance#1');
    expect(faultsMet(20_000, 30_000, faults)).toBe('none');
    // m0 accepted at 10 ms, first sent at 50 ms then again: it met the 5xx burst only.
    const messages = [msg(0), msg(1), msg(2)]; // m1 (accepted 1,010) is lost, m2 (2,010) stuck
    const r = countSoak(
      {
        messages,
        ledger: [send(0), send(0)],
        deadLetters: [],
        statuses: new Map([
          ['m0', 'read'],
          ['m1', 'accepted'],
          ['m2', 'queued'],
        ]),
        faults,
      },
      15_000,
    );
    expect(r.problems_by_faults).toEqual({
      duplicates: { 'meta_5xx#1': 1 },
      lost: { 'kill_instance#1': 1 },
      stuck: { 'kill_instance#1': 1 },
      dead_letters: {},
    });
  });
});
