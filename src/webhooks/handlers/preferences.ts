// user_preferences: the customer's "Stop promotions" / "Resume" for marketing messages (§6.2).
import type { AppContext } from '../../engine/context.ts';
import type { UserPreferenceEvent } from '../events.ts';
import { asUnknown, changeConsent, eventTime, storeUnknown, waKey, type EventResult } from './shared.ts';

export async function applyUserPreference(ctx: AppContext, ev: UserPreferenceEvent): Promise<EventResult> {
  const wa_id = waKey(ev.wa_id);
  if (!wa_id) return storeUnknown(ctx, asUnknown(ev, 'user_preferences', ev));
  if (ev.category !== 'marketing_messages' || (ev.value !== 'stop' && ev.value !== 'resume')) {
    return storeUnknown(ctx, asUnknown(ev, `user_preferences:${ev.category}:${ev.value}`, ev));
  }
  const at = eventTime(ctx, ev.at);
  // "Offers and announcements" stop/resume is marketing only; resume undoes that opt-out only.
  const changed =
    ev.value === 'stop'
      ? await changeConsent(ctx, wa_id, ['marketing'], 'opted_out', 'webhook:user_preferences:stop', at, false)
      : await changeConsent(ctx, wa_id, ['marketing'], 'opted_in', 'webhook:user_preferences:resume', at, true);
  return changed.length ? 'applied' : 'unchanged';
}
