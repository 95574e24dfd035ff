// Status webhooks (value.statuses[]): move the message forward (sent → delivered → read, or failed),
// learn from failures (131049 marketing hold, 131050 marketing stop, 131026 undeliverable), and keep
// a status whose message is not known yet until it is (a webhook can beat the send's response).
import type { AppContext } from '../../engine/context.ts';
import { updateCustomer } from '../../engine/customers.ts';
import type { MessageRecord, MessageStatus, StatusEvent } from '../../domain/types.ts';
import { classify } from '../../domain/errors/index.ts';
import { pauseSender } from '../../engine/senders.ts';
import { holdDirectSend, holdPortfolio } from '../../engine/restrictions.ts';
import { serviceCounted } from '../../engine/pricing.ts';
import type { GraphError } from '../../meta/types.ts';
import { applyForwardOrNone, isFirstDelivery, movedOf } from '../../store/forward.ts';
import type { MovedMessage } from '../../store/port.ts';
import { billingMonth } from '../../domain/pricing-rules.ts';
import { isObj, readStatus, type Obj, type StatusUpdateEvent, type WebhookEvent } from '../events.ts';
import { asUnknown, audit, changeConsent, eventTime, storeUnknown, type EventResult } from './shared.ts';

const STATUS_MAP: Record<string, MessageStatus> = { sent: 'sent', delivered: 'delivered', read: 'read', failed: 'failed', played: 'read' };
const statusOf = (meta_status: string): MessageStatus | undefined =>
  Object.hasOwn(STATUS_MAP, meta_status) ? STATUS_MAP[meta_status] : undefined;

/** A status in its batchable form (Store.applyStatusesForward). */
export interface ForwardItem {
  id: string;
  ev: StatusEvent;
  pricing?: unknown;
}

/** A status whose message is not known yet (its wamid not recorded): kept until the message appears. */
interface PendingStatus {
  key: string;
  wamid: string;
  event: StatusUpdateEvent;
  parked_at: number;
}

const PENDING_SETTING = 'webhooks.pending_statuses';
/** Meta retries webhooks for up to 7 days: a status still orphaned after that will never match. */
const PENDING_TTL_MS = 7 * 24 * 3_600_000;
const PENDING_MAX = 50_000;

export class StatusHandler {
  private readonly pending = new Map<string, PendingStatus[]>();
  /** The pending list changed since it was last saved. */
  dirty = false;

  constructor(private readonly ctx: AppContext) {}

  /** Number of statuses waiting for their message to be recorded. */
  pendingCount(): number {
    let n = 0;
    for (const l of this.pending.values()) n += l.length;
    return n;
  }

  hasPending(wamid?: string | null): boolean {
    return wamid ? this.pending.has(wamid) : this.pending.size > 0;
  }

  async apply(ev: StatusUpdateEvent): Promise<EventResult> {
    const status = statusOf(ev.meta_status);
    if (!status) return storeUnknown(this.ctx, asUnknown(ev, `status:${ev.meta_status}`, ev.raw));
    // biz_opaque_callback_data carries wagate's message id: apply by it directly (no read first). It
    // finds the message even before the send's response (and its wamid) was recorded. A wamid other
    // than the recorded one means an earlier attempt (in doubt, then resent) also reached Meta: its
    // statuses still tell what happened to this message (each history entry names its wamid).
    const byId = ev.callback ? await this.applyToMessage({ id: ev.callback, wamid: undefined }, ev, status) : null;
    if (byId) return byId;
    const msg = await this.ctx.store.getMessageByWamid(ev.wamid);
    const byWamid = msg ? await this.applyToMessage(msg, ev, status) : null;
    if (byWamid) return byWamid;
    this.park(ev);
    return 'pending';
  }

  /**
   * The batchable form of a status event, or null when it needs the one-by-one path: a failed status
   * (errors to act on), no callback id (found by wamid), a status wagate does not know.
   */
  forwardItem(ev: WebhookEvent): ForwardItem | null {
    if (ev.kind !== 'status') return null;
    const status = statusOf(ev.meta_status);
    if (!ev.callback || !status || status === 'failed' || ev.errors.length) return null;
    const c = this.change(ev, status);
    return {
      id: ev.callback,
      ev: { status, at: c.at, source: 'webhook', detail: c.detail },
      ...(c.patch.pricing !== undefined ? { pricing: c.patch.pricing } : {}),
    };
  }

