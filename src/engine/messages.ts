// Engine functions for outbound messages: submit (validate → gate check-and-reserve → persist queued →
// enqueue → 202), read one with its history, list. Every face (HTTP, MCP, CLI, campaigns) calls these.
// A denial stores nothing but an audit row. Once stored as queued the message is accepted (202) and the
// outbox (./outbox.ts) guarantees it reaches the queue; a reservation is released only for a message
// that is certainly not stored: the gate never counts a message that will not be sent, nor misses one
// that will.
import { createHash } from 'node:crypto';
import type { AppContext } from './context.ts';
import type { EngineError } from './context.ts';
import { appError } from '../shared/errors/app-error.ts';
import { bsuidRefusal, prepareMessageFor } from './compliance.ts';
import type { Decision } from '../domain/decision.ts';
import type { Category, MessageRecord, MessageStatus } from '../domain/types.ts';
import { newId } from '../domain/ids.ts';
import type { GateRequest } from '../gate/port.ts';
import type { MessageFilter } from '../store/port.ts';
import { maskPhone } from '../observability/log.ts';
import { MAX_JSON_DEPTH, shortPath, tooDeepAt } from '../shared/json-depth.ts';
import { StoreError } from '../store/errors.ts';

export interface SubmitInput {
  /** Meta's message body (as for POST /{phone-number-id}/messages); messaging_product optional. */
  body: unknown;
  /** Sender alias or phone_number_id; default sender when absent. */
  sender?: string;
  idempotency_key?: string;
  /** Who asked: "api:key-name", "mcp", "campaign:ID", "cli". */
  actor: string;
}

export interface SubmitResult {
  http_status: 202 | 409 | 422 | 503;
  id?: string;
  status?: MessageStatus;
  decision: Decision;
  /** True when this answer is the stored answer to an earlier request with the same Idempotency-Key. */
  replayed?: boolean;
}

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;

const TOO_DEEP = Symbol('too-deep');

/**
 * Stable JSON (sorted keys) so the same body in another key order hashes the same. Recursive, so it
 * stops at the nesting limit (the body is one level under the hashed envelope) instead of the stack.
 */
