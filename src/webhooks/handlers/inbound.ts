// Inbound messages (field `messages`, value.messages[]): open or refresh the care window, record
// referrals, act on opt-out / opt-in keywords and buttons, carry opt-outs across a number change.
import type { AppContext } from '../../engine/context.ts';
import { recordInbound } from '../../engine/customers.ts';
import type { Category, SenderConfig } from '../../domain/types.ts';
import { groupKey, isGroupId } from '../../domain/identity.ts';
import { maskPhone } from '../../observability/log.ts';
import { createKeywordMatcher, STOP_CATEGORIES, type KeywordMatcher } from '../keywords.ts';
import type { InboundMessageEvent } from '../events.ts';
import { audit, changeConsent, clip, eventTime, senderOf, waKey, type ConsentChange, type EventResult } from './shared.ts';
import { parentMirror, type IdentityBook } from './identities.ts';

export class InboundHandler {
  private readonly matcher: KeywordMatcher;

  constructor(
    private readonly ctx: AppContext,
    private readonly identities: IdentityBook,
  ) {
    const w = ctx.config.webhooks;
    this.matcher = createKeywordMatcher({ opt_out: w.opt_out_keywords, opt_in: w.opt_in_keywords });
  }

  async apply(ev: InboundMessageEvent): Promise<EventResult> {
    const { ctx } = this;
    const sender = senderOf(ctx, ev.phone_number_id);
    const at = eventTime(ctx, ev.timestamp);
    // The phone when Meta shows it (or a link knows it), else the business-scoped user id: a username
    // user's message (no `from`) is theirs too, and their STOP counts.
    const wa_id = sender
      ? await this.identities.customerKey(sender, {
          wa_id: ev.from,
          user_id: ev.from_user_id,
          parent_user_id: ev.from_parent_user_id,
          links: ev.links,
          at,
        })
      : null;
    if (!sender || !wa_id) {
      await audit(ctx, 'webhook.unattributed', null, {
        reason: !sender ? 'unknown phone_number_id (not a configured sender)' : 'message without a valid "from" or "from_user_id"',
        phone_number_id: ev.phone_number_id,
        event: clip(ev.raw),
      });
      return 'ignored';
    }
    if (ev.group_id) {
      // A group's window is the group's, never a 1:1 window with its author. A STOP typed in a group
      // still opts its author out (the conservative reading, changes-2026.md §10), but gets no 1:1
      // confirmation (no 1:1 window is open) and an opt-in word there undoes nothing.
      await audit(ctx, 'customer.group_message', wa_id, { sender: sender.id, wamid: ev.wamid, group_id: ev.group_id, type: ev.type, at });
      // The member's message opens (or refreshes) the group's window: a send to the group is decided on it.
      if (isGroupId(ev.group_id) && ev.type !== 'system' && ev.type !== 'unsupported') {
        await ctx.store.recordInbound(sender.id, groupKey(ev.group_id), at);
        await ctx.gate.recordInbound(sender.id, groupKey(ev.group_id), at);
      }
      const hit = ev.texts.map((t) => this.matcher.match(t)).find((h) => h !== null && h.kind !== 'opt_in');
      if (!hit) return 'stored';
      const cats: readonly Category[] = hit.kind === 'opt_out' ? STOP_CATEGORIES : ['marketing'];
      const changed = await changeConsent(ctx, wa_id, cats, 'opted_out', `webhook:group_keyword:${hit.keyword}`, at, false);
      await this.mirrorConsent(wa_id, ev, cats, 'opted_out', `webhook:group_keyword:${hit.keyword}`, at, false);
      return changed.length ? 'applied' : 'unchanged';
    }
    if (ev.type === 'system') return this.applySystem(sender, wa_id, ev, at);
    if (ev.type === 'unsupported') {
      // A poll, an edit...: Meta does not say it opens the window (cloud-api.md §5.1) and the sandbox
      // does not; opening one here could allow a free-form send Meta refuses with 131047.
      await audit(ctx, 'customer.unsupported_message', wa_id, {
        sender: sender.id,
        wamid: ev.wamid,
        unsupported_type: ev.unsupported_type,
        at,
      });
      return 'stored';
    }

    // Every user-authored type opens or refreshes the 24h window, from Meta's timestamp (§5.1).
    const r = ev.referral;
    await recordInbound(ctx, {
      sender_id: sender.id,
      wa_id,
      at,
      profile_name: ev.profile_name ?? undefined,
      referral: r !== null,
      source: 'webhook',
    });
    if (r) await audit(ctx, 'customer.referral', wa_id, { sender: sender.id, wamid: ev.wamid, ...r, at });

    for (const text of ev.texts) {
      const hit = this.matcher.match(text);
      if (!hit) continue;
      const source = `webhook:${ev.type === 'text' ? 'keyword' : 'button'}:${hit.keyword}`;
      if (hit.kind === 'opt_out' || hit.kind === 'marketing_stop') {
        const cats: readonly Category[] = hit.kind === 'opt_out' ? STOP_CATEGORIES : ['marketing'];
        const changed = await changeConsent(ctx, wa_id, cats, 'opted_out', source, at, false);
        await this.mirrorConsent(wa_id, ev, cats, 'opted_out', source, at, false);
        if (changed.length) await this.reply(sender, wa_id, ctx.config.webhooks.opt_out_confirmation, `webhook-optout-${ev.wamid}`);
      } else {
        // Opt-in keywords only undo an opt-out: "YES" to a question is not a new marketing opt-in.
        const changed = await changeConsent(ctx, wa_id, STOP_CATEGORIES, 'opted_in', source, at, true);
        await this.mirrorConsent(wa_id, ev, STOP_CATEGORIES, 'opted_in', source, at, true);
        if (changed.length) await this.reply(sender, wa_id, ctx.config.webhooks.opt_in_confirmation, `webhook-optin-${ev.wamid}`);
      }
      break;
    }
    return 'applied';
  }

