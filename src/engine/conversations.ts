// Conversations: one per (sender, customer) care window, listed, checked and archived. A conversation
// is the window record the webhooks keep (src/store: WindowRecord); archiving hides a closed one from
// the list until the customer writes again and changes no rule. The rules stay in the gate
// (src/domain/decide.ts).
import type { AppContext } from './context.ts';
import { EngineError } from './context.ts';
import { customerKeyOf } from './customers.ts';
import { resolveSender } from './senders.ts';
import { CARE_WINDOW_MS, FEP_WINDOW_MS, HOUR_MS, type SenderConfig, type WindowRecord } from '../domain/types.ts';

const iso = (t: number | null | undefined) => (t == null ? null : new Date(t).toISOString());

const archiveKey = (sender: string, wa: string) => `conversation.archived:${sender}:${wa}`;

export function conversationId(sender_id: string, wa_id: string): string {
  return `${sender_id}:${wa_id}`;
}

export interface ConversationView {
  id: string;
  conversation_id: string;
  customer_id: string;
  sender: string;
  window_open: boolean;
  time_remaining_secs: number;
  window_expires_at: string;
  last_inbound_at: string;
  free_entry_point_open: boolean;
  free_entry_point_expires_at: string | null;
  archived: boolean;
  archived_at: string | null;
}

async function archivedAt(ctx: AppContext, w: WindowRecord): Promise<number | null> {
  const v = await ctx.store.getSetting(archiveKey(w.sender_id, w.wa_id));
  const at = v === null ? null : Number(v);
  // A customer who writes again after the archive brings the conversation back.
  return at !== null && Number.isFinite(at) && at >= w.last_inbound_at ? at : null;
}

function windowView(w: WindowRecord, now: number, archived: number | null): ConversationView {
  const exp = w.last_inbound_at + CARE_WINDOW_MS;
  const fexp = w.fep_opened_at != null ? w.fep_opened_at + FEP_WINDOW_MS : null;
  const id = conversationId(w.sender_id, w.wa_id);
  return {
    id,
    conversation_id: id,
    customer_id: w.wa_id,
    sender: w.sender_id,
    window_open: now < exp,
    time_remaining_secs: Math.max(0, Math.floor((exp - now) / 1000)),
    window_expires_at: iso(exp)!,
    last_inbound_at: iso(w.last_inbound_at)!,
    free_entry_point_open: fexp !== null && now < fexp,
    free_entry_point_expires_at: iso(fexp),
    archived: archived !== null,
    archived_at: iso(archived),
  };
}

export const CONVERSATION_FILTERS = ['all', 'open', 'closed', 'expiring_soon', 'archived'] as const;
export type ConversationFilter = (typeof CONVERSATION_FILTERS)[number];

/**
 * Conversations = care windows (one per sender and customer), newest inbound first. Filters: open,
 * closed, expiring_soon (open and closing within `expiring_within_h`, default 2), archived; default:
 * every conversation not archived.
 */
export async function listConversations(
  ctx: AppContext,
  opts: { sender?: string; status_filter?: string; limit?: number; offset?: number; expiring_within_h?: number } = {},
): Promise<{
  conversations: ConversationView[];
  count: number;
  has_more: boolean;
  limit: number;
  offset: number;
  status_filter: ConversationFilter;
}> {
  const filter = (opts.status_filter?.trim().toLowerCase() || 'all') as ConversationFilter;
  if (!CONVERSATION_FILTERS.includes(filter)) {
    throw new EngineError(
      'INVALID_REQUEST',
      `status_filter "${opts.status_filter}" is not known.`,
      `Use one of: ${CONVERSATION_FILTERS.join(', ')} (or leave it out for all non-archived).`,
      400,
      { field: 'status_filter' },
    );
  }
  const sender_id = opts.sender ? resolveSender(ctx, opts.sender).id : undefined;
  const limit = Math.min(Math.max(Math.floor(opts.limit ?? 50), 1), 500);
  const offset = Math.max(Math.floor(opts.offset ?? 0), 0);
  const within = (opts.expiring_within_h ?? 2) * HOUR_MS;
  const now = ctx.now();
  const keep = (v: ConversationView): boolean => {
    if (filter === 'archived') return v.archived;
    if (v.archived) return false;
    if (filter === 'open') return v.window_open;
    if (filter === 'closed') return !v.window_open;
    if (filter === 'expiring_soon') return v.window_open && v.time_remaining_secs * 1000 <= within;
    return true;
  };
  // Open and expiring windows are all inside the last 24 h: let the store narrow them.
  const active_since = filter === 'open' || filter === 'expiring_soon' ? now - CARE_WINDOW_MS : undefined;
  const out: ConversationView[] = [];
  let skipped = 0;
  const PAGE = 500;
  for (let page = 0; page < 200; page++) {
    const rows = await ctx.store.listWindows({ sender_id, active_since, limit: PAGE, offset: page * PAGE });
    for (const w of rows) {
      const v = windowView(w, now, await archivedAt(ctx, w));
      if (!keep(v)) continue;
      if (skipped < offset) {
        skipped++;
        continue;
      }
      out.push(v);
      if (out.length > limit) break;
    }
    if (out.length > limit || rows.length < PAGE) break;
  }
  const has_more = out.length > limit;
  const conversations = out.slice(0, limit);
  return { conversations, count: conversations.length, has_more, limit, offset, status_filter: filter };
}

