// Every error code wagate answers with, declared once: the HTTP status, what it means and the default
// fix (fastify's lib/errors.js pattern). The faces build their errors from it (appError() in
// app-error.ts); docs/errors.md is generated from it (doc.ts), and tests fail when a face answers a
// code that is not here (test/shared/errors.test.ts, test/http/error-codes.test.ts).
//
// Gate decision reason codes (OPTED_OUT, WINDOW_CLOSED_TEMPLATE_REQUIRED, ...) are a separate list:
// src/domain/decision.ts and docs/reason-codes.md. They reach a client inside a Decision, not as
// {error: {code}}; only DISPATCH_RECHECK:<reason> below carries one, as a dead-letter reason.
//
// A leaf module: it imports only src/shared, so every layer may use it.
import { MAX_JSON_DEPTH, TOO_DEEP_FIX } from '../json-depth.ts';

/** Where a code shows: an HTTP error body, an MCP error result, the Meta webhook endpoint's answer, a dead letter's reason_code, a message's last_error.code. */
export type Face = 'http' | 'mcp' | 'webhook' | 'dead_letter' | 'last_error';

/** Sections of docs/errors.md, in order. */
export const SECTIONS = {
  request: 'Bad requests',
  auth: 'Keys, roles and senders',
  not_found: 'Not found',
  state: 'Conflicts and refused changes',
  meta: 'Meta',
  service: 'Backends and wagate itself',
  webhook: 'The Meta webhook endpoint (/webhook)',
  delivery: 'Dead letters and delivery errors',
} as const;

export interface ErrorSpec {
  /** The HTTP status a face answers with; null for codes that are never an HTTP answer (dead-letter reasons, last_error codes). */
  status: number | null;
  /** Other statuses the same code may carry, each said when in `note`; 'any_4xx' for Fastify's own client errors. */
  statuses?: readonly number[] | 'any_4xx';
  section: keyof typeof SECTIONS;
  faces: readonly Face[];
  /** What it means (a call site's message says it for the case at hand). */
  message: string;
  /** What to do, when the call site has nothing more specific. */
  fix: string;
  note?: string;
}

const API = ['http', 'mcp'] as const;
const HTTP = ['http'] as const;
const MCP = ['mcp'] as const;

