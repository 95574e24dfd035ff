// Parent BSUIDs (changes-2026.md §1.1; 360dialog: ".ENT." ids that work across an enterprise's linked
// portfolios, given as parent_user_id / from_parent_user_id beside the portfolio's own BSUID). An
// opt-out given under one portfolio's BSUID must hold when the same person is reached by the parent id,
// here or from a linked portfolio, and a parent id is accepted as a recipient, as Meta accepts it.
// Payloads follow Meta's BSUID page (contacts[].parent_user_id, messages[].from_parent_user_id,
// user_preferences[].parent_user_id), with fields wagate does not read.
import { beforeEach, describe, expect, it } from 'vitest';
import { IdentityBook } from '../../src/webhooks/handlers/identities.ts';
import { checkCompliance, prepareMessage } from '../../src/engine/compliance.ts';
import { approveSeedTemplates } from '../delivery/harness.ts';
import { envelope, messagesValue, SENDER, useProcessor } from './helpers.ts';

const CHILD = 'GB.13491208655302741918'; // the person's BSUID in this portfolio
// Theirs across the linked portfolios, in both forms sources show: 360dialog's ".ENT." and Meta's own
// BSUID page, whose examples write the parent id like any other ("US.11815799212886844830"). wagate
// tells a parent by the field it comes in; with the plain form it used to drop it.
const PARENTS = { 'with .ENT. (360dialog)': 'GB.ENT.11815799212886844830', "as Meta's own examples write it": 'GB.11815799212886844830' };
let PARENT = '';
const PHONE = '447700900123';

const h = useProcessor();
beforeEach(async () => {
  await approveSeedTemplates(h.t.ctx); // spring_sale: the sandbox's marketing seed, same WABA
});

const ts = () => String(Math.floor(h.t.clock.t / 1000) - 1);
const promo = (target: Record<string, unknown>) =>
  checkCompliance(h.t.ctx, {
    body: {
      ...target,
      type: 'template',
      template: {
        name: 'spring_sale',
        language: { code: 'en_US' },
        components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ann' }] }],
      },
    },
  });

/** A username user's message: no phone, their BSUID and parent BSUID. */
const usernameOnly = (id: string, text: string, contact: Record<string, unknown> = { parent_user_id: PARENT }) =>
  envelope(
    'messages',
    messagesValue({
      contacts: [{ profile: { name: 'Ana', username: '@ana.writes' }, user_id: CHILD, ...contact }],
      messages: [
        { from_user_id: CHILD, from_parent_user_id: PARENT, id, timestamp: ts(), type: 'text', text: { body: text }, new_2027_field: 1 },
      ],
    }),
  );

for (const [form, id] of Object.entries(PARENTS))
  describe(`parent BSUIDs ${form}`, () => {
    beforeEach(() => {
      PARENT = id;
    });
    it("a username user's STOP holds when they are reached by the parent id (it was lost: the parent id had no state)", async () => {
      expect((await promo({ recipient: PARENT })).allowed).toBe(true); // a parent id is a recipient Meta accepts
      await h.proc.applyBody(usernameOnly('wamid.P1', 'STOP'));
      expect((await h.t.ctx.store.getCustomer(CHILD))?.consent.marketing.state).toBe('opted_out');
      for (const recipient of [CHILD, PARENT]) {
        const d = await promo({ recipient });
        expect(d.allowed, recipient).toBe(false);
        expect(d.reason_code).toBe('OPTED_OUT');
      }
      // START undoes it under both (the person's own, later choice).
      h.t.clock.t += 60_000;
      await h.proc.applyBody(usernameOnly('wamid.P2', 'START'));
      for (const recipient of [CHILD, PARENT]) expect((await promo({ recipient })).allowed, recipient).toBe(true);
    });

    it('a "Stop promotions" preference (user_preferences without wa_id) holds under the parent id too', async () => {
      await h.proc.applyBody(
        envelope(
          'user_preferences',
          messagesValue({
            contacts: [{ user_id: CHILD, parent_user_id: PARENT }],
            user_preferences: [
              {
                user_id: CHILD,
                parent_user_id: PARENT,
                detail: 'User requested to stop marketing messages',
                category: 'marketing_messages',
                value: 'stop',
                timestamp: Number(ts()),
              },
            ],
          }),
        ),
      );
      expect((await promo({ recipient: PARENT })).reason_code).toBe('OPTED_OUT');
    });

    it('a parent id linked to a phone in a linked portfolio resolves to that phone here: the opt-out kept under the phone holds', async () => {
      // The person opted out by phone.
      await h.proc.applyBody(
        envelope(
          'messages',
          messagesValue({
            contacts: [{ profile: { name: 'Ana' }, wa_id: PHONE }],
            messages: [{ from: PHONE, id: 'wamid.P3', timestamp: ts(), type: 'text', text: { body: 'STOP' } }],
          }),
        ),
      );
      expect((await promo({ recipient: PARENT })).allowed).toBe(true); // wagate does not know yet that the parent id is them
      // A webhook of another portfolio of the enterprise shows their phone, that portfolio's BSUID and the parent id.
      const other = { ...SENDER, id: 'shop_b', phone_number_id: '200000000000002', business_id: 'biz-b' };
      await new IdentityBook(h.t.ctx).learn(
        other,
        [{ wa_id: PHONE, user_id: 'GB.55555208655302741918', parent_user_id: PARENT }],
        h.t.clock.t,
      );
      const d = await promo({ recipient: PARENT });
      expect(d.reason_code).toBe('OPTED_OUT');
      // That portfolio's own BSUID stays its own: it names nobody here.
      expect((await promo({ recipient: 'GB.55555208655302741918' })).allowed).toBe(true);
    });

    it("an opt-out kept under the parent id reaches the portfolio's BSUID when a webhook shows the two together", async () => {
      // Reached by the parent id, the person stopped marketing (kept under the parent id).
      await h.proc.applyBody(
        envelope(
          'user_preferences',
          messagesValue({
            user_preferences: [{ user_id: PARENT, category: 'marketing_messages', value: 'stop', timestamp: Number(ts()), detail: 'stop' }],
          }),
        ),
      );
      expect((await promo({ recipient: CHILD })).allowed).toBe(true);
      h.t.clock.t += 60_000;
      await h.proc.applyBody(usernameOnly('wamid.P4', 'Hello again'));
      expect((await promo({ recipient: CHILD })).reason_code).toBe('OPTED_OUT');
    });

    it('a send to a parent id goes to Meta as that id, unchanged', () => {
      const p = prepareMessage(h.t.ctx, { body: { recipient: PARENT, type: 'text', text: { body: 'hi' } } });
      expect(p.ok).toBe(true);
      if (p.ok) expect(p.payload).toMatchObject({ recipient: PARENT });
    });
  });
