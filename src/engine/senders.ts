// Engine functions for senders: halt, pause, resume. A halt (credential error) stops every consumer:
// workers listen to the registry's "state" events. Resume re-validates the token first.
import type { AppContext } from './context.ts';

/** Error 190 and other credential errors: stop every sender at once, alert a human. */
export function haltAll(ctx: AppContext, cause: { reason: string; reason_code: string; sender_id?: string; detail?: Record<string, unknown> }): void {
  const at = ctx.now();
  for (const s of ctx.senders.list()) {
    const cur = ctx.senders.status(s.id);
    if (cur.state === 'halted') continue;
    ctx.senders.setState(s.id, 'halted', { reason: cause.reason, reason_code: cause.reason_code, credentials_valid: s.id === cause.sender_id ? false : cur.credentials_valid, at });
  }
  ctx.bus.emit('sender.halt_all', cause);
  ctx.alerts.raise({
    kind: 'sender_halted',
    severity: 'critical',
    dedupe_key: `halt_all:${cause.reason_code}`,
    sender_id: cause.sender_id ?? null,
    title: `wagate halted all sending: ${cause.reason_code}`,
    body: cause.reason,
    detail: cause.detail ?? {},
  });
  void ctx.store.appendAudit({ at, actor: 'worker', action: 'sender.halt_all', subject: cause.sender_id ?? null, detail: { reason_code: cause.reason_code, reason: cause.reason } }).catch(() => {});
}

export function pauseSender(ctx: AppContext, id: string, cause: { reason: string; reason_code: string; actor: string }): void {
  const at = ctx.now();
  const s = ctx.senders.setState(id, 'paused', { reason: cause.reason, reason_code: cause.reason_code, at });
  ctx.alerts.raise({ kind: 'sender_paused', severity: 'warning', dedupe_key: `paused:${s.sender_id}:${cause.reason_code}`, sender_id: s.sender_id, title: `Sender ${s.sender_id} paused: ${cause.reason_code}`, body: cause.reason });
  void ctx.store.appendAudit({ at, actor: cause.actor, action: 'sender.paused', subject: s.sender_id, detail: cause }).catch(() => {});
}
