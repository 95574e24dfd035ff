// After a send: one message's delivery status with its Meta error explained from the catalog, and the
// reference's sync_webhooks (re-sync templates, report messages whose status webhooks are overdue).
import type { AppContext } from './context.ts';
import { EngineError } from './context.ts';
import { getMessage } from './messages.ts';
import { resolveSender } from './senders.ts';
import { syncTemplates } from './templates.ts';
import { explain } from '../domain/errors/index.ts';
import type { MessageRecord } from '../domain/types.ts';

const iso = (t: number | null | undefined) => (t == null ? null : new Date(t).toISOString());

export async function getDeliveryStatus(
  ctx: AppContext,
  id: string,
): Promise<{ message: MessageRecord; error: Record<string, unknown> | null }> {
  const m = await getMessage(ctx, id);
  const code = Number(m.last_error?.code);
  let error: Record<string, unknown> | null = null;
  if (m.last_error) {
    error = { ...m.last_error };
    if (Number.isInteger(code) && code > 0) {
      const x = explain(code, typeof m.last_error.subcode === 'number' ? m.last_error.subcode : null);
      Object.assign(error, { title: x.title, category: x.category, can_retry: x.can_retry, explanation: x.explanation, fix: x.fix });
    }
  }
  return { message: m, error };
}

/**
 * The reference's sync_webhooks: re-syncs templates from Meta and reports messages whose status
 * webhooks are overdue (Meta has no per-message status call: they resolve when the webhook arrives;
 * the delivery worker resends in-doubt ones after the grace period).
 */
export async function syncWebhooks(
  ctx: AppContext,
  input: { sender?: string; stale_after_min?: number } = {},
): Promise<Record<string, unknown>> {
  const sender = input.sender ? resolveSender(ctx, input.sender) : null;
  let synced = 0;
  let template_sync_error: string | null = null;
  try {
    synced = (await syncTemplates(ctx, sender?.id)).synced;
  } catch (err) {
    template_sync_error = err instanceof EngineError ? `${err.code}: ${err.message}` : String((err as Error)?.message ?? err);
  }
  const staleMs = Math.max(1, input.stale_after_min ?? 5) * 60_000;
  const cutoff = ctx.now() - staleMs;
  const waiting = await ctx.store.listMessages({ sender_id: sender?.id, status: ['sending', 'in_doubt', 'accepted'], limit: 500 });
  const stale = waiting.filter((m) => m.updated_at < cutoff);
  return {
    template_synced: template_sync_error === null,
    templates: synced,
    ...(template_sync_error ? { template_sync_error } : {}),
    messages_awaiting_status: stale.length,
    stale_messages: stale.slice(0, 50).map((m) => ({ id: m.id, status: m.status, updated_at: iso(m.updated_at) })),
    note: 'Statuses arrive by webhook only (Meta offers no per-message status query). Messages in doubt are resent by the worker after delivery.in_doubt_grace_ms if no status arrives.',
  };
}
