// Retrying failed and dead-lettered messages: each as a NEW message through the full gate, at most
// once (idempotency key `retry:<id>`, or the dead letter's own replay).
import type { AppContext } from './context.ts';
import { appError } from '../shared/errors/app-error.ts';
import { submitMessage, type SubmitResult } from './messages.ts';
import { replayDeadLetter } from './dead-letters.ts';

export interface RetryOutcome {
  message_id: string;
  status: 'retried' | 'skipped' | 'denied';
  new_message_id?: string;
  reason?: string;
  reason_code?: string | null;
  suggested_action?: string;
}

const RETRYABLE = new Set(['failed', 'dead_lettered']);

/**
 * Retries failed or dead-lettered messages as NEW messages through the full gate (consent, window,
 * template, caps and tier judged again now), each once: the idempotency key `retry:<id>` (or the
 * dead letter's own replay) makes a repeated call send nothing twice.
 */
export async function retryFailedMessages(
  ctx: AppContext,
  input: {
    message_ids: string[];
    actor: string /** The senders the caller may use (an API key's): another sender's message is "not found". */;
    visible?: (sender_id: string) => boolean;
  },
): Promise<{ results: RetryOutcome[]; retried: number; skipped: number; denied: number }> {
  const ids = [...new Set(input.message_ids.map((s) => s.trim()).filter(Boolean))];
  if (ids.length === 0)
    throw appError('INVALID_REQUEST', 'message_ids must contain at least one message id.', {
      fix: 'Pass the ids returned by send_message / POST /v1/messages, e.g. ["msg_..."].',
      details: { field: 'message_ids' },
    });
  if (ids.length > 100)
    throw appError('INVALID_REQUEST', `message_ids has ${ids.length} ids; at most 100 per call.`, {
      fix: 'Split the list into batches of 100.',
      details: { field: 'message_ids' },
    });
  const results: RetryOutcome[] = [];
  for (const id of ids) {
    const m = await ctx.store.getMessage(id);
    if (!m || (input.visible && !input.visible(m.sender_id))) {
      results.push({ message_id: id, status: 'skipped', reason: 'no message with this id' });
      continue;
    }
    if (!RETRYABLE.has(m.status)) {
      results.push({ message_id: id, status: 'skipped', reason: `status is "${m.status}", not failed or dead_lettered: nothing to retry` });
      continue;
    }
    // A dead letter already replayed or discarded closes the matter: never a second copy.
    const dl = (await ctx.store.listDeadLetters({ sender_id: m.sender_id, limit: 500 })).find((d) => d.message_id === id);
    if (dl && dl.state !== 'open') {
      results.push({ message_id: id, status: 'skipped', reason: `its dead letter ${dl.id} was already ${dl.state}` });
      continue;
    }
    let r: SubmitResult;
    if (dl) {
      r = (await replayDeadLetter(ctx, dl.id, input.actor)).result;
    } else {
      const { biz_opaque_callback_data: _b, ...body } = m.payload;
      r = await submitMessage(ctx, { body, sender: m.sender_id, idempotency_key: `retry:${id}`, actor: input.actor });
    }
    if (r.http_status === 202) results.push({ message_id: id, status: 'retried', new_message_id: r.id });
    else
      results.push({
        message_id: id,
        status: 'denied',
        reason: r.decision.explanation,
        reason_code: r.decision.reason_code,
        suggested_action: r.decision.suggested_action,
      });
  }
  await ctx.store
    .appendAudit({
      at: ctx.now(),
      actor: input.actor,
      action: 'messages.retry',
      subject: null,
      detail: { requested: ids.length, results: results.map((r) => ({ id: r.message_id, status: r.status })) },
    })
    .catch(() => {});
  return {
    results,
    retried: results.filter((r) => r.status === 'retried').length,
    skipped: results.filter((r) => r.status === 'skipped').length,
    denied: results.filter((r) => r.status === 'denied').length,
  };
}
