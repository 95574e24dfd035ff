// The Meta error catalog: every code of shared/meta/cloud-api.md §3 (and the 190 subcodes of §8.3), with
// Meta's meaning, the action wagate's worker takes, and a human explanation and fix. One table, one
// place: faces explain from it, the worker classifies from it. Meta says to build error handling on
// `code` and `error_data.details`, never on HTTP status or titles (M-ERR), so the HTTP status here is
// documentation only.
import type { CatalogEntry, SubcodeEntry } from './types.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;

/** The fix for any credential error: a new long-lived System User token, then resume. */
export const TOKEN_FIX_STEPS = [
  'In Meta Business Settings → Users → System users, open (or create) an Admin system user that has the WhatsApp Business Account assigned as an asset (full control).',
  'Click "Generate new token", pick your app, choose expiry "Never" and tick whatsapp_business_messaging and whatsapp_business_management (business_management too if you manage assets).',
  'Give wagate the new token: update the sender\'s access_token in the config (e.g. the WA_TOKEN_<SENDER> variable) and restart, or call PUT /v1/senders/:id/token with {"access_token": "<new token>"} (no restart).',
  'wagate checks the token with debug_token and resumes the halted senders; queued messages were held, not lost. Check with GET /v1/senders/:id/health.',
];
const TOKEN_FIX = TOKEN_FIX_STEPS.map((s, i) => `${i + 1}. ${s}`).join(' ');

const PERMISSION_FIX =
  'Open the token in Meta\'s Access Token Debugger (or `wagate doctor`) and check that it has whatsapp_business_messaging and whatsapp_business_management, and that its granular scopes list this WABA id. If the system user lacks the WABA asset, assign it in Business Settings → System users → Assign assets, then ' +
  TOKEN_FIX_STEPS[2]!.charAt(0).toLowerCase() + TOKEN_FIX_STEPS[2]!.slice(1) + ' wagate resumes once debug_token reports a valid token with both scopes.';

const STATUS_PAGE = 'https://metastatus.com/whatsapp-business-api';