  /**
   * One statement for a run of forward statuses; what it did not move forward goes through `one`
   * (the full path), in order. An outage rethrows (the caller retries the group); a row the statement
   * could not take sends the run one by one, which isolates it and still applies the others.
   */
  async applyForwardRun(
    run: { ev: StatusUpdateEvent; item: ForwardItem; recovery: boolean }[],
    record: (ev: WebhookEvent, result: EventResult) => void,
    one: (ev: WebhookEvent, fresh: boolean, recovery: boolean) => Promise<void>,
  ): Promise<void> {
    const { ctx } = this;
    let failed = false;
    const fallback = (what: string) => (err: unknown) => {
      failed = true;
      ctx.log.warn({ err, statuses: run.length }, `webhooks: batched ${what} failed; applying one by one`);
    };
    const items = run.map((r) => r.item);
    const moved = await applyForwardOrNone(ctx.store, items, fallback('status update'));
    // What did not move forward (a duplicate, an earlier status after a later one, a batch applied
    // again in recovery) is recorded in one statement too: one by one it took two or three round
    // trips a status, and a backlog applied again went at that pace (the soak's drain).
    const rest = failed ? [] : items.filter((_, i) => !moved[i]);
    const stale = new Map<string, MovedMessage>();
    if (rest.length > 0)
      for (const m of await applyForwardOrNone(ctx.store, rest, fallback('stale statuses'), 'not_forward')) if (m) stale.set(m.id, m);
    const counted: MovedMessage[] = [];
    for (let i = 0; i < run.length; i++) {
      const { ev, recovery } = run[i];
      const m = moved[i] ?? stale.get(run[i].item.id);
      if (!m) {
        await one(ev, true, recovery); // unknown id, moved since, or a batch failed: the full path decides
        continue;
      }
      if (!m.wamid) {
        // Found by callback id before the send's response was recorded: record Meta's id now.
        m.wamid = ev.wamid;
        await ctx.store.updateMessage(m.id, { wamid: m.wamid }, ctx.now());
      }
      if (!moved[i]) {
        record(ev, 'stale'); // recorded in history, its status unchanged: as applyToMessage answers
        continue;
      }
      if (isFirstDelivery(m)) counted.push(m);
      ctx.bus.emit('message.status', m);
      record(ev, 'applied');
    }
    await this.countService(counted);
  }

  /**
   * Service messages delivered for the first time count towards their sender's month (the free
   * allowance Meta gives from 1 Oct 2026; src/domain/pricing-rules.ts), one statement per call. The
   * count backs estimates only: a store error is logged, never fails the webhook.
   */
  private async countService(msgs: readonly MovedMessage[]): Promise<void> {
    const items = msgs
      .filter((m) => m.category === 'service')
      .map((m) => ({ sender_id: m.sender_id, month: billingMonth(m.delivered_at ?? m.updated_at), n: 1 }));
    if (!items.length) return;
    await this.ctx.store
      .addServiceMessages(items, this.ctx.now())
      .then(() => serviceCounted(this.ctx.store, items))
      .catch((err) => this.ctx.log.warn({ err, messages: items.length }, 'webhooks: service messages not counted'));
  }

  /** What a status event changes on its message: time, history detail, field patch. */
  private change(ev: StatusUpdateEvent, status: MessageStatus) {
    const at = eventTime(this.ctx, ev.timestamp);
    const detail: Obj = { wamid: ev.wamid, meta_status: ev.meta_status };
    if (ev.pricing) detail.pricing = ev.pricing;
    if (ev.conversation) detail.conversation = ev.conversation;
    if (ev.errors.length) detail.errors = ev.errors.map((e) => ({ code: e.code, title: e.title, details: e.details }));
    const patch: Partial<Pick<MessageRecord, 'wamid' | 'last_error' | 'pricing'>> = {};
    if (ev.pricing) patch.pricing = ev.pricing;
    if (status === 'failed' && ev.errors.length) {
      const e = ev.errors[0];
      const c = classify(e);
      patch.last_error = {
        code: e.code,
        title: e.title,
        message: e.message,
        details: e.details,
        source: 'webhook',
        action: c.action,
        scope: c.scope,
        known: c.known,
        explanation: c.entry.explanation,
        fix: c.entry.fix,
      };
    }
    return { at, detail, patch };
  }

