// Meta's 2026 identities (issue 13, changes-2026.md §1): a username user's messages arrive with
// `from_user_id` and no `from` / `wa_id`. Before, wagate dropped them as unattributed, so a STOP from
// such a customer was never recorded. Payloads are shaped as Meta's business-scoped user id page shows
// them (contacts[].user_id, messages[].from_user_id, statuses[].recipient_user_id, status contacts[]),
// with fields wagate does not read (username, parent ids) that must never break an event it does read.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebhookProcessor } from '../../src/webhooks/processor.ts';
import { checkCompliance } from '../../src/engine/compliance.ts';
import type { TemplateRecord } from '../../src/domain/types.ts';
import { envelope, makeCtx, message, messagesValue, type TestCtx } from './helpers.ts';

const BSUID = 'US.13491208655302741918';
const NEW_BSUID = 'US.88812208655302741000';
/** A UK number: marketing templates to it are allowed (no US marketing restriction). */
const CUSTOMER = '447700900123';

let t: TestCtx;
let proc: WebhookProcessor;
beforeEach(async () => {
  t = await makeCtx();
  proc = new WebhookProcessor(t.ctx);
  await proc.start();
});
afterEach(async () => {
  await proc.stop();
  await t.close();
});

const ts = () => String(Math.floor(t.clock.t / 1000) - 1);

/** An inbound message from a username user Meta shares no phone for. */
function usernameOnly(id: string, text: string, extra: Record<string, unknown> = {}) {
  return envelope(
    'messages',
    messagesValue({
      contacts: [{ profile: { name: 'Ana', username: '@ana.writes' }, user_id: BSUID, parent_user_id: 'US.ENT.11815799212886844830' }],
      messages: [
        {
          from_user_id: BSUID,
          from_parent_user_id: 'US.ENT.11815799212886844830',
          id,
          timestamp: ts(),
          type: 'text',
          text: { body: text },
          ...extra,
        },
      ],
    }),
  );
}

/** The same person later, with the phone shown too. */
function withPhone(id: string, text: string) {
  return envelope(
    'messages',
    messagesValue({
      contacts: [{ profile: { name: 'Ana' }, wa_id: CUSTOMER, user_id: BSUID }],
      messages: [{ from: CUSTOMER, from_user_id: BSUID, id, timestamp: ts(), type: 'text', text: { body: text } }],
    }),
  );
}

const marketing = {
  to: CUSTOMER,
  type: 'template',
  template: {
    name: 'spring_sale',
    language: { code: 'en_US' },
    components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ann' }] }],
  },
};

async function approveSpringSale() {
  const rec: TemplateRecord = {
    waba_id: t.ctx.senders.resolve('main').waba_id,
    name: 'spring_sale',
    language: 'en_US',
    category: 'marketing',
    status: 'APPROVED',
    quality: 'GREEN',
    components: [{ type: 'BODY', text: 'Hi {{1}}' }],
    meta_id: null,
    updated_at: t.clock.t,
  };
  await t.ctx.store.upsertTemplate(rec);
  await t.ctx.gate.upsertTemplate(rec);
}

