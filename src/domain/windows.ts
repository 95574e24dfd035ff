// Free entry point (FEP) windows (cloud-api.md §5.3), the pure rules: a customer who writes from a
// click-to-WhatsApp ad (inbound `referral`) opens the usual 24h window; if the business replies within
// 24h of that message, the reply is free and a 72h window in which every message is free opens FROM THE
// REPLY. It changes cost, not permission (it does not extend the 24h window for free-form messages).
// The engine step that records the window when Meta accepts a reply is src/engine/fep.ts.
import { CARE_WINDOW_MS, FEP_WINDOW_MS, type WindowRecord } from './types.ts';

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