export const ERRORS = {
  // ---- bad requests
  INVALID_REQUEST: {
    status: 400,
    section: 'request',
    faces: API,
    message: 'A field of the request (path, query string or body) is missing, of the wrong type or out of range; the message names it.',
    fix: 'Correct the named field(s) and send again; see /openapi.json for the schema.',
  },
  INVALID_ARGUMENTS: {
    status: 400,
    section: 'request',
    faces: MCP,
    message:
      'An MCP tool argument is missing, of the wrong type or out of range (or the arguments are not an object); details.issues names each field and what it expects.',
    fix: "Correct the named argument(s); tools/list gives each tool's input schema.",
  },
  INVALID_PARAMS: {
    status: null,
    section: 'request',
    faces: MCP,
    message:
      'The params of an MCP request do not fit the protocol (e.g. tools/call without a tool name). Sent as JSON-RPC error -32602 with this error body as its data.',
    fix: 'Send params {"name": "<tool>", "arguments": {...}}; tools/list names every tool and its arguments.',
  },
  INVALID_JSON: {
    status: 400,
    section: 'request',
    faces: HTTP,
    message: 'The body is not valid JSON (or is empty with Content-Type: application/json); details.position says where parsing stopped.',
    fix: 'Send one JSON object (RFC 8259: double-quoted keys and strings, no trailing commas, no comments) with Content-Type: application/json.',
  },
  BODY_TOO_DEEP: {
    status: 400,
    section: 'request',
    faces: API,
    message: `The body (or an argument) nests more objects/arrays than the limit (${MAX_JSON_DEPTH}), refused before anything walks it.`,
    fix: TOO_DEEP_FIX,
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    section: 'request',
    faces: HTTP,
    message: 'The body is larger than the server accepts (1 MB; the webhook endpoint: webhooks.max_body_bytes).',
    fix: 'Send a smaller body.',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    section: 'request',
    faces: HTTP,
    message: 'The body has a Content-Type the route does not parse.',
    fix: 'Send a JSON body with Content-Type: application/json.',
  },
  BAD_REQUEST: {
    status: 400,
    statuses: 'any_4xx',
    section: 'request',
    faces: HTTP,
    message: 'Fastify refused the request before any route ran (e.g. a bad Content-Length).',
    fix: 'Send a JSON body with Content-Type: application/json.',
    note: 'The status is the 4xx Fastify gave.',
  },
  BAD_URL: {
    status: 400,
    section: 'request',
    faces: HTTP,
    message: 'The path is not a valid URL (a bad percent-encoding such as "%zz" or "%" alone).',
    fix: 'Percent-encode the path parameters (encodeURIComponent) and send again.',
  },
  URI_TOO_LONG: {
    status: 414,
    section: 'request',
    faces: HTTP,
    message: 'A path segment is longer than 100 characters, or the URL is longer than the server accepts (16 KB with the headers).',
    fix: 'Shorten the URL: ids and phone numbers in the path are at most 100 characters; send long data in a JSON body, not in the path or query string.',
  },
  HEADERS_TOO_LARGE: {
    status: 431,
    section: 'request',
    faces: HTTP,
    message: 'The request headers are larger than the server accepts (16 KB in all).',
    fix: 'Send fewer or smaller headers.',
  },
  BAD_HTTP_REQUEST: {
    status: 400,
    section: 'request',
    faces: HTTP,
    message: "The request is not valid HTTP/1.1 (Node's parser refused it; details.parser names its error).",
    fix: 'Send a well-formed HTTP/1.1 request: method, path, "HTTP/1.1", then headers, each line ending in CRLF.',
  },
  REQUEST_TIMEOUT: {
    status: 408,
    section: 'request',
    faces: HTTP,
    message: 'The request was not received in time.',
    fix: 'Send the whole request (headers and body) promptly, and retry.',
  },
  INVALID_RECIPIENT: {
    status: 400,
    section: 'request',
    faces: API,
    message: 'A customer phone number (or business-scoped user id) is not usable.',
    fix: 'Give the number in international format with its country code, e.g. "+447700900123".',
  },
  INVALID_IDEMPOTENCY_KEY: {
    status: 400,
    section: 'request',
    faces: API,
    message: 'The Idempotency-Key is not 1-255 visible ASCII characters without spaces.',
    fix: 'Use a UUID or another short opaque token.',
  },
  INVALID_STATUS: {
    status: 400,
    section: 'request',
    faces: API,
    message: 'A message status filter names an unknown status.',
    fix: 'Use one or more of: queued, sending, in_doubt, accepted, sent, delivered, read, failed, dead_lettered (comma-separated).',
  },
  INVALID_STATE: {
    status: 400,
    section: 'request',
    faces: API,
    message: 'A dead-letter state filter names an unknown state.',
    fix: 'Use one of: open, replayed, discarded.',
  },
  INVALID_TEMPLATE: {
    status: 400,
    section: 'request',
    faces: API,
    message: 'A new template is malformed (name, language, category or components); the message names the field.',
    fix: "Correct the named field; Meta's template reference lists the rules.",
  },
  INVALID_ERROR_CODE: {
    status: 400,
    section: 'request',
    faces: API,
    message: 'A Meta error code (or subcode) to explain is missing or not an integer.',
    fix: 'Pass the number from the error, e.g. {"code": 131056} or {"code": 190, "subcode": 463}.',
  },
  INVALID_COUNTRY: {
    status: 400,
    section: 'request',
    faces: API,
    message: 'recipient_country is neither an ISO 3166 alpha-2 code nor a phone number with a country code.',
    fix: 'Pass a country code such as "BR" or "IN", or the recipient\'s phone number ("+5511912345678").',
  },

  // ---- keys, roles and senders
  UNAUTHORIZED: {
    status: 401,
    section: 'auth',
    faces: API,
    message: 'No API key in the request (api.keys is configured).',
    fix: 'Send "Authorization: Bearer <key>" or "X-API-Key: <key>" with a key listed (as its SHA-256) in config api.keys.',
  },
  INVALID_API_KEY: {
    status: 401,
    section: 'auth',
    faces: API,
    message: 'The API key is not known.',
    fix: 'Check the key; an operator adds its SHA-256 (echo -n KEY | sha256sum) under api.keys with a role and senders.',
  },
  FORBIDDEN_ROLE: {
    status: 403,
    section: 'auth',
    faces: API,
    message: "The API key's role (read < send < admin) is too low for the route or tool; details.required names the role needed.",
    fix: 'Use a key with the role named in details.required, or admin (config api.keys[].role).',
  },
  FORBIDDEN_SENDER: {
    status: 403,
    section: 'auth',
    faces: API,
    message: 'The API key may not use the sender named (known or not), or the route needs a key for every sender.',
    fix: 'Name one of the senders this key allows (details.allowed; config api.keys[].senders).',
  },
  CONSENT_LIFT_FORBIDDEN: {
    status: 403,
    section: 'auth',
    faces: API,
    message: 'A key limited to some senders tried to lift an opt-out (consent is per customer, shared by every sender).',
    fix: 'The customer lifts it by writing the opt-in keyword (e.g. START) to any sender; or record the opt-in with a key for every sender (api.keys[].senders ["*"]).',
  },
  CSRF_REJECTED: {
    status: 403,
    section: 'auth',
    faces: HTTP,
    message:
      'A dashboard session (cookie) made a state-changing request without its CSRF token, or from another origin (cross-site request refused).',
    fix: 'Act from the dashboard page itself (it sends the X-Wagate-CSRF header it got at login); scripts use an API key header instead of the cookie.',
  },
  RATE_LIMITED: {
    status: 429,
    section: 'auth',
    faces: HTTP,
    message: 'The API key sent more requests per minute than api.rate_limit_per_minute (ingress limit, separate from Meta pacing).',
    fix: 'Slow down and retry after the Retry-After delay.',
  },

  // ---- not found
  NOT_FOUND: {
    status: 404,
    section: 'not_found',
    faces: HTTP,
    message: 'No route for this method and path.',
    fix: 'Check the path; /openapi.json lists every route.',
  },
  UNKNOWN_SENDER: {
    status: 404,
    section: 'not_found',
    faces: [...API, 'dead_letter'],
    message:
      "No sender is configured with this alias or phone_number_id (as a dead-letter reason: the message's sender was removed from the config).",
    fix: 'Use one of the configured senders (GET /v1/senders lists them), or leave sender out for the default.',
  },
  MESSAGE_NOT_FOUND: {
    status: 404,
    statuses: [409],
    section: 'not_found',
    faces: API,
    message: "No message with this id (also answered for another sender's message, as if it did not exist).",
    fix: 'Use the id returned by POST /v1/messages (it starts with "msg_").',
    note: '409 when replaying a dead letter whose message no longer exists.',
  },
  DEAD_LETTER_NOT_FOUND: {
    status: 404,
    section: 'not_found',
    faces: API,
    message: "No dead letter with this id (also answered for another sender's dead letter).",
    fix: 'List them with GET /v1/dead-letters (ids start with "dl_").',
  },
  CONVERSATION_NOT_FOUND: {
    status: 404,
    section: 'not_found',
    faces: API,
    message: 'No conversation with this id: the customer never wrote to that sender.',
    fix: 'List conversations with list_conversations (GET /v1/conversations).',
  },
  TEMPLATE_NOT_FOUND: {
    status: 404,
    section: 'not_found',
    faces: API,
    message: "No template with this name (and language) on the sender's WABA, even after syncing from Meta.",
    fix: 'Check the name and language (GET /v1/templates lists them).',
  },
  NO_PRICING_FOR_MARKET: {
    status: 404,
    section: 'not_found',
    faces: API,
    message: 'The pricing file has no rate for this market (or this category there); wagate never guesses a price.',
    fix: "Load Meta's rate card for that market through WAGATE_PRICING_FILE.",
  },
  ALERT_NOT_FOUND: {
    status: 404,
    section: 'not_found',
    faces: HTTP,
    message: 'No alert with this id (also answered for an alert about another sender, as if it did not exist).',
    fix: 'List alerts with GET /v1/alerts (ids start with "al_").',
  },
  WEBHOOK_BATCH_NOT_FOUND: {
    status: 404,
    section: 'not_found',
    faces: HTTP,
    message: 'No set-aside webhook batch with this id.',
    fix: 'List them with GET /v1/webhooks/failed.',
  },
  CAMPAIGN_NOT_FOUND: {
    status: 404,
    section: 'not_found',
    faces: API,
    message: "No campaign with this id (also answered for another sender's campaign, as if it did not exist).",
    fix: 'List campaigns with GET /v1/campaigns (list_campaigns); ids start with "cmp_".',
  },
  SCHEDULED_MESSAGE_NOT_FOUND: {
    status: 404,
    section: 'not_found',
    faces: API,
    message: 'No scheduled message with this id.',
    fix: 'Use the id returned by POST /v1/scheduled-messages (schedule_message); ids start with "sch_".',
  },

  // ---- conflicts and refused changes
  CAMPAIGN_STATE_CONFLICT: {
    status: 409,
    section: 'state',
    faces: API,
    message:
      "The campaign's current state does not allow this change (e.g. resume of a running campaign); details.status is the current state, details.allowed_from the states it is allowed from.",
    fix: 'Read the campaign (GET /v1/campaigns/:id) and act on its current state: pause a running one, resume a paused one, start a draft or scheduled one.',
  },
  CAMPAIGN_TERMINAL_STATE: {
    status: 409,
    section: 'state',
    faces: API,
    message: 'The campaign is completed or cancelled: a final state, nothing can change it any more.',
    fix: 'No action needed; create a new campaign to send again.',
  },
  CAMPAIGN_NOT_READY: {
    status: 422,
    section: 'state',
    faces: API,
    message: 'The campaign cannot start: its template is not approved (or unknown), or no valid recipient is left; the message says which.',
    fix: 'Fix the template (approve it, or sync with POST /v1/templates/sync) or the audience, then start again; preview shows what would be denied.',
  },
  SCHEDULED_MESSAGE_CLOSED: {
    status: 409,
    section: 'state',
    faces: API,
    message: 'The scheduled message was already handed to the queue (or refused, or cancelled): it can no longer be cancelled.',
    fix: 'Read it (GET /v1/scheduled-messages/:id): a submitted one has its message_id; follow that message instead.',
  },
  SCHEDULE_REFUSED: {
    status: 422,
    section: 'state',
    faces: API,
    message:
      'The gate refuses this message already at schedule time for a reason time will not change (opted out, invalid recipient or message); details.decision is the decision.',
    fix: 'Follow details.decision.suggested_action; nothing was scheduled.',
  },
  IDEMPOTENCY_KEY_REUSED: {
    status: 409,
    section: 'state',
    faces: API,
    message: 'The Idempotency-Key was already used for a different request.',
    fix: 'Use a new Idempotency-Key for a new message; repeat a key only to retry the exact same request.',
  },
  ALREADY_ARCHIVED: {
    status: 409,
    section: 'state',
    faces: API,
    message: 'The conversation is already archived.',
    fix: 'No action needed.',
  },
  CONVERSATION_ACTIVE: {
    status: 409,
    section: 'state',
    faces: API,
    message: "The conversation's customer service window is still open, so it cannot be archived.",
    fix: 'Archive it after the window closes, or keep answering the customer.',
  },
  DEAD_LETTER_CLOSED: {
    status: 409,
    section: 'state',
    faces: API,
    message: 'The dead letter was already replayed or discarded.',
    fix: 'Only open dead letters can be replayed or discarded.',
  },
  WEBHOOK_BATCH_NOT_OPEN: {
    status: 409,
    section: 'state',
    faces: HTTP,
    message: 'The set-aside webhook batch was already replayed or discarded.',
    fix: 'Nothing to do: list the open ones with GET /v1/webhooks/failed?state=open.',
  },
  WEBHOOK_REPLAY_FAILED: {
    status: 422,
    section: 'state',
    faces: HTTP,
    message: 'A set-aside webhook batch failed again when replayed; it stays set aside.',
    fix: 'Fix the cause named in the error (GET /ready for the backends), then replay again; a body that can never be applied can be discarded with DELETE /v1/webhooks/failed/:id.',
  },
  CREDENTIALS_INVALID: {
    status: 409,
    section: 'state',
    faces: API,
    message: 'The sender stays halted: Meta says its access token is invalid.',
    fix: 'Replace the token (PUT /v1/senders/:id/token) with a valid System User token, then resume.',
  },
  TOKEN_INVALID: {
    status: 422,
    section: 'state',
    faces: API,
    message: 'The new access token is not valid at Meta; the current token and state are unchanged.',
    fix: 'Generate a new System User token in Business Settings → System users and send it again.',
  },
  TOKEN_SCOPES_MISSING: {
    status: 422,
    section: 'state',
    faces: API,
    message: 'The new access token lacks WhatsApp permissions; the current token and state are unchanged.',
    fix: 'Give the System User whatsapp_business_messaging and whatsapp_business_management on this WABA, generate the token again and send it.',
  },

  // ---- Meta
  META_UNREACHABLE: {
    status: 503,
    statuses: [502],
    section: 'meta',
    faces: API,
    message: 'The Graph API did not answer (network, DNS, timeout).',
    fix: 'Check that the Graph API (meta.api_url) is reachable, then retry.',
    note: '502 when the failure did not come from the transport.',
  },

  // ---- backends and wagate itself
  STORE_UNAVAILABLE: {
    status: 503,
    section: 'service',
    faces: [...API, 'webhook'],
    message: 'The store (SQLite or PostgreSQL) did not confirm a write; nothing or, where the message says so, maybe something was saved.',
    fix: 'Retry the request (with the same Idempotency-Key); check GET /ready for the failing backend.',
  },
  PRICING_FILE_UNREADABLE: {
    status: 500,
    section: 'service',
    faces: API,
    message: 'The pricing file (WAGATE_PRICING_FILE) could not be read as JSON.',
    fix: 'Point WAGATE_PRICING_FILE at a JSON file shaped like src/engine/pricing-data.json, or unset it to use the bundled rates.',
  },
  PRICING_FILE_INVALID: {
    status: 500,
    section: 'service',
    faces: API,
    message: 'The pricing file (WAGATE_PRICING_FILE) does not have the expected shape.',
    fix: 'Fix the named keys (see src/engine/pricing-data.json for the shape).',
  },
  INTERNAL: {
    status: 500,
    section: 'service',
    faces: API,
    message: 'An unexpected error; it has been logged (never a stack trace in the answer).',
    fix: 'Retry; if it persists, check the server logs.',
  },

  // ---- the Meta webhook endpoint
  VERIFY_TOKEN_NOT_CONFIGURED: {
    status: 403,
    section: 'webhook',
    faces: ['webhook'],
    message: 'No webhook verify token is configured, so the handshake cannot succeed.',
    fix: 'Set meta.verify_token (WAGATE_VERIFY_TOKEN) to the Verify Token entered in the Meta App Dashboard.',
  },
  VERIFY_TOKEN_MISMATCH: {
    status: 403,
    section: 'webhook',
    faces: ['webhook'],
    message:
      'Webhook verification failed: hub.mode must be "subscribe", hub.verify_token must match the configured token, and hub.challenge must be present.',
    fix: 'Enter the same Verify Token in the Meta App Dashboard as meta.verify_token (WAGATE_VERIFY_TOKEN).',
  },
  INVALID_SIGNATURE: {
    status: 401,
    section: 'webhook',
    faces: ['webhook'],
    message: 'X-Hub-Signature-256 is missing, malformed or does not match the body; nothing was stored (details.reason says which).',
    fix: 'Sign the exact raw body with the app secret (HMAC-SHA256). If you rotated the secret, add the old one to meta.app_secrets_previous.',
  },
  WEBHOOK_BACKLOG: {
    status: 503,
    section: 'webhook',
    faces: ['webhook'],
    message: 'Webhooks arrive faster than they can be applied; this batch was not stored (Meta retries).',
    fix: 'Nothing to do on the sender side: Meta retries. If it persists, check the database speed (GET /ready, /metrics).',
  },

  // ---- dead letters and delivery errors
  MAX_ATTEMPTS: {
    status: null,
    section: 'delivery',
    faces: ['dead_letter'],
    message:
      'The send failed on every attempt wagate may make (delivery.max_attempts; only failures that may not pass by themselves are counted).',
    fix: 'Check the last error (GET /v1/dead-letters/:id), fix its cause, then replay the dead letter.',
  },
  RETRY_AGE_EXCEEDED: {
    status: null,
    section: 'delivery',
    faces: ['dead_letter'],
    message:
      'Meta kept failing or throttling the send (or could not be reached) for longer than delivery.retry_max_age_h; transient failures are retried until then, never counted as attempts.',
    fix: "Check Meta status and this machine's network, then replay the dead letter; raise delivery.retry_max_age_h to keep trying longer through outages.",
  },
  NOT_SENT: {
    status: null,
    section: 'delivery',
    faces: ['last_error'],
    message: 'The last attempt never reached Meta (no connection: network, DNS, TLS), so nothing was sent; it is retried with backoff.',
    fix: 'Nothing to do: it is retried. If it persists, check GET /ready and the logs.',
  },
  IN_DOUBT: {
    status: null,
    section: 'delivery',
    faces: ['last_error'],
    message:
      'The last attempt may or may not have reached Meta (connection lost around the send); wagate waits for its status webhook before it sends again.',
    fix: 'Nothing to do: the status webhook settles it, or it is resent once after the grace period.',
  },
} as const satisfies Record<string, ErrorSpec>;