export const CATALOG: readonly CatalogEntry[] = [
  // ── §3.2 Authorization ───────────────────────────────────────────────────────────────────────────
  {
    code: 0, title: 'AuthException', http_status: 401, where: 'sync', section: '3.2',
    meaning: 'Could not authenticate the app user: the token expired, was invalidated, or the user blocked all apps.',
    action: 'halt_all', scope: 'all',
    explanation: 'Meta refused the access token itself, so no sender using it can send anything. wagate stops every sender so messages wait in the queue instead of failing one by one.',
    fix: TOKEN_FIX,
  },
  {
    code: 3, title: 'API Method', http_status: 500, where: 'sync', section: '3.2',
    meaning: 'Capability or permission issue: the app cannot call this endpoint.',
    action: 'halt_all', scope: 'all',
    explanation: 'The app behind the token lacks a capability for this API call. It is a configuration problem, not a passing fault, so retrying cannot help.',
    fix: PERMISSION_FIX,
  },
  {
    code: 10, title: 'Permission Denied', http_status: 403, where: 'sync', section: '3.2',
    meaning: 'A permission was not granted or was removed (also: Flows phone not allow-listed, or number not eligible for the API).',
    action: 'halt_all', scope: 'all',
    explanation: 'The token no longer carries a permission this call needs. Every send with that token would fail the same way, so wagate halts and alerts.',
    fix: PERMISSION_FIX,
  },
  {
    code: 102, title: 'API Session', http_status: 401, where: 'sync', section: '8.3',
    meaning: 'Graph session error: the login status or access token is invalid.',
    action: 'halt_all', scope: 'all',
    explanation: 'Graph rejected the session the token belongs to. Treat it as an invalid token.',
    fix: TOKEN_FIX,
  },
  {
    code: 190, title: 'Access token has expired', http_status: 401, where: 'sync', section: '3.2',
    meaning: 'The access token expired, was revoked or is otherwise invalid (subcodes 458, 459, 460, 463, 464, 467, 492; none on v16+ WhatsApp errors).',
    action: 'halt_all', scope: 'all',
    explanation: 'The token wagate sends with is no longer accepted by Meta: it reached its expiry (user tokens last ~24 h, some system-user tokens 60 days), or it was revoked (system user deleted, app removed, password change for user tokens). Nothing can be sent with it, so wagate halts every sender, keeps every queued message and alerts you. Nothing is lost.',
    fix: TOKEN_FIX,
  },
  {
    code: 200, code_to: 299, title: 'API Permission', http_status: 403, where: 'sync', section: '3.2',
    meaning: 'Permission not granted or removed. Code 200 is also what a system user without access to the WABA asset gets.',
    action: 'halt_all', scope: 'all',
    explanation: 'The token is valid but not allowed to act on this WhatsApp Business Account or number — usually the system user was never given the WABA as an asset, or the permission was revoked.',
    fix: PERMISSION_FIX,
  },
  {
    code: 131005, title: 'Access denied', http_status: 403, where: 'sync', section: '3.2',
    meaning: 'Permission not granted or removed.',
    action: 'halt_all', scope: 'all',
    explanation: 'Meta denied access for this token on this resource. It is a permission problem that every later send would repeat.',
    fix: PERMISSION_FIX,
  },
  // ── §3.3 Integrity ───────────────────────────────────────────────────────────────────────────────
  {
    code: 368, title: 'Temporarily blocked for policies violations', http_status: 403, where: 'sync', section: '3.3',
    meaning: 'The WhatsApp Business Account is restricted or disabled for a platform-policy violation.',
    action: 'pause_sender', scope: 'sender',
    explanation: 'Meta\'s policy enforcement restricted the account behind this number. Sending more would not get through and could worsen the enforcement.',
    fix: 'Open WhatsApp Manager → Account tools → Policy enforcement (or Business Support Home) to see the violation and appeal it. Watch for the account_update webhook (ACCOUNT_VIOLATION / DISABLED_UPDATE). When the restriction is lifted, resume the sender (POST /v1/senders/:id/resume or `wagate senders resume <id>`).',
  },
  {
    code: 130497, title: 'Business account is restricted from messaging users in this country', http_status: 403, where: 'sync', section: '3.3',
    meaning: 'The WABA may not message users in this country, given its business category in the Messaging Policy.',
    action: 'drop', scope: 'recipient',
    explanation: 'The number can still message other countries, but not this recipient\'s country. Retrying this message can never succeed.',
    fix: 'Remove recipients of that country from your audience (a policy that excludes the country prefix keeps them out at the gate). If you believe your business category allows it, contact Meta support with the fbtrace_id.',
  },
  {
    code: 131031, title: 'Business Account locked', http_status: 403, where: 'sync', section: '3.3',
    meaning: 'The WABA was restricted or disabled, or request data could not be verified (e.g. a wrong two-step PIN).',
    action: 'pause_sender', scope: 'sender',
    explanation: 'Meta locked the business account behind this number. Every send from it fails until the lock is lifted.',
    fix: 'Check the account in WhatsApp Manager and the Health Status API (GET /<WABA_ID>?fields=health_status). Resolve the policy issue or re-verify the two-step PIN, then resume the sender (POST /v1/senders/:id/resume).',
  },
  // ── §3.4 Throttling ──────────────────────────────────────────────────────────────────────────────
  {
    code: 4, title: 'API Too Many Calls', http_status: 400, where: 'sync', section: '3.4',
    meaning: 'The app reached its API call rate limit (App Dashboard → Application Rate Limit). Older copies of Meta\'s table say HTTP 429.',
    action: 'retry_after', scope: 'all', delay: { kind: 'exponential', base_ms: MIN, cap_ms: 15 * MIN },
    explanation: 'The whole app (every sender that shares it) made too many Graph calls in the rolling hour. The calls succeed again once usage drops under 100 %.',
    fix: 'Nothing is lost: wagate waits and retries. If it repeats, reduce management calls (template syncs, health polling) and read the X-App-Usage header to see which metric is at 100 %.',
  },
  {
    code: 80007, title: 'Rate limit issues', http_status: 400, where: 'sync', section: '3.4',
    meaning: 'The WhatsApp Business Account reached its rate limit (management endpoints: 200 or 5,000 requests per hour).',
    action: 'retry_after', scope: 'sender', delay: { kind: 'exponential', base_ms: MIN, cap_ms: HOUR },
    explanation: 'Too many Graph calls were made against this WABA in the hour. Meta tells how long to wait in the X-Business-Use-Case-Usage header (estimated_time_to_regain_access, minutes).',
    fix: 'wagate waits and retries. If it repeats, space out template syncs and phone-number polling for this WABA; a WABA with a registered number gets 5,000 calls/hour instead of 200.',
  },
  {
    code: 80008, title: 'There have been too many calls to this WhatsApp Business account', http_status: 400, where: 'sync', section: '3.4',
    meaning: 'Per-WABA throttle on Graph edges such as /message_templates and /phone_numbers (Graph reference; not in the WhatsApp table).',
    action: 'retry_after', scope: 'sender', delay: { kind: 'exponential', base_ms: MIN, cap_ms: HOUR },
    explanation: 'Meta throttled management calls for this WABA. It clears on its own.',
    fix: 'Wait and retry (wagate does). Reduce how often templates and phone numbers are listed for this WABA.',
  },
  {
    code: 130429, title: 'Rate limit hit', http_status: 400, where: 'both', section: '3.4',
    meaning: 'Cloud API message throughput of this number was reached (80 messages/s by default, up to 1,000).',
    action: 'retry_after', scope: 'sender', delay: { kind: 'exponential', base_ms: 1_000, cap_ms: 30_000 },
    explanation: 'This number sent faster than its throughput level allows. Meta refuses sends until the rate is back under the limit, usually within a second.',
    fix: 'wagate slows this sender and retries. If it happens often, set the sender\'s throughput_mps to what Meta granted (GET /<PHONE_NUMBER_ID>?fields=throughput); 1,000 mps comes automatically with an unlimited messaging limit and YELLOW+ quality.',
  },
  {
    code: 131048, title: 'Spam rate limit hit', http_status: 400, where: 'both', section: '3.4',
    meaning: 'Sending from this number is restricted because many previous messages were blocked or flagged as spam.',
    action: 'pause_sender', scope: 'sender',
    explanation: 'Recipients blocked or reported this number\'s messages, and Meta limited it. Sending more (especially campaigns) makes quality and the limit worse.',
    fix: 'Pause campaigns on this number. Check its quality rating in WhatsApp Manager, review which templates were blocked or reported, tighten opt-in and frequency. Resume the sender (POST /v1/senders/:id/resume) once quality recovers.',
  },
  {
    code: 131056, title: '(Business Account, Consumer Account) pair rate limit hit', http_status: 400, where: 'sync', section: '3.4',
    meaning: 'Too many messages from this number to the same recipient in a short time (1 per 6 s, bursts up to 45 borrow from later).',
    action: 'retry_after', scope: 'recipient', delay: { kind: 'pow4', cap_ms: 4 ** 6 * 1_000 },
    explanation: 'Only this recipient is affected: the number can still message everyone else. Meta asks to retry after 4^X seconds (1 s, 4 s, 16 s, 64 s, …), X growing with each failure.',
    fix: 'wagate retries this recipient on Meta\'s 4^X schedule. If it repeats, your flow sends bursts to one person; space them (about one message every 6 seconds).',
  },
  {
    code: 133016, title: 'Account register deregister rate limit exceeded', http_status: 400, where: 'sync', section: '3.4',
    meaning: 'Too many register/deregister attempts for this number: 10 per 72 h moving window (since 13 Feb 2024).',
    action: 'retry_after', scope: 'sender', delay: { kind: 'fixed', ms: 6 * HOUR },
    explanation: 'The number was registered or deregistered too often. Attempts are allowed again when the oldest of the last 10 leaves the 72-hour window; Meta does not say exactly when.',
    fix: 'Stop retrying registration for a few hours. Find what keeps re-registering the number (a script, a second platform) and stop it.',
  },
  // ── §3.5 Other ───────────────────────────────────────────────────────────────────────────────────
  {
    code: 1, title: 'API Unknown', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'Invalid request or possible server error.',
    action: 'retry', scope: 'message', max_attempts: 3, exhausted: 'fix_request',
    explanation: 'Meta could not say what went wrong. It is sometimes a passing server fault, sometimes a malformed request.',
    fix: `wagate retries a few times. If it keeps failing, check ${STATUS_PAGE}; if there is no outage, compare the request with the endpoint reference (the message body is in the dead letter).`,
  },
  {
    code: 2, title: 'API Service', http_status: 503, where: 'sync', section: '3.5',
    meaning: 'Temporary downtime or overload.',
    action: 'retry', scope: 'all',
    explanation: 'Meta\'s service was down or overloaded. It affects every sender, and it passes.',
    fix: `Nothing to do: wagate backs off and retries. Check ${STATUS_PAGE} if it lasts.`,
  },
  {
    code: 33, title: 'Parameter value is not valid', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'The business phone number has been deleted.',
    action: 'pause_sender', scope: 'sender',
    explanation: 'The phone_number_id wagate sends from no longer exists at Meta. No send from it can work.',
    fix: 'Check the sender\'s phone_number_id in WhatsApp Manager → Phone numbers. Fix it in the config (or remove the sender) and restart; then resume the sender.',
  },
  {
    code: 100, title: 'Invalid parameter', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'Unsupported or misspelled parameters (also bad Flows public key, phone-id mismatch on registration, length constraints).',
    action: 'fix_request', scope: 'message',
    explanation: 'The request had a parameter Meta does not accept; error_data.details names it. The same request will always fail.',
    fix: 'Read details in the dead letter, fix the field it names (spelling, type, length limit) and submit a corrected message.',
    variants: [{ match: /must be a template message/i, note: 'Marketing Messages API: only template messages are accepted', action: 'fix_request' }],
  },
  {
    code: 130472, title: "User's number is part of an experiment", http_status: 400, where: 'async', section: '3.5',
    meaning: 'Not sent because the user is in Meta\'s marketing-message experiment.',
    action: 'drop', scope: 'recipient',
    explanation: 'Meta holds back some marketing messages to measure their effect. This user was in the hold-out group; nothing is wrong with the message.',
    fix: 'No fix needed; do not resend. Reach this user through another channel if the message matters.',
  },
  {
    code: 131000, title: 'Something went wrong', http_status: 500, where: 'both', section: '3.5',
    meaning: 'Unknown failure (also a Flows public-key signing failure).',
    // Transient (Meta's own 500): bounded by the message's age (delivery.retry_max_age_h), not by a count,
    // so an outage that lasts a while delays messages instead of dead-lettering them.
    action: 'retry', scope: 'message',
    explanation: 'An internal error at Meta with no specific cause. Usually it passes.',
    fix: 'wagate retries with backoff for as long as delivery.retry_max_age_h allows. If the same message keeps failing, open a Meta Direct Support ticket with the fbtrace_id from the dead letter.',
  },
  {
    code: 131008, title: 'Required parameter is missing', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'A required parameter is missing.',
    action: 'fix_request', scope: 'message',
    explanation: 'The request lacks a field Meta requires (details names it).',
    fix: 'Add the missing field named in details and submit the message again.',
  },
  {
    code: 131009, title: 'Parameter value is not valid', http_status: 400, where: 'both', section: '3.5',
    meaning: 'One or more parameter values are invalid (async for a reaction to an unknown or >30-day-old message).',
    action: 'fix_request', scope: 'message',
    explanation: 'A field has a value Meta does not accept (wrong format, unknown wamid, out-of-range value).',
    fix: 'Read details, correct the value and resend. For reactions: react only to messages from the last 30 days.',
    variants: [{ match: /sync/i, note: 'Marketing Messages API: ad sync incomplete, wait 10 minutes once', action: 'retry_after', delay: { kind: 'fixed', ms: 10 * MIN }, max_attempts: 1, exhausted: 'fix_request' }],
  },
  {
    code: 131016, title: 'Service unavailable', http_status: 500, where: 'both', section: '3.5',
    meaning: 'A service is temporarily unavailable.',
    action: 'retry', scope: 'all',
    explanation: 'A Meta service was briefly unavailable. It passes.',
    fix: `Nothing to do: wagate retries with backoff. Check ${STATUS_PAGE} if it lasts.`,
  },
  {
    code: 131021, title: 'Recipient cannot be sender', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'The `to` number equals the sender\'s own number.',
    action: 'fix_request', scope: 'message',
    explanation: 'The message was addressed to the business number it was sent from.',
    fix: 'Send to the customer\'s number, not the business number. Check how your app fills `to`.',
  },
  {
    code: 131026, title: 'Message Undeliverable', http_status: 400, where: 'async', section: '3.5',
    meaning: 'The recipient is not on WhatsApp, has not accepted the new Terms/Privacy Policy, or runs a too-old client.',
    action: 'drop', scope: 'recipient',
    explanation: 'WhatsApp could not deliver to this number, for a reason on the recipient\'s side. Resending will fail the same way.',
    fix: 'Check the number is correct and on WhatsApp. wagate marks it unreachable; it becomes reachable again when the user writes to you. Ask the user (another channel) to update WhatsApp and accept the terms.',
  },
  {
    code: 131030, title: 'Recipient phone number not in allowed list', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'With a public test number, the recipient is not in the test allow-list.',
    action: 'fix_request', scope: 'recipient',
    explanation: 'Meta\'s test numbers can only message up to five allow-listed recipients.',
    fix: 'Add the recipient in App Dashboard → WhatsApp → API Setup → "To" list (verify with the code), or send from a registered production number.',
  },
  {
    code: 131037, title: 'WhatsApp provided number needs display name approval before message can be sent', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'A "555" business number without an approved display name.',
    action: 'pause_sender', scope: 'sender',
    explanation: 'This number cannot send until Meta approves its display name.',
    fix: 'Submit or fix the display name in WhatsApp Manager → Phone numbers; resume the sender once name_status is APPROVED.',
  },
  {
    code: 131042, title: 'Business eligibility payment issue', http_status: 400, where: 'both', section: '3.5',
    meaning: 'Payment problem: no payment account, credit line over limit or unset, WABA deleted/suspended, timezone or currency unset, or an On-Behalf-Of request pending or declined.',
    action: 'pause_sender', scope: 'sender',
    explanation: 'Meta will not bill this account, so it will not send from it. Only an admin can fix billing.',
    fix: 'In Business Settings → WhatsApp accounts → Settings → Payment, attach a valid payment method or credit line and set timezone and currency. Then resume the sender (POST /v1/senders/:id/resume).',
  },
  {
    code: 131045, title: 'Incorrect certificate', http_status: 500, where: 'sync', section: '3.5',
    meaning: 'Phone-number registration error.',
    action: 'pause_sender', scope: 'sender',
    explanation: 'The number\'s registration is broken, so Meta cannot send for it.',
    fix: 'Re-register the number (POST /<PHONE_NUMBER_ID>/register with its 6-digit PIN), then resume the sender.',
  },
  {
    code: 131047, title: 'Re-engagement message', http_status: 400, where: 'async', section: '3.5',
    meaning: 'More than 24 h passed since the recipient last wrote: the customer-service window is closed.',
    action: 'drop', scope: 'recipient',
    explanation: 'Free-form messages are only allowed within 24 hours of the customer\'s last message. This one came later, so Meta refused it. wagate\'s gate normally catches this before sending; it can happen when the window closed while the message waited.',
    fix: 'Send an approved template instead (a utility or marketing template the customer opted in to), or wait until the customer writes again.',
  },
  {
    code: 131049, title: 'Meta chose not to deliver', http_status: 400, where: 'async', section: '3.5',
    meaning: 'Per-user marketing limit, or the pause of marketing templates to US (+1) numbers since 1 Apr 2025.',
    action: 'retry_after', scope: 'recipient', delay: { kind: 'fixed', ms: 24 * HOUR },
    explanation: 'To keep users from getting too many marketing messages, Meta did not deliver this one. Retrying sooner than 24 hours only fails again; US numbers get no marketing templates at all for now.',
    fix: 'Wait at least 24 hours before sending this user another marketing message, and only if it still matters. Send fewer marketing messages per user; do not send marketing templates to US numbers.',
  },
  {
    code: 131050, title: 'User has stopped marketing messages', http_status: 400, where: 'async', section: '3.5',
    meaning: 'The user turned off marketing messages from this business ("Offers and announcements").',
    action: 'drop', scope: 'recipient',
    explanation: 'The customer chose in WhatsApp to stop your marketing. wagate records the opt-out so the gate refuses further marketing to them.',
    fix: 'Do not resend. Marketing to this user is allowed again only after a user_preferences "resume" webhook; utility and service messages are not affected.',
  },
  {
    code: 131051, title: 'Unsupported message type', http_status: 400, where: 'both', section: '3.5',
    meaning: 'Outbound: the message type is not supported. Inbound: a message of a type the API cannot show.',
    action: 'fix_request', scope: 'message',
    explanation: 'Outbound, the `type` is not one WhatsApp supports. Inbound, the customer sent something the Cloud API cannot pass on.',
    fix: 'Outbound: use a supported type (text, image, audio, video, document, sticker, location, contacts, interactive, template, reaction). Inbound: ask the customer to send it another way.',
  },
  {
    code: 131052, title: 'Media download error', http_status: 400, where: 'async', section: '3.5',
    meaning: 'The media the user sent could not be downloaded.',
    action: 'drop', scope: 'message',
    explanation: 'An inbound photo, video or file from the customer could not be fetched; details says why.',
    fix: 'Ask the customer to send the file again, or by another channel.',
  },
  {
    code: 131053, title: 'Media upload error', http_status: 400, where: 'both', section: '3.5',
    meaning: 'The media in your message could not be uploaded (e.g. unsupported MIME type or codec).',
    action: 'fix_request', scope: 'message',
    explanation: 'The file you sent is not one WhatsApp accepts for that type, or it could not be fetched from the link.',
    fix: 'Check the MIME type and codec (`file -I`), size limits (image 5 MB, audio/video 16 MB, document 100 MB), and that a `link` is publicly reachable over HTTPS. Then resend.',
  },
  {
    code: 131055, title: 'Method not allowed', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'Marketing Messages API: only marketing template messages are supported.',
    action: 'fix_request', scope: 'message',
    explanation: 'This endpoint only takes marketing templates; the message was something else.',
    fix: 'Send non-marketing messages through the regular /messages endpoint.',
  },
  {
    code: 131057, title: 'Account in maintenance mode', http_status: 500, where: 'sync', section: '3.5',
    meaning: 'The WABA or number is in maintenance, e.g. during a throughput upgrade (up to 1 minute).',
    action: 'retry_after', scope: 'sender', delay: { kind: 'exponential', base_ms: MIN, cap_ms: 5 * MIN },
    explanation: 'Meta briefly took the number offline (often its upgrade to higher throughput). It comes back by itself.',
    fix: 'Nothing to do: wagate holds this sender\'s messages for a minute or a few and retries.',
  },
  {
    code: 132000, title: 'Template Param Count Mismatch', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'The number of parameters differs from the template\'s variables.',
    action: 'fix_request', scope: 'message',
    explanation: 'The template has a different number of {{variables}} than the parameters sent.',
    fix: 'Check the template\'s components (GET /v1/templates or WhatsApp Manager) and send exactly one parameter per variable, per component.',
  },
  {
    code: 132001, title: 'Template does not exist', http_status: 404, where: 'sync', section: '3.5',
    meaning: 'No such template in that language, or it is not approved (new approvals can take ~10 minutes to propagate).',
    action: 'fix_request', scope: 'template',
    explanation: 'Meta found no approved template with that name and language code for this WABA.',
    fix: 'Check the name and the exact language code (e.g. en_US vs en) and the template status; sync templates (wagate templates sync). If it was just approved, wait up to 10 minutes.',
  },
  {
    code: 132005, title: 'Template Hydrated Text Too Long', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'The text with parameters filled in is too long.',
    action: 'fix_request', scope: 'message',
    explanation: 'After your parameters were put into the template, the text exceeded Meta\'s limit.',
    fix: 'Shorten the parameter values (body text must stay within 1,024 characters in multi-component templates).',
  },
  {
    code: 132007, title: 'Template Format Character Policy Violated', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'The content violates WhatsApp policy for templates.',
    action: 'fix_request', scope: 'message',
    explanation: 'The filled-in template breaks a formatting or content rule (e.g. forbidden characters, newlines or too many spaces in a parameter).',
    fix: 'Remove newlines, tabs and runs of more than 4 spaces from parameters, and check the content against the WhatsApp Business Messaging Policy.',
  },
  {
    code: 132012, title: 'Template Parameter Format Mismatch', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'Parameter values are not in the format the template specifies.',
    action: 'fix_request', scope: 'message',
    explanation: 'A parameter has the wrong type for its variable (e.g. text where the header expects an image, or named vs positional).',
    fix: 'Match each parameter\'s type to the template component (header format, parameter_format NAMED/POSITIONAL) and resend.',
  },
  {
    code: 132015, title: 'Template is Paused', http_status: 400, where: 'both', section: '3.5',
    meaning: 'Paused for low quality; also the async code for held messages dropped by template or portfolio pacing.',
    action: 'pause_template', scope: 'template',
    explanation: 'Recipients reacted badly to this template, so Meta paused it (3 h, then 6 h, then disabled) or dropped held messages. Sends with it fail until it is unpaused.',
    fix: 'Stop using this template; improve its content and targeting. It becomes usable on a message_template_status_update back to APPROVED (or POST /<TEMPLATE_ID>/unpause when allowed).',
  },
  {
    code: 132016, title: 'Template is Disabled', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'Paused too many times: permanently disabled.',
    action: 'pause_template', scope: 'template',
    explanation: 'The template was paused repeatedly for low quality and is now disabled for good.',
    fix: 'Create a new template with different, better-targeted content and get it approved; this one cannot be used again.',
  },
  {
    code: 132018, title: 'Template parameter diagnostics', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'v23.0+: a template parameter is invalid; details says which (added 29 May 2025).',
    action: 'fix_request', scope: 'message',
    explanation: 'Meta found a problem with one of the template parameters and explains it in details.',
    fix: 'Read details in the dead letter and fix the parameter it names.',
  },
  {
    code: 132068, title: 'Flow is blocked', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'The Flow is in the blocked state.',
    action: 'fix_request', scope: 'message',
    explanation: 'The WhatsApp Flow this message opens was blocked (usually its endpoint is unhealthy).',
    fix: 'Fix the Flow in WhatsApp Manager → Flows (endpoint health, errors) until it is no longer blocked, then resend.',
  },
  {
    code: 132069, title: 'Flow is throttled', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'The Flow is throttled: 10 messages using it were already sent in the last hour.',
    action: 'retry_after', scope: 'message', delay: { kind: 'fixed', ms: HOUR },
    explanation: 'A throttled Flow may only be sent 10 times per hour.',
    fix: 'wagate retries in an hour. Fix the Flow\'s health so it is no longer throttled.',
  },
  {
    code: 133000, title: 'Incomplete Deregistration', http_status: 500, where: 'sync', section: '3.5',
    meaning: 'A previous deregistration failed.',
    action: 'fix_request', scope: 'sender',
    explanation: 'The number is stuck half-deregistered.',
    fix: 'Deregister the number again (POST /<PHONE_NUMBER_ID>/deregister), then register it.',
  },
  {
    code: 133004, title: 'Server Temporarily Unavailable', http_status: 503, where: 'sync', section: '3.5',
    meaning: 'The server is temporarily unavailable.',
    action: 'retry', scope: 'all',
    explanation: 'Meta\'s server was unavailable for a moment.',
    fix: `wagate retries with backoff. Check ${STATUS_PAGE} and details if it lasts.`,
  },
  {
    code: 133005, title: 'Two step verification PIN Mismatch', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'Wrong two-step verification PIN.',
    action: 'fix_request', scope: 'sender',
    explanation: 'The 6-digit PIN given for the number is wrong.',
    fix: 'Use the PIN set in WhatsApp Manager, or reset it there (Phone numbers → Settings → Two-step verification).',
  },
  {
    code: 133006, title: 'Phone number re-verification needed', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'The number must be verified before registering.',
    action: 'fix_request', scope: 'sender',
    explanation: 'Meta needs the number verified again (SMS or voice code) before it can be registered.',
    fix: 'Request and verify a code (POST /<PHONE_NUMBER_ID>/request_code and /verify_code), then register.',
  },
  {
    code: 133008, title: 'Too Many two step verification PIN Guesses', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'Locked out after too many wrong PINs; retry after the period in details.',
    action: 'retry_after', scope: 'sender', delay: { kind: 'details', default_ms: HOUR },
    explanation: 'Too many wrong PINs were tried, so Meta locked PIN attempts for a while.',
    fix: 'Wait the time given in details, then use the correct PIN (or reset it in WhatsApp Manager).',
  },
  {
    code: 133009, title: 'Two step verification PIN Guessed Too Fast', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'PIN attempts too fast; see details.',
    action: 'retry_after', scope: 'sender', delay: { kind: 'details', default_ms: MIN },
    explanation: 'PIN attempts came too quickly one after the other.',
    fix: 'Wait the time given in details before the next attempt.',
  },
  {
    code: 133010, title: 'Phone number Not Registered', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'The number is not registered on the platform.',
    action: 'pause_sender', scope: 'sender',
    explanation: 'The number exists but is not registered for Cloud API, so it cannot send.',
    fix: 'Register it: POST /<PHONE_NUMBER_ID>/register with {"messaging_product":"whatsapp","pin":"<6 digits>"}; then resume the sender.',
  },
  {
    code: 133015, title: 'Please wait a few minutes before attempting to register this phone number', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'The number was recently deleted and the deletion is not finished.',
    action: 'retry_after', scope: 'sender', delay: { kind: 'fixed', ms: 5 * MIN },
    explanation: 'Meta is still finishing the deletion of this number.',
    fix: 'Wait 5 minutes, then register again.',
  },
  {
    code: 133001, code_to: 133003, title: 'Registration / migration error (not in Meta\'s current table)', http_status: null, where: 'sync', section: '3.5',
    meaning: 'Older copies: 133001 decryption error, 133002 backup file error, 133003 recovery token error (registration/migration). Not re-verified.',
    action: 'fix_request', scope: 'sender',
    explanation: 'A registration or migration step failed on the data provided (backup, token or its decryption).',
    fix: 'Repeat the registration or migration with fresh data (new backup / recovery token); contact Meta support with the fbtrace_id if it persists.',
  },
  {
    code: 133007, title: 'Registration error (not in Meta\'s current table)', http_status: null, where: 'sync', section: '3.5',
    meaning: 'Registration-range code listed in older copies; not in Meta\'s Dec-2025 table.',
    action: 'fix_request', scope: 'sender',
    explanation: 'A phone-number registration step failed.',
    fix: 'Read details, repeat the registration; contact Meta support with the fbtrace_id if it persists.',
  },
  {
    code: 133011, code_to: 133014, title: 'Registration error (not in Meta\'s current table)', http_status: null, where: 'sync', section: '3.5',
    meaning: 'Registration-range codes listed in older copies; not in Meta\'s Dec-2025 table.',
    action: 'fix_request', scope: 'sender',
    explanation: 'A phone-number registration step failed.',
    fix: 'Read details, repeat the registration; contact Meta support with the fbtrace_id if it persists.',
  },
  {
    code: 134011, title: 'WhatsApp Payments terms of service not accepted', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'The WABA has not accepted the WhatsApp Payments terms of service.',
    action: 'fix_request', scope: 'message',
    explanation: 'Payment messages need the Payments terms accepted first; other messages are not affected.',
    fix: 'An admin accepts the WhatsApp Payments terms via the link in the error details; then resend payment messages.',
  },
  {
    code: 135000, title: 'Generic user error', http_status: 400, where: 'sync', section: '3.5',
    meaning: 'Unknown error in your request parameters.',
    action: 'fix_request', scope: 'message',
    explanation: 'Meta found something wrong in the request but did not say what.',
    fix: 'Compare the request with the endpoint reference; contact Meta support with the fbtrace_id if it persists.',
  },
  // ── §3.6 Template creation, migration, insights, WABA (management endpoints) ──────────────────────
  ...templateCreation(),
  {
    code: 200002, title: 'HSM Template creation failed', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'Template creation failed (Graph HSM reference).',
    action: 'fix_request', scope: 'template',
    explanation: 'Meta refused to create the template; details usually says which part.',
    fix: 'Read details, fix the template definition (name: lowercase and underscores; valid language; components) and create it again.',
  },
  {
    code: 192, title: 'Invalid phone number', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'Invalid phone number (Graph HSM reference).',
    action: 'fix_request', scope: 'message',
    explanation: 'A phone number in the request (for example in a call button) is not valid.',
    fix: 'Use a full international number with country code, digits only after the +.',
  },
  {
    code: 2388001, title: 'Phone migration: confirm ownership', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'Confirm ownership of the number, or disable two-step verification.',
    action: 'fix_request', scope: 'sender',
    explanation: 'The migration needs proof that you own the number.',
    fix: 'Disable two-step verification on the source account, or confirm ownership, then repeat the migration.',
  },
  {
    code: 2388012, title: 'Phone migration: number already in your list', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'The number is already in your list.',
    action: 'fix_request', scope: 'sender',
    explanation: 'The number is already attached to this WABA.',
    fix: 'Nothing to migrate: use the existing phone_number_id.',
  },
  {
    code: 2388091, title: 'Phone migration: not eligible for migration code APIs', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'The number is not eligible for the migration code APIs.',
    action: 'fix_request', scope: 'sender',
    explanation: 'This number cannot use the code-based migration flow.',
    fix: 'Migrate it through WhatsApp Manager or Meta support instead.',
  },
  {
    code: 2388093, title: 'Phone migration: not eligible for migration code APIs', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'The number is not eligible for the migration code APIs.',
    action: 'fix_request', scope: 'sender',
    explanation: 'This number cannot use the code-based migration flow.',
    fix: 'Migrate it through WhatsApp Manager or Meta support instead.',
  },
  {
    code: 2388103, title: 'Phone migration failed', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'Many causes: no webhooks on the destination WABA, display name not approved, OBO source, no payment account, different business portfolio, destination WABA not approved, Messaging-For request not approved, or a generic failure.',
    action: 'fix_request', scope: 'sender',
    explanation: 'The migration was refused; details tells which precondition failed.',
    fix: 'Check in order: destination WABA approved, subscribed to webhooks and with a payment method; display name approved; same business portfolio; Messaging-For approved. Retry later if details says it was a generic failure.',
  },
  {
    code: 2494100, title: 'Account in maintenance mode (migration)', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'The account is in maintenance mode.',
    action: 'retry_after', scope: 'sender', delay: { kind: 'exponential', base_ms: MIN, cap_ms: 5 * MIN },
    explanation: 'The account is briefly in maintenance.',
    fix: 'Wait a few minutes and retry (wagate does).',
  },
  {
    code: 200005, title: 'Template insights unavailable', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'Insights are not available.', action: 'fix_request', scope: 'template',
    explanation: 'Template insights cannot be read for this WABA or template right now.',
    fix: 'Check that template insights are enabled and the template has been sent; try again later.',
  },
  {
    code: 200006, title: 'Template insights cannot be disabled', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'Insights cannot be disabled once enabled.', action: 'fix_request', scope: 'template',
    explanation: 'You tried to turn template insights off; Meta does not allow it.',
    fix: 'Leave insights enabled; remove the call that disables them.',
  },
  {
    code: 200007, title: 'Template insights not enabled', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'Insights are not enabled.', action: 'fix_request', scope: 'template',
    explanation: 'Template insights were requested but are off for this WABA.',
    fix: 'Enable template insights (POST /<WABA_ID>?is_enabled_for_insights=true), then query again.',
  },
  {
    code: 2593079, title: 'WABA already marked for migration', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'The WABA is already marked for migration to another solution.', action: 'fix_request', scope: 'sender',
    explanation: 'Another migration of this WABA is already in progress.',
    fix: 'Finish or cancel the existing migration first.',
  },
  {
    code: 2593085, title: 'WABA invalid for OBO mobility', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'The WABA is not valid for On-Behalf-Of mobility.', action: 'fix_request', scope: 'sender',
    explanation: 'This WABA cannot be moved with the OBO mobility flow.',
    fix: 'Check the WABA\'s ownership model; contact Meta support for another migration path.',
  },
  {
    code: 2593107, title: 'Sync request limit exceeded', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'Coexistence: only one contacts sync and one history sync are allowed.', action: 'fix_request', scope: 'sender',
    explanation: 'The contacts or history sync for this coexistence number was already used.',
    fix: 'Do not request the sync again; it is allowed once.',
  },
  {
    code: 2593108, title: 'Sync requested outside the onboarding window', http_status: 400, where: 'sync', section: '3.6',
    meaning: 'Coexistence: sync requested more than 24 h after onboarding.', action: 'fix_request', scope: 'sender',
    explanation: 'History and contacts sync must be requested within 24 hours of onboarding.',
    fix: 'The window has passed; the sync cannot be requested for this onboarding.',
  },
  // ── §3.7 Marketing Messages API ──────────────────────────────────────────────────────────────────
  {
    code: 134100, title: "You're only able to send marketing messages on this API", http_status: 400, where: 'sync', section: '3.7',
    meaning: 'Marketing Messages API (v23.0+): only marketing messages are accepted.', action: 'fix_request', scope: 'message',
    explanation: 'A non-marketing message was sent through the Marketing Messages API.',
    fix: 'Send utility, authentication and service messages through the regular /messages endpoint.',
  },
  {
    code: 134101, title: 'Your template is still syncing', http_status: 400, where: 'sync', section: '3.7',
    meaning: 'Marketing Messages API (v23.0+): the template sync can take up to 10 minutes.',
    action: 'retry_after', scope: 'template', delay: { kind: 'fixed', ms: 10 * MIN },
    explanation: 'The template was approved recently and is not yet available on the Marketing Messages API.',
    fix: 'Wait 10 minutes; wagate retries.',
  },
  {
    code: 134102, title: 'Template unavailable for use', http_status: 500, where: 'sync', section: '3.7',
    meaning: 'Marketing Messages API (v23.0+): check onboarding eligibility (marketing_messages_lite_api_status).',
    action: 'fix_request', scope: 'sender',
    explanation: 'The business is not (or no longer) eligible to use this template on the Marketing Messages API.',
    fix: 'Check GET /<WABA_ID>?fields=marketing_messages_lite_api_status and complete onboarding; meanwhile send through /messages.',
  },
  {
    code: 1752041, title: 'Duplicate Request', http_status: 400, where: 'sync', section: '3.7',
    meaning: 'The client was already invited to onboard by another partner.', action: 'drop', scope: 'message',
    explanation: 'Informational: an onboarding invite already exists from another partner.',
    fix: 'No action; do not repeat the request.',
  },
  // ── Generic Graph throttles (§4.3, G-RATE): not WhatsApp-specific but seen on shared apps ─────────
  {
    code: 17, title: 'User request limit reached', http_status: 400, where: 'sync', section: '4.3',
    meaning: 'Graph user-level rate limit.', action: 'retry_after', scope: 'all', delay: { kind: 'exponential', base_ms: MIN, cap_ms: 15 * MIN },
    explanation: 'The user behind the token made too many Graph calls.',
    fix: 'Wait and retry (wagate does); reduce call volume.',
  },
  {
    code: 32, title: 'Page request limit reached', http_status: 400, where: 'sync', section: '4.3',
    meaning: 'Graph page-level rate limit.', action: 'retry_after', scope: 'all', delay: { kind: 'exponential', base_ms: MIN, cap_ms: 15 * MIN },
    explanation: 'Too many calls for a page-level object.',
    fix: 'Wait and retry (wagate does); reduce call volume.',
  },
  {
    code: 613, title: 'Calls to this API have exceeded the rate limit', http_status: 400, where: 'sync', section: '4.3',
    meaning: 'Graph custom rate limit.', action: 'retry_after', scope: 'all', delay: { kind: 'exponential', base_ms: MIN, cap_ms: 15 * MIN },
    explanation: 'A custom rate limit on this Graph endpoint was reached.',
    fix: 'Wait and retry (wagate does); reduce call volume.',
  },
];

