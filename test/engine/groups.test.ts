// WhatsApp groups (Groups API, changes-2026.md §10), end to end against the sandbox: a member's message
// opens the GROUP's window (never a 1:1 window with its author), and a send with recipient_type
// "group" is decided on that window, delivered to the group and its statuses resolve it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, waitFor, type Harness } from '../delivery/harness.ts';

/** The harness's wait, with this test's bounds (8 s, every 25 ms). */
const until = <T>(what: string, fn: () => Promise<T | null | undefined | false>) => waitFor(what, fn, 8_000, 25);

const GROUP = 'Y2FwaV9ncm91cDoxNTU1MDEwMDAwMToxMjAzNjM0MDUyMzQ1Njc4OQ';
const MEMBER = '447700900888';

let h: Harness;
const toGroup = (text: string) => ({ recipient_type: 'group', to: GROUP, type: 'text', text: { body: text } });

beforeAll(async () => {
  h = await startHarness({});
});
afterAll(async () => {
  await h?.close();
});

describe('groups', () => {
  it('a free-form send to a group with no open window is refused, naming the group window', async () => {
    const r = await h.post(toGroup('Hello group'));
    expect(r.status).toBe(422);
    expect(r.json.decision.reason_code).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
    expect(r.json.decision.explanation).toMatch(/No member of this group has written/);
  });

  it("a member's message opens the group's window: the group can be answered, its author is not opened 1:1", async () => {
    await h.sandbox('POST', '/_sandbox/inbound', { from: MEMBER, group_id: GROUP, type: 'text', text: { body: 'Hi all' } });
    await until('the group window', async () => (await h.ctx.store.getWindows(`group:${GROUP}`)).length === 1);
    expect(await h.ctx.store.getWindows(MEMBER)).toEqual([]);

    const r = await h.post(toGroup('Hello group'));
    expect(r.status).toBe(202);
    const m = await until('the group message delivered', async () => {
      const x = await h.ctx.store.getMessage(r.json.id);
      return x && x.status !== 'queued' && x.status !== 'sending' && x.status !== 'accepted' ? x : null;
    });
    expect(m.status, JSON.stringify(m.last_error)).toMatch(/^(sent|delivered|read)$/);
    expect(m.payload).toMatchObject({ recipient_type: 'group', to: GROUP });
    // The author has no 1:1 window: a 1:1 free-form reply would be 131047 at Meta.
    const direct = await h.post({ to: `+${MEMBER}`, type: 'text', text: { body: 'Hi you' } });
    expect(direct.status).toBe(422);
    expect(direct.json.decision.reason_code).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
  });

  it('a malformed group id, or a BSUID with recipient_type group, is INVALID_RECIPIENT with the fix', async () => {
    for (const body of [
      { recipient_type: 'group', to: 'not a group id!', type: 'text', text: { body: 'x' } },
      { recipient_type: 'group', recipient: 'US.13491208655302741918', type: 'text', text: { body: 'x' } },
    ]) {
      const r = await h.post(body);
      expect(r.status, JSON.stringify(r.json)).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      const d = r.json.decision ?? r.json.error;
      expect(d.reason_code ?? d.code).toBe('INVALID_RECIPIENT');
      expect(JSON.stringify(r.json)).toMatch(/group_id/);
    }
  });
});