  /** A username user's consent change holds under their parent BSUID too (identities.ts parentMirror). */
  private async mirrorConsent(key: string, ev: InboundMessageEvent, ...change: ConsentChange): Promise<void> {
    const parent = parentMirror(key, ev.from_parent_user_id);
    if (parent) await changeConsent(this.ctx, parent, ...change);
  }

  /** `system` messages are generated by Meta, not the user: no window. A changed number carries its
   * opt-outs to the new wa_id (an opt-out must survive a number change). */
  private async applySystem(sender: SenderConfig, wa_id: string, ev: InboundMessageEvent, at: number): Promise<EventResult> {
    const { ctx } = this;
    const newWaId = waKey(ev.system?.new_wa_id);
    await audit(ctx, 'customer.system_message', wa_id, {
      sender: sender.id,
      type: ev.system?.type ?? null,
      new_wa_id: newWaId ? maskPhone(newWaId) : null,
      at,
    });
    if (ev.system?.type === 'user_changed_user_id') await this.identities.changedUserId(sender, wa_id, ev.system.new_user_id, at);
    if (ev.system?.type === 'user_changed_number' && newWaId && newWaId !== wa_id) {
      const old = await ctx.store.getCustomer(wa_id);
      if (old) {
        await ctx.store.upsertCustomer(newWaId, { profile_name: old.profile_name, tags: old.tags, time_zone: old.time_zone }, ctx.now());
        for (const cat of Object.keys(old.consent) as Category[]) {
          if (old.consent[cat].state === 'opted_out')
            await changeConsent(ctx, newWaId, [cat], 'opted_out', `webhook:number_changed_from:${maskPhone(wa_id)}`, at, false);
        }
      }
    }
    return 'applied';
  }

  /** Optional confirmation (a free-form reply inside the window the customer's message just opened). */
  private async reply(sender: SenderConfig, wa_id: string, text: string | undefined, idempotency_key: string): Promise<void> {
    if (!text) return;
    const { ctx } = this;
    try {
      const { submitMessage } = await import('../../engine/messages.ts');
      const r = await submitMessage(ctx, {
        body: { to: wa_id, type: 'text', text: { body: text } },
        sender: sender.id,
        idempotency_key,
        actor: 'webhook',
      });
      if (r.http_status !== 202)
        ctx.log.warn({ to: maskPhone(wa_id), reason: r.decision?.reason_code }, 'webhooks: confirmation reply not sent');
    } catch (err) {
      ctx.log.warn({ err, to: maskPhone(wa_id) }, 'webhooks: confirmation reply failed');
    }
  }
}