describe('business-scoped user ids', () => {
  it('a STOP from a username user (no phone in the webhook) is recorded under their BSUID, not dropped', async () => {
    const r = await proc.applyBody(usernameOnly('wamid.U1', 'STOP'));
    expect(r.results).toEqual({ applied: 1 });
    const c = await t.ctx.store.getCustomer(BSUID);
    expect(c?.consent.marketing.state).toBe('opted_out');
    expect(c?.consent.utility.state).toBe('opted_out');
    expect(c?.profile_name).toBe('Ana');
    expect(await t.ctx.store.listAudit({ action: 'webhook.unattributed' })).toEqual([]);
  });

  it('once a payload shows their phone beside the BSUID, the opt-out holds for the phone too: marketing by phone is refused', async () => {
    await approveSpringSale();
    const first = await checkCompliance(t.ctx, { body: marketing });
    expect(first.reason_code).toBeNull();
    await proc.applyBody(usernameOnly('wamid.U2', 'STOP'));
    t.clock.t += 60_000;
    await proc.applyBody(withPhone('wamid.U3', 'Where is my order?'));
    expect(await t.ctx.store.getLinkedPhone('biz', BSUID)).toBe(CUSTOMER);
    expect((await t.ctx.store.getCustomer(CUSTOMER))?.consent.marketing.state).toBe('opted_out');
    const d = await checkCompliance(t.ctx, { body: marketing });
    expect(d.allowed).toBe(false);
    expect(d.reason_code).toBe('OPTED_OUT');
    // Later messages by BSUID alone are the phone's customer now (one person, one state).
    await proc.applyBody(usernameOnly('wamid.U4', 'START'));
    expect((await t.ctx.store.getCustomer(CUSTOMER))?.consent.marketing.state).toBe('opted_in');
  });

  it('a "Stop promotions" user_preferences with only user_id counts, and a status contacts[] link carries it to the phone', async () => {
    await proc.applyBody(
      envelope(
        'user_preferences',
        messagesValue({
          contacts: [{ profile: { name: 'Ana' }, user_id: BSUID }],
          user_preferences: [
            {
              user_id: BSUID,
              detail: 'User requested to stop marketing messages',
              category: 'marketing_messages',
              value: 'stop',
              timestamp: Number(ts()),
            },
          ],
        }),
      ),
    );
    expect((await t.ctx.store.getCustomer(BSUID))?.consent.marketing.state).toBe('opted_out');
    await t.ctx.store.insertMessage(message('msg_bsuid_1', { wamid: 'wamid.OUT1' }));
    const status = {
      id: 'wamid.OUT1',
      status: 'delivered',
      timestamp: ts(),
      recipient_id: CUSTOMER,
      recipient_user_id: BSUID,
      biz_opaque_callback_data: 'msg_bsuid_1',
    };
    await proc.applyBody(
      envelope(
        'messages',
        messagesValue({
          contacts: [{ profile: { name: 'Ana', username: '@ana.writes' }, wa_id: CUSTOMER, user_id: BSUID }],
          statuses: [status],
        }),
      ),
    );
    expect((await t.ctx.store.getMessage('msg_bsuid_1'))?.status).toBe('delivered');
    expect((await t.ctx.store.getCustomer(CUSTOMER))?.consent.marketing.state).toBe('opted_out');
  });

  it('an opt-out given by phone after the link holds for sends by BSUID (decided on the phone)', async () => {
    await approveSpringSale();
    await proc.applyBody(withPhone('wamid.P0', 'hello')); // linked
    await proc.applyBody(
      envelope(
        'messages',
        messagesValue({
          contacts: [{ profile: { name: 'Ana' }, wa_id: CUSTOMER }],
          messages: [{ from: CUSTOMER, id: 'wamid.P1', timestamp: ts(), type: 'text', text: { body: 'STOP' } }],
        }),
      ),
    );
    expect((await t.ctx.store.getCustomer(CUSTOMER))?.consent.marketing.state).toBe('opted_out');
    const byBsuid = { ...marketing, to: undefined, recipient: BSUID };
    const d = await checkCompliance(t.ctx, { body: JSON.parse(JSON.stringify(byBsuid)) });
    expect(d.reason_code).toBe('OPTED_OUT');
    // A BSUID of another portfolio means nothing here.
    expect(await t.ctx.store.getLinkedPhone('another-business', BSUID)).toBeNull();
  });

  it('a new BSUID (user_changed_user_id) keeps the opt-outs of the old one', async () => {
    await proc.applyBody(usernameOnly('wamid.C1', 'STOP'));
    await proc.applyBody(
      usernameOnly('wamid.C2', '', {
        type: 'system',
        text: undefined,
        system: { body: 'User changed their user id', type: 'user_changed_user_id', user_id: NEW_BSUID },
      }),
    );
    expect((await t.ctx.store.getCustomer(NEW_BSUID))?.consent.marketing.state).toBe('opted_out');
  });

  it('a group message opens no 1:1 window with its author; a STOP in a group still opts them out, with no 1:1 confirmation', async () => {
    await proc.stop();
    await t.close();
    t = await makeCtx({ webhooks: { opt_out_confirmation: 'You will get no more offers.' } });
    proc = new WebhookProcessor(t.ctx);
    await proc.start();
    expect((await proc.applyBody(usernameOnly('wamid.G0', 'hello all', { group_id: 'GROUP.123456' }))).results).toEqual({ stored: 1 });
    expect(await t.ctx.store.getWindows(BSUID)).toEqual([]);
    const r = await proc.applyBody(usernameOnly('wamid.G1', 'STOP', { group_id: 'GROUP.123456' }));
    expect(r.results).toEqual({ applied: 1 });
    expect((await t.ctx.store.getCustomer(BSUID))?.consent.marketing.state).toBe('opted_out');
    expect(await t.ctx.store.getWindows(BSUID)).toEqual([]);
    expect(await t.ctx.store.listMessages({})).toEqual([]); // no confirmation sent 1:1
    expect((await proc.applyBody(usernameOnly('wamid.G2', 'START', { group_id: 'GROUP.123456' }))).results).toEqual({ stored: 1 });
    expect((await t.ctx.store.getCustomer(BSUID))?.consent.marketing.state).toBe('opted_out');
  });

  it('a reply to a contact request (origin contact_request) links the BSUID to the phone it shares; a shared card (origin other) links nothing', async () => {
    await proc.applyBody(usernameOnly('wamid.CR0', 'STOP'));
    // Someone else's card, shared on purpose: no link.
    const card = (id: string, origin: string, wa_id: string) =>
      envelope(
        'messages',
        messagesValue({
          contacts: [{ profile: { name: 'Ana' }, user_id: BSUID }],
          messages: [
            {
              from_user_id: BSUID,
              id,
              timestamp: ts(),
              type: 'contacts',
              contacts: [
                {
                  origin,
                  name: { formatted_name: 'Ana', first_name: 'Ana' },
                  phones: [{ phone: `+${wa_id}`, wa_id, type: 'CELL' }],
                  vcard: 'BEGIN:VCARD\nVERSION:3.0\nEND:VCARD',
                  some_future_field: { x: 1 },
                },
              ],
            },
          ],
        }),
      );
    await proc.applyBody(card('wamid.CR1', 'other', '447700900999'));
    expect(await t.ctx.store.getLinkedPhone('biz', BSUID)).toBeNull();
    await proc.applyBody(card('wamid.CR2', 'contact_request', CUSTOMER));
    expect(await t.ctx.store.getLinkedPhone('biz', BSUID)).toBe(CUSTOMER);
    expect((await t.ctx.store.getCustomer(CUSTOMER))?.consent.marketing.state).toBe('opted_out');
    expect(await t.ctx.store.getCustomer('447700900999')).toBeNull();
  });

  it('a message with neither from nor from_user_id is still audited as unattributed', async () => {
    const r = await proc.applyBody(
      envelope('messages', messagesValue({ messages: [{ id: 'wamid.N1', timestamp: ts(), type: 'text', text: { body: 'STOP' } }] })),
    );
    expect(r.results).toEqual({ ignored: 1 });
    expect((await t.ctx.store.listAudit({ action: 'webhook.unattributed' })).length).toBe(1);
  });
});
