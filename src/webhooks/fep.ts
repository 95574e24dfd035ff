// Free entry point (FEP) windows (cloud-api.md §5.3): a customer who writes from a click-to-WhatsApp ad
// (inbound `referral`) opens the usual 24h window; if the business replies within 24h of that message,
// the reply is free and a 72h window in which every message is free opens FROM THE REPLY. It changes
// cost, not permission (it does not extend the 24h window for free-form messages).
//
// The webhook side records the referral (store.recordInbound with referral → WindowRecord.referral_at).
// The delivery side must call noteBusinessReply() when Meta accepts a message to a customer, so the
// store records when the FEP window opened (store.markFepOpened).
import type { AppContext } from '../engine/context.ts';
import { CARE_WINDOW_MS, FEP_WINDOW_MS, type WindowRecord } from '../domain/types.ts';

/** True when a reply at `at` opens the 72h FEP window for this window record. Pure. */
export function opensFep(w: WindowRecord | undefined, at: number): boolean {
  if (!w || w.referral_at === null) return false;
  if (at < w.referral_at || at - w.referral_at > CARE_WINDOW_MS) return false; // reply must come within 24h of the ad message
  if (w.fep_opened_at !== null && w.fep_opened_at >= w.referral_at) return false; // this referral already opened one
  return true;
}

/** Is a FEP window open for (sender, customer) at `at`? Pure. */
export function fepOpen(w: WindowRecord | undefined, at: number): boolean {
  return !!w && w.fep_opened_at !== null && at >= w.fep_opened_at && at - w.fep_opened_at < FEP_WINDOW_MS;
}

/**
 * Call when the business's message to `wa_id` from `sender_id` was accepted by Meta (any type). Opens
 * the FEP window when it is the first reply within 24h of a click-to-WhatsApp message. Idempotent.
 */
export async function noteBusinessReply(ctx: AppContext, input: { sender_id: string; wa_id: string; at?: number }): Promise<boolean> {
  const at = input.at ?? ctx.now();
  const w = (await ctx.store.getWindows(input.wa_id)).find((x) => x.sender_id === input.sender_id);
  if (!opensFep(w, at)) return false;
  await ctx.store.markFepOpened(input.sender_id, input.wa_id, at);
  await ctx.store.appendAudit({ at, actor: 'delivery', action: 'customer.fep_opened', subject: input.wa_id, detail: { sender: input.sender_id, referral_at: w!.referral_at, until: at + FEP_WINDOW_MS } });
  return true;
}
