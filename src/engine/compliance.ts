// Engine functions for the compliance gate's faces: turn Meta's message body into a GateRequest and
// the exact payload to send (prepareMessage), and answer a dry-run decision (checkCompliance).
// Every face (HTTP, MCP, CLI) and the delivery engine call these; the rules live in src/domain.
import type { AppContext } from './context.ts';
import type { GateRequest } from '../gate/port.ts';
import { deny, type Decision } from '../domain/decision.ts';
import type { Category, SenderConfig } from '../domain/types.ts';
import {
  BSUID_FORM,
  GROUP_ID_FORM,
  bsuidCountry,
  groupKey,
  isBsuid,
  isGroupId,
  isGroupKey,
  PARENT_BSUID_SCOPE,
  portfolioOf,
} from '../domain/identity.ts';
import { serviceMonthUsage } from './pricing.ts';
import { normalisePhone } from '../domain/phone.ts';
import { buildPayload, validateMessage } from '../domain/message.ts';
import { newId } from '../domain/ids.ts';
import { UnknownSenderError } from '../senders/registry.ts';
import { maskPhone } from '../observability/log.ts';
import { MAX_JSON_DEPTH, shortPath, tooDeepAt, TOO_DEEP_FIX } from '../shared/json-depth.ts';

export type Prepared =
  | {
      ok: true;
      req: GateRequest;
      payload: Record<string, unknown>;
      sender: SenderConfig;
      /** The business-scoped user id the caller addressed (`recipient`), when they did. */
      recipient?: string;
    }
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
  const m = v.message;
  if (m.recipient !== undefined && !isBsuid(m.recipient)) {
    return {
      ok: false,
      decision: invalid(
        'INVALID_RECIPIENT',
        'recipient',
        `${JSON.stringify(String(m.recipient).slice(0, 40))} is not a business-scoped user id: ${BSUID_FORM}`,
        'Send back the user_id Meta gave in a webhook for this customer, unchanged, or use `to` with their phone number.',
      ),
    };
  }
  // By phone when given (`to` wins, as at Meta), else by business-scoped user id: the gate decides on
  // the customer's key (the phone a link knows for the BSUID, see prepareMessageFor), the payload
  // carries what Meta needs.
  let key: { to: string; country: string | null };
  if (m.group) {
    // A group send (Groups API): decided on the group's own window, addressed by its id.
    if (m.recipient !== undefined || !isGroupId(m.to)) {
      return {
        ok: false,
        decision: invalid(
          'INVALID_RECIPIENT',
          'to',
          m.recipient !== undefined ? 'a group send names the group in `to`, not `recipient`' : `not a group id: ${GROUP_ID_FORM}`,
          'Send `recipient_type: "group"` with `to` set to the group_id from the group\'s webhooks.',
        ),
      };
    }
    key = { to: groupKey(m.to), country: null };
  } else if (m.to !== undefined) {
    const phone = normalisePhone(m.to);
    if (!phone.ok) {
      return {
        ok: false,
        decision: invalid(
          'INVALID_RECIPIENT',
          'to',
          `the recipient${maskPhone(m.to) ? ` "${maskPhone(m.to)}"` : ''} is not a usable phone number: ${phone.reason}`,
          phone.fix,
        ),
      };
    }
    key = { to: phone.digits, country: phone.country };
  } else {
    key = { to: m.recipient!, country: bsuidCountry(m.recipient!) };
  }

  const req: GateRequest = {
    message_id: input.message_id ?? newId('msg', ctx.now()),
    sender,
    to: key.to,
    country: key.country,
    kind: m.type === 'template' ? 'template' : 'free_form',
    type: m.type,
  };
  if (m.type === 'template') {
    const t = m.content as { name: string; language: { code: string }; components?: unknown[] };
    req.template = { name: t.name, language: t.language.code, components: t.components ?? [] };
  } else {
    // Direct Send (category "utility" on text / interactive): a business-initiated utility message.
    req.category_hint = m.direct_send ? 'utility' : 'service';
    if (m.direct_send) req.direct_send = true;
  }
  return {
    ok: true,
    req,
    payload: buildPayload(m, m.group ? { to: m.to! } : m.to !== undefined ? { to: key.to } : { recipient: m.recipient! }),
    sender,
    ...(m.recipient !== undefined ? { recipient: m.recipient } : {}),
  };
}

