// Meta-shaped errors the sandbox emits, sync (Graph error body) and async (status webhook `errors[]`).
// Only the codes the sandbox produces live here; wagate's full catalog is src/domain/errors/ (the client
// side). Titles and HTTP statuses follow cloud-api.md §2-§3 (Meta's Dec 2025 table).
import { randomBytes } from 'node:crypto';

export interface ErrorDef {
  title: string;
  http: number;
  /** Default `error_data.details`. */
  details: string;
}

export const ERRORS: Record<number, ErrorDef> = {
  // Codes faults may inject ({"status": 400, "code": 131048}): Meta's titles and HTTP statuses (§3).
  0: { title: 'AuthException', http: 401, details: 'We were unable to authenticate the app user.' },
  1: { title: 'API Unknown', http: 400, details: 'Invalid request or possible server error.' },
  3: { title: 'API Method', http: 500, details: 'Capability or permissions issue.' },
  10: { title: 'Permission Denied', http: 403, details: 'Permission is either not granted or has been removed.' },
  200: { title: 'API Permission', http: 403, details: 'Permission is either not granted or has been removed.' },
  368: {
    title: 'Temporarily blocked for policies violations',
    http: 403,
    details: 'The WhatsApp Business Account associated with the app has been restricted or disabled for violating a platform policy.',
  },
  80007: { title: 'Rate limit issues', http: 400, details: 'The WhatsApp Business Account has reached its rate limit.' },
  130472: { title: "User's number is part of an experiment", http: 400, details: 'Message was not sent as part of an experiment.' },
  130497: {
    title: 'Business account is restricted from messaging users in this country',
    http: 403,
    details: 'The WhatsApp Business Account is restricted from messaging users in this country.',
  },
  131005: { title: 'Access denied', http: 403, details: 'Permission is either not granted or has been removed.' },
  131031: {
    title: 'Business Account locked',
    http: 403,
    details: 'The WhatsApp Business Account associated with the app has been restricted or disabled.',
  },
  131037: {
    title: 'WhatsApp provided number needs display name approval before message can be sent',
    http: 400,
    details: 'The 555 business phone number needs an approved display name.',
  },
  131042: { title: 'Business eligibility payment issue', http: 400, details: 'There was an error related to your payment method.' },
  131048: {
    title: 'Spam rate limit hit',
    http: 400,
    details: 'Message failed to send because there are restrictions on how many messages can be sent from this phone number.',
  },
  131053: { title: 'Media upload error', http: 400, details: 'Unable to upload the media used in the message.' },
  131057: { title: 'Account in maintenance mode', http: 500, details: 'Business Account is in maintenance mode.' },
  132005: { title: 'Template Hydrated Text Too Long', http: 400, details: 'Translated text is too long.' },
  132068: { title: 'Flow is blocked', http: 400, details: 'The Flow is in blocked state.' },
  132069: {
    title: 'Flow is throttled',
    http: 400,
    details: 'The Flow is in throttled state and 10 messages using this Flow were already sent in the last hour.',
  },
  133010: {
    title: 'Phone number Not Registered',
    http: 400,
    details: 'The phone number is not registered on the WhatsApp Business Platform.',
  },
  2: { title: 'Service temporarily unavailable', http: 503, details: 'Temporary downtime or overload. Try again later.' },
  4: { title: 'Application request limit reached', http: 400, details: 'The app has reached its API call rate limit.' },
  100: { title: 'Invalid parameter', http: 400, details: 'Invalid parameter.' },
  131000: { title: 'Something went wrong', http: 500, details: 'Message failed to send due to an unknown error.' },
  131008: { title: 'Required parameter is missing', http: 400, details: 'A required parameter is missing.' },
  131009: { title: 'Parameter value is not valid', http: 400, details: 'One or more parameter values are invalid.' },
  131016: { title: 'Service unavailable', http: 500, details: 'A service is temporarily unavailable.' },
  131021: { title: 'Recipient cannot be sender', http: 400, details: 'Sender and recipient phone number is the same.' },
  131026: { title: 'Message undeliverable', http: 400, details: 'Message Undeliverable.' },
  131047: {
    title: 'Re-engagement message',
    http: 400,
    details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
  },
  131049: {
    title: 'This message was not delivered to maintain healthy ecosystem engagement.',
    http: 400,
    details: 'In order to maintain a healthy ecosystem engagement, the message failed to be delivered.',
  },
  131050: {
    title: 'Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business',
    http: 400,
    details:
      'Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.',
  },
  131062: {
    title: 'Business-scoped User ID (BSUID) recipients are not supported for this message',
    http: 400,
    details: 'Authentication templates need the phone number: send this message with `to` set to the phone number.',
  },
  131051: { title: 'Unsupported message type', http: 400, details: 'Message type is not currently supported.' },
  // changes-2026 §4, §6, §8 (pywa errors.py; Meta's Direct Send reference, 31 Jul 2026).
  131055: {
    title: 'Only marketing template messages are supported',
    http: 400,
    details: 'The Marketing Messages API supports marketing template messages only.',
  },
  131063: {
    title: 'Marketing templates are disabled for Cloud API',
    http: 400,
    details:
      'To send this template, use the Marketing Messages API for WhatsApp or enable marketing templates on Cloud API by turning off disable_marketing_messages_on_cloud_api.',
  },
  131064: {
    title: 'Message failed to send because the account has reached its messaging limit due to template classification violations',
    http: 400,
    details: 'Business-initiated messages are limited for this business portfolio because of template classification violations.',
  },
  139200: {
    title: 'Direct Send utility or authentication access is blocked',
    http: 400,
    details: 'Direct Send utility or authentication access is blocked for this business.',
  },
  131056: {
    title: '(Business Account, Consumer Account) pair rate limit hit',
    http: 400,
    details:
      'Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.',
  },
  130429: {
    title: 'Rate limit hit',
    http: 400,
    details: 'Message failed to send because there were too many messages sent from this phone number in a short period of time.',
  },
  132000: {
    title: 'Number of parameters does not match the expected number of params',
    http: 400,
    details: 'Template parameter count mismatch.',
  },
  132001: { title: 'Template name does not exist in the translation', http: 404, details: 'Template does not exist in this language.' },
  132012: {
    title: 'Parameter format does not match format in the created template',
    http: 400,
    details: 'Template parameter format mismatch.',
  },
  132015: {
    title: 'Template is Paused',
    http: 400,
    details: 'Template is paused due to low quality so it cannot be sent in a template message.',
  },
  132016: {
    title: 'Template is Disabled',
    http: 400,
    details: 'Template has been paused too many times due to low quality and is now permanently disabled.',
  },
  190: { title: 'Error validating access token', http: 401, details: 'Access token has expired, been revoked, or is otherwise invalid.' },
};

