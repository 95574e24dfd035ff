// Issue 13, "Proof": Meta's 2026 identity fields applied from payloads found outside this repo (Meta's
// business-scoped user id, group and system references; pywa's SDK fixtures), kept as data in
// fixtures/meta-2026/*.json with their source and what was changed. Each fixture runs twice: as found,
// and with unknown fields added at every level (envelope, entry, change, value, metadata, message,
// contact, status, preference, system), which must never change the outcome of an event wagate knows.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { getCustomerView } from '../../src/engine/customers.ts';
import { message, useProcessor } from './helpers.ts';

interface Fixture {
  source: string;
  note: string;
  body: Record<string, unknown>;
}

const load = (name: string): Fixture =>
  JSON.parse(readFileSync(new URL(`./fixtures/meta-2026/${name}.json`, import.meta.url), 'utf8')) as Fixture;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);

/** The body with fields Meta may add some day, at every level wagate reads. */
function withUnknownFields(body: Obj): Obj {
  const b = clone(body);
  const future = (o: Obj, where: string) => {
    o[`x_future_${where}`] = { nested: [1, 'two', null], flag: true };
    o.some_new_flag = false;
  };
  future(b, 'envelope');
  for (const e of b.entry as Obj[]) {
    future(e, 'entry');
    e.time = 1_800_000_000;
    for (const c of e.changes as Obj[]) {
      future(c, 'change');
      const v = c.value as Obj;
      future(v, 'value');
      v.future_array = [{ anything: 1 }];
      if (isObj(v.metadata)) future(v.metadata, 'metadata');
      for (const key of ['contacts', 'messages', 'statuses', 'user_preferences'] as const) {
        const list = v[key];
        if (!Array.isArray(list)) continue;
        for (const item of list) {
          if (!isObj(item)) continue;
          future(item, key);
          if (isObj(item.profile)) future(item.profile, 'profile');
          if (isObj(item.system)) future(item.system, 'system');
          if (isObj(item.text)) future(item.text, 'text');
          if (isObj(item.pricing)) future(item.pricing, 'pricing');
        }
      }
    }
  }
  return b;
}

const value = (body: Obj): Obj => ((body.entry as Obj[])[0].changes as Obj[])[0].value as Obj;
const firstMessage = (body: Obj): Obj => (value(body).messages as Obj[])[0];

const BSUID = 'US.13491208655302741918';
const PHONE = '16505551234';

const h = useProcessor();

/** The clock a minute after the fixture's own time (its timestamps are from 2025). */
function clockAt(body: Obj): void {
  const v = value(body);
  const first = (
    Array.isArray(v.messages) ? v.messages[0] : Array.isArray(v.statuses) ? v.statuses[0] : (v.user_preferences as Obj[])[0]
  ) as Obj;
  h.t.clock.t = Number(first.timestamp) * 1000 + 60_000;
}

const noUnattributed = async () => expect(await h.t.ctx.store.listAudit({ action: 'webhook.unattributed' })).toEqual([]);

const variants = [
  ['as found', (b: Obj) => clone(b)],
  ['with unknown fields at every level', withUnknownFields],
] as const;

