// Free entry point (FEP) windows (cloud-api.md §5.3): a customer who writes from a click-to-WhatsApp ad
// (inbound `referral`) opens the usual 24h window; if the business replies within 24h of that message,
// the reply is free and a 72h window in which every message is free opens FROM THE REPLY. It changes
// cost, not permission (it does not extend the 24h window for free-form messages).
//
// The webhook side records the referral (store.recordInbound with referral → WindowRecord.referral_at).
// The delivery side must call noteBusinessReply() when Meta accepts a message to a customer, so the
// store records when the FEP window opened (store.markFepOpened). The rule itself (opensFep, fepOpen)
// is pure and lives in src/domain/windows.ts; this file is the engine step that reads and records it.
import type { AppContext } from './context.ts';
import { FEP_WINDOW_MS, type WindowRecord } from '../domain/types.ts';
import { opensFep } from '../domain/windows.ts';
import { createBatcher, type Batcher } from '../shared/batcher.ts';

/**
 * Call when the business's message to `wa_id` from `sender_id` was accepted by Meta (any type). Opens
 * the FEP window when it is the first reply within 24h of a click-to-WhatsApp message. Idempotent.
 *
 * Every accepted send asks, but almost no recipient has a referral: the reads of concurrent calls are
 * grouped into one statement (Store.getReferralWindows) — the first call reads at once, calls made
 * while a read is in flight share the next one (group commit), so a lone send waits no longer than
 * before and a burst costs one read per group instead of one per message.
 */
export async function noteBusinessReply(ctx: AppContext, input: { sender_id: string; wa_id: string; at?: number }): Promise<boolean> {
  const at = input.at ?? ctx.now();
  const w = await referralWindow(ctx, input.sender_id, input.wa_id);
  if (!opensFep(w, at)) return false;
  await ctx.store.markFepOpened(input.sender_id, input.wa_id, at);
  await ctx.store.appendAudit({
    at,
    actor: 'delivery',
    action: 'customer.fep_opened',
    subject: input.wa_id,
    detail: { sender: input.sender_id, referral_at: w!.referral_at, until: at + FEP_WINDOW_MS },
  });
  return true;
}

type Store = AppContext['store'];
type Pair = { sender_id: string; wa_id: string };

/**
 * One grouped read per store (shared/batcher.ts): the lookups of one synchronous burst (concurrent
 * workers' accepted sends) share one getReferralWindows statement. Keyed by the store, so two apps in
 * one process never share a reader.
 */
const readers = new WeakMap<Store, Batcher<Pair, WindowRecord | undefined>>();

function readerFor(store: Store): Batcher<Pair, WindowRecord | undefined> {
  let r = readers.get(store);
  if (!r) {
    r = createBatcher(
      async (pairs: Pair[]) => {
        const found = await store.getReferralWindows(pairs);
        const byPair = new Map(found.map((w) => [`${w.sender_id}\u0000${w.wa_id}`, w]));
        return pairs.map((p) => byPair.get(`${p.sender_id}\u0000${p.wa_id}`));
      },
      { max_batch: 500, max_in_flight: 1, flush: 'same_tick' },
    );
    readers.set(store, r);
  }
  return r;
}

/** The (sender, customer) window when it records a referral; undefined otherwise. */
function referralWindow(ctx: AppContext, sender_id: string, wa_id: string): Promise<WindowRecord | undefined> {
  return readerFor(ctx.store).add({ sender_id, wa_id });
}