export const ERROR_HREF = '/documentation/business-messaging/whatsapp/support/error-codes';

export interface SyncError {
  status: number;
  body: { error: Record<string, unknown> };
}

export function fbtraceId(): string {
  return randomBytes(9).toString('base64').replace(/[+/=]/g, 'A');
}

/**
 * A Graph error body as Meta sends it: message "(#code) title", type OAuthException,
 * error_data.details, fbtrace_id; error_subcode only when given (Meta stopped sending it for
 * WhatsApp errors in v16+, except on token errors the sandbox models per §8.3).
 */
export function syncError(
  code: number,
  opts: { details?: string; subcode?: number; message?: string; type?: string; http?: number } = {},
): SyncError {
  const def = ERRORS[code] ?? { title: 'Unknown error', http: 400, details: 'Unknown error.' };
  const error: Record<string, unknown> = {
    message: opts.message ?? `(#${code}) ${def.title}`,
    type: opts.type ?? 'OAuthException',
    code,
  };
  // Generic Graph errors (190, and GraphMethodException for unknown ids/paths) carry no WhatsApp error_data.
  if (code !== 190 && opts.type !== 'GraphMethodException')
    error.error_data = { messaging_product: 'whatsapp', details: opts.details ?? def.details };
  if (opts.subcode !== undefined) error.error_subcode = opts.subcode;
  error.fbtrace_id = fbtraceId();
  return { status: opts.http ?? def.http, body: { error } };
}

/** Graph's answer for an id that does not exist (or is not reachable with this token): code 100, subcode 33. */
export function unknownObject(id: string, method: 'get' | 'post' | 'delete'): SyncError {
  return syncError(100, {
    type: 'GraphMethodException',
    subcode: 33,
    message: `Unsupported ${method} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
  });
}

/** Graph's answer for a path it does not know at all. */
export function unknownPath(path: string): SyncError {
  return syncError(100, { type: 'GraphMethodException', message: `Unknown path components: ${path}` });
}

/** 190 subcodes (§8.3) and the message Graph uses for each. */
export const TOKEN_SUBCODE_MESSAGES: Record<number, string> = {
  458: 'Error validating access token: The user has not authorized application.',
  459: 'Error validating access token: You cannot access the app till you log in to www.facebook.com and follow the instructions given.',
  460: 'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.',
  463: 'Error validating access token: Session has expired.',
  464: 'Error validating access token: Sessions for the user are not allowed because the user is not a confirmed user.',
  467: 'Error validating access token: The access token is invalid.',
  492: 'Error validating access token: The user associated with the access token does not have an appropriate role.',
};

export function tokenError(subcode: number | null, message?: string): SyncError {
  const msg =
    message ?? (subcode !== null ? TOKEN_SUBCODE_MESSAGES[subcode] : undefined) ?? 'Invalid OAuth access token - Cannot parse access token';
  return syncError(190, { subcode: subcode ?? undefined, message: msg });
}

/** The error object inside a failed status webhook (`statuses[].errors[]`): message equals title. */
export function asyncError(code: number, details?: string): Record<string, unknown> {
  const def = ERRORS[code] ?? { title: 'Unknown error', http: 400, details: 'Unknown error.' };
  return { code, title: def.title, message: def.title, error_data: { details: details ?? def.details }, href: ERROR_HREF };
}
