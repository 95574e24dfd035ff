// Engine functions for dead letters: list, inspect, replay (a new message through the whole gate:
// a replay may be denied), discard. Every face (HTTP /v1/dead-letters, MCP, CLI) calls these.
import type { AppContext } from './context.ts';
import { appError } from '../shared/errors/app-error.ts';
import type { DeadLetter } from '../store/port.ts';
import type { MessageRecord } from '../domain/types.ts';
import { submitMessage, type SubmitResult } from './messages.ts';

const STATES: DeadLetter['state'][] = ['open', 'replayed', 'discarded'];

export async function listDeadLetters(
  ctx: AppContext,
  opts: { state?: string; sender?: string; limit?: number; offset?: number } = {},
): Promise<DeadLetter[]> {
  if (opts.state !== undefined && !STATES.includes(opts.state as DeadLetter['state'])) {
    throw appError('INVALID_STATE', `Unknown dead-letter state "${opts.state}".`, { fix: `Use one of: ${STATES.join(', ')}.` });
  }
  return ctx.store.listDeadLetters({
    state: opts.state as DeadLetter['state'] | undefined,
    sender_id: opts.sender ? ctx.senders.resolve(opts.sender).id : undefined,
    limit: Math.min(Math.max(opts.limit ?? 50, 1), 500),
    offset: Math.max(opts.offset ?? 0, 0),
  });
}

export async function getDeadLetter(ctx: AppContext, id: string): Promise<{ dead_letter: DeadLetter; message: MessageRecord | null }> {
  const dl = await ctx.store.getDeadLetter(id);
  if (!dl) throw appError('DEAD_LETTER_NOT_FOUND', `No dead letter with id "${id}".`);
  return { dead_letter: dl, message: await ctx.store.getMessage(dl.message_id) };
}

function requireOpen(dl: DeadLetter, verb: string): void {
  if (dl.state !== 'open') {
    throw appError('DEAD_LETTER_CLOSED', `Dead letter ${dl.id} was already ${dl.state}; it cannot be ${verb}.`, {
      details: { state: dl.state },
    });
  }
}

/** Strips what wagate itself put into the stored payload, giving back the caller's message body. */
function callerBody(m: MessageRecord): Record<string, unknown> {
  const { biz_opaque_callback_data: _b, ...rest } = m.payload;
  return rest;
}

/**
 * Replays a dead letter as a NEW message (new id, fresh history) through the full gate: consent,
 * window, template, caps and tier are judged again now. Allowed → 202 and the dead letter is marked
 * replayed; denied → 422 with the decision and the dead letter stays open. The idempotency key
 * `replay:<dead-letter id>` makes a double click send once.
 */
export async function replayDeadLetter(
  ctx: AppContext,
  id: string,
  actor: string,
): Promise<{ dead_letter: DeadLetter; result: SubmitResult }> {
  const { dead_letter: dl, message } = await getDeadLetter(ctx, id);
  requireOpen(dl, 'replayed');
  if (!message)
    throw appError('MESSAGE_NOT_FOUND', `The message ${dl.message_id} behind dead letter ${dl.id} no longer exists.`, {
      fix: 'Discard this dead letter and submit the message again.',
      status: 409,
    });
  const result = await submitMessage(ctx, {
    body: callerBody(message),
    sender: message.sender_id,
    idempotency_key: `replay:${dl.id}`,
    actor,
  });
  if (result.http_status === 202) {
    await ctx.store.setDeadLetterState(dl.id, 'replayed');
    await ctx.store
      .appendAudit({
        at: ctx.now(),
        actor,
        action: 'dead_letter.replayed',
        subject: dl.id,
        detail: { message_id: dl.message_id, new_message_id: result.id },
      })
      .catch(() => {});
  }
  return { dead_letter: (await ctx.store.getDeadLetter(dl.id)) ?? dl, result };
}

export async function discardDeadLetter(ctx: AppContext, id: string, actor: string): Promise<DeadLetter> {
  const { dead_letter: dl } = await getDeadLetter(ctx, id);
  requireOpen(dl, 'discarded');
  await ctx.store.setDeadLetterState(dl.id, 'discarded');
  await ctx.store
    .appendAudit({ at: ctx.now(), actor, action: 'dead_letter.discarded', subject: dl.id, detail: { message_id: dl.message_id } })
    .catch(() => {});
  return { ...dl, state: 'discarded' };
}
