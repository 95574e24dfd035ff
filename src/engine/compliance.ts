// Engine functions for the compliance gate's faces: turn Meta's message body into a GateRequest and
// the exact payload to send (prepareMessage), and answer a dry-run decision (checkCompliance).
// Every face (HTTP, MCP, CLI) and the delivery engine call these; the rules live in src/domain.
import type { AppContext } from './context.ts';
import type { GateRequest } from '../gate/port.ts';
import { deny, type Decision } from '../domain/decision.ts';
import type { SenderConfig } from '../domain/types.ts';
import { normalisePhone } from '../domain/phone.ts';
import { buildPayload, validateMessage } from '../domain/message.ts';
import { newId } from '../domain/ids.ts';
import { UnknownSenderError } from '../senders/registry.ts';
import { maskPhone } from '../observability/log.ts';
import { MAX_JSON_DEPTH, shortPath, tooDeepAt, TOO_DEEP_FIX } from '../shared/json-depth.ts';

export type Prepared =
  | { ok: true; req: GateRequest; payload: Record<string, unknown>; sender: SenderConfig }
  | { ok: false; decision: Decision };

export interface PrepareInput {
  body: unknown;
  /** Sender alias or phone_number_id; also accepted as `sender` inside the body. Default sender otherwise. */
  sender?: string;
  /** wagate message id to key the reservation by; a new one is made when absent. */
  message_id?: string;
}

/**
 * Validates Meta's message body, normalises `to`, resolves the sender and builds the GateRequest and
 * the payload to send. The payload is rebuilt from validated fields only (messaging_product
 * "whatsapp", recipient_type "individual", `to` as E.164 digits): nothing the caller adds can change
 * the recipient or the category after the decision. Never throws for bad input: it answers a Decision.
 */
export function prepareMessage(ctx: AppContext, input: PrepareInput): Prepared {
  let body = input.body;
  let senderRef = input.sender;
  // Before anything walks it (validation, the stored payload): HTTP bodies are refused at parse time,
  // this covers the other faces (a JSON string argument over MCP, the CLI, a stored payload).
  const deep = tooDeepAt(body);
  if (deep) {
    const where = shortPath(deep) || '(body)';
    return {
      ok: false,
      decision: invalid('INVALID_MESSAGE', where, `nests more than ${MAX_JSON_DEPTH} objects/arrays, the limit`, TOO_DEEP_FIX),
    };
  }
  if (body && typeof body === 'object' && !Array.isArray(body) && 'sender' in body) {
    const { sender, ...rest } = body as Record<string, unknown>;
    if (senderRef === undefined && sender !== undefined && sender !== null) {
      if (typeof sender !== 'string')
        return {
          ok: false,
          decision: invalid(
            'INVALID_MESSAGE',
            'sender',
            'must be a sender alias or phone_number_id (a string)',
            'Name a configured sender (GET /v1/senders lists them) or leave it out for the default.',
          ),
        };
      senderRef = sender;
    }
    body = rest;
  }

  let sender: SenderConfig;
  try {
    sender = ctx.senders.resolve(senderRef ?? null);
  } catch (err) {
    if (!(err instanceof UnknownSenderError)) throw err;
    return {
      ok: false,
      decision: deny(
        'UNKNOWN_SENDER',
        err.message,
        `Use one of the configured senders: ${err.known.join(', ') || '(none: add one under senders: in the config)'}.`,
        [{ rule: 'sender_known', passed: false, detail: err.message }],
      ),
    };
  }

  const v = validateMessage(body);
  if (!v.ok) {
    return {
      ok: false,
      decision: invalid(
        'INVALID_MESSAGE',
        v.issues[0].field,
        v.summary.slice(v.issues[0].field.length + 2),
        "Correct the named field and send again (limits: docs/reason-codes.md, Meta's message reference).",
        v.summary,
      ),
    };
  }
  const phone = normalisePhone(v.message.to);
  if (!phone.ok) {
    return {
      ok: false,
      decision: invalid(
        'INVALID_RECIPIENT',
        'to',
        `the recipient${maskPhone(v.message.to) ? ` "${maskPhone(v.message.to)}"` : ''} is not a usable phone number: ${phone.reason}`,
        phone.fix,
      ),
    };
  }

  const m = v.message;
  const req: GateRequest = {
    message_id: input.message_id ?? newId('msg', ctx.now()),
    sender,
    to: phone.digits,
    country: phone.country,
    kind: m.type === 'template' ? 'template' : 'free_form',
    type: m.type,
  };
  if (m.type === 'template') {
    const t = m.content as { name: string; language: { code: string }; components?: unknown[] };
    req.template = { name: t.name, language: t.language.code, components: t.components ?? [] };
  } else {
    req.category_hint = 'service';
  }
  return { ok: true, req, payload: buildPayload(m, phone.digits), sender };
}

/** Dry run: the decision the gate would give now, without reserving anything. */
export async function checkCompliance(ctx: AppContext, input: PrepareInput): Promise<Decision> {
  const p = prepareMessage(ctx, input);
  const decision = p.ok ? (await ctx.gate.check(p.req, ctx.now())).decision : p.decision;
  ctx.metrics.decisions.inc({ allowed: String(decision.allowed), reason: decision.reason_code ?? 'none' });
  return decision;
}

function invalid(code: 'INVALID_MESSAGE' | 'INVALID_RECIPIENT', field: string, problem: string, fix: string, summary?: string): Decision {
  const detail = summary ?? `${field}: ${problem}`;
  const rule = code === 'INVALID_RECIPIENT' ? 'recipient_valid' : 'message_schema';
  return deny(code, detail, fix, [{ rule, passed: false, detail }]);
}