/**
 * Codes made of a prefix and a part known only at run time: one entry each, with the pattern.
 * `META_<code>`: Meta refused a call with that Graph API error code (explained in the Meta error
 * catalog: GET /v1/errors/:code). `DISPATCH_RECHECK:<reason>`: the gate's re-check just before the
 * send denied the message with that reason code (docs/reason-codes.md).
 */
export const ERROR_FAMILIES = {
  META: {
    pattern: 'META_<code>',
    prefix: 'META_',
    rest: /^-?\d{1,9}$/,
    status: 502,
    statuses: [503],
    section: 'meta',
    faces: [...API, 'dead_letter'],
    message: 'Meta refused the call (or the send, as a dead-letter reason) with Graph API error <code>.',
    fix: 'See the Meta error catalog for <code> (GET /v1/errors/<code>, explain_error): its meaning, whether to retry and the fix.',
    note: '503 when the failure came from the transport.',
  },
  DISPATCH_RECHECK: {
    pattern: 'DISPATCH_RECHECK:<reason>',
    prefix: 'DISPATCH_RECHECK:',
    rest: /^[A-Z][A-Z0-9_]*$/,
    status: null,
    section: 'delivery',
    faces: ['dead_letter'],
    message:
      "The gate's re-check just before the send denied the message with gate reason code <reason> (e.g. the customer opted out after it was queued).",
    fix: "Follow the reason code's suggested action (docs/reason-codes.md), then replay the dead letter if it still applies.",
  },
} as const satisfies Record<string, ErrorSpec & { pattern: string; prefix: string; rest: RegExp }>;