describe.each(variants)('Meta 2026 fixtures (%s)', (_label, shape) => {
  it('meta-inbound-text-username-no-phone: a username user with no phone is attributed to from_user_id and gets a window', async () => {
    const f = load('meta-inbound-text-username-no-phone');
    const body = shape(f.body);
    clockAt(body);
    const r = await h.proc.applyBody(body);
    expect(r.results).toEqual({ applied: 1 });
    await noUnattributed();
    const view = await getCustomerView(h.t.ctx, BSUID);
    expect(view.known).toBe(true);
    expect(view.profile_name).toBe('Sheena Nelson');
    expect(view.windows.filter((w) => w.kind === 'customer_service' && w.open).map((w) => w.sender)).toEqual(['main']);
    // Meta's contacts[].user_id is misprinted ("uUS..."): nothing must be recorded under it.
    expect(await h.t.ctx.store.getCustomer('uUS.13491208655302741918')).toBeNull();
  });

  it('meta-inbound-text-username-no-phone, body "STOP": recorded as an opt-out under the BSUID', async () => {
    const f = load('meta-inbound-text-username-no-phone');
    const body = shape(f.body);
    (firstMessage(body).text as Obj).body = 'STOP';
    clockAt(body);
    const r = await h.proc.applyBody(body);
    expect(r.results).toEqual({ applied: 1 });
    await noUnattributed();
    const view = await getCustomerView(h.t.ctx, BSUID);
    expect(view.consent.marketing).toBe('opted_out');
    expect(view.consent.utility).toBe('opted_out');
    // Meta's example writes the parent id without ".ENT.": it still holds the opt-out (it was dropped).
    expect((await h.t.ctx.store.getCustomer('US.11815799212886844830'))?.consent.marketing.state).toBe('opted_out');
  });

  it('meta-user-preferences-stop-bsuid-only: "Stop promotions" with only user_id opts the BSUID out of marketing', async () => {
    const f = load('meta-user-preferences-stop-bsuid-only');
    const body = shape(f.body);
    clockAt(body);
    const r = await h.proc.applyBody(body);
    expect(r.results).toEqual({ applied: 1 });
    await noUnattributed();
    expect((await h.t.ctx.store.listAudit({})).some((a) => a.action.includes('unknown'))).toBe(false);
    const view = await getCustomerView(h.t.ctx, BSUID);
    expect(view.consent.marketing).toBe('opted_out');
  });

  it('pywa-text-with-phone-and-bsuid: contacts[] with both ids links them; the customer reads the same by phone and by BSUID', async () => {
    const f = load('pywa-text-with-phone-and-bsuid');
    const body = shape(f.body);
    clockAt(body);
    const r = await h.proc.applyBody(body);
    expect(r.results).toEqual({ applied: 1 });
    await noUnattributed();
    const phone = '972987654321';
    expect(await h.t.ctx.store.getLinkedPhone('biz', BSUID)).toBe(phone);
    const byPhone = await getCustomerView(h.t.ctx, phone);
    const byBsuid = await getCustomerView(h.t.ctx, BSUID);
    expect(byPhone.wa_id).toBe(phone);
    expect(byPhone.user_ids).toContain(BSUID);
    expect(byPhone.profile_name).toBe('Test Name');
    expect(byPhone.windows.some((w) => w.kind === 'customer_service' && w.open)).toBe(true);
    expect(byBsuid).toEqual(byPhone);
  });

  it('meta-status-delivered-bsuid-only: a status with only recipient_user_id resolves the message sent to the BSUID', async () => {
    const f = load('meta-status-delivered-bsuid-only');
    const body = shape(f.body);
    const wamid = String((value(body).statuses as Obj[])[0].id);
    await h.t.ctx.store.insertMessage(message('msg_bsuid_only', { to: BSUID, wamid, status: 'sent' }));
    clockAt(body);
    const r = await h.proc.applyBody(body);
    expect(r.results).toEqual({ applied: 1 });
    await noUnattributed();
    const m = await h.t.ctx.store.getMessage('msg_bsuid_only');
    expect(m?.status).toBe('delivered');
    expect(m?.history.map((x) => x.status)).toContain('delivered');
  });

  it('meta-status-delivered-phone-and-bsuid: the status resolves its message and its contacts[] links phone and BSUID', async () => {
    const f = load('meta-status-delivered-phone-and-bsuid');
    const body = shape(f.body);
    const wamid = String((value(body).statuses as Obj[])[0].id);
    await h.t.ctx.store.insertMessage(message('msg_phone', { to: PHONE, wamid, status: 'sent' }));
    clockAt(body);
    const r = await h.proc.applyBody(body);
    expect(r.results).toEqual({ applied: 1 });
    expect((await h.t.ctx.store.getMessage('msg_phone'))?.status).toBe('delivered');
    expect(await h.t.ctx.store.getLinkedPhone('biz', BSUID)).toBe(PHONE);
    const byBsuid = await getCustomerView(h.t.ctx, BSUID);
    expect(byBsuid.wa_id).toBe(PHONE);
    expect((await getCustomerView(h.t.ctx, PHONE)).user_ids).toContain(BSUID);
  });

  it('meta-group-message-username: a group message from a username user opens no 1:1 window and is not unattributed', async () => {
    const f = load('meta-group-message-username');
    const body = shape(f.body);
    clockAt(body);
    const r = await h.proc.applyBody(body);
    expect(r.results).toEqual({ stored: 1 });
    await noUnattributed();
    expect(await h.t.ctx.store.getWindows(BSUID)).toEqual([]);
    expect((await getCustomerView(h.t.ctx, BSUID)).windows).toEqual([]);
  });

  it('pywa-system-user-changed-number: an opt-out given under the old number holds for the new one', async () => {
    const f = load('pywa-system-user-changed-number');
    const body = shape(f.body);
    clockAt(body);
    const old = '972987654321';
    const stop = {
      object: 'whatsapp_business_account',
      entry: [
        {
          id: '102290129340398',
          changes: [
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' },
                contacts: [{ profile: { name: 'User A' }, wa_id: old }],
                messages: [
                  {
                    from: old,
                    id: 'wamid.STOP_OLD',
                    timestamp: String(Number(firstMessage(body).timestamp) - 60),
                    type: 'text',
                    text: { body: 'STOP' },
                  },
                ],
              },
            },
          ],
        },
      ],
    };
    await h.proc.applyBody(stop);
    expect((await getCustomerView(h.t.ctx, old)).consent.marketing).toBe('opted_out');
    await h.proc.applyBody(body);
    await noUnattributed();
    expect((await getCustomerView(h.t.ctx, '972912345678')).consent.marketing).toBe('opted_out');
  });

  it('meta-system-user-changed-user-id: an opt-out given under the old BSUID holds for the new one', async () => {
    const f = load('meta-system-user-changed-user-id');
    const body = shape(f.body);
    clockAt(body);
    const stop = clone(load('meta-inbound-text-username-no-phone').body);
    const sm = firstMessage(stop);
    (sm.text as Obj).body = 'STOP';
    sm.timestamp = String(Number(firstMessage(body).timestamp) - 5);
    await h.proc.applyBody(stop);
    expect((await getCustomerView(h.t.ctx, BSUID)).consent.marketing).toBe('opted_out');
    await h.proc.applyBody(body);
    await noUnattributed();
    expect((await getCustomerView(h.t.ctx, 'US.88812208655302741000')).consent.marketing).toBe('opted_out');
  });
});

it('every fixture names its source and says what was changed', () => {
  for (const name of [
    'meta-inbound-text-username-no-phone',
    'meta-status-delivered-bsuid-only',
    'meta-status-delivered-phone-and-bsuid',
    'meta-user-preferences-stop-bsuid-only',
    'meta-group-message-username',
    'meta-system-user-changed-user-id',
    'pywa-text-with-phone-and-bsuid',
    'pywa-system-user-changed-number',
  ]) {
    const f = load(name);
    expect(f.source.length, name).toBeGreaterThan(20);
    expect(f.note.length, name).toBeGreaterThan(20);
    expect(f.body.object, name).toBe('whatsapp_business_account');
  }
});
