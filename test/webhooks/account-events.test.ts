// Meta's 2026 account events (issue 14), with the payloads of Meta's account_update reference (updated
// 20 Apr 2026): ACCOUNT_RESTRICTION is stored and enforced by the gate until it expires.
import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import { WebhookProcessor } from '../../src/webhooks/processor.ts';
import { extractEvents } from '../../src/webhooks/events.ts';
import type { GateRequest } from '../../src/gate/port.ts';
import { makeCtx, envelope, textMsg, message, statusBody, st, CUSTOMER, SENDER, WABA, type TestCtx } from './helpers.ts';
import type { SenderConfig } from '../../src/domain/types.ts';

let t: TestCtx;
let proc: WebhookProcessor;
const HOUR = 3_600_000;

beforeEach(async () => {
  t = await makeCtx();
  proc = new WebhookProcessor(t.ctx);
  await proc.start();
  await t.ctx.gate.upsertTemplate({
    waba_id: WABA,
    name: 'order_ready',
    language: 'en_US',
    category: 'utility',
    status: 'APPROVED',
    components: [{ type: 'BODY', text: 'Your order is ready.' }],
    updated_at: 1,
  });
});
afterEach(async () => {
  await proc.stop();
  await t.close();
});

let n = 0;
const template = (): GateRequest => ({
  message_id: `msg_r_${++n}`,
  sender: SENDER,
  to: CUSTOMER,
  country: 'US',
  kind: 'template',
  type: 'template',
  template: { name: 'order_ready', language: 'en_US', components: [] },
});
const reply = (): GateRequest => ({
  message_id: `msg_r_${++n}`,
  sender: SENDER,
  to: CUSTOMER,
  country: 'US',
  kind: 'free_form',
  type: 'text',
  category_hint: 'service',
});
const decision = async (req: GateRequest) => (await t.ctx.gate.check(req, t.clock.t)).decision;

/** Meta's reference example: restriction_info[] with an integer unix expiration and optional remediation. */
const restriction = (info: Record<string, unknown>[], time: number) =>
  envelope('account_update', { event: 'ACCOUNT_RESTRICTION', restriction_info: info }, { time });

