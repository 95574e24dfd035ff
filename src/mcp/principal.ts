// Who is calling a face, and what they may do. API keys (config `api.keys`) carry a role and the
// senders they may use; MCP over stdio runs as the local operator (admin, every sender).
import type { AppContext } from '../engine/context.ts';
import { EngineError } from '../engine/context.ts';

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
    throw new EngineError('FORBIDDEN_ROLE', `API key "${p.name}" has role "${p.role}"; ${what} needs role "${need}" or higher.`, `Use a key with role ${need}${need === 'admin' ? '' : ' or admin'} (config api.keys[].role).`, 403, { role: p.role, required: need });
  }
}

/** True when the principal may act for this sender (by alias or phone_number_id; undefined = the default). */
export function senderAllowed(ctx: AppContext, p: Principal, ref: string | undefined | null): boolean {
  if (p.senders.includes('*')) return true;
  const s = ctx.senders.find(ref ?? '') ?? (ref ? undefined : safeDefault(ctx));
  if (!s) return true; // unknown sender: the engine answers UNKNOWN_SENDER with the list
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
    throw new EngineError('FORBIDDEN_SENDER', `API key "${p.name}" may not use sender "${ref ?? '(default)'}".`, `Name one of the senders this key allows: ${p.senders.join(', ')} (config api.keys[].senders).`, 403, { sender: ref ?? null, allowed: p.senders });
  }
}
