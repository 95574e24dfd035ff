// Parent BSUIDs end to end (changes-2026.md §1.1): the sandbox with parent ids on, a real wagate in
// front. A username user's STOP, given where Meta shows their portfolio BSUID and parent id, holds when
// marketing is addressed to either; a parent id is a recipient Meta takes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, waitFor, type Harness } from '../delivery/harness.ts';

let h: Harness;
const until = <T>(what: string, fn: () => Promise<T | null | undefined | false>) => waitFor(what, fn, 8_000, 25);
const SPRING_SALE = {
  type: 'template',
  template: {
    name: 'spring_sale',
    language: { code: 'en_US' },
    components: [{ type: 'body', parameters: [{ type: 'text', text: 'Eva' }] }],
  },
};
const idsOf = async (wa: string) => {
  const u = await h.sandbox('GET', `/_sandbox/users/${wa}`);
  return { child: Object.values(u.user_ids as Record<string, string>)[0], parent: u.parent_user_id as string };
};

beforeAll(async () => {
  h = await startHarness({});
  await h.sandbox('POST', '/_sandbox/rules', { parent_user_ids: true });
});
afterAll(async () => {
  await h?.close();
});

describe('parent BSUIDs through wagate', () => {
  it("a username user's STOP refuses marketing by their parent id and by their BSUID; a parent id reaches Meta", async () => {
    const wa = '447700900511';
    await h.sandbox('POST', `/_sandbox/users/${wa}`, { username: '@eva.shop', phone_shared: false });
    const { child, parent } = await idsOf(wa);
    await h.sandbox('POST', '/_sandbox/inbound', { from: wa, type: 'text', text: { body: 'STOP' } });
    await until('the opt-out', async () => (await h.ctx.store.getCustomer(child))?.consent.marketing.state === 'opted_out');
    expect(parent).toMatch(/^GB\.ENT\.\d+$/);
    for (const recipient of [parent, child]) {
      const r = await h.post({ recipient, ...SPRING_SALE });
      expect(r.status, String(recipient)).toBe(422);
      expect(r.json.decision.reason_code).toBe('OPTED_OUT');
    }
    // Someone else, addressed by their parent id: allowed, and Meta (the sandbox) takes it.
    const other = '447700900512';
    await h.sandbox('POST', '/_sandbox/inbound', { from: other, type: 'text', text: { body: 'hello' } });
    await until('their window', async () => (await h.ctx.store.getWindows(other)).length === 1);
    const ok = await h.post({ recipient: (await idsOf(other)).parent, ...SPRING_SALE });
    expect(ok.status).toBe(202);
    await until('at Meta', async () => (await h.ledger()).some((s) => s.biz_opaque_callback_data === ok.json.id));
  });
});
