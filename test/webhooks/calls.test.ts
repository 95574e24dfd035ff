// Calls and coexistence echoes (issue 14, changes-2026.md §10; cloud-api.md §5.1): a user's call opens
// or refreshes the customer service window whether or not it was answered, a business call opens it
// once the user accepted it, and `calls` / `message_echoes` arrays are applied or audited, never
// skipped, also inside a `messages` change. Payloads in the shape of Meta's Calling API reference
// (user-initiated connect / terminate, business-initiated call statuses) and of smb_message_echoes,
// with fields wagate does not know.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebhookProcessor } from '../../src/webhooks/processor.ts';
import { checkCompliance } from '../../src/engine/compliance.ts';
import { envelope, makeCtx, messagesValue, PNID, textMsg, type TestCtx } from './helpers.ts';

const USER = '447700900123';
const BUSINESS = '15550783881'; // the sender's display number in the helpers
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

const ts = (ms: number) => String(Math.floor(ms / 1000));
const freeForm = () => checkCompliance(t.ctx, { body: { to: USER, type: 'text', text: { body: 'Thanks for calling' } } });
const callsBody = (calls: unknown[], extra: Record<string, unknown> = {}) => envelope('calls', messagesValue({ calls, ...extra }));
const audits = async (action: string) => (await t.ctx.store.listAudit({ action, limit: 50 })).filter((a) => a.action === action);

describe('calls', () => {
  it("a user's call opens the window whether or not it is answered (connect, then a missed call's terminate)", async () => {
    expect((await freeForm()).reason_code).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
    const at = t.clock.t - 60_000;
    const r = await proc.applyBody(
      callsBody([
        {
          id: 'wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh',
          to: BUSINESS,
          from: USER,
          event: 'connect',
          timestamp: ts(at),
          direction: 'USER_INITIATED',
          session: { sdp_type: 'offer', sdp: '<<RFC 8866 SDP>>' },
          some_new_field: 1,
        },
      ]),
    );
    expect(r.results.applied).toBe(1);
    expect((await freeForm()).allowed).toBe(true);
    // Two days later a missed call (terminate only, status FAILED) still refreshes it.
    t.clock.t += 2 * 86_400_000;
    expect((await freeForm()).allowed).toBe(false);
    await proc.applyBody(
      callsBody([
        {
          id: 'wacid.missed',
          to: BUSINESS,
          from: USER,
          event: 'terminate',
          direction: 'USER_INITIATED',
          timestamp: ts(t.clock.t - 1000),
          status: 'FAILED',
          biz_opaque_callback_data: 'x',
        },
      ]),
    );
    expect((await freeForm()).allowed).toBe(true);
    expect((await audits('customer.call')).length).toBe(2);
  });

  it('a business call opens the window only once the user accepted it; ringing or rejected does not', async () => {
    const at = t.clock.t - 30_000;
    // Business-initiated call statuses (Meta: statuses[] of type "call" in the calls field).
    await proc.applyBody(
      callsBody([], {
        statuses: [
          { id: 'wacid.biz1', timestamp: ts(at), type: 'call', status: 'RINGING', recipient_id: USER },
          { id: 'wacid.biz1', timestamp: ts(at + 1000), type: 'call', status: 'REJECTED', recipient_id: USER },
        ],
      }),
    );
    expect((await freeForm()).allowed).toBe(false);
    await proc.applyBody(
      callsBody([
        {
          id: 'wacid.biz2',
          to: USER,
          from: BUSINESS,
          event: 'terminate',
          direction: 'BUSINESS_INITIATED',
          timestamp: ts(at + 5000),
          status: 'FAILED',
        },
      ]),
    );
    expect((await freeForm()).allowed).toBe(false);
    await proc.applyBody(
      callsBody([], { statuses: [{ id: 'wacid.biz3', timestamp: ts(at + 9000), type: 'call', status: 'ACCEPTED', recipient_id: USER }] }),
    );
    expect((await freeForm()).allowed).toBe(true);
    // None of the call statuses waits for a message of wagate's (they name calls, not messages).
    expect(proc.pendingStatusCount()).toBe(0);
  });

  it('a call or an echo array inside a messages change is applied beside its messages, not skipped', async () => {
    const at = t.clock.t - 10_000;
    const body = textMsg('wamid.IN1', 'hello', at);
    const value = (body.entry as any)[0].changes[0].value;
    value.calls = [{ id: 'wacid.inmsg', from: USER, to: BUSINESS, event: 'connect', timestamp: ts(at) }]; // no direction: from the caller
    value.message_echoes = [
      { from: BUSINESS, to: USER, id: 'wamid.ECHO1', timestamp: ts(at + 1000), type: 'text', text: { body: 'On it!' } },
    ];
    const r = await proc.applyBody(body);
    expect(r.results).toMatchObject({ applied: 2, stored: 1 });
    expect((await audits('customer.call'))[0]?.detail).toMatchObject({ call_id: 'wacid.inmsg', opens_window: true });
    expect((await audits('customer.business_app_message'))[0]?.detail).toMatchObject({ wamid: 'wamid.ECHO1', type: 'text' });
  });
});

describe('coexistence echoes (smb_message_echoes)', () => {
  it('a reply sent from the WhatsApp Business app is recorded for that customer; it opens no window', async () => {
    const at = t.clock.t - 5_000;
    const r = await proc.applyBody(
      envelope(
        'smb_message_echoes',
        messagesValue({
          message_echoes: [
            { from: BUSINESS, to: USER, id: 'wamid.HBgL', timestamp: ts(at), type: 'image', image: { id: '1', mime_type: 'image/jpeg' } },
          ],
        }),
      ),
    );
    expect(r.results.stored).toBe(1);
    const [a] = await audits('customer.business_app_message');
    expect(a).toMatchObject({ subject: USER, detail: { wamid: 'wamid.HBgL', type: 'image', phone_number_id: PNID } });
    expect((await freeForm()).allowed).toBe(false);
  });
});