/** The conversation between one customer and one sender (no record → a closed, never-opened one). */
export async function checkConversation(
  ctx: AppContext,
  input: { customer_id: string; sender?: string },
): Promise<ConversationView & { known: boolean }> {
  const wa_id = await customerKeyOf(ctx, input.customer_id);
  const sender = resolveSender(ctx, input.sender);
  const w = (await ctx.store.getWindows(wa_id)).find((x) => x.sender_id === sender.id);
  if (!w) {
    const id = conversationId(sender.id, wa_id);
    return {
      id,
      conversation_id: id,
      customer_id: wa_id,
      sender: sender.id,
      window_open: false,
      time_remaining_secs: 0,
      window_expires_at: iso(0)!,
      last_inbound_at: iso(0)!,
      free_entry_point_open: false,
      free_entry_point_expires_at: null,
      archived: false,
      archived_at: null,
      known: false,
    };
  }
  return { ...windowView(w, ctx.now(), await archivedAt(ctx, w)), known: true };
}

function parseConversationId(ctx: AppContext, id: string): { sender: SenderConfig; wa_id: string } {
  // "<sender>:<phone digits>", or (Meta 2026) "<sender>:<business-scoped user id>".
  const m = /^([A-Za-z0-9_.-]+):(\d{6,20}|[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128})$/.exec(id.trim());
  if (!m) {
    throw new EngineError(
      'INVALID_REQUEST',
      `conversation_id "${id.slice(0, 60)}" is not a wagate conversation id.`,
      'Use the id from list_conversations / GET /v1/conversations: "<sender>:<customer digits>", e.g. "main:447700900123".',
      400,
      { field: 'conversation_id' },
    );
  }
  return { sender: resolveSender(ctx, m[1]), wa_id: m[2] };
}

/**
 * Archives a conversation whose window is closed (an open window is still a live conversation). It
 * hides it from list_conversations until the customer writes again; it changes no rule.
 */
export async function archiveChat(
  ctx: AppContext,
  input: { conversation_id: string; actor: string },
): Promise<{ conversation_id: string; status: 'archived'; archived_at: string; window_expires_at: string }> {
  const { sender, wa_id } = parseConversationId(ctx, input.conversation_id);
  const w = (await ctx.store.getWindows(wa_id)).find((x) => x.sender_id === sender.id);
  const id = conversationId(sender.id, wa_id);
  if (!w)
    throw new EngineError(
      'CONVERSATION_NOT_FOUND',
      `No conversation ${id}: this customer never wrote to sender ${sender.id}.`,
      'List conversations with list_conversations (GET /v1/conversations).',
      404,
      { field: 'conversation_id' },
    );
  const now = ctx.now();
  const v = windowView(w, now, await archivedAt(ctx, w));
  if (v.archived)
    throw new EngineError(
      'ALREADY_ARCHIVED',
      `Conversation ${id} is already archived (since ${v.archived_at}).`,
      'No action needed.',
      409,
      { field: 'conversation_id' },
    );
  if (v.window_open) {
    throw new EngineError(
      'CONVERSATION_ACTIVE',
      `Conversation ${id} has an open customer service window until ${v.window_expires_at}.`,
      'Archive it after the window closes, or keep answering the customer.',
      409,
      { field: 'conversation_id', window_expires_at: v.window_expires_at },
    );
  }
  await ctx.store.setSetting(archiveKey(sender.id, wa_id), String(now));
  await ctx.store
    .appendAudit({ at: now, actor: input.actor, action: 'conversation.archived', subject: wa_id, detail: { sender: sender.id } })
    .catch(() => {});
  return { conversation_id: id, status: 'archived', archived_at: iso(now)!, window_expires_at: v.window_expires_at };
}
