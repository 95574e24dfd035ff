// Meta's account restrictions held per sender (src/domain/restrictions.ts says what each covers): the
// webhook's ACCOUNT_RESTRICTION and wagate's own (META_131064 from a failed status, META_139200 from a
// Direct Send Meta refused) are kept in the sender's health record and given to the gate.
import type { AppContext } from './context.ts';
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

/** How long wagate holds a sender's Direct Send after Meta answered 139200 (re-armed by each new one). */
const DIRECT_SEND_HOLD_MS = 24 * 3_600_000;

/**
 * Meta answered 139200 ("Direct Send utility or authentication access is blocked"), synchronously or
 * in a failed status: the sender's further Direct Send messages are refused at the gate (wagate's own
 * restriction META_139200, 24 h, re-armed by each new 139200; Meta's RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES,
 * when it comes, carries the real end). Approved templates are not covered.
 */
export async function holdDirectSend(ctx: AppContext, sender_id: string, at: number, fix: string): Promise<void> {
  await restrict(ctx, [sender_id], [{ type: 'META_139200', expires_at: at + DIRECT_SEND_HOLD_MS, remediation: fix }], at, { own: true });
}
