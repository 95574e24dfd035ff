// Calls (Calling API, field `calls`) and coexistence echoes (field `smb_message_echoes`), also when
// they ride inside a `messages` change: applied or audited, never dropped.
//
// What opens the customer service window (cloud-api.md §5.1, Meta's Calling pricing page, M-CALLPRICE;
// changes-2026.md §10): "a WhatsApp user calls you, whether or not you answer", or "the user accepts
// a call from you". So: a user-initiated call (connect or terminate, answered or missed) opens or
// refreshes the window from its timestamp; a business-initiated call opens it when the user accepted
// it (status ACCEPTED, or a terminate with status COMPLETED); anything else is audited only.
// Meta's reference marks the direction (USER_INITIATED / BUSINESS_INITIATED); without one, a call
// whose `from` is not the business number is the user's.
//
// Echoes: a person replying from the WhatsApp Business app on a coexistence number. wagate did not
// send it and Meta does not say it opens anything, so it is recorded (audit customer.business_app_message)
// for operators and the dashboard, not counted against caps.
import type { AppContext } from '../../engine/context.ts';
import { recordInbound } from '../../engine/customers.ts';
import type { SenderConfig } from '../../domain/types.ts';
import type { CallEvent, CallStatusEvent, MessageEchoEvent } from '../events.ts';
import { audit, clip, eventTime, senderOf, waKey, type EventResult } from './shared.ts';
import type { IdentityBook } from './identities.ts';

export class CallHandler {
  constructor(
    private readonly ctx: AppContext,
    private readonly identities: IdentityBook,
  ) {}

  async applyCall(ev: CallEvent): Promise<EventResult> {
    const { ctx } = this;
    const sender = senderOf(ctx, ev.phone_number_id);
    const at = eventTime(ctx, ev.timestamp);
    const businessNumber = sender?.display_phone_number ? waKey(sender.display_phone_number) : null;
    const userInitiated =
      ev.direction === 'USER_INITIATED' || (ev.direction === null && ev.from !== null && waKey(ev.from) !== businessNumber);
    const customerPhone = userInitiated ? ev.from : ev.to;
    const wa_id = sender
      ? await this.identities.customerKey(sender, { wa_id: customerPhone, user_id: userInitiated ? ev.from_user_id : null, links: [], at })
      : null;
    if (!sender || !wa_id) return this.unattributed(ev.phone_number_id, sender, ev.raw);
    const accepted = !userInitiated && ev.event === 'terminate' && ev.status === 'COMPLETED';
    const opens = userInitiated || accepted;
    const openedAt = accepted ? (ev.start_time ?? at) : at;
    await audit(ctx, 'customer.call', wa_id, {
      sender: sender.id,
      call_id: ev.call_id,
      event: ev.event,
      direction: ev.direction ?? (userInitiated ? 'USER_INITIATED (from the caller)' : 'BUSINESS_INITIATED (from the caller)'),
      status: ev.status,
      opens_window: opens,
      at,
    });
    if (!opens) return 'stored';
    await recordInbound(ctx, { sender_id: sender.id, wa_id, at: openedAt, source: 'webhook:call' });
    return 'applied';
  }

  async applyCallStatus(ev: CallStatusEvent): Promise<EventResult> {
    const { ctx } = this;
    const sender = senderOf(ctx, ev.phone_number_id);
    const at = eventTime(ctx, ev.timestamp);
    const wa_id = sender
      ? await this.identities.customerKey(sender, { wa_id: ev.recipient_id, user_id: ev.recipient_user_id, links: [], at })
      : null;
    if (!sender || !wa_id) return this.unattributed(ev.phone_number_id, sender, ev.raw);
    const opens = ev.status === 'ACCEPTED';
    await audit(ctx, 'customer.call_status', wa_id, { sender: sender.id, call_id: ev.call_id, status: ev.status, opens_window: opens, at });
    if (!opens) return 'stored';
    await recordInbound(ctx, { sender_id: sender.id, wa_id, at, source: 'webhook:call' });
    return 'applied';
  }

  async applyEcho(ev: MessageEchoEvent): Promise<EventResult> {
    const { ctx } = this;
    const sender = senderOf(ctx, ev.phone_number_id);
    const wa_id = waKey(ev.to);
    await audit(ctx, 'customer.business_app_message', wa_id, {
      sender: sender?.id ?? null,
      phone_number_id: ev.phone_number_id,
      wamid: ev.wamid,
      type: ev.type,
      at: eventTime(ctx, ev.timestamp),
      note: 'Sent from the WhatsApp Business app (coexistence), not through wagate.',
      event: clip(ev.raw),
    });
    return 'stored';
  }

  private async unattributed(phone_number_id: string | null, sender: SenderConfig | undefined, raw: unknown): Promise<EventResult> {
    await audit(this.ctx, 'webhook.unattributed', null, {
      reason: !sender ? 'unknown phone_number_id (not a configured sender)' : 'call without a readable customer',
      phone_number_id,
      event: clip(raw),
    });
    return 'ignored';
  }
}