  /**
   * Applies one status to a message; null when the store has no such message. `target.wamid`:
   * the recorded wamid, null when none is recorded yet, undefined when not read (callback path).
   */
  private async applyToMessage(
    target: { id: string; wamid: string | null | undefined },
    ev: StatusUpdateEvent,
    status: MessageStatus,
  ): Promise<EventResult | null> {
    const { ctx } = this;
    const { at, detail, patch } = this.change(ev, status);
    if (target.wamid === null) patch.wamid = ev.wamid;
    const r = await ctx.store.applyStatus(target.id, { status, at, source: 'webhook', detail }, patch);
    if (!r) return null;
    if (!r.message.wamid) {
      // Found by callback id before the send's response was recorded: record Meta's id now.
      await ctx.store.updateMessage(target.id, { wamid: ev.wamid }, ctx.now());
      r.message.wamid = ev.wamid;
    }
    if (status === 'failed') {
      await this.actOnFailure(r.message, ev.errors, at, r.changed);
      // Matches the store's gate seed (failed messages hold no reservation): a failed message does
      // not count against the caps it reserved.
      if (r.changed) await ctx.gate.release(target.id);
    }
    if (r.changed) {
      const m = movedOf(r.message);
      if (isFirstDelivery(m)) await this.countService([m]);
      ctx.bus.emit('message.status', r.message);
    }
    return r.changed ? 'applied' : 'stale';
  }

  /**
   * What a failed status teaches about the recipient (cloud-api.md §4.6, §6.2), and about the sender:
   * a sender-level error (the catalog's pause_sender: 131048, 131042, 368, 131031, 131064...) pauses
   * the sender and alerts, as on the synchronous path (src/delivery/service.ts), once, when the
   * failure is new (a replayed one does not pause again a sender an operator resumed). 131064 also
   * holds business-initiated sends of the portfolio's other senders (changes-2026.md §3, §8).
   */
  private async actOnFailure(msg: MessageRecord, errors: GraphError[], at: number, isNew: boolean): Promise<void> {
    const { ctx } = this;
    for (const e of errors) {
      const c = classify(e);
      if (isNew && c.action === 'pause_sender') await this.pauseFor(msg, e, c.entry, at);
      if (isNew && e.code === 139200) await holdDirectSend(ctx, msg.sender_id, at, c.entry.fix); // Direct Send blocked
      if (e.code === 131049) {
        // Per-user marketing limit: no marketing to this user for 24h (the gate reads marketing_limited_at).
        const cur = await ctx.store.getCustomer(msg.to);
        if ((cur?.marketing_limited_at ?? 0) < at)
          await updateCustomer(ctx, { wa_id: msg.to, marketing_limited_at: at, actor: 'webhook:status:131049' });
      } else if (e.code === 131050) {
        await changeConsent(ctx, msg.to, ['marketing'], 'opted_out', 'webhook:status:131050', at, false);
      } else if (e.code === 131026) {
        const cur = await ctx.store.getCustomer(msg.to);
        if (!cur?.undeliverable_at) await updateCustomer(ctx, { wa_id: msg.to, undeliverable_at: at, actor: 'webhook:status:131026' });
      }
    }
  }

  /** A sender-level error in a failed status: pause (and alert) as the worker does; 131064 holds the portfolio. */
  private async pauseFor(
    msg: MessageRecord,
    e: GraphError,
    entry: { title: string; explanation: string; fix: string },
    at: number,
  ): Promise<void> {
    const { ctx } = this;
    const sender = ctx.senders.find(msg.sender_id);
    if (!sender) return;
    if (ctx.senders.status(sender.id).state === 'active')
      pauseSender(ctx, sender.id, {
        reason: `${entry.title}: ${entry.explanation} ${entry.fix} (Meta reported it in the failed status of message ${msg.id}${e.details ? `: ${e.details}` : ''})`,
        reason_code: `META_${e.code}`,
        actor: 'webhook:status',
      });
    if (e.code === 131064) await holdPortfolio(ctx, sender, at, entry);
  }