function templateCreation(): CatalogEntry[] {
  const t = (code: number, title: string, fix: string, extra: Partial<CatalogEntry> = {}): CatalogEntry => ({
    code, title, http_status: 400, where: 'sync', section: '3.6', meaning: title + '.',
    action: 'fix_request', scope: 'template',
    explanation: `Meta refused to create or edit the template: ${title.toLowerCase()}.`, fix, ...extra,
  });
  return [
    t(2388040, 'A field is over its character limit', 'Shorten the field named in details (template name ≤ 512, header text ≤ 60, body ≤ 1,024, footer ≤ 60, button text ≤ 25) and submit again.'),
    t(2388047, 'Header format is wrong', 'Fix the HEADER component: format TEXT/IMAGE/VIDEO/DOCUMENT/LOCATION, at most one variable in a text header, with an example.'),
    t(2388072, 'Body format is wrong', 'Fix the BODY component: variables numbered {{1}}, {{2}}… in order (or named), with examples for each.'),
    t(2388073, 'Footer format is wrong', 'Fix the FOOTER component: plain text, no variables, ≤ 60 characters.'),
    t(2388293, 'Too many variables for the length of the text', 'Add more fixed words around the variables, or use fewer variables.'),
    t(2388299, 'Leading or trailing parameters are not allowed', 'Do not start or end the body with a {{variable}}: put fixed text before and after it.'),
    t(2388019, 'Template count limit exceeded', 'Delete unused templates (250 per WABA, 6,000 for verified businesses with a higher limit) and create again.', { explanation: 'The WABA already holds the maximum number of templates.' }),
  ];
}

