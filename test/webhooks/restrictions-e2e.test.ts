// Meta's account restrictions end to end (issue 14): a real wagate (createApp, embedded queue, SQLite)
// in front of the sandbox, which enforces the restriction on its own sends (Meta's 368). With the
// account_update webhook received, the gate denies first (SENDER_RESTRICTED) and nothing reaches Meta;
// when the webhook was missed, Meta's refusal is the backstop: the message is dead-lettered with 368
// and the sender paused, and nothing is delivered.
import { afterEach, describe, expect, it } from 'vitest';
import { http, orderUpdate, PHONE_NUMBER_ID, recipient, startHarness, waitFor, type Harness } from '../delivery/harness.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const restrict = (restriction: Record<string, unknown>) => h!.sandbox('POST', `/_sandbox/numbers/${PHONE_NUMBER_ID}`, { restriction });
const refused368 = async () => ((await h!.sandbox('GET', '/_sandbox/health')).counters?.by_code?.['368'] ?? 0) as number;
const sandboxAnswered = async () => (await h!.sandbox('GET', '/_sandbox/health')) as any;

describe('account restriction: the gate denies first, the sandbox is the backstop', () => {
  it('with the webhook: business-initiated sends are denied at the gate (SENDER_RESTRICTED, with the remediation) and never reach Meta; replies go', async () => {
    h = await startHarness();
    const customer = recipient(31);
    await h.sandbox('POST', '/_sandbox/inbound', { from: customer, type: 'text', text: { body: 'hello' } });
    await waitFor('the window', async () => (await h!.ctx.store.getWindows(customer)).length === 1);
    await restrict({ type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', remediation: 'Check your opt-in flow.' });
    await waitFor('the restriction in the gate', async () => {
      const r = await h!.ctx.store.getSenderHealth('main');
      return Array.isArray(r?.data.sender_restrictions) && (r!.data.sender_restrictions as unknown[]).length > 0;
    });
    const before = (await h.ledger()).length;
    const denied = await h.post(orderUpdate(recipient(32)));
    expect(denied.status).toBe(422);
    expect(denied.json.decision.reason_code).toBe('SENDER_RESTRICTED');
    expect(denied.json.decision.explanation + denied.json.decision.suggested_action).toMatch(/Check your opt-in flow\./);
    // A reply inside the customer's window is not business-initiated: allowed, and Meta takes it.
    const reply = await h.post({ to: customer, type: 'text', text: { body: 'Thanks, we are on it.' } });
    expect(reply.status).toBe(202);
    await waitFor('the reply at Meta', async () => (await h!.ledger()).some((s) => s.biz_opaque_callback_data === reply.json.id));
    expect((await h.ledger()).length).toBe(before + 1);
    expect(await refused368()).toBe(0); // nothing was refused by Meta: the gate stopped it first
  });

  it('webhook missed: the gate allows, Meta refuses with 368: the sender is paused and the message kept unsent; after the lift and a resume it goes', async () => {
    h = await startHarness();
    await restrict({ type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', silent: true });
    const r = await h.post(orderUpdate(recipient(33)));
    expect(r.status).toBe(202); // wagate never heard of the restriction
    await waitFor('paused', async () => h!.ctx.senders.status('main').state === 'paused');
    expect(h.ctx.senders.status('main').reason_code).toBe('META_368');
    const held = (await h.get(`/v1/messages/${r.json.id}`)).json;
    expect(['queued', 'accepted', 'pending']).toContain(held.status);
    expect((await h.ledger()).some((s) => s.biz_opaque_callback_data === r.json.id)).toBe(false);
    expect((await sandboxAnswered()).counters.by_code['368']).toBeGreaterThanOrEqual(1);
    // Meta lifts the restriction; the operator resumes the sender: the kept message goes, once.
    await restrict({ type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', lift: true, silent: true });
    expect((await http('POST', `${h.base}/v1/senders/main/resume`, {})).status).toBeLessThan(300);
    await waitFor('the message at Meta', async () => (await h!.ledger()).some((s) => s.biz_opaque_callback_data === r.json.id));
    expect((await h.ledger()).filter((s) => s.biz_opaque_callback_data === r.json.id)).toHaveLength(1);
  });
});
