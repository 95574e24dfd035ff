// noteBusinessReply groups the window reads of concurrent calls (one Store.getReferralWindows per
// group): each call still gets its own answer, against the real SQLite store.
import { describe, it, expect, afterEach } from 'vitest';
import { noteBusinessReply } from '../../src/engine/fep.ts';
import { makeCtx, type TestCtx } from '../webhooks/helpers.ts';

let t: TestCtx | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('noteBusinessReply grouped reads', () => {
  it('concurrent replies: only the recipients with a fresh referral open a FEP window, each once', async () => {
    t = await makeCtx();
    const now = t.clock.t;
    const store = t.ctx.store;
    let reads = 0;
    const orig = store.getReferralWindows.bind(store);
    store.getReferralWindows = async (pairs) => {
      reads++;
      return orig(pairs);
    };
    await store.recordInbound('main', '15550001001', now - 60_000, { referral: true });
    await store.recordInbound('main', '15550001002', now - 60_000); // no referral
    await store.recordInbound('main', '15550001003', now - 25 * 3_600_000, { referral: true }); // too old
    const targets = ['15550001001', '15550001002', '15550001003', '15550001004', '15550001001'];
    const res = await Promise.all(targets.map((wa_id) => noteBusinessReply(t!.ctx, { sender_id: 'main', wa_id, at: now })));
    // The same customer twice in one group: both read "not opened yet"; markFepOpened keeps it to one window.
    expect(res.slice(1, 4)).toEqual([false, false, false]);
    expect(res[0]).toBe(true);
    expect(reads).toBe(1); // one read for the whole burst
    expect((await store.getWindows('15550001001'))[0].fep_opened_at).toBe(now);
    expect((await store.getWindows('15550001002'))[0].fep_opened_at).toBeNull();
    expect((await store.getWindows('15550001003'))[0].fep_opened_at).toBeNull();
    expect(await noteBusinessReply(t.ctx, { sender_id: 'main', wa_id: '15550001001', at: now + 1000 })).toBe(false);
    expect(reads).toBe(2);
  });

  it('a failed read rejects the waiting calls, and the next call reads again', async () => {
    t = await makeCtx();
    const store = t.ctx.store;
    const orig = store.getReferralWindows.bind(store);
    let fail = true;
    store.getReferralWindows = async (pairs) => {
      if (fail) throw new Error('database is down');
      return orig(pairs);
    };
    await store.recordInbound('main', '15550001011', t.clock.t, { referral: true });
    await expect(noteBusinessReply(t.ctx, { sender_id: 'main', wa_id: '15550001011', at: t.clock.t })).rejects.toThrow('database is down');
    fail = false;
    expect(await noteBusinessReply(t.ctx, { sender_id: 'main', wa_id: '15550001011', at: t.clock.t })).toBe(true);
  });
});
