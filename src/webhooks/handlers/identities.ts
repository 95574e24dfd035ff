// Meta's 2026 identities (changes-2026.md §1): a customer shows up as a phone (wa_id), a business-scoped
// user id (BSUID, e.g. "US.13491208655302741918", scoped to one business portfolio), or both. A username
// user's messages can arrive with no phone at all: they are kept under the BSUID, never dropped. Each
// payload that shows a phone and a BSUID together links them (store.linkIdentity, per portfolio);
// learning a link carries the opt-outs kept under the BSUID to the phone, and from then on the BSUID
// resolves to the phone (inbound, preferences, sends), so a STOP given under either identity holds
// for both: sending by phone or by BSUID never finds an opt-out missing.
import type { AppContext } from '../../engine/context.ts';
import type { Category, CustomerRecord, SenderConfig } from '../../domain/types.ts';
import type { AuditEntry } from '../../store/port.ts';
import { isBsuid, PARENT_BSUID_SCOPE, portfolioOf } from '../../domain/identity.ts';
import { maskPhone } from '../../observability/log.ts';
import { linkedPhoneOf } from '../../engine/compliance.ts';
import type { IdentityLink } from '../events.ts';
import { changeConsent, waKey } from './shared.ts';

export function bsuidKey(v: string | null | undefined): string | null {
  return isBsuid(v) ? v : null;
}

const mask = (k: string) => (bsuidKey(k) ? `${k.slice(0, 5)}…${k.slice(-3)}` : maskPhone(k));

export class IdentityBook {
  /** Links learned or confirmed by this process (bounded): the same pair on every status costs no read. */
  private readonly known = new Set<string>();

  constructor(private readonly ctx: AppContext) {}

  /**
   * The key a customer's state is kept under: the phone when Meta shows it or a link knows it, else
   * the BSUID; null when the event names neither. Links shown with the event are learned first.
   */
  async customerKey(
    sender: SenderConfig,
    who: { wa_id: string | null; user_id: string | null; parent_user_id?: string | null; links: IdentityLink[]; at: number },
  ): Promise<string | null> {
    const phone = waKey(who.wa_id);
    const bsuid = bsuidKey(who.user_id);
    // A parent id is whatever Meta puts in a parent field: its own examples show no `.ENT.` in it.
    const parent = isBsuid(who.parent_user_id) && who.parent_user_id !== who.user_id ? who.parent_user_id : null;
    const own = phone && bsuid ? [{ wa_id: phone, user_id: bsuid, parent_user_id: parent }] : [];
    await this.learn(sender, [...who.links, ...own], who.at);
    if (phone) return phone;
    if (!bsuid && !parent) return null;
    // The phone a link knows: for the portfolio's BSUID, else for the parent BSUID (in any linked portfolio).
    const linked =
      (bsuid ? await this.ctx.store.getLinkedPhone(portfolioOf(sender), bsuid) : null) ??
      (parent ? await linkedPhoneOf(this.ctx, sender, parent) : null);
    if (linked) return linked;
    if (bsuid && parent) {
      // Kept under the portfolio's BSUID: what the person chose under the parent id (in a linked portfolio) holds here too.
      const underParent = await this.ctx.store.getCustomer(parent);
      if (underParent) await carryOptOuts(this.ctx, underParent, bsuid, `webhook:parent_user_id:${mask(parent)}`, who.at);
    }
    return bsuid ?? parent;
  }

  /** Learns each phone ↔ BSUID pair (contacts[] of inbound, status and preference webhooks). */
  learn(sender: SenderConfig, links: IdentityLink[], at: number): Promise<void> {
    return this.learnMany(links.map((link) => ({ sender, link, at })));
  }

  /**
   * A customer's BSUID changed (system user_changed_user_id): the new one is the same person. With a
   * phone known it is linked to the phone (where their state already lives). Without one (a username
   * user kept under the old BSUID) their state follows them to the new BSUID: opt-outs, open care
   * windows, and the tier and marketing-cap slots sends to the old one took (counted once).
   */
  async changedUserId(sender: SenderConfig, oldKey: string, newUserId: string | null, at: number): Promise<void> {
    const next = bsuidKey(newUserId);
    if (!next || next === oldKey) return;
    const scope = portfolioOf(sender);
    const phone = bsuidKey(oldKey) ? await this.ctx.store.getLinkedPhone(scope, oldKey) : waKey(oldKey);
    if (phone) {
      await this.learn(sender, [{ wa_id: phone, user_id: next, parent_user_id: null }], at);
      return;
    }
    const c = await this.ctx.store.getCustomer(oldKey);
    if (c) await carryOptOuts(this.ctx, c, next, `webhook:user_id_changed_from:${mask(oldKey)}`, at);
    await this.carryWindows(scope, oldKey, next);
    await this.ctx.gate.mergeIdentities([{ business_id: scope, user_id: oldKey, wa_id: next }]);
  }

