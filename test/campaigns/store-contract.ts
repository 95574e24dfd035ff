// The CampaignStore contract (src/campaigns/port.ts): run unchanged on SQLite (store-sqlite.test.ts)
// and PostgreSQL (store-postgres.test.ts). `make` gives a fresh database; `second` (when given) opens
// ANOTHER connection to the same database, as a second instance would, so the claims are proved
// disjoint across connections, not only across calls.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CampaignRecord, CampaignStore } from '../../src/campaigns/port.ts';
import type { Store } from '../../src/store/port.ts';
import { campaignStoreFor } from '../../src/store/campaign-store.ts';
import { T0, message } from '../store/fixtures.ts';

export interface CampaignStoreHandle {
  store: Store;
  /** Another connection (pool) to the same database, or null when the dialect has one writer. */
  second: () => Promise<Store | null>;
  cleanup: () => Promise<void>;
}

export function campaign(over: Partial<CampaignRecord> = {}): CampaignRecord {
  return {
    id: 'cmp_1',
    name: 'spring',
    sender_id: 'main',
    template_name: 'spring_sale',
    template_language: 'en_US',
    category: 'marketing',
    status: 'draft',
    deliver_at: null,
    audience: { kind: 'list', invalid: [{ index: 2, reason: 'bad phone' }], invalid_count: 1 },
    options: { max_failure_rate: 0.3 },
    total: 0,
    status_reason: null,
    waiting_until: null,
    actor: 'test',
    created_at: T0,
    updated_at: T0,
    started_at: null,
    finished_at: null,
    ...over,
  };
}

const recipients = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({
    seq: from + i,
    recipient: `9198000${String(from + i).padStart(5, '0')}`,
    variables: [`n${from + i}`],
  }));

