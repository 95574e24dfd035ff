// Who is calling a face, and what they may do. API keys (config `api.keys`) carry a role and the
// senders they may use; MCP over stdio runs as the local operator (admin, every sender).
import type { AppContext } from '../engine/context.ts';
import { appError } from '../shared/errors/app-error.ts';

export type Role = 'read' | 'send' | 'admin';
const RANK: Record<Role, number> = { read: 0, send: 1, admin: 2 };

export interface Principal {
  /** API key name, or "local" for stdio / no keys configured. */
  name: string;
  role: Role;
  /** Sender aliases / phone_number_ids this caller may use; ["*"] = all. */
  senders: string[];
}

export const LOCAL_PRINCIPAL: Principal = { name: 'local', role: 'admin', senders: ['*'] };

export function hasRole(p: Principal, need: Role): boolean {
  return RANK[p.role] >= RANK[need];
}

export function requireRole(p: Principal, need: Role, what: string): void {
  if (!hasRole(p, need)) {
    throw appError('FORBIDDEN_ROLE', `API key "${p.name}" has role "${p.role}"; ${what} needs role "${need}" or higher.`, {
      fix: `Use a key with role ${need}${need === 'admin' ? '' : ' or admin'} (config api.keys[].role).`,
      details: { role: p.role, required: need },
    });
  }
}

/** True when the principal may use every sender (an unlimited key, or the local operator). */
export function allSenders(p: Principal): boolean {
  return p.senders.includes('*');
}

/**
 * True when the principal may act for this sender (by alias or phone_number_id; undefined = the
 * default). For a key limited to some senders an unknown sender is not allowed either: the refusal
 * (FORBIDDEN_SENDER, naming only the key's own senders) is then the same whether the sender exists or
 * not, and UNKNOWN_SENDER's list of every configured sender never reaches that key.
 */
export function senderAllowed(ctx: AppContext, p: Principal, ref: string | undefined | null): boolean {
  if (allSenders(p)) return true;
  if (ref && p.senders.includes(ref)) return true;
  const s = ctx.senders.find(ref ?? '') ?? (ref ? undefined : safeDefault(ctx));
  if (!s) return false;
  return p.senders.includes(s.id) || p.senders.includes(s.phone_number_id);
}

function safeDefault(ctx: AppContext) {
  try {
    return ctx.senders.resolve(null);
  } catch {
    return undefined;
  }
}

export function requireSender(ctx: AppContext, p: Principal, ref: string | undefined | null): void {
  if (!senderAllowed(ctx, p, ref)) {
    throw appError('FORBIDDEN_SENDER', `API key "${p.name}" may not use sender "${ref ?? '(default)'}".`, {
      fix: `Name one of the senders this key allows: ${p.senders.join(', ')} (config api.keys[].senders).`,
      details: { sender: ref ?? null, allowed: p.senders },
    });
  }
}

/** The records looked up by their own id, and the code their "not found" has. */
const NOT_FOUND = {
  message: 'MESSAGE_NOT_FOUND',
  'dead letter': 'DEAD_LETTER_NOT_FOUND',
  campaign: 'CAMPAIGN_NOT_FOUND',
  'scheduled message': 'SCHEDULED_MESSAGE_NOT_FOUND',
} as const;
export type VisibleRecord = keyof typeof NOT_FOUND;

/**
 * A record looked up by its own id (message, dead letter) that belongs to a sender the principal may
 * not use answers 404, as if it did not exist: a 403 would confirm the id.
 */
export function requireVisible(ctx: AppContext, p: Principal, sender_id: string | null | undefined, what: VisibleRecord, id: string): void {
  if (sender_id && !senderAllowed(ctx, p, sender_id)) {
    throw appError(NOT_FOUND[what], `No ${what} with id "${id}".`, {
      fix: `Check the id; this API key sees only senders ${p.senders.join(', ')}.`,
    });
  }
}

/** A customer view (consent, profile, windows) with only the windows of the principal's senders. */
export function visibleCustomer<T extends { windows: { sender: string }[] }>(ctx: AppContext, p: Principal, view: T): T {
  return allSenders(p) ? view : { ...view, windows: view.windows.filter((w) => senderAllowed(ctx, p, w.sender)) };
}

/**
 * What the principal may change in consent, which is per customer and shared by every sender: any key
 * may record an opt-out (it only ever stops messages), but only a key for every sender may lift one
 * (opted_out → opted_in or unknown): a key limited to some senders cannot tell which sender the
 * customer gave it through. The customer lifts it themselves by writing START to any sender.
 */
export function mayLiftOptOut(p: Principal): boolean {
  return allSenders(p);
}
