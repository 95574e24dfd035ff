// user_preferences: the customer's "Stop promotions" / "Resume" for marketing messages (§6.2).
import type { AppContext } from '../../engine/context.ts';
import type { UserPreferenceEvent } from '../events.ts';
import { asUnknown, changeConsent, eventTime, senderOf, storeUnknown, waKey, type ConsentChange, type EventResult } from './shared.ts';
import { parentMirror, type IdentityBook } from './identities.ts';

export async function applyUserPreference(ctx: AppContext, identities: IdentityBook, ev: UserPreferenceEvent): Promise<EventResult> {
  const sender = senderOf(ctx, ev.phone_number_id);
  // By phone, else by business-scoped user id (a username user's "Stop promotions" counts too).
  const wa_id = sender
    ? await identities.customerKey(sender, {
        wa_id: ev.wa_id,
        user_id: ev.user_id,
        parent_user_id: ev.parent_user_id,
        links: ev.links,
        at: eventTime(ctx, ev.at),
      })
    : waKey(ev.wa_id);
  if (!wa_id) return storeUnknown(ctx, asUnknown(ev, 'user_preferences', ev));
  if (ev.category !== 'marketing_messages' || (ev.value !== 'stop' && ev.value !== 'resume' && ev.value !== 'signup')) {
    return storeUnknown(ctx, asUnknown(ev, `user_preferences:${ev.category}:${ev.value}`, ev));
  }
  const at = eventTime(ctx, ev.at);
  // "Offers and announcements" stop/resume is marketing only; resume undoes that opt-out only.
  // `signup` (the customer asked for marketing messages; not in Meta's reference of 21 May 2026, which
  // names stop and resume only, but asked for by issue 13) is an opt-in with its own source.
  const change: ConsentChange =
    ev.value === 'stop'
      ? [['marketing'], 'opted_out', 'webhook:user_preferences:stop', at, false]
      : [['marketing'], 'opted_in', `webhook:user_preferences:${ev.value}`, at, ev.value === 'resume'];
  const changed = await changeConsent(ctx, wa_id, ...change);
  // A username user's choice holds under their parent BSUID too (identities.ts parentMirror).
  const parent = parentMirror(wa_id, ev.parent_user_id);
  if (parent) await changeConsent(ctx, parent, ...change);
  return changed.length ? 'applied' : 'unchanged';
}