/**
 * The phone wagate knows for a BSUID in the sender's portfolio; else, for a parent BSUID (linked
 * portfolios), a link learned in any of them (PARENT_BSUID_SCOPE). Any BSUID is looked up there: Meta's
 * own examples write parent ids without `.ENT.`, so a parent cannot be told by its shape, and only ids
 * that came in a parent field are ever linked in that scope. Null when none.
 */
export async function linkedPhoneOf(ctx: Pick<AppContext, 'store'>, sender: SenderConfig, bsuid: string): Promise<string | null> {
  const own = await ctx.store.getLinkedPhone(portfolioOf(sender), bsuid);
  if (own !== null) return own;
  return ctx.store.getLinkedPhone(PARENT_BSUID_SCOPE, bsuid);
}

/**
 * prepareMessage, then the customer's key from what wagate knows of them: a BSUID linked to a phone in
 * the sender's portfolio is decided on as that phone (one person, one state: the opt-out, the window,
 * the caps). A phone and a BSUID given together must be the same person as far as wagate knows.
 */
export async function prepareMessageFor(ctx: AppContext, input: PrepareInput): Promise<Prepared> {
  const p = prepareMessage(ctx, input);
  // A 1:1 service message's cost depends on the sender's free allowance used this month (pricing note).
  if (p.ok && p.req.kind === 'free_form' && !p.req.direct_send && !isGroupKey(p.req.to))
    p.req.service_month = await serviceMonthUsage(ctx, p.sender.id, ctx.now());
  if (!p.ok || p.recipient === undefined) return p;
  const linked = await linkedPhoneOf(ctx, p.sender, p.recipient);
  if (linked === null) return p;
  if (p.req.to !== p.recipient) {
    if (p.req.to === linked) return p;
    return {
      ok: false,
      decision: invalid(
        'INVALID_RECIPIENT',
        'recipient',
        `\`to\` (${maskPhone(p.req.to)}) and \`recipient\` (${p.recipient.slice(0, 5)}…) name two different customers: that user id belongs to ${maskPhone(linked)}`,
        'Give one of them, or the phone and the user id of the same customer.',
      ),
    };
  }
  const phone = normalisePhone(linked);
  return { ...p, req: { ...p.req, to: linked, country: phone.ok ? phone.country : p.req.country } };
}

/**
 * Authentication templates need a phone number: Meta refuses them to a BSUID (131062), so they are
 * refused before they leave. The phone is the fix when wagate knows it.
 */
export function bsuidRefusal(p: Extract<Prepared, { ok: true }>, category: Category | null): Decision | null {
  if (category !== 'authentication' || p.recipient === undefined || 'to' in p.payload) return null;
  const known = /^\d{7,15}$/.test(p.req.to) ? ` This customer's phone is ${maskPhone(p.req.to)}: send it with \`to\`.` : '';
  return deny(
    'BSUID_NOT_SUPPORTED',
    `Authentication templates need the customer's phone number: Meta does not deliver them to a business-scoped user id (it answers 131062).${known}`,
    known
      ? `Send it with \`to\` set to the customer's phone number.`
      : "Send it with `to` set to the customer's phone number (ask for it, e.g. with a REQUEST_CONTACT_INFO button).",
    [{ rule: 'recipient_valid', passed: false, detail: 'authentication template to a business-scoped user id' }],
  );
}

/** Dry run: the decision the gate would give now, without reserving anything. */
export async function checkCompliance(ctx: AppContext, input: PrepareInput): Promise<Decision> {
  const p = await prepareMessageFor(ctx, input);
  let decision: Decision;
  if (p.ok) {
    const outcome = await ctx.gate.check(p.req, ctx.now());
    decision = (outcome.decision.allowed && bsuidRefusal(p, outcome.category)) || outcome.decision;
  } else {
    decision = p.decision;
  }
  ctx.metrics.decisions.inc({ allowed: String(decision.allowed), reason: decision.reason_code ?? 'none' });
  return decision;
}

function invalid(code: 'INVALID_MESSAGE' | 'INVALID_RECIPIENT', field: string, problem: string, fix: string, summary?: string): Decision {
  const detail = summary ?? `${field}: ${problem}`;
  const rule = code === 'INVALID_RECIPIENT' ? 'recipient_valid' : 'message_schema';
  return deny(code, detail, fix, [{ rule, passed: false, detail }]);
}
