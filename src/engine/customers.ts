// Engine functions for customers: inbound messages (care windows), consent, profile. Durable store
// first, then the gate's fast state, then an audit row: a crash between leaves the store right and the
// gate is rebuilt from the store on start.
import type { AppContext } from './context.ts';
import type { Category, ConsentState, CustomerRecord, WindowRecord } from '../domain/types.ts';

export async function recordInbound(
  ctx: AppContext,
  input: { sender_id: string; wa_id: string; at: number; profile_name?: string | null; referral?: boolean; source: string },
): Promise<WindowRecord> {
  const sender = ctx.senders.resolve(input.sender_id);
  if (input.profile_name !== undefined) await ctx.store.upsertCustomer(input.wa_id, { profile_name: input.profile_name }, ctx.now());
  else await ctx.store.upsertCustomer(input.wa_id, {}, ctx.now());
  const w = await ctx.store.recordInbound(sender.id, input.wa_id, input.at, { referral: input.referral });
  await ctx.gate.recordInbound(sender.id, input.wa_id, input.at, { referral: input.referral });
  return w;
}

export async function setConsent(
  ctx: AppContext,
  input: { wa_id: string; category: Category; state: ConsentState; source: string; at?: number; actor?: string },
): Promise<CustomerRecord> {
  const at = input.at ?? ctx.now();
  const c = await ctx.store.setConsent(input.wa_id, input.category, input.state, input.source, at);
  await ctx.gate.updateCustomer({ wa_id: input.wa_id, consent: { [input.category]: input.state } });
  await ctx.store.appendAudit({ at, actor: input.actor ?? input.source, action: `consent.${input.state}`, subject: input.wa_id, detail: { category: input.category, source: input.source } });
  return c;
}

export async function updateCustomer(
  ctx: AppContext,
  input: { wa_id: string; tags?: string[]; time_zone?: string | null; undeliverable_at?: number | null; marketing_limited_at?: number | null; actor: string },
): Promise<CustomerRecord> {
  const { wa_id, actor, ...patch } = input;
  const c = await ctx.store.upsertCustomer(wa_id, patch, ctx.now());
  await ctx.gate.updateCustomer({ wa_id, ...patch });
  await ctx.store.appendAudit({ at: ctx.now(), actor, action: 'customer.update', subject: wa_id, detail: patch });
  return c;
}