/** Error 190 subcodes (§8.3, Graph "Authentication Error Subcodes"). */
export const SUBCODES_190: readonly SubcodeEntry[] = [
  { subcode: 458, name: 'App Not Installed', meaning: 'The user has not logged into (or has removed) your app; for WhatsApp: the app was uninstalled or de-authorized from the business.', fix: `Reinstall/re-authorize the app for the business, then: ${TOKEN_FIX}` },
  { subcode: 459, name: 'User Checkpointed', meaning: 'The user must log in at facebook.com to resolve an account checkpoint.', fix: `Have the token's user log in at facebook.com and clear the checkpoint — better, stop using user tokens: ${TOKEN_FIX}` },
  { subcode: 460, name: 'Password Changed', meaning: 'The user changed their password; tokens issued before are void.', fix: `Generate a new token (a System User token does not depend on a person's password): ${TOKEN_FIX}` },
  { subcode: 463, name: 'Expired', meaning: 'The access token expired (user tokens last ~24 h; 60-day system-user tokens expire too).', fix: `Replace it with a token that never expires: ${TOKEN_FIX}` },
  { subcode: 464, name: 'Unconfirmed User', meaning: 'The user must log in at facebook.com to confirm their account.', fix: `Have the user confirm their account, or switch to a System User token: ${TOKEN_FIX}` },
  { subcode: 467, name: 'Invalid Access Token', meaning: 'The token expired, was revoked or is otherwise invalid (e.g. the system user was deleted or the token regenerated).', fix: TOKEN_FIX },
  { subcode: 492, name: 'Invalid Session', meaning: 'The user the token belongs to has no suitable role on the asset.', fix: `Give the system user the WABA as an asset (Business Settings → System users → Assign assets), then: ${TOKEN_FIX}` },
];

// Index: exact codes first, then ranges (a range never hides an exact entry).
const EXACT = new Map<number, CatalogEntry>();
const RANGES: CatalogEntry[] = [];
for (const e of CATALOG) {
  if (e.code_to !== undefined) RANGES.push(e);
  else EXACT.set(e.code, e);
}
const SUB = new Map(SUBCODES_190.map((s) => [s.subcode, s]));

/** The catalog entry for a code, or undefined when Meta's code is not in the catalog. */
export function lookup(code: number): CatalogEntry | undefined {
  return EXACT.get(code) ?? RANGES.find((r) => code >= r.code && code <= r.code_to!);
}

export function lookupSubcode(subcode: number | null | undefined): SubcodeEntry | undefined {
  return subcode == null ? undefined : SUB.get(subcode);
}
