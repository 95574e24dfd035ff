// Issue 13's story, end to end against the sandbox (Meta's emulator: its webhooks are signed, batched
// and sent to the real /webhook route; its ledger is Meta's count of accepted sends). Ana is a username
// user who shares no phone. The business knows her business-scoped user id (BSUID) from an earlier
// conversation and sends her a promotion by it; she writes; wagate replies by BSUID inside her window;
// later she shares her phone, so a webhook shows both; she writes STOP; marketing to her is refused by
// phone and by BSUID, and the portfolio's tier and her marketing cap counted her once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, waitFor, type Harness } from '../delivery/harness.ts';

/** The harness's wait, with this test's bounds (8 s, every 25 ms). */
const until = <T>(what: string, fn: () => Promise<T | null | undefined | false>) => waitFor(what, fn, 8_000, 25);

const PHONE = '447700900777';
const PORTFOLIO = 'delivery-test'; // the harness sender's business portfolio

let h: Harness;
let bsuid: string;

const inbound = (text: string) => h.sandbox('POST', '/_sandbox/inbound', { from: PHONE, type: 'text', text: { body: text } });
const promo = (target: Record<string, unknown>) => ({
  ...target,
  type: 'template',
  template: {
    name: 'spring_sale',
    language: { code: 'en_US' },
    components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ana' }] }],
  },
});
const sendsToAna = async () => (await h.ledger()).filter((s) => s.to === PHONE || (s as { user_id?: string }).user_id === bsuid);

beforeAll(async () => {
  h = await startHarness({});
  await h.sandbox('POST', `/_sandbox/users/${PHONE}`, { username: '@ana.writes', phone_shared: false });
  const user = await h.sandbox('GET', `/_sandbox/users/${PHONE}`);
  bsuid = Object.values(user.user_ids as Record<string, string>)[0];
});
afterAll(async () => {
  await h?.close();
});

describe('a username customer, reached by BSUID, then learned by phone', () => {
  it('is one person throughout: replies by BSUID, one STOP holds for both identities, counted once', async () => {
    expect(bsuid).toMatch(/^GB\.\d+$/);

    // 1. A promotion by BSUID (no window: it takes a tier slot and a marketing-cap slot under the BSUID).
    const first = await h.post(promo({ recipient: bsuid }));
    expect(first.status).toBe(202);
    await until('the promotion at Meta', async () => (await sendsToAna()).length === 1);
    expect(await h.ctx.gate.tierUsage(PORTFOLIO, Date.now())).toBe(1);

    // 2. She writes; Meta shows no phone: the window opens under her BSUID (not dropped).
    await inbound('Hi! Is the sale still on?');
    await until('her window under the BSUID', async () => (await h.ctx.store.getWindows(bsuid)).length === 1);
    expect(await h.ctx.store.getWindows(PHONE)).toEqual([]);

    // 3. wagate replies by BSUID inside the window; the statuses (recipient_user_id) resolve the message.
    const reply = await h.post({ recipient: bsuid, type: 'text', text: { body: 'Yes, until Sunday.' } });
    expect(reply.status).toBe(202);
    await until('the reply delivered', async () => {
      const m = await h.ctx.store.getMessage(reply.json.id);
      return m && (m.status === 'delivered' || m.status === 'read');
    });

    // 4. She shares her phone: the next webhook shows both, and wagate links them.
    await h.sandbox('POST', `/_sandbox/users/${PHONE}`, { phone_shared: true });
    await inbound('My number is this one');
    await until('the link', async () => (await h.ctx.store.getLinkedPhone(PORTFOLIO, bsuid)) === PHONE);
    // Her window and her slots now live under the phone: one person, counted once.
    expect((await h.ctx.store.getWindows(PHONE)).map((w) => w.sender_id)).toHaveLength(1);
    expect(await h.ctx.gate.tierUsage(PORTFOLIO, Date.now())).toBe(1);
    expect(await h.ctx.gate.marketingCount(PHONE, Date.now())).toBe(1);
    expect(await h.ctx.gate.marketingCount(bsuid, Date.now())).toBe(0);

    // 5. She writes STOP: marketing is refused by phone and by BSUID.
    await inbound('STOP');
    await until('the opt-out', async () => (await h.ctx.store.getCustomer(PHONE))?.consent.marketing.state === 'opted_out');
    const before = (await sendsToAna()).length;
    for (const target of [{ to: `+${PHONE}` }, { recipient: bsuid }]) {
      const r = await h.post(promo(target));
      expect(r.status, JSON.stringify(target)).toBe(422);
      expect(r.json.decision.reason_code).toBe('OPTED_OUT');
    }
    // The customer view shows both identities.
    const view = await h.get(`/v1/customers/${bsuid}`);
    expect(view.status).toBe(200);
    expect(view.json).toMatchObject({ wa_id: PHONE, user_ids: [bsuid] });
    await new Promise((r) => setTimeout(r, 300));
    expect((await sendsToAna()).length).toBe(before);
  });
});