  /**
   * Learns many pairs at once (the statuses of a webhook list): one statement for all the pairs this
   * process has not seen, then, for each that was new, what learning a link does.
   */
  async learnMany(items: { sender: SenderConfig; link: IdentityLink; at: number }[]): Promise<void> {
    const rows = new Map<string, { business_id: string; user_id: string; wa_id: string; at: number; sender: SenderConfig }>();
    for (const { sender, link, at } of items) {
      const phone = waKey(link.wa_id);
      if (!phone) continue;
      for (const uid of [link.user_id, link.parent_user_id]) {
        const bsuid = bsuidKey(uid);
        if (!bsuid) continue;
        // A parent BSUID is linked in the sender's portfolio and in the shared parent scope (every linked portfolio).
        for (const scope of uid === link.parent_user_id && uid !== link.user_id
          ? [portfolioOf(sender), PARENT_BSUID_SCOPE]
          : [portfolioOf(sender)]) {
          const id = `${scope}\u0000${bsuid}\u0000${phone}`;
          if (!this.known.has(id)) rows.set(id, { business_id: scope, user_id: bsuid, wa_id: phone, at, sender });
        }
      }
    }
    if (rows.size === 0) return;
    const learned = await this.ctx.store.linkIdentities([...rows.values()].map(({ sender: _s, ...r }) => r));
    for (const id of rows.keys()) this.remember(id);
    // The shared parent-scope rows only resolve; what learning a link does happens once, in the portfolio.
    const fresh = learned.filter((f) => f.business_id !== PARENT_BSUID_SCOPE);
    // The slots sends by BSUID took move to the phone first: one person, counted once from now on.
    if (fresh.length)
      await this.ctx.gate.mergeIdentities(fresh.map(({ business_id, user_id, wa_id }) => ({ business_id, user_id, wa_id })));
    // What learning a link does, in two statements for the whole list when nothing was kept under
    // the BSUIDs (the usual case: a status naming a customer wagate knows by phone): one read of their
    // customer records, one insert of the audit rows.
    const kept = new Map((await this.ctx.store.getCustomers(fresh.map((f) => f.user_id))).map((c) => [c.wa_id, c]));
    const audits: AuditEntry[] = [];
    for (const f of fresh) {
      const r = rows.get(`${f.business_id}\u0000${f.user_id}\u0000${f.wa_id}`);
      if (!r) continue;
      const scope = portfolioOf(r.sender);
      const under = kept.get(f.user_id);
      // The same person: what they said under the BSUID alone now holds for the phone. (The other way
      // needs no copy: from now on the BSUID resolves to the phone everywhere, sends included.)
      if (under) {
        await carryOptOuts(this.ctx, under, f.wa_id, `webhook:linked_from:${mask(f.user_id)}`, r.at);
        await this.carryWindows(scope, f.user_id, f.wa_id);
      }
      audits.push({
        at: this.ctx.now(),
        actor: 'webhook',
        action: 'customer.identity_linked',
        subject: f.wa_id,
        detail: { sender: r.sender.id, user_id: mask(f.user_id), scope, at: r.at },
      });
    }
    if (audits.length) await this.ctx.store.appendAudits(audits);
  }

  private remember(id: string): void {
    if (this.known.size >= 100_000) this.known.clear();
    this.known.add(id);
  }

  /** The care windows the customer opened under a BSUID (username-only) stay open under their new key (phone or BSUID). */
  private async carryWindows(scope: string, bsuid: string, phone: string): Promise<void> {
    for (const w of await this.ctx.store.getWindows(bsuid)) {
      const s = this.ctx.senders.find(w.sender_id);
      if (!s || portfolioOf(s) !== scope) continue;
      const referral = w.referral_at !== null && w.referral_at === w.last_inbound_at;
      await this.ctx.store.recordInbound(w.sender_id, phone, w.last_inbound_at, { referral });
      await this.ctx.gate.recordInbound(w.sender_id, phone, w.last_inbound_at, { referral });
    }
  }
}

/**
 * Where a consent change of a customer kept under a BSUID (no phone known) is also written: their
 * parent BSUID, so an opt-out given in one portfolio holds when the person is reached by the parent id
 * (from this portfolio or a linked one). Null when the key is a phone (the parent resolves to it
 * through its link) or there is no parent.
 */
export function parentMirror(key: string, parent: string | null | undefined): string | null {
  return isBsuid(parent) && parent !== key && bsuidKey(key) ? parent : null;
}

/** Copies every opt-out of customer `c` to `to` (each with its own time: a newer decision under `to` stands). */
async function carryOptOuts(ctx: AppContext, c: CustomerRecord, to: string, source: string, at: number): Promise<void> {
  for (const cat of Object.keys(c.consent) as Category[]) {
    const cur = c.consent[cat];
    if (cur.state === 'opted_out') await changeConsent(ctx, to, [cat], 'opted_out', source, cur.at ?? at, false);
  }
}
