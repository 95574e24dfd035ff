// Number and account events: phone_number_quality_update, account_update, account_alerts, and the
// account-level errors of a messages webhook. Each is resolved to the senders it concerns, merged
// into their health record, audited, and put on the bus (the sender health monitor acts on it).
import type { AppContext } from '../../engine/context.ts';
import type { AccountAlertNotice, AccountUpdateNotice, CapabilityNotice, PhoneQualityNotice, SystemErrorNotice } from '../../engine/bus.ts';
import type { SenderConfig } from '../../domain/types.ts';
import { accountStopsSending } from '../../domain/account-events.ts';
import { classify } from '../../domain/errors/index.ts';
import { restrict } from '../../engine/restrictions.ts';
import type { AccountEvent, SystemErrorEvent } from '../events.ts';
import { audit, clip, senderOf, waKey, type EventResult } from './shared.ts';

/**
 * The WABA an account event is about. Partner events (PARTNER_REMOVED, PARTNER_APP_UNINSTALLED...)
 * come with entry.id = the partner's business portfolio and the customer's WABA in
 * value.waba_info.waba_id: that one names the senders.
 */
export function wabaOf(ev: AccountEvent): string | null {
  return (ev.kind === 'account_update' ? ev.change.customer_waba_id : null) ?? ev.waba_id;
}

/** The configured senders an account event is about. */
function targetsOf(ctx: AppContext, ev: AccountEvent): SenderConfig[] {
  const waba = wabaOf(ev);
  const inWaba = ctx.senders.list().filter((s) => s.waba_id === waba);
  if (ev.kind === 'phone_quality') {
    const shown = waKey(ev.change.display_phone_number);
    const byNumber = shown ? inWaba.filter((s) => waKey(s.display_phone_number) === shown) : [];
    return byNumber.length ? byNumber : inWaba.length === 1 ? inWaba : [];
  }
  if (ev.kind === 'account_alerts' && ev.change.entity_type === 'PHONE_NUMBER') {
    const byId = inWaba.filter((s) => s.phone_number_id === ev.change.entity_id);
    return byId.length ? byId : inWaba;
  }
  return inWaba;
}

export async function applyAccount(ctx: AppContext, ev: AccountEvent): Promise<EventResult> {
  const at = ev.entry_time ?? ctx.now();
  const sender_ids = targetsOf(ctx, ev).map((s) => s.id);
  const waba_id = wabaOf(ev);
  switch (ev.kind) {
    case 'phone_quality': {
      const c = ev.change;
      const n: PhoneQualityNotice = {
        waba_id,
        sender_id: sender_ids[0] ?? null,
        sender_ids,
        display_phone_number: c.display_phone_number,
        event: c.event,
        current_limit: c.current_limit,
        old_limit: c.old_limit,
        max_daily_conversations_per_business: c.max_daily_conversations_per_business,
        at,
      };
      await record(ctx, sender_ids, 'webhook_phone_quality', n, 'meta.phone_quality', waba_id, ev.value);
      ctx.bus.emit('meta.phone_quality', n);
      break;
    }
    case 'account_update': {
      const c = ev.change;
      const n: AccountUpdateNotice = {
        waba_id,
        ...(c.customer_waba_id && c.customer_waba_id !== ev.waba_id ? { partner_business_id: ev.waba_id } : {}),
        sender_ids,
        event: c.event,
        ban_state: c.ban_state,
        stop_sending: accountStopsSending(c.event, c.ban_state),
        ...(c.event === 'ACCOUNT_RESTRICTION' ? { restrictions: c.restrictions } : {}),
        ban_info: c.ban_info,
        violation_info: c.violation_info,
        at,
      };
      await record(ctx, sender_ids, 'webhook_account_update', n, 'meta.account_update', waba_id, ev.value);
      if (c.event === 'ACCOUNT_RESTRICTION') await restrict(ctx, sender_ids, c.restrictions, at);
      ctx.bus.emit('meta.account_update', n);
      break;
    }
    case 'capability': {
      const c = ev.change;
      const business_ids = [...new Set(targetsOf(ctx, ev).map((s) => s.business_id))];
      const n: CapabilityNotice = {
        waba_id,
        sender_ids,
        business_ids,
        messaging_limit: c.messaging_limit,
        max_phone_numbers_per_business: c.max_phone_numbers_per_business,
        max_phone_numbers_per_waba: c.max_phone_numbers_per_waba,
        at,
      };
      await record(ctx, sender_ids, 'webhook_capability', n, 'meta.capability', waba_id, ev.value);
      if (c.messaging_limit !== undefined) for (const b of business_ids) await setPortfolioLimit(ctx, b, c.messaging_limit, at);
      ctx.bus.emit('meta.capability', n);
      break;
    }
    case 'account_alerts': {
      const c = ev.change;
      const n: AccountAlertNotice = {
        waba_id,
        sender_ids,
        entity_type: c.entity_type,
        entity_id: c.entity_id,
        alert_info: c.alert_info,
        at,
      };
      await record(ctx, sender_ids, 'webhook_account_alert', n, 'meta.account_alert', waba_id, ev.value);
      ctx.bus.emit('meta.account_alert', n);
      break;
    }
  }
  return sender_ids.length ? 'applied' : 'stored';
}

/** Kept in each sender's health record and given to the gate: src/engine/restrictions.ts (the delivery worker uses it too). */
export { restrict } from '../../engine/restrictions.ts';

/**
 * The portfolio's messaging limit Meta reported (business_capability_update): persisted (setting
 * `portfolio_limit:<business_id>`, read back into the gate on start: GateSeed.portfolio_limits) and
 * given to the gate, where it replaces the configured senders[].messaging_limit for every sender of the
 * portfolio. An update older (entry.time) than the one held is stale and skipped.
 */
export async function setPortfolioLimit(ctx: AppContext, business_id: string, limit: number | null, at: number): Promise<void> {
  const key = `portfolio_limit:${business_id}`;
  const cur = await ctx.store.getSetting(key);
  if (cur) {
    try {
      if ((JSON.parse(cur) as { at: number }).at > at) return;
    } catch {
      // unreadable: overwritten
    }
  }
  await ctx.store.setSetting(key, JSON.stringify({ limit, at }));
  await ctx.gate.setPortfolioLimit(business_id, limit, at);
}

/** Merged into each sender's health record under `key`, and audited with Meta's value. */
async function record(
  ctx: AppContext,
  sender_ids: string[],
  key: string,
  notice: object,
  action: string,
  waba_id: string | null,
  value: unknown,
): Promise<void> {
  for (const id of sender_ids) {
    const cur = await ctx.store.getSenderHealth(id);
    await ctx.store.saveSenderHealth({ sender_id: id, data: { ...(cur?.data ?? {}), [key]: notice }, updated_at: ctx.now() });
  }
  await audit(ctx, action, waba_id, { ...notice, value: clip(value) });
}

export async function applySystemErrors(ctx: AppContext, ev: SystemErrorEvent): Promise<EventResult> {
  const sender = senderOf(ctx, ev.phone_number_id);
  const notice: SystemErrorNotice = {
    waba_id: ev.waba_id,
    sender_id: sender?.id ?? null,
    phone_number_id: ev.phone_number_id,
    errors: ev.errors.map((e) => ({ code: e.code, title: e.title, details: e.details, action: classify(e).action })),
  };
  await audit(ctx, 'webhook.system_error', sender?.id ?? ev.waba_id, { ...notice });
  ctx.bus.emit('meta.system_error', notice);
  return 'stored';
}