function canonical(v: unknown, depth = 0): string {
  if (v && typeof v === 'object' && depth > MAX_JSON_DEPTH) throw TOO_DEEP;
  if (Array.isArray(v)) return `[${v.map((x) => canonical(x, depth + 1)).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k], depth + 1)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function requestHash(body: unknown, sender: string | undefined): string {
  try {
    return createHash('sha256')
      .update(canonical({ body, sender: sender ?? null }))
      .digest('hex');
  } catch (err) {
    if (err !== TOO_DEEP) throw err;
    const where = shortPath(tooDeepAt(body) ?? [], 'body');
    throw appError('BODY_TOO_DEEP', `${where} nests more than ${MAX_JSON_DEPTH} objects/arrays, the limit.`, {
      details: { field: where, limit: MAX_JSON_DEPTH },
    });
  }
}

/** The decision recorded with the message's first ("queued") history event, for idempotent replays. */
function storedDecision(m: MessageRecord): Decision {
  const d = m.history.find((h) => h.status === 'queued')?.detail?.decision as Decision | undefined;
  return d ?? { allowed: true, reason_code: null, explanation: 'All checks passed.', suggested_action: 'none', checks: [] };
}

function replayOrConflict(existing: MessageRecord, hash: string | null, key: string): SubmitResult {
  if (existing.request_hash !== hash) {
    throw appError(
      'IDEMPOTENCY_KEY_REUSED',
      `Idempotency-Key "${key}" was already used for a different request (message ${existing.id}).`,
      { details: { message_id: existing.id } },
    );
  }
  return { http_status: 202, id: existing.id, status: existing.status, decision: storedDecision(existing), replayed: true };
}

/**
 * The exact body Meta receives, built from the validated message: `to` is the normalised recipient
 * the gate decided on, messaging_product is "whatsapp", and biz_opaque_callback_data carries wagate's
 * id (status webhooks echo it: that is how an in-doubt send is resolved). Nothing the caller sent can
 * override these three.
 */
export function buildOutboundPayload(payload: Record<string, unknown>, req: GateRequest, id: string): Record<string, unknown> {
  // Addressed by business-scoped user id (no `to`): `recipient` goes as given; the gate's key (req.to)
  // may be the phone a link knows, which the caller did not ask to send to.
  // A group send goes to the group id as given (the gate's key is "group:<id>").
  const target = 'to' in payload && payload.recipient_type !== 'group' ? { to: req.to } : {};
  return { ...payload, messaging_product: 'whatsapp', ...target, biz_opaque_callback_data: id };
}

export async function submitMessage(ctx: AppContext, input: SubmitInput): Promise<SubmitResult> {
  const key = input.idempotency_key;
  if (key !== undefined && !IDEMPOTENCY_KEY_RE.test(key)) {
    throw appError('INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key must be 1-255 visible ASCII characters without spaces.');
  }
  if (key === undefined) return submitOnce(ctx, input, null);
  return ctx.submissions.withKey(key, () => submitOnce(ctx, input, key));
}

async function submitOnce(ctx: AppContext, input: SubmitInput, key: string | null): Promise<SubmitResult> {
  // Only a keyed request can be replayed, so only its hash is ever compared (canonical JSON + SHA-256: 2% of
  // the CPU of a submit).
  const hash = key ? requestHash(input.body, input.sender) : null;
  if (key) {
    const existing = await ctx.store.getMessageByIdempotencyKey(key).catch((err: unknown) => {
      ctx.log.error({ err }, 'idempotency lookup failed: the store did not answer');
      throw storeUnavailable(
        'The store did not answer, so this Idempotency-Key could not be looked up. Nothing was sent for this request.',
      );
    });
    if (existing) return replayOrConflict(existing, hash, key);
  }

  const now = ctx.now();
  const id = newId('msg', now);
  const prep = await prepareMessageFor(ctx, { body: input.body, sender: input.sender, message_id: id });
  if (!prep.ok) {
    ctx.metrics.decisions.inc({ allowed: 'false', reason: prep.decision.reason_code ?? 'none' });
    await audit(ctx, now, input.actor, 'message.denied', null, {
      reason_code: prep.decision.reason_code,
      sender: input.sender ?? null,
      idempotency_key: key,
    });
    return { http_status: 422, decision: prep.decision };
  }

  const req: GateRequest = prep.req;
  const outcome = await ctx.gate.checkAndReserve(req, now);
  const bsuid = outcome.decision.allowed ? bsuidRefusal(prep, outcome.category) : null;
  if (bsuid) {
    await ctx.gate.release(id).catch(() => {});
    outcome.decision = bsuid;
  }
  ctx.metrics.decisions.inc({ allowed: String(outcome.decision.allowed), reason: outcome.decision.reason_code ?? 'none' });
  if (!outcome.decision.allowed) {
    await audit(ctx, now, input.actor, 'message.denied', null, {
      reason_code: outcome.decision.reason_code,
      sender: prep.sender.id,
      to: maskPhone(req.to),
      idempotency_key: key,
    });
    // The gate's state did not answer (Redis down): not a verdict on the message, so 503 + retry, not 422.
    return { http_status: outcome.decision.reason_code === 'GATE_UNAVAILABLE' ? 503 : 422, decision: outcome.decision };
  }

  const category: Category = outcome.category ?? outcome.reservation?.category ?? (req.kind === 'template' ? 'marketing' : 'service');
  const record: MessageRecord = {
    id,
    sender_id: prep.sender.id,
    to: req.to,
    category,
    type: req.type,
    template_name: req.template?.name ?? null,
    template_language: req.template?.language ?? null,
    payload: buildOutboundPayload(prep.payload, req, id),
    status: 'queued',
    wamid: null,
    attempts: 0,
    idempotency_key: key,
    request_hash: hash,
    last_error: null,
    pricing: null,
    reserved_marketing: outcome.reservation?.marketing_slot ?? false,
    reserved_tier: outcome.reservation?.tier_slot ?? false,
    created_at: now,
    updated_at: now,
    history: [{ status: 'queued', at: now, source: 'gate', detail: { decision: outcome.decision, actor: input.actor } }],
  };

  try {
    await ctx.store.insertMessage(record);
  } catch (err) {
    if (err instanceof StoreError && err.code !== 'UNAVAILABLE') {
      // Refused, so certainly not stored: nothing of this submit will be sent.
      await ctx.gate.release(id).catch(() => {});
      // Another process won the race for this Idempotency-Key: answer from its message.
      if (key && err.code === 'CONFLICT') {
        const existing = await ctx.store.getMessageByIdempotencyKey(key).catch(() => null);
        if (existing) return replayOrConflict(existing, hash, key);
      }
      ctx.log.error({ err, message_id: id }, 'the store refused a message; reservation released');
      throw storeUnavailable('The message could not be saved, so it was not queued. Nothing was sent.');
    }
    // The connection failed around the commit: the row may be there. If it is, it is a promise like
    // any other (the outbox relay sends it, and its reservation stays counted); the outbox asks the
    // store once it answers again and releases the reservation if the row is not there.
    ctx.outbox.insertUnsure(id);
    if (key) {
      const existing = await ctx.store.getMessageByIdempotencyKey(key).catch(() => null);
      if (existing) return replayOrConflict(existing, hash, key);
    }
    ctx.log.error({ err, message_id: id }, 'persisting a message failed with no clear outcome');
    throw storeUnavailable(
      'The store did not confirm the write: the message may or may not have been saved. If it was, it will be sent once.',
      key
        ? 'Retry with the same Idempotency-Key: you get the saved message, or it is submitted now, never both.'
        : 'Retry with an Idempotency-Key header to make retries safe (without one, a retry may send a second message); check GET /ready for the failing backend.',
    );
  }

  // Stored as queued: from here on the message is accepted whatever the queue says. A queue that does
  // not take it now (NATS away) leaves it in the outbox, and the relay hands it over when it is back.
  await ctx.outbox.handOver({ id, sender_id: record.sender_id, attempts: 0, enqueued_at: now });

  // No audit row for an accepted submit: the message record (actor and decision in its first
  // history event) is the record, and one write less per message matters at 1,000 mps.
  ctx.submissions.remember(id, req, record);
  ctx.bus.emit('delivery.kick', { sender_id: record.sender_id });
  return { http_status: 202, id, status: 'queued', decision: outcome.decision };
}

/** STORE_UNAVAILABLE; its fix by default: retry with the same Idempotency-Key, check GET /ready. */
function storeUnavailable(message: string, fix?: string): EngineError {
  return appError('STORE_UNAVAILABLE', message, { fix });
}

async function audit(
  ctx: AppContext,
  at: number,
  actor: string,
  action: string,
  subject: string | null,
  detail: Record<string, unknown>,
): Promise<void> {
  await ctx.store.appendAudit({ at, actor, action, subject, detail }).catch((err) => ctx.log.warn({ err, action }, 'audit write failed'));
}

/** Public view of a message (ISO times at the face are added by the route). */
export async function getMessage(ctx: AppContext, id: string): Promise<MessageRecord> {
  const m = await ctx.store.getMessage(id);
  if (!m) throw appError('MESSAGE_NOT_FOUND', `No message with id "${id}".`);
  return m;
}

const STATUSES: MessageStatus[] = ['queued', 'sending', 'in_doubt', 'accepted', 'sent', 'delivered', 'read', 'failed', 'dead_lettered'];

export async function listMessages(
  ctx: AppContext,
  opts: { status?: string | string[]; sender?: string; to?: string; limit?: number; offset?: number },
): Promise<MessageRecord[]> {
  const filter: MessageFilter = { limit: Math.min(Math.max(opts.limit ?? 50, 1), 500), offset: Math.max(opts.offset ?? 0, 0) };
  if (opts.status !== undefined) {
    const list = (Array.isArray(opts.status) ? opts.status : String(opts.status).split(',')).map((s) => s.trim()).filter(Boolean);
    const bad = list.filter((s) => !STATUSES.includes(s as MessageStatus));
    if (bad.length)
      throw appError('INVALID_STATUS', `Unknown status ${bad.map((b) => `"${b}"`).join(', ')}.`, {
        fix: `Use one or more of: ${STATUSES.join(', ')} (comma-separated).`,
      });
    filter.status = list as MessageStatus[];
  }
  if (opts.sender) filter.sender_id = ctx.senders.resolve(opts.sender).id;
  if (opts.to) filter.to = opts.to.replace(/[^\d]/g, '');
  return ctx.store.listMessages(filter);
}
