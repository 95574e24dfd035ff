// The Store contract: every adapter runs this suite unchanged (sqlite.test.ts, postgres.test.ts).
// `make` returns a fresh, empty store; `reopen` (optional) opens the SAME database again, as after a
// restart, so the suite can prove durability and that migrations are idempotent.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MessageRecord, MessageStatus, SenderStatus } from '../../src/domain/types.ts';
import { DAY_MS, HOUR_MS } from '../../src/domain/types.ts';
import type { Store } from '../../src/store/port.ts';
import { movedOf } from '../../src/store/forward.ts';
import type { Kysely } from 'kysely';
import type { Tables } from '../../src/store/tables.ts';
import { StoreError } from '../../src/store/errors.ts';
import { T0, alert, deadLetter, message, template } from './fixtures.ts';

export interface StoreHandle {
  store: Store;
  cleanup: () => Promise<void>;
  /** Opens the same database again (restart); the suite closes the store it gets. */
  reopen?: () => Promise<Store>;
}

async function expectStoreError(p: Promise<unknown>, code: StoreError['code']): Promise<StoreError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  expect((err as StoreError).code).toBe(code);
  expect((err as StoreError).fix.length).toBeGreaterThan(0);
  return err as StoreError;
}

export function storeContract(name: string, make: () => Promise<StoreHandle>): void {
  describe(`Store contract: ${name}`, () => {
    let h: StoreHandle;
    let s: Store;
    beforeEach(async () => {
      h = await make();
      s = h.store;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    describe('customers and consent', () => {
      it('creates on first upsert with blank consent and patches only the given fields', async () => {
        expect(await s.getCustomer('15550000001')).toBeNull();
        const a = await s.upsertCustomer('15550000001', { profile_name: 'Ana', time_zone: 'America/Sao_Paulo' }, T0);
        expect(a.profile_name).toBe('Ana');
        expect(a.consent.marketing).toEqual({ state: 'unknown', at: null, source: null });
        expect(a.tags).toEqual([]);
        expect(a.created_at).toBe(T0);
        const b = await s.upsertCustomer('15550000001', { tags: ['vip', 'b2b', 'vip'] }, T0 + 10);
        expect(b.profile_name).toBe('Ana');
        expect(b.time_zone).toBe('America/Sao_Paulo');
        expect(b.tags).toEqual(['vip', 'b2b']);
        expect(b.created_at).toBe(T0);
        expect(b.updated_at).toBe(T0 + 10);
        const c = await s.upsertCustomer(
          '15550000001',
          { time_zone: null, undeliverable_at: T0 + 5, marketing_limited_at: T0 + 6 },
          T0 + 20,
        );
        expect(c.time_zone).toBeNull();
        expect(c.undeliverable_at).toBe(T0 + 5);
        expect(c.marketing_limited_at).toBe(T0 + 6);
        expect(await s.getCustomer('15550000001')).toEqual(c);
      });

      it('rejects tags that are not strings with a clear error', async () => {
        await expectStoreError(s.upsertCustomer('15550000001', { tags: [1 as unknown as string] }, T0), 'INVALID');
      });

      it('records consent per category with state, time and source; creates the customer when missing', async () => {
        const a = await s.setConsent('15550000002', 'marketing', 'opted_out', 'webhook:keyword:STOP', T0);
        expect(a.consent.marketing).toEqual({ state: 'opted_out', at: T0, source: 'webhook:keyword:STOP' });
        expect(a.consent.utility.state).toBe('unknown');
        const b = await s.setConsent('15550000002', 'utility', 'opted_in', 'api', T0 + 1);
        expect(b.consent.marketing.state).toBe('opted_out');
        expect(b.consent.utility).toEqual({ state: 'opted_in', at: T0 + 1, source: 'api' });
        const c = await s.setConsent('15550000002', 'marketing', 'opted_in', 'api', T0 + 2);
        expect(c.consent.marketing).toEqual({ state: 'opted_in', at: T0 + 2, source: 'api' });
        expect((await s.getCustomer('15550000002'))?.consent).toEqual(c.consent);
      });

      it('an older consent event never overrides a newer one (out-of-order webhooks)', async () => {
        await s.setConsent('15550000003', 'marketing', 'opted_out', 'webhook:keyword:STOP', T0 + 100);
        const r = await s.setConsent('15550000003', 'marketing', 'opted_in', 'webhook:keyword:START', T0 + 50);
        expect(r.consent.marketing).toEqual({ state: 'opted_out', at: T0 + 100, source: 'webhook:keyword:STOP' });
      });

      it('rejects an unknown category or state', async () => {
        await expectStoreError(s.setConsent('15550000004', 'promo' as never, 'opted_in', 'api', T0), 'INVALID');
        await expectStoreError(s.setConsent('15550000004', 'marketing', 'yes' as never, 'api', T0), 'INVALID');
        expect(await s.getCustomer('15550000004')).toBeNull();
      });

      it('lists customers in pages without overlap', async () => {
        for (let i = 0; i < 7; i++) await s.upsertCustomer(`1555000010${i}`, {}, T0 + i);
        const p1 = await s.listCustomers({ limit: 4 });
        const p2 = await s.listCustomers({ limit: 4, offset: 4 });
        expect(p1).toHaveLength(4);
        expect(p2).toHaveLength(3);
        const ids = new Set([...p1, ...p2].map((c) => c.wa_id));
        expect(ids.size).toBe(7);
        expect(p1[0].wa_id).toBe('15550000106'); // newest first
      });
    });

    describe('care windows', () => {
      it('keeps the latest inbound: an older one never moves the window back', async () => {
        const w1 = await s.recordInbound('main', '15550000010', T0 + 1000);
        expect(w1).toEqual({ sender_id: 'main', wa_id: '15550000010', last_inbound_at: T0 + 1000, referral_at: null, fep_opened_at: null });
        const w2 = await s.recordInbound('main', '15550000010', T0 + 500);
        expect(w2.last_inbound_at).toBe(T0 + 1000);
        const w3 = await s.recordInbound('main', '15550000010', T0 + 2000);
        expect(w3.last_inbound_at).toBe(T0 + 2000);
      });

      it('tracks referral and the free-entry-point window once per referral', async () => {
        await s.markFepOpened('main', '15550000011', T0); // no window yet: nothing to mark
        expect(await s.getWindows('15550000011')).toEqual([]);
        const w = await s.recordInbound('main', '15550000011', T0, { referral: true });
        expect(w.referral_at).toBe(T0);
        const plain = await s.recordInbound('main', '15550000011', T0 + 10);
        expect(plain.referral_at).toBe(T0); // a plain inbound keeps the referral
        await s.markFepOpened('main', '15550000011', T0 + 60_000);
        await s.markFepOpened('main', '15550000011', T0 + 120_000); // a later reply does not restart the clock
        expect((await s.getWindows('15550000011'))[0].fep_opened_at).toBe(T0 + 60_000);
        await s.recordInbound('main', '15550000011', T0 + 4 * DAY_MS, { referral: true }); // a new ad click
        await s.markFepOpened('main', '15550000011', T0 + 4 * DAY_MS + 1000);
        const after = (await s.getWindows('15550000011'))[0];
        expect(after.referral_at).toBe(T0 + 4 * DAY_MS);
        expect(after.fep_opened_at).toBe(T0 + 4 * DAY_MS + 1000);
      });

      it('reads the referral windows of many (sender, customer) pairs at once', async () => {
        if (!s.getReferralWindows) return;
        await s.recordInbound('main', '15550000031', T0, { referral: true });
        await s.recordInbound('second', '15550000031', T0 + 1, { referral: true });
        await s.recordInbound('main', '15550000032', T0); // a window without a referral
        await s.recordInbound('main', '15550000033', T0 + 2, { referral: true });
        const got = await s.getReferralWindows([
          { sender_id: 'main', wa_id: '15550000031' },
          { sender_id: 'main', wa_id: '15550000032' },
          { sender_id: 'main', wa_id: '15550000033' },
          { sender_id: 'main', wa_id: '15550000034' }, // no window at all
        ]);
        const key = (w: { sender_id: string; wa_id: string }) => `${w.sender_id}/${w.wa_id}`;
        expect(got.map(key).sort()).toEqual(['main/15550000031', 'main/15550000033']); // not second's, not the plain one
        expect(got.find((w) => w.wa_id === '15550000033')).toEqual({
          sender_id: 'main',
          wa_id: '15550000033',
          last_inbound_at: T0 + 2,
          referral_at: T0 + 2,
          fep_opened_at: null,
        });
        expect(await s.getReferralWindows([])).toEqual([]);
      });

      it('keeps one window per sender and lists them with filters', async () => {
        await s.recordInbound('main', '15550000012', T0);
        await s.recordInbound('second', '15550000012', T0 + 5);
        await s.recordInbound('main', '15550000013', T0 - DAY_MS);
        const mine = await s.getWindows('15550000012');
        expect(mine.map((w) => w.sender_id)).toEqual(['main', 'second']);
        expect((await s.listWindows({ sender_id: 'main' })).map((w) => w.wa_id)).toEqual(['15550000012', '15550000013']);
        expect((await s.listWindows({ active_since: T0 - HOUR_MS })).length).toBe(2);
        expect((await s.listWindows({ limit: 1, offset: 1 }))[0].last_inbound_at).toBe(T0);
      });
    });

    describe('templates', () => {
      it('upserts by (waba, name, language), keeps components verbatim and filters lists', async () => {
        await s.upsertTemplate(template());
        await s.upsertTemplate(template({ language: 'pt_BR', status: 'PENDING', quality: null, meta_id: null }));
        await s.upsertTemplate(template({ waba_id: 'waba2', name: 'promo', category: 'marketing' }));
        const t = await s.getTemplate('waba1', 'order_update', 'en_US');
        expect(t).toEqual(template());
        expect(await s.getTemplate('waba1', 'order_update', 'es_ES')).toBeNull();
        await s.upsertTemplate(template({ status: 'PAUSED', updated_at: T0 + 10 }));
        expect((await s.getTemplate('waba1', 'order_update', 'en_US'))?.status).toBe('PAUSED');
        expect((await s.listTemplates()).length).toBe(3);
        expect((await s.listTemplates({ waba_id: 'waba1' })).map((x) => x.language)).toEqual(['en_US', 'pt_BR']);
        expect((await s.listTemplates({ status: 'PENDING' })).map((x) => x.language)).toEqual(['pt_BR']);
      });

      it('an older template snapshot never overwrites a newer one', async () => {
        await s.upsertTemplate(template({ status: 'PAUSED', updated_at: T0 + 100 }));
        await s.upsertTemplate(template({ status: 'APPROVED', updated_at: T0 + 50 }));
        expect((await s.getTemplate('waba1', 'order_update', 'en_US'))?.status).toBe('PAUSED');
      });
    });

    describe('messages', () => {
      it('round-trips every field and finds a message by id, wamid and idempotency key', async () => {
        const m = message({
          idempotency_key: 'idem-1',
          request_hash: 'h1',
          wamid: 'wamid.AAA',
          reserved_marketing: true,
          last_error: { code: 131000, nested: { a: [1, 2] } },
          pricing: { billable: true, category: 'utility' },
        });
        await s.insertMessage(m);
        expect(await s.getMessage(m.id)).toEqual(m);
        expect(await s.getMessageByWamid('wamid.AAA')).toEqual(m);
        expect(await s.getMessageByIdempotencyKey('idem-1')).toEqual(m);
        expect(await s.getMessage('nope')).toBeNull();
        expect(await s.getMessageByWamid('nope')).toBeNull();
        expect(await s.getMessageByIdempotencyKey('nope')).toBeNull();
      });

      it("keeps the gate's decision out of the stored history and gives it back in the first event, also for a row stored before", async () => {
        const decision = {
          allowed: true,
          reason_code: null,
          explanation: 'All checks passed.',
          suggested_action: 'none',
          checks: [{ rule: 'opt_out', passed: true, detail: 'No opt-out for utility.' }],
        };
        const m = message({ history: [{ status: 'queued', at: T0, source: 'gate', detail: { decision, actor: 'api' } }] });
        await s.insertMessage(m);
        expect(await s.getMessage(m.id)).toEqual(m);
        const db = (s as unknown as { connection: Kysely<Tables> }).connection;
        const raw = await db.selectFrom('messages').select(['history', 'decision']).where('id', '=', m.id).executeTakeFirstOrThrow();
        const parse = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
        expect(parse(raw.history)).toEqual([{ status: 'queued', at: T0, source: 'gate', detail: { actor: 'api' } }]);
        expect(parse(raw.decision)).toEqual(decision);
        await s.applyStatus(m.id, { status: 'sent', at: T0 + 2, source: 'webhook' });
        await s.applyStatusesForward([{ id: m.id, ev: { status: 'delivered', at: T0 + 3, source: 'webhook' } }]);
        const after = await s.getMessage(m.id);
        expect(after?.history.map((h) => h.status)).toEqual(['queued', 'sent', 'delivered']);
        expect(after?.history[0]).toEqual(m.history[0]);
        // A row of an earlier version: the decision inside its history, none in the column.
        const old = message({ history: [{ status: 'queued', at: T0, source: 'gate', detail: { actor: 'api' } }] });
        await s.insertMessage(old);
        await db
          .updateTable('messages')
          .set({ history: JSON.stringify(m.history), decision: null })
          .where('id', '=', old.id)
          .execute();
        expect((await s.getMessage(old.id))?.history).toEqual(m.history);
      });

      it('answers many concurrent idempotency-key lookups each with its own message (PostgreSQL shares one statement)', async () => {
        const ms = Array.from({ length: 40 }, (_, i) => message({ idempotency_key: `idem-many-${i}` }));
        for (const m of ms.filter((_, i) => i % 3 !== 0)) await s.insertMessage(m);
        const got = await Promise.all(ms.map((m) => s.getMessageByIdempotencyKey(m.idempotency_key!)));
        expect(got.map((g) => g?.id ?? null)).toEqual(ms.map((m, i) => (i % 3 !== 0 ? m.id : null)));
        expect(got[1]).toEqual(ms[1]);
      });

      it('refuses a duplicate id or idempotency key with a conflict error; many null keys are fine', async () => {
        const m = message({ idempotency_key: 'idem-2' });
        await s.insertMessage(m);
        const e1 = await expectStoreError(s.insertMessage(message({ id: m.id })), 'CONFLICT');
        expect(e1.message).toContain(m.id);
        const e2 = await expectStoreError(s.insertMessage(message({ idempotency_key: 'idem-2' })), 'CONFLICT');
        expect(e2.message).toContain('idem-2');
        await s.insertMessage(message());
        await s.insertMessage(message());
        expect((await s.listMessages({})).length).toBe(3);
      });

      it('concurrent inserts (written together in one statement) each get their own answer: a duplicate fails alone', async () => {
        const existing = message({ idempotency_key: 'idem-c0' });
        await s.insertMessage(existing);
        const fresh = Array.from({ length: 12 }, (_, i) => message({ idempotency_key: `idem-c${i + 1}` }));
        const dupId = message({ id: existing.id });
        const dupKeyA = message({ idempotency_key: 'idem-twice' });
        const dupKeyB = message({ idempotency_key: 'idem-twice' });
        const all = [...fresh.slice(0, 6), dupId, dupKeyA, ...fresh.slice(6), dupKeyB];
        const out = await Promise.allSettled(all.map((m) => s.insertMessage(m)));
        const failed = out.flatMap((r, i) => (r.status === 'rejected' ? [all[i]] : []));
        expect(failed).toEqual([dupId, dupKeyB]);
        for (const r of out) if (r.status === 'rejected') expect((r.reason as StoreError).code).toBe('CONFLICT');
        for (const m of [...fresh, dupKeyA]) expect(await s.getMessage(m.id)).toEqual(m);
        expect(await s.getMessage(existing.id)).toEqual(existing);
        expect(await s.getMessage(dupKeyB.id)).toBeNull();
      });

      it('concurrent inserts of every kind of value (written in one statement) round-trip exactly', async () => {
        const tricky = 'quote " backslash \\ brace { } comma , NULL null \u00e9 \u{1f600} \n newline';
        const ms = Array.from({ length: 9 }, (_, i) =>
          message({
            idempotency_key: i % 3 === 0 ? null : `idem-v${i}`,
            request_hash: i % 2 ? `h${i}` : null,
            wamid: i % 4 === 0 ? `wamid.V${i}` : null,
            template_name: i % 2 ? 'spring_sale' : null,
            template_language: i % 2 ? 'en_US' : null,
            payload: { to: tricky, n: i, list: [null, true, 1.5, { k: tricky }] },
            last_error: i % 3 === 1 ? { code: 131000, message: tricky } : null,
            pricing: i % 3 === 2 ? { billable: false, category: 'service' } : null,
            reserved_marketing: i % 2 === 0,
            reserved_tier: i % 2 === 1,
            attempts: i,
            history: [{ status: 'queued', at: T0 + i, source: 'gate', detail: { why: tricky } }],
          }),
        );
        await Promise.all(ms.map((m) => s.insertMessage(m)));
        for (const m of ms) expect(await s.getMessage(m.id)).toEqual(m);
      });

      it('moves status forward only, records history in order, and applies the patch', async () => {
        const m = message();
        await s.insertMessage(m);
        const step = (status: MessageStatus, at: number, patch?: Parameters<Store['applyStatus']>[2]) =>
          s.applyStatus(m.id, { status, at, source: 'worker' }, patch);
        expect((await step('sending', T0 + 1))?.changed).toBe(true);
        const acc = await step('accepted', T0 + 2, { wamid: 'wamid.X1', attempts: 1 });
        expect(acc?.changed).toBe(true);
        expect(acc?.message.wamid).toBe('wamid.X1');
        expect(acc?.message.attempts).toBe(1);
        expect((await step('sent', T0 + 3))?.changed).toBe(true);
        // read without delivered is fine
        const read = await step('read', T0 + 5);
        expect(read?.changed).toBe(true);
        expect(read?.message.status).toBe('read');
        // late delivered: not current, recorded once in history at its time
        const late = await step('delivered', T0 + 4, { pricing: { billable: true } });
        expect(late?.changed).toBe(false);
        expect(late?.message.status).toBe('read');
        expect(late?.message.pricing).toEqual({ billable: true });
        // duplicates never pile up
        expect((await step('delivered', T0 + 4))?.changed).toBe(false);
        expect((await step('sent', T0 + 3))?.changed).toBe(false);
        expect((await step('read', T0 + 5))?.changed).toBe(false);
        const stored = await s.getMessage(m.id);
        expect(stored?.status).toBe('read');
        expect(stored?.pricing).toEqual({ billable: true });
        expect(stored?.wamid).toBe('wamid.X1');
        expect(stored?.history.map((h) => h.status)).toEqual(['queued', 'sending', 'accepted', 'sent', 'delivered', 'read']);
        expect(stored?.history.map((h) => h.at)).toEqual([T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4, T0 + 5]);
        expect(stored?.updated_at).toBe(T0 + 5);
        expect(await s.getMessageByWamid('wamid.X1')).toEqual(stored);
      });

      it('failed and dead_lettered are terminal', async () => {
        const m = message();
        await s.insertMessage(m);
        const f = await s.applyStatus(
          m.id,
          { status: 'failed', at: T0 + 1, source: 'webhook', detail: { code: 131026 } },
          { last_error: { code: 131026 } },
        );
        expect(f?.changed).toBe(true);
        expect(f?.message.history.at(-1)).toEqual({ status: 'failed', at: T0 + 1, source: 'webhook', detail: { code: 131026 } });
        expect((await s.applyStatus(m.id, { status: 'read', at: T0 + 2, source: 'webhook' }))?.message.status).toBe('failed');
        expect((await s.applyStatus(m.id, { status: 'dead_lettered', at: T0 + 3, source: 'worker' }))?.message.status).toBe('failed');
        const stored = await s.getMessage(m.id);
        expect(stored?.status).toBe('failed');
        expect(stored?.last_error).toEqual({ code: 131026 });
        // lower statuses may be recorded once for their time, never as current
        expect(stored?.history.map((h) => h.status)).toEqual(['queued', 'failed', 'read', 'dead_lettered']);
      });

      it('returns null for an unknown message and rejects an unknown status', async () => {
        expect(await s.applyStatus('missing', { status: 'sent', at: T0, source: 'webhook' })).toBeNull();
        const m = message();
        await s.insertMessage(m);
        await expectStoreError(s.applyStatus(m.id, { status: 'bounced' as never, at: T0, source: 'webhook' }), 'INVALID');
        expect((await s.getMessage(m.id))?.status).toBe('queued');
      });

      it('concurrent status changes for one message end at the highest status, each recorded once', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          const m = message();
          ids.push(m.id);
          await s.insertMessage(m);
        }
        const statuses: MessageStatus[] = ['sending', 'accepted', 'sent', 'delivered', 'read'];
        const calls = ids.flatMap((id) =>
          [...statuses, ...statuses]
            .sort(() => Math.random() - 0.5)
            .map((st, i) => s.applyStatus(id, { status: st, at: T0 + 1 + statuses.indexOf(st), source: `c${i}` })),
        );
        const results = await Promise.all(calls);
        for (const id of ids) {
          const m = await s.getMessage(id);
          expect(m?.status).toBe('read');
          expect([...(m?.history.map((h) => h.status) ?? [])].sort()).toEqual([
            'accepted',
            'delivered',
            'queued',
            'read',
            'sending',
            'sent',
          ]);
          const mine = results.filter((r) => r?.message.id === id);
          // the change to `read` happened exactly once
          expect(mine.filter((r) => r?.changed && r.message.status === 'read')).toHaveLength(1);
        }
      });

      it('applyStatusesForward moves several messages forward in one call, exactly like applyStatus, and leaves every other case to it', async () => {
        if (!s.applyStatusesForward) return expect(s.applyStatusesForward).toBeUndefined(); // optional in the port
        const [a, b, c, d] = [message(), message(), message(), message({ status: 'read' as MessageStatus })];
        for (const m of [a, b, c]) await s.insertMessage(m);
        await s.insertMessage(d);
        await s.applyStatus(d.id, { status: 'read', at: T0 + 1, source: 'webhook' });
        await s.applyStatus(c.id, { status: 'failed', at: T0 + 1, source: 'webhook' });
        const out = await s.applyStatusesForward([
          {
            id: a.id,
            ev: { status: 'sent', at: T0 + 5, source: 'webhook', detail: { wamid: 'wamid.A' } },
            pricing: { billable: true, category: 'utility' },
          },
          { id: 'missing', ev: { status: 'sent', at: T0 + 5, source: 'webhook' } },
          { id: b.id, ev: { status: 'delivered', at: T0 + 6, source: 'webhook' } },
          { id: c.id, ev: { status: 'read', at: T0 + 7, source: 'webhook' } }, // failed is terminal
          { id: d.id, ev: { status: 'delivered', at: T0 + 8, source: 'webhook' } }, // lower than read
        ]);
        expect(out.map((m) => m?.id ?? null)).toEqual([a.id, null, b.id, null, null]);
        expect(out[0]?.status).toBe('sent');
        expect(out[0]?.pricing).toEqual({ billable: true, category: 'utility' });
        expect((await s.getMessage(a.id))?.history.at(-1)).toEqual({
          status: 'sent',
          at: T0 + 5,
          source: 'webhook',
          detail: { wamid: 'wamid.A' },
        });
        expect(out[0]?.updated_at).toBe(T0 + 5);
        expect(out[2]?.pricing).toBeNull(); // no pricing given: left as it was
        // What it reads back is what is stored, its deliveries counted from the stored history.
        expect(out[0]).toEqual(movedOf((await s.getMessage(a.id))!));
        expect(out[2]).toEqual(movedOf((await s.getMessage(b.id))!));
        expect(out[2]).toMatchObject({ deliveries: 1, delivered_at: T0 + 6 });
        expect((await s.getMessage(c.id))?.status).toBe('failed');
        expect((await s.getMessage(c.id))?.history.map((h) => h.status)).toEqual(['queued', 'failed']);
        expect((await s.getMessage(d.id))?.history.map((h) => h.status)).toEqual(['queued', 'read']);
        // A repeat changes nothing (not forward any more) and appends nothing.
        expect(await s.applyStatusesForward([{ id: a.id, ev: { status: 'sent', at: T0 + 5, source: 'webhook' } }])).toEqual([null]);
        expect((await s.getMessage(a.id))?.history).toHaveLength(2);
        // Bad input is refused before anything is written.
        await expectStoreError(
          s.applyStatusesForward([{ id: b.id, ev: { status: 'bounced' as never, at: T0, source: 'webhook' } }]),
          'INVALID',
        );
        await expectStoreError(
          s.applyStatusesForward([
            { id: a.id, ev: { status: 'read', at: T0 + 9, source: 'webhook' } },
            { id: a.id, ev: { status: 'read', at: T0 + 9, source: 'webhook' } },
          ]),
          'INVALID',
        );
        expect((await s.getMessage(a.id))?.status).toBe('sent');
        expect(await s.applyStatusesForward([])).toEqual([]);
      });

      it('applyStatusesNotForward records what does not move a message forward in one call, as applyStatus does, and leaves the rest to it', async () => {
        // Twins: each case applied through applyStatus to one and through the batch to the other.
        const setup = async (tag: string) => {
          const [a, b, c, d] = [1, 2, 3, 4].map((i) => message({ id: `msg_nf_${tag}_${i}` }));
          for (const m of [a, b, c, d]) await s.insertMessage(m);
          await s.applyStatus(a.id, { status: 'read', at: T0 + 3, source: 'webhook' });
          await s.applyStatus(b.id, { status: 'sent', at: T0 + 2, source: 'webhook', detail: { wamid: 'wamid.B' } });
          await s.applyStatus(d.id, { status: 'delivered', at: T0 + 2, source: 'webhook' });
          return [a, b, c, d].map((m) => m.id);
        };
        const pricing = { billable: true, category: 'utility' };
        const cases = (ids: string[]) => [
          {
            id: ids[0],
            ev: { status: 'delivered' as MessageStatus, at: T0 + 2, source: 'webhook', detail: { wamid: 'wamid.A' } },
            pricing,
          }, // after read
          { id: ids[1], ev: { status: 'sent' as MessageStatus, at: T0 + 9, source: 'webhook' } }, // a pure duplicate
          { id: ids[2], ev: { status: 'sent' as MessageStatus, at: T0 + 4, source: 'webhook' } }, // forward: not this call's
          { id: ids[3], ev: { status: 'delivered' as MessageStatus, at: T0 + 7, source: 'webhook' }, pricing }, // duplicate with pricing
        ];
        const one = await setup('one');
        const batch = await setup('batch');
        for (const it of cases(one).filter((_, i) => i !== 2))
          await s.applyStatus(it.id, it.ev, it.pricing ? { pricing: it.pricing } : undefined);
        const before = await s.getMessage(batch[1]);
        const out = await s.applyStatusesNotForward([
          ...cases(batch),
          { id: 'msg_nf_missing', ev: { status: 'read', at: T0, source: 'webhook' } },
        ]);
        expect(out.map((m) => m?.id ?? null)).toEqual([batch[0], batch[1], null, batch[3], null]);
        const strip = (m: MessageRecord | null | undefined) => m && { ...m, id: '' };
        for (const i of [0, 1, 3]) {
          expect(strip(await s.getMessage(batch[i]))).toEqual(strip(await s.getMessage(one[i]))); // the same as applyStatus
          expect(out[i]).toEqual(movedOf((await s.getMessage(batch[i]))!)); // and what is stored
        }
        expect(out[0]?.status).toBe('read');
        expect((await s.getMessage(batch[0]))?.history.map((h) => h.status)).toEqual(['queued', 'delivered', 'read']);
        expect(out[0]).toMatchObject({ deliveries: 2, delivered_at: T0 + 2 });
        expect(out[0]?.pricing).toEqual(pricing);
        expect(await s.getMessage(batch[1])).toEqual(before); // nothing written
        expect(out[3]).toMatchObject({ deliveries: 1, delivered_at: T0 + 2 });
        expect((await s.getMessage(batch[3]))?.history.map((h) => h.status)).toEqual(['queued', 'delivered']);
        expect(out[3]?.pricing).toEqual(pricing);
        expect((await s.getMessage(batch[2]))?.status).toBe('queued'); // a forward status is left to the caller
        await expectStoreError(
          s.applyStatusesNotForward([
            { id: batch[0], ev: { status: 'sent', at: T0, source: 'webhook' } },
            { id: batch[0], ev: { status: 'sent', at: T0, source: 'webhook' } },
          ]),
          'INVALID',
        );
        expect(await s.applyStatusesNotForward([])).toEqual([]);
      });

      it('applyStatusesForward, claimAttempts and applyStatus racing on the same messages: each status recorded once, highest wins', async () => {
        if (!s.applyStatusesForward) return;
        // Batches of several sizes over the same rows (a webhook POST, the workers' claims and accepts,
        // another instance's batch) meet single writes, round after round. The messages are inserted
        // highest id first so that the table's order is not the id order: a batch locking its rows in
        // table order and another in id order deadlock on PostgreSQL (seen in almost every run of
        // these rounds before the batches locked in id order).
        const order: MessageStatus[] = ['accepted', 'sent', 'delivered', 'read'];
        for (let round = 0; round < 8; round++) {
          const ms = Array.from({ length: 20 }, (_, i) => message({ id: `msg_race_${round}_${String(19 - i).padStart(2, '0')}` }));
          for (const m of ms) await s.insertMessage(m);
          const forward = (part: MessageRecord[], st: MessageStatus, j: number) =>
            s.applyStatusesForward(part.map((m) => ({ id: m.id, ev: { status: st, at: T0 + 1 + j, source: 'batch' } })));
          await Promise.all([
            s.claimAttempts?.(
              ms.map((m) => ({ id: m.id, expected_attempts: 0, attempts: 1 })),
              T0,
            ),
            s.claimAttempts?.(
              [ms[19], ms[10], ms[0]].map((m) => ({ id: m.id, expected_attempts: 0, attempts: 1 })),
              T0,
            ),
            ...order.map((st, j) => forward(ms, st, j)),
            ...order.flatMap((st, j) => [0, 5, 10, 15].map((k) => forward(ms.slice(k, k + 6), st, j))),
            ...ms.flatMap((m) => order.map((st, j) => s.applyStatus(m.id, { status: st, at: T0 + 1 + j, source: 'single' }))),
            // Repeats of lower statuses in batches (a webhook applied again), rows in both orders.
            ...order.map((st, j) =>
              s.applyStatusesNotForward(
                (j % 2 ? [...ms].reverse() : ms).map((m) => ({ id: m.id, ev: { status: st, at: T0 + 1 + j, source: 'again' } })),
              ),
            ),
          ]);
          for (const m of ms) {
            const got = await s.getMessage(m.id);
            expect(got?.status).toBe('read');
            expect([...(got?.history.map((h) => h.status) ?? [])].sort()).toEqual(['accepted', 'delivered', 'queued', 'read', 'sent']);
          }
        }
      });

      it('patches fields without a status change', async () => {
        const m = message();
        await s.insertMessage(m);
        await s.updateMessage(m.id, { attempts: 3, last_error: { code: 130429 } }, T0 + 9);
        const a = await s.getMessage(m.id);
        expect(a?.attempts).toBe(3);
        expect(a?.last_error).toEqual({ code: 130429 });
        expect(a?.status).toBe('queued');
        expect(a?.updated_at).toBe(T0 + 9);
        await s.updateMessage(m.id, { last_error: null, wamid: 'wamid.P' }, T0 + 10);
        const b = await s.getMessage(m.id);
        expect(b?.last_error).toBeNull();
        expect(b?.attempts).toBe(3);
        expect(b?.wamid).toBe('wamid.P');
      });

      it('outbox: a queued message waits for the relay until markEnqueued; only queued ones are listed, oldest first', async () => {
        await s.insertMessage(message({ id: 'msg_ob_b', created_at: T0 + 2 }));
        await s.insertMessage(message({ id: 'msg_ob_a', created_at: T0 + 1 }));
        await s.insertMessage(message({ id: 'msg_ob_late', created_at: T0 + 50 }));
        await s.insertMessage(message({ id: 'msg_ob_done', status: 'accepted', created_at: T0 }));
        expect((await s.listUnenqueued({ created_before: T0 + 10, limit: 10 })).map((m) => m.id)).toEqual(['msg_ob_a', 'msg_ob_b']);
        expect(await s.listUnenqueued({ created_before: T0 + 10, limit: 1 })).toEqual([
          { id: 'msg_ob_a', sender_id: 'main', attempts: 0, created_at: T0 + 1 },
        ]);
        await s.markEnqueued(['msg_ob_a', 'msg_unknown', 'msg_ob_a']);
        expect((await s.listUnenqueued({ created_before: T0 + 100, limit: 10 })).map((m) => m.id)).toEqual(['msg_ob_b', 'msg_ob_late']);
        // A message that left `queued` (sent, dead-lettered) is no longer the relay's, marked or not.
        await s.applyStatus('msg_ob_b', { status: 'dead_lettered', at: T0 + 60, source: 'worker' });
        expect((await s.listUnenqueued({ created_before: T0 + 100, limit: 10 })).map((m) => m.id)).toEqual(['msg_ob_late']);
        await s.markEnqueued([]);
        // A worker's claim proves the queue had its job: it marks the message enqueued in the same write.
        expect(await s.claimAttempts([{ id: 'msg_ob_late', expected_attempts: 0, attempts: 1 }], T0 + 70)).toEqual(
          new Set(['msg_ob_late']),
        );
        expect(await s.listUnenqueued({ created_before: T0 + 100, limit: 10 })).toEqual([]);
      });

      it('lists with filters, newest first, in pages, and counts by status', async () => {
        const a = message({ id: 'm_a', created_at: T0 + 1, to: '5511999990002' });
        const b = message({ id: 'm_b', created_at: T0 + 2, sender_id: 'second' });
        const c = message({ id: 'm_c', created_at: T0 + 3 });
        for (const m of [a, b, c]) await s.insertMessage(m);
        await s.applyStatus('m_c', { status: 'sent', at: T0 + 4, source: 'webhook' });
        expect((await s.listMessages({})).map((m) => m.id)).toEqual(['m_c', 'm_b', 'm_a']);
        expect((await s.listMessages({ sender_id: 'main' })).map((m) => m.id)).toEqual(['m_c', 'm_a']);
        expect((await s.listMessages({ to: '5511999990002' })).map((m) => m.id)).toEqual(['m_a']);
        expect((await s.listMessages({ status: ['sent'] })).map((m) => m.id)).toEqual(['m_c']);
        expect((await s.listMessages({ status: ['queued', 'sent'] })).length).toBe(3);
        expect(await s.listMessages({ status: [] })).toEqual([]);
        expect((await s.listMessages({ since: T0 + 2 })).map((m) => m.id)).toEqual(['m_c', 'm_b']);
        expect((await s.listMessages({ limit: 1, offset: 1 })).map((m) => m.id)).toEqual(['m_b']);
        expect((await s.listMessages({}))[0].history).toHaveLength(2);
        const counts = await s.countMessagesByStatus();
        expect(counts.queued).toBe(2);
        expect(counts.sent).toBe(1);
        expect(counts.read).toBe(0);
      });
    });

    describe('audit', () => {
      it('appends and lists newest first with filters', async () => {
        await s.appendAudit({
          at: T0,
          actor: 'api:ops',
          action: 'consent.opted_out',
          subject: '15550000020',
          detail: { category: 'marketing' },
        });
        await s.appendAudit({ at: T0 + 1, actor: 'worker', action: 'sender.paused', subject: 'main', detail: {} });
        await s.appendAudit({
          at: T0 + 2,
          actor: 'cli',
          action: 'consent.opted_in',
          subject: '15550000020',
          detail: { category: 'utility' },
        });
        const all = await s.listAudit();
        expect(all.map((e) => e.at)).toEqual([T0 + 2, T0 + 1, T0]);
        expect(typeof all[0].id).toBe('number');
        const mine = await s.listAudit({ subject: '15550000020' });
        expect(mine.map((e) => e.detail)).toEqual([{ category: 'utility' }, { category: 'marketing' }]);
        expect((await s.listAudit({ action: 'sender.paused' }))[0]).toMatchObject({ actor: 'worker', subject: 'main' });
        expect(await s.listAudit({ limit: 1 })).toHaveLength(1);
      });
    });

    describe('webhooks', () => {
      it('markEventSeen is true only for the first caller, also when called concurrently', async () => {
        expect(await s.markEventSeen('evt:1', T0)).toBe(true);
        expect(await s.markEventSeen('evt:1', T0 + 1)).toBe(false);
        const results = await Promise.all(Array.from({ length: 40 }, (_, i) => s.markEventSeen(`evt:c${i % 4}`, T0)));
        expect(results.filter(Boolean)).toHaveLength(4);
      });

      it('keeps raw batches until deleted, oldest first', async () => {
        await s.saveWebhookBatch('b2', '{"entry":[2]}', T0 + 2);
        await s.saveWebhookBatch('b1', '{"entry":[1]}', T0 + 1);
        await s.saveWebhookBatch('b1', '{"entry":[1]}', T0 + 1); // retried save: no duplicate, no error
        expect(await s.listPendingWebhookBatches(10)).toEqual([
          { id: 'b1', body: '{"entry":[1]}', at: T0 + 1 },
          { id: 'b2', body: '{"entry":[2]}', at: T0 + 2 },
        ]);
        expect(await s.listPendingWebhookBatches(1)).toHaveLength(1);
        expect((await s.listPendingWebhookBatches(10, { at_most: T0 + 1 })).map((b) => b.id)).toEqual(['b1']);
        expect(await s.listPendingWebhookBatches(10, { at_most: T0 })).toEqual([]);
        expect(await s.oldestPendingWebhookBatchAt()).toBe(T0 + 1);
        await s.deleteWebhookBatch('b1');
        expect((await s.listPendingWebhookBatches(10)).map((b) => b.id)).toEqual(['b2']);
        expect(await s.oldestPendingWebhookBatchAt()).toBe(T0 + 2);
        await s.deleteWebhookBatch('b2');
        expect(await s.oldestPendingWebhookBatchAt()).toBeNull();
      });

      it('batch forms: markEventsSeen returns only the new keys (repeats within a call count once), batches save and delete together', async () => {
        await s.markEventSeen('evt:old', T0);
        const fresh = await s.markEventsSeen(['evt:old', 'evt:n1', 'evt:n2', 'evt:n1'], T0);
        expect([...fresh].sort()).toEqual(['evt:n1', 'evt:n2']);
        expect((await s.markEventsSeen(['evt:n1', 'evt:n2'], T0 + 1)).size).toBe(0);
        expect(await s.markEventSeen('evt:n2', T0 + 2)).toBe(false);
        expect((await s.markEventsSeen([], T0)).size).toBe(0);
        await s.saveWebhookBatches([
          { id: 'm1', body: '{"a":1}', at: T0 + 1 },
          { id: 'm2', body: '{"a":2}', at: T0 + 2 },
        ]);
        await s.saveWebhookBatches([{ id: 'm1', body: '{"a":1}', at: T0 + 1 }]); // retried: no duplicate, no error
        expect((await s.listPendingWebhookBatches(10)).map((b) => b.id)).toEqual(['m1', 'm2']);
        await s.deleteWebhookBatches(['m1', 'm2']);
        expect(await s.listPendingWebhookBatches(10)).toEqual([]);
      });

      it('a batch set aside leaves the pending list with its body and error; failing again counts an attempt; states change', async () => {
        const body = '{"object":{"toString":"x"},"entry":[{"changes":[{"field":"messages","value":"\\u00e9"}]}]}';
        await s.saveWebhookBatch('p1', body, T0 + 1);
        await s.saveWebhookBatch('p2', '{"ok":true}', T0 + 2);
        await s.setAsideWebhookBatch('p1', 'TypeError: Cannot convert object to primitive value', T0 + 10);
        expect((await s.listPendingWebhookBatches(10)).map((b) => b.id)).toEqual(['p2']);
        const got = await s.getFailedWebhookBatch('p1');
        expect(got).toEqual({
          id: 'p1',
          body,
          body_length: body.length,
          received_at: T0 + 1,
          failed_at: T0 + 10,
          error: 'TypeError: Cannot convert object to primitive value',
          attempts: 1,
          state: 'open',
          updated_at: T0 + 10,
        });
        expect(await s.getFailedWebhookBatch('nope')).toBeNull();
        // Not pending any more (a replay that failed): the new error, one more attempt, open again.
        await s.setFailedWebhookBatchState('p1', 'replayed', T0 + 11);
        await s.setAsideWebhookBatch('p1', 'second failure', T0 + 20);
        expect(await s.getFailedWebhookBatch('p1')).toMatchObject({
          error: 'second failure',
          attempts: 2,
          state: 'open',
          failed_at: T0 + 20,
          body,
        });
        // Back in the pending list (a crash between the copy and the delete) and failing again.
        await s.saveWebhookBatch('p1', body, T0 + 1);
        await s.setAsideWebhookBatch('p1', 'third failure', T0 + 30);
        expect(await s.getFailedWebhookBatch('p1')).toMatchObject({ error: 'third failure', attempts: 3, state: 'open' });
        expect((await s.listPendingWebhookBatches(10)).map((b) => b.id)).toEqual(['p2']);
        // Neither pending nor set aside: nothing happens.
        await s.setAsideWebhookBatch('ghost', 'x', T0);
        expect(await s.getFailedWebhookBatch('ghost')).toBeNull();

        await s.setAsideWebhookBatch('p2', 'bad', T0 + 40);
        const list = await s.listFailedWebhookBatches();
        expect(list.map((b) => b.id)).toEqual(['p2', 'p1']); // newest failure first
        expect(list[0]).toEqual({
          id: 'p2',
          received_at: T0 + 2,
          failed_at: T0 + 40,
          error: 'bad',
          attempts: 1,
          state: 'open',
          updated_at: T0 + 40,
          body_length: 11,
        });
        expect('body' in list[0]).toBe(false);
        await s.setFailedWebhookBatchState('p2', 'discarded', T0 + 50);
        expect((await s.listFailedWebhookBatches({ state: 'open' })).map((b) => b.id)).toEqual(['p1']);
        expect((await s.listFailedWebhookBatches({ state: 'discarded' }))[0]).toMatchObject({ id: 'p2', updated_at: T0 + 50 });
        expect((await s.listFailedWebhookBatches({ limit: 1, offset: 1 })).map((b) => b.id)).toEqual(['p1']);
        if (h.reopen) {
          const again = await h.reopen();
          try {
            expect(await again.getFailedWebhookBatch('p1')).toMatchObject({ attempts: 3, body });
          } finally {
            await again.close();
          }
        }
      });

      it('claimAttempt sets attempts only while the message is queued with the expected count, once', async () => {
        const m = message({ id: 'msg_claim', status: 'queued', attempts: 0 });
        await s.insertMessage(m);
        expect(await s.claimAttempt('msg_claim', 0, 1, T0)).toBe(true);
        expect(await s.claimAttempt('msg_claim', 0, 1, T0)).toBe(false); // a second claimer loses
        expect((await s.getMessage('msg_claim'))!.attempts).toBe(1);
        await s.applyStatus('msg_claim', { status: 'accepted', at: T0 + 1, source: 'worker' });
        expect(await s.claimAttempt('msg_claim', 1, 2, T0 + 2)).toBe(false); // no longer queued
        expect(await s.claimAttempt('msg_unknown', 0, 1, T0)).toBe(false);
      });

      it('claimAttempts claims several in one call, with the same conditions as claimAttempt', async () => {
        if (!s.claimAttempts) return expect(s.claimAttempts).toBeUndefined();
        for (const id of ['c1', 'c2', 'c3', 'c4']) await s.insertMessage(message({ id, status: 'queued', attempts: 0 }));
        await s.applyStatus('c3', { status: 'accepted', at: T0 + 1, source: 'worker' }); // no longer queued
        await s.updateMessage('c4', { attempts: 2 }, T0); // a different attempt count than expected
        const got = await s.claimAttempts(
          [
            { id: 'c1', expected_attempts: 0, attempts: 1 },
            { id: 'c2', expected_attempts: 0, attempts: 1 },
            { id: 'c3', expected_attempts: 0, attempts: 1 },
            { id: 'c4', expected_attempts: 0, attempts: 1 },
            { id: 'nope', expected_attempts: 0, attempts: 1 },
          ],
          T0 + 5,
        );
        expect([...got].sort()).toEqual(['c1', 'c2']);
        expect((await s.getMessage('c1'))!.attempts).toBe(1);
        expect((await s.getMessage('c1'))!.updated_at).toBe(T0 + 5);
        expect((await s.getMessage('c3'))!.attempts).toBe(0);
        expect((await s.getMessage('c4'))!.attempts).toBe(2);
        // A second claimer of the same attempt loses, whichever form it uses.
        expect([...(await s.claimAttempts([{ id: 'c1', expected_attempts: 0, attempts: 1 }], T0 + 6))]).toEqual([]);
        expect(await s.claimAttempt('c2', 0, 1, T0 + 6)).toBe(false);
        expect([...(await s.claimAttempts([], T0))]).toEqual([]);
      });

      it("applyStatusesForward sets wamid and attempts when given (the worker's accepted), and keeps them when not", async () => {
        if (!s.applyStatusesForward) return;
        const [a, b] = [message(), message()];
        await s.insertMessage(a);
        await s.insertMessage(b);
        await s.updateMessage(b.id, { wamid: 'wamid.kept', attempts: 3 }, T0);
        const [ra, rb] = await s.applyStatusesForward([
          {
            id: a.id,
            ev: { status: 'accepted', at: T0 + 2, source: 'worker', detail: { wamid: 'wamid.NEW', attempt: 1 } },
            wamid: 'wamid.NEW',
            attempts: 1,
          },
          { id: b.id, ev: { status: 'sent', at: T0 + 2, source: 'webhook' } },
        ]);
        expect(ra).toMatchObject({ status: 'accepted', wamid: 'wamid.NEW', attempts: 1 });
        expect(rb).toMatchObject({ status: 'sent', wamid: 'wamid.kept', attempts: 3 });
        expect(movedOf((await s.getMessageByWamid('wamid.NEW'))!)).toEqual(ra);
      });
    });

    describe('identities', () => {
      it('links a BSUID to a phone per portfolio; the newer link wins; another portfolio sees none of it', async () => {
        expect(await s.getLinkedPhone('biz_a', 'US.1001')).toBeNull();
        expect(await s.linkIdentity({ business_id: 'biz_a', user_id: 'US.1001', wa_id: '15550001', at: T0 })).toBe(true);
        expect(await s.linkIdentity({ business_id: 'biz_a', user_id: 'US.1001', wa_id: '15550001', at: T0 + 1 })).toBe(false); // known
        expect(await s.linkIdentity({ business_id: 'biz_a', user_id: 'US.ENT.77', wa_id: '15550001', at: T0 })).toBe(true); // a parent BSUID too
        expect(await s.getLinkedPhone('biz_a', 'US.1001')).toBe('15550001');
        expect(await s.listLinkedUserIds('biz_a', '15550001')).toEqual(['US.1001', 'US.ENT.77']);
        expect(await s.getLinkedPhone('biz_b', 'US.1001')).toBeNull();
        expect(await s.listLinkedUserIds('biz_b', '15550001')).toEqual([]);
        expect(await s.linkIdentity({ business_id: 'biz_a', user_id: 'US.1001', wa_id: '15550002', at: T0 + 2 })).toBe(true);
        expect(await s.getLinkedPhone('biz_a', 'US.1001')).toBe('15550002');
        expect(await s.listLinkedUserIds('biz_a', '15550001')).toEqual(['US.ENT.77']);
        // Many in one statement: only the new or moved pairs come back.
        const fresh = await s.linkIdentities([
          { business_id: 'biz_a', user_id: 'US.1001', wa_id: '15550002', at: T0 + 3 }, // known
          { business_id: 'biz_a', user_id: 'US.2002', wa_id: '15550003', at: T0 + 3 }, // new
          { business_id: 'biz_a', user_id: 'US.ENT.77', wa_id: '15550009', at: T0 + 3 }, // moved
          { business_id: 'biz_a', user_id: 'US.2002', wa_id: '15550003', at: T0 + 4 }, // repeated in the call
        ]);
        expect(fresh.map((r) => r.user_id).sort()).toEqual(['US.2002', 'US.ENT.77']);
        expect(await s.getLinkedPhone('biz_a', 'US.ENT.77')).toBe('15550009');
        expect(await s.linkIdentities([])).toEqual([]);
      });

      it('getCustomers reads many in one call (absent keys left out); appendAudits writes many rows', async () => {
        await s.setConsent('US.5005', 'marketing', 'opted_out', 'webhook', T0);
        await s.upsertCustomer('15550051', { profile_name: 'Bo' }, T0);
        const got = await s.getCustomers(['US.5005', '15550051', 'US.none', 'US.5005']);
        expect(got.map((c) => c.wa_id).sort()).toEqual(['15550051', 'US.5005']);
        expect(got.find((c) => c.wa_id === 'US.5005')?.consent.marketing.state).toBe('opted_out');
        expect(await s.getCustomers([])).toEqual([]);
        await s.appendAudits([
          { at: T0, actor: 'webhook', action: 'customer.identity_linked', subject: '15550051', detail: { n: 1 } },
          { at: T0 + 1, actor: 'webhook', action: 'customer.identity_linked', subject: '15550052', detail: { n: 2 } },
        ]);
        await s.appendAudits([]);
        const rows = await s.listAudit({ action: 'customer.identity_linked' });
        expect(rows.map((r) => [r.subject, r.detail])).toEqual([
          ['15550052', { n: 2 }],
          ['15550051', { n: 1 }],
        ]);
      });

      it('the gate seed carries the links of the BSUIDs that live reservations went to, and only those', async () => {
        const now = T0 + DAY_MS;
        await s.linkIdentities([
          { business_id: 'biz_a', user_id: 'US.3003', wa_id: '15550031', at: T0 },
          { business_id: 'biz_a', user_id: 'US.4004', wa_id: '15550041', at: T0 },
        ]);
        await s.insertMessage(
          message({
            id: 'bsuid_mkt',
            to: 'US.3003',
            category: 'marketing',
            reserved_marketing: true,
            reserved_tier: true,
            created_at: now - HOUR_MS,
          }),
        );
        await s.insertMessage(
          message({ id: 'bsuid_none', to: 'US.4004', reserved_marketing: false, reserved_tier: false, created_at: now - HOUR_MS }),
        );
        const seed = await s.loadGateSeed(now);
        expect(seed.identity_links).toEqual([{ business_id: 'biz_a', user_id: 'US.3003', wa_id: '15550031' }]);
        expect(seed.reservations.find((r) => r.message_id === 'bsuid_mkt')?.to).toBe('US.3003'); // the gate maps it
      });
    });

    describe('service message counts', () => {
      it('adds per sender and month, sums repeated keys in one call, keeps months and senders apart', async () => {
        expect(await s.getServiceMessageCount('main', '2026-10')).toBe(0);
        await s.addServiceMessages(
          [
            { sender_id: 'main', month: '2026-10', n: 2 },
            { sender_id: 'main', month: '2026-10', n: 3 }, // the same row twice in one statement
            { sender_id: 'main', month: '2026-11', n: 1 },
            { sender_id: 'second', month: '2026-10', n: 7 },
            { sender_id: 'main', month: '2026-10', n: 0 }, // nothing to add
          ],
          T0,
        );
        await s.addServiceMessages([{ sender_id: 'main', month: '2026-10', n: 995 }], T0 + 1);
        expect(await s.getServiceMessageCount('main', '2026-10')).toBe(1000);
        expect(await s.getServiceMessageCount('main', '2026-11')).toBe(1);
        expect(await s.getServiceMessageCount('second', '2026-10')).toBe(7);
        expect(await s.getServiceMessageCount('second', '2026-11')).toBe(0);
        await s.addServiceMessages([], T0 + 2);
        expect(await s.getServiceMessageCount('main', '2026-10')).toBe(1000);
      });
    });

    describe('dead letters', () => {
      it('adds idempotently, filters lists and changes state', async () => {
        const d1 = deadLetter({ id: 'dl1', created_at: T0 });
        const d2 = deadLetter({ id: 'dl2', sender_id: 'second', created_at: T0 + 1, meta_error: null, fix: null });
        await s.addDeadLetter(d1);
        await s.addDeadLetter(d1);
        await s.addDeadLetter(d2);
        expect(await s.getDeadLetter('dl1')).toEqual(d1);
        expect(await s.getDeadLetter('dl2')).toEqual(d2);
        expect(await s.getDeadLetter('nope')).toBeNull();
        expect((await s.listDeadLetters()).map((d) => d.id)).toEqual(['dl2', 'dl1']);
        expect((await s.listDeadLetters({ sender_id: 'main' })).map((d) => d.id)).toEqual(['dl1']);
        await s.setDeadLetterState('dl1', 'replayed');
        expect((await s.listDeadLetters({ state: 'open' })).map((d) => d.id)).toEqual(['dl2']);
        expect((await s.getDeadLetter('dl1'))?.state).toBe('replayed');
        expect((await s.listDeadLetters({ limit: 1, offset: 1 })).map((d) => d.id)).toEqual(['dl1']);
      });
    });

    describe('alerts', () => {
      it('upserts by id, finds the latest by dedupe key and lists unresolved', async () => {
        const a1 = alert({ id: 'a1', created_at: T0 });
        await s.upsertAlert(a1);
        expect(await s.getAlertByDedupeKey(a1.dedupe_key)).toEqual(a1);
        const a1b = { ...a1, last_sent_at: T0 + 5, resolved_at: T0 + 6, detail: { code: 131048, n: 2 } };
        await s.upsertAlert(a1b);
        expect(await s.getAlertByDedupeKey(a1.dedupe_key)).toEqual(a1b);
        const a2 = alert({ id: 'a2', created_at: T0 + 10 });
        await s.upsertAlert(a2);
        expect((await s.getAlertByDedupeKey(a1.dedupe_key))?.id).toBe('a2');
        await s.upsertAlert(alert({ id: 'a3', dedupe_key: 'other', created_at: T0 + 20, sender_id: null, severity: 'critical' }));
        expect((await s.listAlerts()).map((a) => a.id)).toEqual(['a3', 'a2', 'a1']);
        expect((await s.listAlerts({ unresolved: true })).map((a) => a.id)).toEqual(['a3', 'a2']);
        expect(await s.listAlerts({ limit: 1 })).toHaveLength(1);
        expect(await s.getAlertByDedupeKey('none')).toBeNull();
      });
    });

    describe('senders and settings', () => {
      it('saves and overwrites sender health', async () => {
        expect(await s.getSenderHealth('main')).toBeNull();
        await s.saveSenderHealth({ sender_id: 'main', data: { token_valid: true, quality: 'GREEN' }, updated_at: T0 });
        await s.saveSenderHealth({ sender_id: 'main', data: { token_valid: false }, updated_at: T0 + 1 });
        expect(await s.getSenderHealth('main')).toEqual({ sender_id: 'main', data: { token_valid: false }, updated_at: T0 + 1 });
      });

      it('saves and lists sender statuses', async () => {
        const paused: SenderStatus = {
          sender_id: 'main',
          state: 'paused',
          reason: 'spam rate limit',
          reason_code: 'META_131048',
          credentials_valid: true,
          since: T0,
        };
        const halted: SenderStatus = {
          sender_id: 'b',
          state: 'halted',
          reason: 'token expired',
          reason_code: 'CREDENTIALS_INVALID',
          credentials_valid: false,
          since: T0 + 1,
        };
        await s.saveSenderStatus(paused);
        await s.saveSenderStatus(halted);
        expect(await s.listSenderStatuses()).toEqual([halted, paused]);
        const active: SenderStatus = {
          sender_id: 'main',
          state: 'active',
          reason: null,
          reason_code: null,
          credentials_valid: true,
          since: null,
        };
        await s.saveSenderStatus(active);
        expect(await s.listSenderStatuses()).toEqual([halted, active]);
      });

      it('gets, sets, overwrites and deletes settings', async () => {
        expect(await s.getSetting('k')).toBeNull();
        await s.setSetting('k', 'v1');
        await s.setSetting('k', 'v2');
        expect(await s.getSetting('k')).toBe('v2');
        await s.setSetting('k', null);
        expect(await s.getSetting('k')).toBeNull();
        await s.setSetting('k', null); // deleting twice is fine
      });

      it('answers ping', async () => {
        expect(await s.ping()).toBe(true);
      });
    });

    describe('gate seed', () => {
      it('returns non-default customers, recent windows, templates, sender statuses and live reservations', async () => {
        const now = T0 + 10 * DAY_MS;
        await s.upsertCustomer('1555000blank', { profile_name: 'only a name' }, now);
        await s.setConsent('1555000optout', 'marketing', 'opted_out', 'webhook:keyword:STOP', now - 30 * DAY_MS);
        await s.upsertCustomer('1555000tags', { tags: ['vip'] }, now);
        await s.upsertCustomer('1555000tz', { time_zone: 'Europe/Berlin' }, now);
        await s.upsertCustomer('1555000undeliv', { undeliverable_at: now - HOUR_MS }, now);
        await s.upsertCustomer('1555000mlim', { marketing_limited_at: now - HOUR_MS }, now);
        await s.upsertCustomer('1555000cleared', { tags: ['x'] }, now);
        await s.upsertCustomer('1555000cleared', { tags: [] }, now);
        await s.recordInbound('main', '1555000w1', now - HOUR_MS, { referral: true });
        await s.recordInbound('main', '1555000w2', now - 71 * HOUR_MS);
        await s.recordInbound('main', '1555000w3', now - 73 * HOUR_MS);
        await s.upsertTemplate(template());
        await s.upsertTemplate(template({ name: 'paused_one', status: 'PAUSED' }));
        await s.saveSenderStatus({
          sender_id: 'main',
          state: 'paused',
          reason: 'r',
          reason_code: 'META_131048',
          credentials_valid: true,
          since: now,
        });

        const ins = (id: string, over: Partial<MessageRecord>) =>
          s.insertMessage(message({ id, created_at: now - HOUR_MS, updated_at: now - HOUR_MS, ...over }));
        await ins('r_mkt', { category: 'marketing', reserved_marketing: true, reserved_tier: true, to: '1555000a' });
        await ins('r_tier', { reserved_marketing: false, reserved_tier: true, to: '1555000b', sender_id: 'second' });
        await ins('r_none', { reserved_marketing: false, reserved_tier: false }); // service reply in a window: nothing reserved
        await ins('r_old', { reserved_tier: true, created_at: now - DAY_MS - 1 });
        await ins('r_failed', { reserved_tier: true });
        await ins('r_dead', { reserved_tier: true });
        await ins('r_sent', { reserved_tier: true, to: '1555000c' });
        await s.applyStatus('r_failed', { status: 'failed', at: now - 1, source: 'webhook' });
        await s.applyStatus('r_dead', { status: 'dead_lettered', at: now - 1, source: 'worker' });
        await s.applyStatus('r_sent', { status: 'delivered', at: now - 1, source: 'webhook' });

        const seed = await s.loadGateSeed(now);
        const byId = Object.fromEntries(seed.customers.map((c) => [c.wa_id, c]));
        expect(Object.keys(byId).sort()).toEqual(['1555000mlim', '1555000optout', '1555000tags', '1555000tz', '1555000undeliv']);
        expect(byId['1555000optout'].consent).toEqual({
          marketing: 'opted_out',
          utility: 'unknown',
          authentication: 'unknown',
          service: 'unknown',
        });
        expect(byId['1555000optout'].consent_at).toEqual({ marketing: now - 30 * DAY_MS });
        expect(byId['1555000tags'].consent_at).toEqual({});
        expect(byId['1555000tags'].tags).toEqual(['vip']);
        expect(byId['1555000tz'].time_zone).toBe('Europe/Berlin');
        expect(byId['1555000undeliv'].undeliverable_at).toBe(now - HOUR_MS);
        expect(byId['1555000mlim'].marketing_limited_at).toBe(now - HOUR_MS);
        expect(seed.windows.map((w) => w.wa_id).sort()).toEqual(['1555000w1', '1555000w2']);
        await s.markFepOpened('main', '1555000w1', now - HOUR_MS + 5);
        const seed2 = await s.loadGateSeed(now);
        expect(seed2.windows.find((w) => w.wa_id === '1555000w1')).toEqual({
          sender_id: 'main',
          wa_id: '1555000w1',
          last_inbound_at: now - HOUR_MS,
          referral_at: now - HOUR_MS,
          fep_opened_at: now - HOUR_MS + 5,
        });
        expect(seed.windows.find((w) => w.wa_id === '1555000w2')?.fep_opened_at).toBeNull();
        expect(seed.templates.map((t) => t.name).sort()).toEqual(['order_update', 'paused_one']);
        expect(seed.senders).toEqual([
          { sender_id: 'main', state: 'paused', reason: 'r', reason_code: 'META_131048', credentials_valid: true, since: now },
        ]);
        const res = Object.fromEntries(seed.reservations.map((r) => [r.message_id, r]));
        expect(Object.keys(res).sort()).toEqual(['r_mkt', 'r_sent', 'r_tier']);
        expect(res.r_mkt).toEqual({
          message_id: 'r_mkt',
          sender_id: 'main',
          to: '1555000a',
          category: 'marketing',
          marketing_slot: true,
          tier_slot: true,
          at: now - HOUR_MS,
        });
        expect(res.r_tier).toEqual({
          message_id: 'r_tier',
          sender_id: 'second',
          to: '1555000b',
          category: 'utility',
          marketing_slot: false,
          tier_slot: true,
          at: now - HOUR_MS,
        });
      });
    });

    describe('restart', () => {
      it('reopening the same database keeps everything and re-running migrations changes nothing', async (ctx) => {
        if (!h.reopen) return ctx.skip();
        const m = message({ idempotency_key: 'idem-r' });
        await s.insertMessage(m);
        await s.applyStatus(m.id, { status: 'sent', at: T0 + 1, source: 'webhook' }, { wamid: 'wamid.R' });
        await s.setConsent('15550000030', 'marketing', 'opted_out', 'api', T0);
        await s.recordInbound('main', '15550000030', T0 + 2);
        await s.upsertTemplate(template());
        await s.markEventSeen('evt:r', T0);
        await s.setSetting('paused:main', '1');
        await s.saveSenderStatus({
          sender_id: 'main',
          state: 'halted',
          reason: 'x',
          reason_code: 'CREDENTIALS_INVALID',
          credentials_valid: false,
          since: T0,
        });
        await s.appendAudit({ at: T0, actor: 'cli', action: 'x', subject: null, detail: {} });
        const before = await s.loadGateSeed(T0 + 3);
        await s.close();

        const again = await h.reopen();
        try {
          expect(await again.getMessage(m.id)).toMatchObject({ status: 'sent', wamid: 'wamid.R', idempotency_key: 'idem-r' });
          expect((await again.getCustomer('15550000030'))?.consent.marketing.state).toBe('opted_out');
          expect(await again.markEventSeen('evt:r', T0)).toBe(false);
          expect(await again.getSetting('paused:main')).toBe('1');
          expect(await again.listAudit()).toHaveLength(1);
          expect(await again.loadGateSeed(T0 + 3)).toEqual(before);
          // still writable after the second migration pass
          await again.insertMessage(message());
          expect((await again.listMessages({})).length).toBe(2);
        } finally {
          await again.close();
        }
        s = again; // cleanup must not close twice
      });
    });
  });
}
