// Meta's account restrictions held per sender (src/domain/restrictions.ts says what each covers): the
// webhook's ACCOUNT_RESTRICTION and wagate's own (META_131064 from a failed status, META_139200 from a
// Direct Send Meta refused) are kept in the sender's health record and given to the gate.
import type { AppContext } from './context.ts';
import type { SenderConfig } from '../domain/types.ts';
import type { SenderRestriction } from '../domain/restrictions.ts';

/**
 * ACCOUNT_RESTRICTION: the restrictions are kept in each sender's health record (`sender_restrictions`,
 * read back into the gate on start: GateSeed.restrictions) and given to the gate, which denies what
 * they cover until they expire (SENDER_RESTRICTED, src/domain/restrictions.ts). A restriction of a type
 * already held replaces it; other types stay until their own expiry; expired ones are dropped. An
 * event older (entry.time) than the last one applied is stale and changes nothing.
 */
export async function restrict(
  ctx: AppContext,
  sender_ids: string[],
  incoming: SenderRestriction[],
  at: number,
  opts: { own?: boolean } = {},
): Promise<void> {
  const now = ctx.now();
  for (const id of sender_ids) {
    const cur = await ctx.store.getSenderHealth(id);
    const data = cur?.data ?? {};
    const lastAt = typeof data.sender_restrictions_at === 'number' ? data.sender_restrictions_at : 0;
    // own: a restriction wagate sets itself (131064), not Meta's event stream: it never moves that clock.
    if (!opts.own && at < lastAt) continue;
    const held = Array.isArray(data.sender_restrictions) ? (data.sender_restrictions as SenderRestriction[]) : [];
    const types = new Set(incoming.map((r) => r.type));
    const next = [...held.filter((r) => !types.has(r.type)), ...incoming].filter((r) => r.expires_at === null || r.expires_at > now);
    await ctx.store.saveSenderHealth({
      sender_id: id,
      data: { ...data, sender_restrictions: next, sender_restrictions_at: opts.own ? lastAt : at },
      updated_at: now,
    });
    await ctx.gate.setSenderRestrictions(id, next);
  }
}

/** How long wagate's own holds last (Direct Send after 139200, the portfolio after 131064), re-armed by each new one. */
const HOLD_MS = 24 * 3_600_000;

/**
 * Meta answered 139200 ("Direct Send utility or authentication access is blocked"), synchronously or
 * in a failed status: the sender's further Direct Send messages are refused at the gate (wagate's own
 * restriction META_139200, 24 h, re-armed by each new 139200; Meta's RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES,
 * when it comes, carries the real end). Approved templates are not covered.
 */
export async function holdDirectSend(ctx: AppContext, sender_id: string, at: number, fix: string): Promise<void> {
  await restrict(ctx, [sender_id], [{ type: 'META_139200', expires_at: at + HOLD_MS, remediation: fix }], at, { own: true });
}

/**
 * Meta answered 131064 (messaging limited for template-classification violations, changes-2026.md §3,
 * §8), synchronously or in a failed status: business-initiated messaging is limited for the whole
 * portfolio, so its other numbers stop sending templates too (wagate's own restriction META_131064,
 * 24 h, re-armed by each new 131064; replies inside windows go on), with a critical alert. The sender
 * that got it is paused by its caller (the catalog's pause_sender).
 */
export async function holdPortfolio(
  ctx: AppContext,
  sender: Pick<SenderConfig, 'id' | 'business_id'>,
  at: number,
  entry: { explanation: string; fix: string },
): Promise<void> {
  const others = ctx.senders.list().filter((s) => s.business_id === sender.business_id && s.id !== sender.id);
  await restrict(
    ctx,
    others.map((s) => s.id),
    [{ type: 'META_131064', expires_at: at + HOLD_MS, remediation: entry.fix }],
    at,
    { own: true },
  );
  ctx.alerts.raise({
    kind: 'sender_paused',
    severity: 'critical',
    dedupe_key: `meta_131064:${sender.business_id}`,
    sender_id: sender.id,
    title: `Business portfolio ${sender.business_id}: Meta limited business-initiated messaging (131064)`,
    body: `${entry.explanation}\n${entry.fix}\nSenders held: ${[sender.id, ...others.map((s) => s.id)].join(', ')}.`,
  });
}