export function campaignStoreContract(name: string, make: () => Promise<CampaignStoreHandle>): void {
  describe(`CampaignStore contract: ${name}`, () => {
    let h: CampaignStoreHandle;
    let cs: CampaignStore;
    beforeEach(async () => {
      h = await make();
      cs = campaignStoreFor(h.store);
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('stores a campaign and reads it back whole; lists newest first, by status', async () => {
      await cs.insertCampaign(campaign());
      await cs.insertCampaign(campaign({ id: 'cmp_2', status: 'scheduled', deliver_at: T0 + 1000, created_at: T0 + 1 }));
      expect(await cs.getCampaign('cmp_1')).toEqual(campaign());
      expect(await cs.getCampaign('nope')).toBeNull();
      expect((await cs.listCampaigns()).map((c) => c.id)).toEqual(['cmp_2', 'cmp_1']);
      expect((await cs.listCampaigns({ status: ['draft'] })).map((c) => c.id)).toEqual(['cmp_1']);
      expect(await cs.campaignIds(['scheduled'], { due_before: T0 + 999 })).toEqual([]);
      expect(await cs.campaignIds(['scheduled'], { due_before: T0 + 1000 })).toEqual(['cmp_2']);
    });

    it('transitions only from the allowed states, in one conditional write', async () => {
      await cs.insertCampaign(campaign());
      expect(await cs.transition('cmp_1', ['running'], 'paused', T0 + 1)).toBeNull();
      const r = await cs.transition('cmp_1', ['draft', 'scheduled'], 'running', T0 + 2, { started_at: T0 + 2, total: 5 });
      expect(r).toMatchObject({ status: 'running', started_at: T0 + 2, total: 5, updated_at: T0 + 2 });
      // Two racing transitions from the same state: exactly one wins.
      const both = await Promise.all([
        cs.transition('cmp_1', ['running'], 'paused', T0 + 3, { status_reason: 'a' }),
        cs.transition('cmp_1', ['running'], 'cancelled', T0 + 3, { status_reason: 'b' }),
      ]);
      expect(both.filter((x) => x !== null)).toHaveLength(1);
      expect(await cs.transition('nope', ['draft'], 'running', T0)).toBeNull();
    });

    it('stores every recipient of an upload as given: awkward text, named, positional and absent variables, thousands at once', async () => {
      await cs.insertCampaign(campaign({ status: 'running' }));
      const awkward = [
        { seq: 0, recipient: '919800000000', variables: ['quote " backslash \\ comma , braces {} [1]', 'NULL', ''] },
        { seq: 1, recipient: 'US.13491208655302741918', variables: { first_name: 'Zoë 😀', 'odd key"': "it's" } },
        { seq: 2, recipient: '919800000002', variables: null },
        { seq: 3, recipient: '919800000003', variables: ['\n is not a newline', 'tab\there'] },
      ];
      const many = recipients(12_000, 4); // more rows than one statement takes
      await cs.addRecipients('cmp_1', [...awkward, ...many], T0);
      await cs.addRecipients('cmp_1', [{ seq: 2, recipient: 'changed', variables: ['x'] }], T0 + 1); // seq taken: ignored
      const got = await cs.claimRecipients('cmp_1', 5000, T0 + 10, 60_000, 'w');
      expect(got.slice(0, 4).map(({ seq, recipient, variables }) => ({ seq, recipient, variables }))).toEqual(awkward);
      expect(got[4]).toMatchObject({
        seq: 4,
        recipient: many[0].recipient,
        variables: many[0].variables,
        state: 'claimed',
        gen: 0,
        updated_at: T0 + 10,
      });
      const rest = [
        ...(await cs.claimRecipients('cmp_1', 5000, T0 + 10, 60_000, 'w')),
        ...(await cs.claimRecipients('cmp_1', 5000, T0 + 10, 60_000, 'w')),
      ];
      expect([...got, ...rest].map((r) => r.seq)).toEqual(Array.from({ length: 12_004 }, (_, i) => i));
      expect(rest.at(-1)).toMatchObject({ recipient: many.at(-1)?.recipient, variables: many.at(-1)?.variables });
    });

    it('claims each recipient once, in seq order, also under concurrent claimers on separate connections', async () => {
      await cs.insertCampaign(campaign({ status: 'running' }));
      await cs.addRecipients('cmp_1', recipients(900), T0);
      await cs.addRecipients('cmp_1', recipients(10), T0); // already there: ignored
      const other = await h.second();
      const cs2 = other ? campaignStoreFor(other) : cs;
      try {
        const got: number[][] = [];
        await Promise.all(
          Array.from({ length: 6 }, (_, w) =>
            (async () => {
              const mine: number[] = [];
              for (;;) {
                const batch = await (w % 2 ? cs2 : cs).claimRecipients('cmp_1', 37, T0 + 10, 60_000, `w${w}`);
                if (batch.length === 0) break;
                for (const r of batch) {
                  expect(r.claimed_by).toBe(`w${w}`);
                  mine.push(r.seq);
                }
              }
              got.push(mine);
            })(),
          ),
        );
        const all = got.flat().sort((a, b) => a - b);
        expect(all).toEqual(Array.from({ length: 900 }, (_, i) => i));
      } finally {
        if (other) await other.close();
      }
    });

    it('gives an expired claim to another claimer; only the holder of a claim can settle it', async () => {
      await cs.insertCampaign(campaign({ status: 'running' }));
      await cs.addRecipients('cmp_1', recipients(3), T0);
      const a = await cs.claimRecipients('cmp_1', 10, T0, 1000, 'a');
      expect(a.map((r) => r.seq)).toEqual([0, 1, 2]);
      expect(a[0].variables).toEqual(['n0']);
      expect(await cs.claimRecipients('cmp_1', 10, T0 + 999, 1000, 'b')).toEqual([]);
      const b = await cs.claimRecipients('cmp_1', 1, T0 + 1001, 1000, 'b');
      expect(b.map((r) => r.seq)).toEqual([0]);
      // a lost seq 0 to b: its settle of 0 changes nothing; its settle of 1 does.
      const done = await cs.settleRecipients(
        'cmp_1',
        [
          { seq: 0, state: 'queued', message_id: 'm0' },
          { seq: 1, state: 'denied', reason_code: 'OPTED_OUT', detail: 'opted out' },
          { seq: 2, state: 'pending', not_before: T0 + 50_000 },
        ],
        'a',
        T0 + 1002,
      );
      expect(done).toEqual([1, 2]);
      expect(
        await cs.settleRecipients('cmp_1', [{ seq: 0, state: 'queued', message_id: 'm0b', wa_id: '91980000000' }], 'b', T0 + 1003),
      ).toEqual([0]);
      const list = await cs.listRecipients('cmp_1');
      expect(list.map((r) => [r.seq, r.state, r.message_id, r.reason_code])).toEqual([
        [0, 'queued', 'm0b', null],
        [1, 'denied', null, 'OPTED_OUT'],
        [2, 'pending', null, null],
      ]);
      expect(await cs.nextPendingAt('cmp_1')).toBe(T0 + 50_000);
      expect(await cs.claimRecipients('cmp_1', 10, T0 + 49_999, 1000, 'c')).toEqual([]);
      expect(await cs.cancelPending('cmp_1', T0 + 2000)).toBe(1);
      expect(await cs.nextPendingAt('cmp_1')).toBeNull();
    });

    it('claims the lowest seqs among pending recipients and expired claims together, never a held one', async () => {
      await cs.insertCampaign(campaign({ status: 'running' }));
      await cs.addRecipients('cmp_1', recipients(8), T0);
      expect((await cs.claimRecipients('cmp_1', 2, T0, 1000, 'a')).map((r) => r.seq)).toEqual([0, 1]);
      expect((await cs.claimRecipients('cmp_1', 2, T0, 60_000, 'd')).map((r) => r.seq)).toEqual([2, 3]);
      expect((await cs.claimRecipients('cmp_1', 1, T0, 1000, 'e')).map((r) => r.seq)).toEqual([4]);
      expect(await cs.settleRecipients('cmp_1', [{ seq: 4, state: 'pending', not_before: T0 + 5000 }], 'e', T0)).toEqual([4]);
      // At T0 + 1001: a's claims (0, 1) ran out, d's (2, 3) did not, 4 waits until T0 + 5000, 5.. are pending.
      const b = await cs.claimRecipients('cmp_1', 4, T0 + 1001, 1000, 'b');
      expect(b.map((r) => [r.seq, r.claimed_by])).toEqual([
        [0, 'b'],
        [1, 'b'],
        [5, 'b'],
        [6, 'b'],
      ]);
      expect((await cs.claimRecipients('cmp_1', 10, T0 + 1001, 1000, 'c')).map((r) => r.seq)).toEqual([7]);
    });

    it('tallies recipients by state, denial reason, message status and Meta error code, and opt-outs since the start', async () => {
      await cs.insertCampaign(campaign({ status: 'running' }));
      await cs.addRecipients('cmp_1', recipients(5), T0);
      await h.store.insertMessage(message({ id: 'm0', to: '919800000000', status: 'queued' }));
      await h.store.insertMessage(message({ id: 'm1', to: '919800000001', status: 'queued' }));
      await h.store.applyStatus('m1', { status: 'failed', at: T0 + 5, source: 'webhook' }, { last_error: { code: 131026, message: 'x' } });
      await h.store.insertMessage(message({ id: 'm2', to: '919800000002', status: 'queued' }));
      await h.store.applyStatus('m2', { status: 'delivered', at: T0 + 5, source: 'webhook' });
      await cs.claimRecipients('cmp_1', 10, T0, 60_000, 'a');
      await cs.settleRecipients(
        'cmp_1',
        [
          { seq: 0, state: 'queued', message_id: 'm0', wa_id: '919800000000' },
          { seq: 1, state: 'queued', message_id: 'm1', wa_id: '919800000001' },
          { seq: 2, state: 'queued', message_id: 'm2', wa_id: '919800000002' },
          { seq: 3, state: 'denied', reason_code: 'OPTED_OUT' },
        ],
        'a',
        T0 + 1,
      );
      await h.store.setConsent('919800000002', 'marketing', 'opted_out', 'webhook', T0 + 10);
      await h.store.setConsent('919800000000', 'marketing', 'opted_out', 'webhook', T0 - 10); // before the start
      const t = { ...(await cs.tallyStates('cmp_1')), ...(await cs.tallyOutcomes('cmp_1', 'marketing', T0)) };
      expect(t.states).toEqual({ queued: 3, denied: 1, claimed: 1 });
      expect(t.denied).toEqual({ OPTED_OUT: 1 });
      expect(t.messages).toEqual({ queued: 1, failed: 1, delivered: 1 });
      expect(t.failed_by_code).toEqual({ '131026': 1 });
      expect(t.opted_out_during).toBe(1);
      // Started mid-second (T0 + 400): a STOP stamped with that whole second (a webhook's timestamp)
      // counts as during; one carrying its millisecond (T0 + 10, before the start) does not.
      await h.store.setConsent('919800000001', 'marketing', 'opted_out', 'webhook', T0);
      expect((await cs.tallyOutcomes('cmp_1', 'marketing', T0 + 400)).opted_out_during).toBe(1);
    });

    it('withdraws only messages still queued and never tried, then puts their recipients back (next generation) or cancels them', async () => {
      await cs.insertCampaign(campaign({ status: 'running' }));
      await cs.addRecipients('cmp_1', recipients(3), T0);
      await h.store.insertMessage(message({ id: 'm0', status: 'queued' }));
      await h.store.insertMessage(message({ id: 'm1', status: 'queued' }));
      await h.store.insertMessage(message({ id: 'm2', status: 'queued' }));
      expect(await h.store.claimAttempt('m1', 0, 1, T0 + 1)).toBe(true); // a worker is sending m1
      await cs.claimRecipients('cmp_1', 10, T0, 60_000, 'a');
      await cs.settleRecipients(
        'cmp_1',
        [0, 1, 2].map((i) => ({ seq: i, state: 'queued' as const, message_id: `m${i}` })),
        'a',
        T0 + 1,
      );
      const unsent = await cs.unsentQueued('cmp_1', 100);
      expect(unsent.map((u) => u.message_id)).toEqual(['m0', 'm2']);
      expect((await cs.withdrawMessages(['m0', 'm1'], 'CAMPAIGN_PAUSED', 'paused', T0 + 2)).sort()).toEqual(['m0']);
      const m0 = await h.store.getMessage('m0');
      expect(m0?.status).toBe('failed');
      expect(m0?.last_error).toEqual({ code: 'CAMPAIGN_PAUSED', message: 'paused' });
      expect(m0?.history.at(-1)).toMatchObject({ status: 'failed', source: 'campaign' });
      expect((await h.store.getMessage('m1'))?.status).toBe('queued');
      expect(await cs.requeueWithdrawn('cmp_1', 'CAMPAIGN_PAUSED', T0 + 3)).toBe(1);
      const r = await cs.listRecipients('cmp_1');
      expect(r.map((x) => [x.seq, x.state, x.gen, x.message_id])).toEqual([
        [0, 'pending', 1, null],
        [1, 'queued', 0, 'm1'],
        [2, 'queued', 0, 'm2'],
      ]);
      expect(await cs.withdrawMessages(['m2'], 'CAMPAIGN_CANCELLED', 'cancelled', T0 + 4)).toEqual(['m2']);
      expect(await cs.cancelWithdrawn('cmp_1', 'CAMPAIGN_CANCELLED', T0 + 5)).toBe(1);
      expect((await cs.listRecipients('cmp_1', { state: ['cancelled'] })).map((x) => x.seq)).toEqual([2]);
      expect((await cs.listRecipients('cmp_1', { state: ['queued'] }))[0]).toMatchObject({ seq: 1, message_status: 'queued' });
    });

    it('pages known customers for a filter audience with tags, consent and the last inbound on the sender', async () => {
      await h.store.upsertCustomer('447700900001', { tags: ['vip', 'uk'] }, T0);
      await h.store.upsertCustomer('447700900002', { tags: [] }, T0);
      await h.store.setConsent('447700900002', 'marketing', 'opted_out', 'api', T0);
      await h.store.recordInbound('main', '447700900001', T0 + 5);
      const p1 = await cs.customersPage('', 1, 'main', 'marketing');
      expect(p1).toEqual([{ wa_id: '447700900001', tags: ['vip', 'uk'], consent: 'unknown', last_inbound_at: T0 + 5 }]);
      const p2 = await cs.customersPage(p1[0].wa_id, 10, 'main', 'marketing');
      expect(p2).toEqual([{ wa_id: '447700900002', tags: [], consent: 'opted_out', last_inbound_at: null }]);
    });

    it('hands a due scheduled message to exactly one claimer, gives an expired claim again, and cancels only a scheduled one', async () => {
      const base = {
        sender_id: 'main',
        recipient: '447700900001',
        body: { to: '447700900001', type: 'text', text: { body: 'hi' } },
        state: 'scheduled' as const,
        claim_until: null,
        claimed_by: null,
        message_id: null,
        decision: { allowed: true },
        actor: 'test',
        created_at: T0,
        updated_at: T0,
      };
      for (let i = 0; i < 50; i++) await cs.insertScheduled({ ...base, id: `s${i}`, deliver_at: T0 + i });
      await cs.insertScheduled({ ...base, id: 'late', deliver_at: T0 + 10_000 });
      expect(await cs.getScheduled('s1')).toEqual({ ...base, id: 's1', deliver_at: T0 + 1 });
      const other = await h.second();
      const cs2 = other ? campaignStoreFor(other) : cs;
      try {
        const claims = await Promise.all(
          Array.from({ length: 8 }, (_, w) => (w % 2 ? cs2 : cs).claimDueScheduled(T0 + 100, 7, 1000, `w${w}`)),
        );
        const more = await cs.claimDueScheduled(T0 + 100, 100, 1000, 'x');
        const ids = [...claims.flat(), ...more].map((m) => m.id).sort();
        expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => `s${i}`).sort());
      } finally {
        if (other) await other.close();
      }
      // s0's claimer died: after its lease another takes it; the dead one can no longer settle it.
      const again = await cs.claimDueScheduled(T0 + 2000, 1, 1000, 'y');
      expect(again).toHaveLength(1);
      const holder = (await cs.getScheduled(again[0].id))?.claimed_by;
      expect(holder).toBe('y');
      expect(await cs.settleScheduled(again[0].id, 'x', { state: 'submitted', message_id: 'mX' }, T0 + 2001)).toBe(false);
      expect(await cs.settleScheduled(again[0].id, 'y', { state: 'submitted', message_id: 'mY' }, T0 + 2001)).toBe(true);
      expect(await cs.getScheduled(again[0].id)).toMatchObject({ state: 'submitted', message_id: 'mY', claimed_by: null });
      expect(await cs.cancelScheduled(again[0].id, T0 + 2002)).toBe(false);
      expect(await cs.cancelScheduled('late', T0 + 2002)).toBe(true);
      expect(await cs.claimDueScheduled(T0 + 20_000, 100, 1000, 'z')).not.toContainEqual(expect.objectContaining({ id: 'late' }));
    });
  });
}