  // ---- statuses that arrive before their message ------------------------------------------------

  private park(ev: StatusUpdateEvent): void {
    const wamid = ev.wamid;
    const list = this.pending.get(wamid) ?? [];
    if (list.some((p) => p.key === ev.key)) return;
    if (this.pendingCount() >= PENDING_MAX) {
      this.ctx.log.warn({ wamid }, 'webhooks: too many statuses waiting for unknown messages; the oldest is dropped');
      const [firstKey] = this.pending.keys();
      const first = this.pending.get(firstKey)!;
      first.shift();
      if (first.length === 0) this.pending.delete(firstKey);
    }
    list.push({ key: ev.key, wamid, event: ev, parked_at: this.ctx.now() });
    this.pending.set(wamid, list);
    this.dirty = true;
  }

  /** Applies the statuses kept for `wamid` if its message is now recorded (call from the apply queue). */
  async resolve(wamid: string): Promise<void> {
    const list = this.pending.get(wamid);
    if (!list) return;
    const cb = list[0].event.callback;
    const msg = (cb ? await this.ctx.store.getMessage(cb) : null) ?? (await this.ctx.store.getMessageByWamid(wamid));
    if (!msg) return;
    this.pending.delete(wamid);
    this.dirty = true;
    for (const p of list) {
      const result = await this.applyToMessage(msg, p.event, statusOf(p.event.meta_status)!);
      if (result === null) this.park(p.event); // vanished again: keep waiting
      this.ctx.metrics.webhookEvents.inc({ kind: 'status', result: result === null ? 'pending' : `late_${result}` });
    }
    await this.save();
  }

  /** Drops statuses kept past Meta's retry horizon, and retries the others (call from the apply queue). */
  async sweep(): Promise<void> {
    const now = this.ctx.now();
    for (const [wamid, list] of [...this.pending]) {
      if (now - list[0].parked_at > PENDING_TTL_MS) {
        this.pending.delete(wamid);
        this.dirty = true;
        this.ctx.metrics.webhookEvents.inc({ kind: 'status', result: 'expired' });
        await audit(this.ctx, 'webhook.status_unmatched', null, {
          wamid,
          statuses: list.map((p) => p.event.meta_status),
          parked_at: list[0].parked_at,
        });
        continue;
      }
      await this.resolve(wamid);
    }
    if (this.dirty) await this.save();
  }

  async save(): Promise<void> {
    const all = [...this.pending.values()].flat();
    await this.ctx.store.setSetting(PENDING_SETTING, all.length ? JSON.stringify(all) : null);
    this.dirty = false;
  }

  async load(): Promise<void> {
    const raw = await this.ctx.store.getSetting(PENDING_SETTING);
    if (!raw) return;
    try {
      for (const p of JSON.parse(raw) as PendingStatus[]) {
        const ev = upgradePending(p.event);
        if (!ev || !statusOf(ev.meta_status)) continue;
        const list = this.pending.get(ev.wamid) ?? [];
        if (!list.some((x) => x.key === p.key)) list.push({ key: p.key, wamid: ev.wamid, event: ev, parked_at: p.parked_at });
        this.pending.set(ev.wamid, list);
      }
    } catch (err) {
      this.ctx.log.error({ err }, 'webhooks: pending statuses setting unreadable; ignored');
    }
  }
}

/** A kept status as saved by this version, or by an older one (`status`: Meta's raw object). */
function upgradePending(e: unknown): StatusUpdateEvent | null {
  if (!isObj(e)) return null;
  if (typeof e.wamid === 'string' && typeof e.meta_status === 'string' && Array.isArray(e.errors)) return e as unknown as StatusUpdateEvent;
  if (!isObj(e.status)) return null;
  const base = {
    key: typeof e.key === 'string' ? e.key : '',
    kind: 'status',
    waba_id: typeof e.waba_id === 'string' ? e.waba_id : null,
    entry_time: typeof e.entry_time === 'number' ? e.entry_time : null,
    phone_number_id: typeof e.phone_number_id === 'string' ? e.phone_number_id : null,
  };
  const ev = readStatus(e.status, base);
  if (ev && base.key) ev.key = base.key;
  return ev;
}