export type FixedCode = keyof typeof ERRORS;
export type MetaErrorCode = `META_${number}`;
export type DispatchRecheckCode = `DISPATCH_RECHECK:${string}`;
export type FamilyCode = MetaErrorCode | DispatchRecheckCode;
export type ErrorCode = FixedCode | FamilyCode;

/** Fixed codes a face can throw (those with an HTTP status). */
export type ThrowableFixedCode = { [C in FixedCode]: (typeof ERRORS)[C]['status'] extends number ? C : never }[FixedCode];

/** `META_<code>` for a Graph API error code; -1 (no answer) is META_UNREACHABLE. */
export function metaErrorCode(code: number): MetaErrorCode | 'META_UNREACHABLE' {
  return code === -1 ? 'META_UNREACHABLE' : `META_${code}`;
}

/** `DISPATCH_RECHECK:<reason>` for a gate reason code. */
export function dispatchRecheckCode(reason: string): DispatchRecheckCode {
  return `DISPATCH_RECHECK:${reason}`;
}

export type SpecOf = ErrorSpec & { code: string; family?: keyof typeof ERROR_FAMILIES };

/** The registry entry of a code (a fixed code, or a member of a family), or undefined when it is not registered. */
export function errorSpec(code: string): SpecOf | undefined {
  if (Object.hasOwn(ERRORS, code)) return { code, ...(ERRORS as Record<string, ErrorSpec>)[code] };
  for (const [name, f] of Object.entries(ERROR_FAMILIES)) {
    if (code.startsWith(f.prefix) && f.rest.test(code.slice(f.prefix.length)))
      return { code, family: name as keyof typeof ERROR_FAMILIES, ...f };
  }
  return undefined;
}

export function isRegisteredCode(code: unknown): boolean {
  return typeof code === 'string' && errorSpec(code) !== undefined;
}

/** True when `status` is one this code may be answered with. */
export function statusAllowed(spec: ErrorSpec, status: number): boolean {
  if (status === spec.status) return true;
  if (spec.statuses === 'any_4xx') return status >= 400 && status < 500;
  return (spec.statuses ?? []).includes(status);
}