describe('account_update ACCOUNT_RESTRICTION', () => {
  it('is read from restriction_info (expiration in unix seconds, remediation optional, unknown types kept)', () => {
    const [ev] = extractEvents(
      restriction(
        [
          {
            restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING',
            expiration: 1641330498,
            remediation: 'Review your messaging practices.',
          },
          { restriction_type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', expiration: 1641330498 },
          { restriction_type: 'RESTRICTED_SOMETHING_NEW' },
          { expiration: 5 },
        ],
        1739321024,
      ),
    );
    expect(ev.kind === 'account_update' && ev.change.restrictions).toEqual([
      { type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expires_at: 1641330498000, remediation: 'Review your messaging practices.' },
      { type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION', expires_at: 1641330498000, remediation: null },
      { type: 'RESTRICTED_SOMETHING_NEW', expires_at: null, remediation: null },
    ]);
  });

  it('the gate denies business-initiated sends with SENDER_RESTRICTED and Meta’s remediation until it expires; replies stay allowed', async () => {
    const expires = Math.floor((t.clock.t + 2 * HOUR) / 1000);
    expect((await decision(template())).allowed).toBe(true);
    await proc.applyBody(
      restriction(
        [
          {
            restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING',
            expiration: expires,
            remediation: 'Review your messaging practices and ensure compliance with WhatsApp policies.',
          },
        ],
        Math.floor(t.clock.t / 1000),
      ),
    );
    const d = await decision(template());
    expect(d.reason_code).toBe('SENDER_RESTRICTED');
    expect(d.explanation).toMatch(/RESTRICTED_BIZ_INITIATED_MESSAGING/);
    expect(d.suggested_action).toMatch(/Review your messaging practices and ensure compliance/);
    expect(d.retry_after_s).toBe(2 * 3600);
    // A reply inside a window the customer opens is not covered.
    await proc.applyBody(textMsg('wamid.R1', 'hello', t.clock.t));
    expect((await decision(reply())).allowed).toBe(true);
    // Stored (the sender health record) and given back to the gate on start (the seed).
    expect((await t.ctx.store.getSenderHealth('main'))?.data.sender_restrictions).toEqual([
      {
        type: 'RESTRICTED_BIZ_INITIATED_MESSAGING',
        expires_at: expires * 1000,
        remediation: 'Review your messaging practices and ensure compliance with WhatsApp policies.',
      },
    ]);
    expect((await t.ctx.store.loadGateSeed(t.clock.t)).restrictions).toEqual([
      { sender_id: 'main', restrictions: [expect.objectContaining({ type: 'RESTRICTED_BIZ_INITIATED_MESSAGING' })] },
    ]);
    // Expired: allowed again, with no other event.
    t.clock.t += 2 * HOUR;
    const other = { ...template(), to: '5511987654321', country: 'BR' };
    expect((await decision(other)).allowed).toBe(true);
  });

  it('RESTRICTED_CUSTOMER_INITIATED_MESSAGING denies replies in the window; a later event for another type keeps it; an older one is stale', async () => {
    const at = Math.floor(t.clock.t / 1000);
    await proc.applyBody(textMsg('wamid.R2', 'hello', t.clock.t));
    await proc.applyBody(restriction([{ restriction_type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING', expiration: at + 86_400 }], at));
    expect((await decision(reply())).reason_code).toBe('SENDER_RESTRICTED');
    // A template sent as a reply inside the window is customer-initiated too.
    expect((await decision(template())).reason_code).toBe('SENDER_RESTRICTED');
    // Creating utility templates restricted (Meta: "cannot create utility templates"): sends unaffected.
    await proc.applyBody(restriction([{ restriction_type: 'RESTRICTED_UTILITY_TEMPLATES', expiration: at + 86_400 }], at + 10));
    const held = (await t.ctx.store.getSenderHealth('main'))?.data.sender_restrictions as { type: string }[];
    expect(held.map((r) => r.type).sort()).toEqual(['RESTRICTED_CUSTOMER_INITIATED_MESSAGING', 'RESTRICTED_UTILITY_TEMPLATES']);
    // An older event (entry.time before the last applied) changes nothing.
    await proc.applyBody(restriction([{ restriction_type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expiration: at + 86_400 }], at - 100));
    expect((await t.ctx.store.getSenderHealth('main'))?.data.sender_restrictions).toHaveLength(2);
    expect((await decision(reply())).reason_code).toBe('SENDER_RESTRICTED');
  });
});

describe('account_update ACCOUNT_OFFBOARDED / ACCOUNT_RECONNECTED (coexistence)', () => {
  it('offboarding says stop_sending (the health monitor pauses the number); reconnecting does not', async () => {
    const got: { event: string | null; stop_sending: boolean; sender_ids: string[] }[] = [];
    t.ctx.bus.on('meta.account_update', (e) => got.push(e));
    await proc.applyBody(
      envelope(
        'account_update',
        { event: 'ACCOUNT_OFFBOARDED', disconnection_info: { reason: 'PRIMARY_INACTIVITY', initiated_by: 'SYSTEM' } },
        { time: 1739321024 },
      ),
    );
    await proc.applyBody(envelope('account_update', { event: 'ACCOUNT_RECONNECTED' }, { time: 1739321100 }));
    expect(got.map((g) => [g.event, g.stop_sending, g.sender_ids])).toEqual([
      ['ACCOUNT_OFFBOARDED', true, ['main']],
      ['ACCOUNT_RECONNECTED', false, ['main']],
    ]);
  });
});

describe('sender-level errors in a failed status (as on the synchronous path)', () => {
  // Meta's error object in a status webhook: code, title, message, error_data.details, href.
  const metaError = (code: number, title: string, details: string) => ({
    code,
    title,
    message: title,
    error_data: { details },
    href: '/documentation/business-messaging/whatsapp/support/error-codes',
  });
  const failed = async (id: string, wamid: string, err: Record<string, unknown>) => {
    await t.ctx.store.insertMessage(message(id, { wamid }));
    await proc.applyBody(statusBody([st(wamid, 'failed', t.clock.t - 1000, { errors: [err] })]));
  };

  for (const [code, title] of [
    [131048, 'Spam rate limit hit'],
    [131042, 'Business eligibility payment issue'],
    [368, 'Temporarily blocked for policies violations'],
    [131031, 'Account has been locked'],
  ] as const) {
    it(`${code} pauses the sender with META_${code} and alerts`, async () => {
      await failed(`msg_f${code}`, `wamid.F${code}`, metaError(code, title, 'details from Meta'));
      expect(t.ctx.senders.status('main')).toMatchObject({ state: 'paused', reason_code: `META_${code}` });
      expect(t.ctx.senders.status('main').reason).toMatch(/failed status of message msg_f/);
      await t.alerts.flush();
      expect(await t.ctx.store.getAlertByDedupeKey(`paused:main:META_${code}`)).toMatchObject({ kind: 'sender_paused' });
    });
  }

  it('a replayed failure does not pause again a sender an operator resumed; recipient-level codes pause nothing', async () => {
    await failed('msg_r1', 'wamid.RP1', metaError(131048, 'Spam rate limit hit', 'x'));
    expect(t.ctx.senders.status('main').state).toBe('paused');
    t.ctx.senders.setState('main', 'active', { reason: null, reason_code: null, at: t.clock.t });
    await proc.applyBody(
      statusBody([st('wamid.RP1', 'failed', t.clock.t - 1000, { errors: [metaError(131048, 'Spam rate limit hit', 'x')] })]),
    );
    expect(t.ctx.senders.status('main').state).toBe('active');
    await failed('msg_r2', 'wamid.RP2', metaError(131026, 'Message undeliverable', 'x'));
    expect(t.ctx.senders.status('main').state).toBe('active');
  });

  it('131064 pauses the sender and holds business-initiated sends of the other senders of its portfolio (replies go on)', async () => {
    const other: SenderConfig = { ...SENDER, id: 'alt', phone_number_id: '106540352242923', display_phone_number: '15550783882' };
    const elsewhere: SenderConfig = { ...SENDER, id: 'far', phone_number_id: '106540352242924', business_id: 'biz_other' };
    vi.spyOn(t.ctx.senders, 'list').mockReturnValue([SENDER, other, elsewhere]);
    await failed(
      'msg_l1',
      'wamid.L1',
      metaError(
        131064,
        'Messaging limit reached',
        'Your account has reached its messaging limit due to template classification violations.',
      ),
    );
    expect(t.ctx.senders.status('main')).toMatchObject({ state: 'paused', reason_code: 'META_131064' });
    const d = await decision({ ...template(), sender: other });
    expect(d.reason_code).toBe('SENDER_RESTRICTED');
    expect(d.suggested_action).toMatch(/template categories|categories/);
    expect((await decision({ ...template(), sender: elsewhere })).allowed).toBe(true);
    await t.ctx.gate.recordInbound('alt', CUSTOMER, t.clock.t); // the customer wrote to the other number
    expect((await decision({ ...reply(), sender: other })).allowed).toBe(true);
    expect((await t.ctx.store.getSenderHealth('alt'))?.data.sender_restrictions).toEqual([
      expect.objectContaining({ type: 'META_131064', expires_at: t.clock.t - 1000 + 86_400_000 }),
    ]);
    await t.alerts.flush();
    expect(await t.ctx.store.getAlertByDedupeKey('meta_131064:biz')).toMatchObject({ severity: 'critical' });
  });
});

describe('business_capability_update (integers, -1 unlimited)', () => {
  // Meta's reference (21 May 2026): entry.id is the WABA; the limit is an integer.
  const capability = (value: Record<string, unknown>, time: number) => envelope('business_capability_update', value, { time });
  const limitNow = async () => (await t.ctx.store.loadGateSeed(t.clock.t)).portfolio_limits;

  it('reads the limit (integers, -1 unlimited, legacy tier names) and the number limits', () => {
    const [ev] = extractEvents(
      capability({ max_daily_conversations_per_business: -1, max_phone_numbers_per_business: 20, max_phone_numbers_per_waba: 2 }, 5),
    );
    expect(ev.kind === 'capability' && ev.change).toEqual({
      messaging_limit: null,
      max_phone_numbers_per_business: 20,
      max_phone_numbers_per_waba: 2,
    });
    const [old] = extractEvents(capability({ max_daily_conversations_per_business: 'TIER_10K' }, 6));
    expect(old.kind === 'capability' && old.change.messaging_limit).toBe(10000);
    const [none] = extractEvents(capability({ max_phone_numbers_per_business: 20 }, 7));
    expect(none.kind === 'capability' && none.change.messaging_limit).toBeUndefined();
  });

  it("sets the portfolio's limit in the gate over the configured one, persisted; an older update is stale", async () => {
    // The configured limit is 250: 250 recipients reached, the next one is refused.
    for (let i = 0; i < 250; i++) {
      const r = await t.ctx.gate.checkAndReserve({ ...template(), to: `55119876${String(i).padStart(5, '0')}`, country: 'BR' }, t.clock.t);
      expect(r.decision.allowed).toBe(true);
    }
    expect((await decision(template())).reason_code).toBe('TIER_LIMIT');
    const at = Math.floor(t.clock.t / 1000);
    const r = await proc.applyBody(capability({ max_daily_conversations_per_business: 2000, max_phone_numbers_per_business: 20 }, at));
    expect(r.results.applied).toBe(1);
    expect((await decision(template())).allowed).toBe(true);
    expect(await limitNow()).toEqual([{ business_id: 'biz', limit: 2000, at: at * 1000 }]);
    expect((await t.ctx.store.getSenderHealth('main'))?.data.webhook_capability).toMatchObject({
      messaging_limit: 2000,
      business_ids: ['biz'],
    });
    // An older update (entry.time) changes nothing; a newer -1 makes it unlimited.
    await proc.applyBody(capability({ max_daily_conversations_per_business: 250 }, at - 60));
    expect(await limitNow()).toEqual([{ business_id: 'biz', limit: 2000, at: at * 1000 }]);
    await proc.applyBody(capability({ max_daily_conversations_per_business: -1 }, at + 60));
    expect(await limitNow()).toEqual([{ business_id: 'biz', limit: null, at: (at + 60) * 1000 }]);
    const d = (await t.ctx.gate.check(template(), t.clock.t)).decision;
    expect(d.allowed).toBe(true);
    expect(d.checks.find((c) => c.rule === 'tier_limit')?.detail).toMatch(/unlimited/);
  });
});
