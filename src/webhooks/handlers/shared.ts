// What every webhook handler uses: the audit log, Meta's clock bounded by ours, phone keys, consent
// changes that respect time, and the "stored, not acted on" result.
import { createHash } from 'node:crypto';
import type { AppContext } from '../../engine/context.ts';
import { setConsent } from '../../engine/customers.ts';
import type { Category, SenderConfig } from '../../domain/types.ts';
import { canonicalWaId } from '../../domain/phone.ts';
import { maskPhone } from '../../observability/log.ts';
import type { Obj, UnknownEvent, WebhookEvent } from '../events.ts';

/** Result of one event, also the `result` label of wagate_webhook_events_total. */
export type EventResult = 'applied' | 'unchanged' | 'stale' | 'duplicate' | 'pending' | 'ignored' | 'stored' | 'error';

/** A Meta timestamp more than this far in the future is a clock problem: use our clock instead. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const AUDIT_VALUE_MAX = 8_192;

/** Meta's wa_id/from → wagate's state key (canonical: Brazil's old 8-digit and Mexico's "521" forms meet the number a business types). */
export function waKey(v: string | null | undefined): string | null {
  const s = canonicalWaId(v ?? '');
  return s.length >= 5 ? s : null;
}

/** Meta's time (ms) when it is plausible, else ours. */
export function eventTime(ctx: AppContext, t: number | null): number {
  const now = ctx.now();
  return t === null || t > now + MAX_CLOCK_SKEW_MS ? now : t;
}

export function senderOf(ctx: AppContext, phone_number_id: string | null): SenderConfig | undefined {
  return phone_number_id ? ctx.senders.find(phone_number_id) : undefined;
}

export async function audit(ctx: AppContext, action: string, subject: string | null, detail: Obj): Promise<void> {
  await ctx.store.appendAudit({ at: ctx.now(), actor: 'webhook', action, subject, detail });
}

/** Keeps audit rows small: a value over 8 KB of JSON is replaced by its size and a hash. */
export function clip(v: unknown): unknown {
  const s = JSON.stringify(v) ?? 'null';
  if (s.length <= AUDIT_VALUE_MAX) return v;
  return { truncated: true, bytes: s.length, sha256: createHash('sha256').update(s).digest('hex'), head: s.slice(0, 1_024) };
}

/** An event wagate does not act on (or cannot read): kept in the audit log. */
export async function storeUnknown(ctx: AppContext, ev: Pick<UnknownEvent, 'field' | 'key' | 'value' | 'waba_id'>): Promise<EventResult> {
  await audit(ctx, 'webhook.unknown', ev.waba_id, { field: ev.field, key: ev.key, value: clip(ev.value) });
  return 'stored';
}

/** An event stored as unknown under another field name (an unknown status value, an incomplete template event...). */
export function asUnknown(ev: WebhookEvent, field: string, value: unknown): Pick<UnknownEvent, 'field' | 'key' | 'value' | 'waba_id'> {
  return { field, key: ev.key, value, waba_id: ev.waba_id };
}

/** changeConsent's arguments after the customer key. */
export type ConsentChange = [
  cats: readonly Category[],
  state: 'opted_in' | 'opted_out',
  source: string,
  at: number,
  onlyIfOptedOut: boolean,
];

/**
 * Sets consent for each category unless a newer decision is already recorded (an old, retried
 * webhook never overrides it) or the state is already the target. Returns the categories changed.
 */
export async function changeConsent(
  ctx: AppContext,
  wa_id: string,
  cats: readonly Category[],
  state: 'opted_in' | 'opted_out',
  source: string,
  at: number,
  onlyIfOptedOut: boolean,
): Promise<Category[]> {
  const cust = await ctx.store.getCustomer(wa_id);
  const changed: Category[] = [];
  for (const cat of cats) {
    const cur = cust?.consent?.[cat];
    if (cur && cur.at !== null && cur.at > at) continue;
    if (onlyIfOptedOut && cur?.state !== 'opted_out') continue;
    if (cur?.state === state) continue;
    await setConsent(ctx, { wa_id, category: cat, state, source, at, actor: 'webhook' });
    changed.push(cat);
  }
  if (changed.length) ctx.log.info({ to: maskPhone(wa_id), state, categories: changed, source }, 'webhooks: consent changed');
  return changed;
}
