// Read receipts: marking a customer's inbound message as read at Meta (blue ticks).
import type { AppContext } from './context.ts';
import { appError } from '../shared/errors/app-error.ts';
import { metaErrorCode } from '../shared/errors/registry.ts';
import { resolveSender } from './senders.ts';
import { explain } from '../domain/errors/index.ts';

/** Blue ticks: marks an inbound message (its wamid) as read at Meta. */
export async function markAsRead(
  ctx: AppContext,
  input: { message_id: string; sender?: string },
): Promise<{ success: boolean; message_id: string; sender: string }> {
  const s = resolveSender(ctx, input.sender);
  const wamid = input.message_id.trim();
  if (!/^wamid\.[A-Za-z0-9=_+/-]{4,}$/.test(wamid)) {
    throw appError('INVALID_REQUEST', `message_id "${wamid.slice(0, 60)}" is not a WhatsApp message id.`, {
      fix: 'Pass the wamid of the customer\'s inbound message ("wamid.…"), as received in the webhook.',
      details: { field: 'message_id' },
    });
  }
  const r = await ctx.meta.markAsRead({ phone_number_id: s.phone_number_id, waba_id: s.waba_id, access_token: s.access_token }, wamid);
  if (!r.ok) {
    const x = explain(r.error.code, r.error.subcode);
    throw appError(metaErrorCode(r.error.code), `Meta refused to mark ${wamid} as read: ${r.error.message}.`, {
      fix: x.fix,
      status: r.error.source === 'transport' ? 503 : 502,
      details: { meta: { code: r.error.code, subcode: r.error.subcode } },
    });
  }
  return { success: r.value.success, message_id: wamid, sender: s.id };
}
