// decide(): the compliance decision, a PURE function of the request, a snapshot of the gate's state,
// the policies and the clock. Every rule evaluated is appended to checks[] (rule, passed, detail); the
// first denial ends the evaluation and carries an explanation and a suggested action.
//
// Order: sender → recipient → template exists (it gives the category) → opt-out → care window →
// opt-in → template status → template parameters → category policy → Meta market rules (US
// marketing, 131049) → per-user marketing cap → tier budget → quiet hours → tag exclusions → pricing
// note. Adapters (memory, Redis/Lua) build the snapshot and record the reservation atomically.
import { BSUID_FORM, isBsuid, isGroupKey } from './identity.ts';
import { allow, deny, type CheckResult, type Decision } from './decision.ts';
import type { Policies } from './policies.ts';
import type { Category, ConsentState, SenderConfig, SenderStatus, TemplateRecord } from './types.ts';
import { CARE_WINDOW_MS, DAY_MS, FEP_WINDOW_MS, HOUR_MS } from './types.ts';
import { templateCategory } from './categories.ts';
import { billingAt } from './pricing-rules.ts';
import { blockingRestriction, type SenderRestriction } from './restrictions.ts';
import { checkTemplateParams, describeSpec, templateSpec } from './templates.ts';
import { formatMinute, inDailyWindow, localMinuteOfDay, minutesUntil, parseHHMM, recipientZones } from './timezone.ts';

/** Everything the gate needs about one outbound message, already validated and normalised. */
export interface GateRequest {
  /** wagate message id: the reservation is keyed by it (release/idempotency). */
  message_id: string;
  sender: SenderConfig;
  /** Recipient, E.164 digits without '+' (normalised; also the wa_id key). */
  to: string;
  /** ISO 3166 alpha-2 of the recipient number (from the phone library), e.g. "US", "BR". */
  country: string | null;
  /** `service` for free-form; for templates, the caller's claim is ignored: the template record decides. */
  kind: 'free_form' | 'template';
  /** Meta message type (text, image, template, interactive, reaction, ...). */
  type: string;
  template?: { name: string; language: string; components: unknown[] };
  /** Caller-declared category; only used for free-form (always `service`). */
  category_hint?: Category;
  /**
   * Direct Send (changes-2026.md §6, Meta's Direct Send reference of 31 Jul 2026): a free-form text or
   * interactive message with a top-level `category: "utility"`. It is a business-initiated utility
   * message: no window needed, utility opt-outs and quiet hours apply, and outside a window it takes a
   * messaging-limit slot like a template (Meta does not say; the conservative reading).
   */
  direct_send?: boolean;
  /**
   * The sender's service messages counted this month and its free allowance (from 1 Oct 2026 Meta
   * charges service messages beyond it: pricing-rules.ts), read by the engine for free-form sends;
   * absent = unknown, and the pricing note says it depends on the allowance.
   */
  service_month?: { month: string; used: number; allowance: number } | null;
}

export interface SnapshotCustomer {
  consent: Record<Category, { state: ConsentState; at: number | null; source?: string | null }>;
  tags: string[];
  time_zone: string | null;
  undeliverable_at: number | null;
  marketing_limited_at: number | null;
}

/** What the gate knows, at one instant, about one request. Built by a GateState adapter. */
export interface GateSnapshot {
  /** Live sender status; null = active (never changed). */
  sender_status: SenderStatus | null;
  /** Meta's account restrictions on this sender (ACCOUNT_RESTRICTION), expired ones included: decide() skips those. */
  restrictions: SenderRestriction[];
  /** The portfolio's messaging limit Meta reported (business_capability_update; limit null = unlimited); absent/null = none: the sender's configured messaging_limit applies. */
  portfolio_limit?: { limit: number | null; at: number } | null;
  /** null = a customer wagate has never heard of (consent unknown, no tags). */
  customer: SnapshotCustomer | null;
  /** The care window on THIS sender (windows are per business number). */
  window: { last_inbound_at: number; referral_at: number | null; fep_opened_at: number | null } | null;
  /** Latest inbound from this customer on any sender (a message clears an undeliverable mark). */
  last_inbound_any_at: number | null;
  /** The record for req.template (waba_id of the sender, name, language), if known. */
  template: TemplateRecord | null;
  /** Languages in which a template of that name exists on the WABA (for TEMPLATE_NOT_FOUND). */
  template_languages: string[];
  /** Names of APPROVED templates on the sender's WABA (suggestions when a template is required). */
  approved_templates: string[];
  /** Marketing messages counted against the per-user cap in the last 24h, excluding this message. */
  marketing_count_24h: number;
  /** Time of the oldest of those (when a slot frees up). */
  marketing_oldest_at: number | null;
  /** Unique business-initiated recipients of the portfolio in the last 24h, excluding this message. */
  tier_used: number;
  /** Is this recipient already among them? (then this message adds nothing to the count) */
  tier_recipient_counted: boolean;
  /** Oldest time that keeps a recipient in the count (when the budget frees up). */
  tier_oldest_at: number | null;
}

export interface DecideInput {
  req: GateRequest;
  snapshot: GateSnapshot;
  policies: Policies;
  now: number;
  /**
   * false: the checks that passed are not written out (checks[] holds only a denial's own check), and
   * their sentences are never built. For callers that read only the verdict: the worker's re-check
   * right before sending and a campaign's preview. Default true: every caller a person reads.
   */
  explain?: boolean;
}

export interface DecideResult {
  decision: Decision;
  /** Settled category (from the template record for templates); null when it could not be settled. */
  category: Category | null;
  /** Counts against the per-user marketing cap (marketing outside a window the customer opened). */
  takes_marketing_slot: boolean;
  /** Counts toward the portfolio's unique-recipient tier (business-initiated, outside a care window). */
  takes_tier_slot: boolean;
  /** Allowed and adds a recipient to the portfolio's unique count (not already counted in the last 24 h). */
  new_tier_recipient: boolean;
}

export function emptySnapshot(): GateSnapshot {
  return {
    sender_status: null,
    restrictions: [],
    customer: null,
    window: null,
    last_inbound_any_at: null,
    template: null,
    template_languages: [],
    approved_templates: [],
    marketing_count_24h: 0,
    marketing_oldest_at: null,
    tier_used: 0,
    tier_recipient_counted: false,
    tier_oldest_at: null,
  };
}

const iso = (t: number) => new Date(t).toISOString();
const secs = (ms: number) => Math.max(1, Math.ceil(ms / 1000));
const CREDENTIAL_CODES = /CREDENTIAL|TOKEN|META_190|^190$|META_0$/;

/**
 * A sender stopped for its credentials: its token was refused, or it is not active for a credential
 * error (190 halts every sender). The gate answers CREDENTIALS_INVALID for it; the dashboard shows its
 * token as not valid by this same rule.
 */
export function credentialsInvalid(st: Pick<SenderStatus, 'state' | 'credentials_valid' | 'reason_code'>): boolean {
  return !st.credentials_valid || (st.state !== 'active' && CREDENTIAL_CODES.test(st.reason_code ?? ''));
}

function suggestTemplates(names: string[]): string {
  if (!names.length)
    return 'Send an approved template (none is approved on this WABA yet: create one in WhatsApp Manager), or wait until the customer writes to you.';
  const shown = names.slice(0, 10);
  return `Send an approved template instead; these fit: ${shown.join(', ')}${names.length > shown.length ? `, … (${names.length} in all)` : ''}.`;
}

export function decide(input: DecideInput): DecideResult {
  const { req, snapshot: s, policies: p, now } = input;
  const explain = input.explain !== false;
  const checks: CheckResult[] = [];
  let category: Category | null = req.kind === 'template' ? null : req.direct_send ? 'utility' : 'service';
  const no = (code: Parameters<typeof deny>[0], rule: string, detail: string, action: string, retryMs?: number): DecideResult => {
    checks.push({ rule, passed: false, detail });
    return {
      decision: deny(code, detail, action, checks, retryMs === undefined ? undefined : secs(retryMs)),
      category,
      takes_marketing_slot: false,
      takes_tier_slot: false,
      new_tier_recipient: false,
    };
  };
  // A passed check's sentence is built only when it is written out.
  const ok = (rule: string, detail: () => string) => {
    if (explain) checks.push({ rule, passed: true, detail: detail() });
  };

  // 1. Sender
  const st = s.sender_status;
  if (st && st.state !== 'active') {
    const credentials = credentialsInvalid(st);
    const why = st.reason ? `: ${st.reason}` : '';
    if (credentials) {
      return no(
        'CREDENTIALS_INVALID',
        'sender_state',
        `Sender ${req.sender.id} is ${st.state} because its access token is not valid${why}.`,
        `Replace the access token (PUT /v1/senders/${req.sender.id}/token or the config) and resume; queued messages are kept.`,
      );
    }
    return no(
      'SENDER_PAUSED',
      'sender_state',
      `Sender ${req.sender.id} is ${st.state}${why}${st.reason_code ? ` (${st.reason_code})` : ''}.`,
      `Resume the sender once the cause is fixed (POST /v1/senders/${req.sender.id}/resume), or send from another sender.`,
    );
  }
  ok('sender_state', () => `Sender ${req.sender.id} is active.`);

  // 2. Recipient
  if (!/^\d{7,15}$/.test(req.to) && !isBsuid(req.to) && !isGroupKey(req.to)) {
    return no(
      'INVALID_RECIPIENT',
      'recipient_valid',
      'The recipient is neither an E.164 number (7 to 15 digits with the country code) nor a business-scoped user id.',
      `Give the number in international format, e.g. "+14155550123", or the customer's business-scoped user id as \`recipient\` (${BSUID_FORM}).`,
    );
  }
  const c = s.customer;
  if (c?.undeliverable_at != null) {
    const until = c.undeliverable_at + p.undeliverable_hold_h * HOUR_MS;
    const wroteSince = s.last_inbound_any_at != null && s.last_inbound_any_at > c.undeliverable_at;
    if (now < until && !wroteSince) {
      return no(
        'RECIPIENT_UNDELIVERABLE',
        'recipient_valid',
        `Meta reported this number undeliverable (131026) at ${iso(c.undeliverable_at)}: it may not use WhatsApp, may have blocked you or must update the app.`,
        `Do not resend for now; try again after ${iso(until)}, or as soon as the customer writes to you.`,
        until - now,
      );
    }
  }
  ok('recipient_valid', () => `Recipient is a valid number${req.country ? ` (${req.country})` : ''}.`);

  // 3. Template exists: its record, not the caller, gives the category.
  let tpl: TemplateRecord | null = null;
  if (req.kind === 'template') {
    const want = req.template;
    tpl = s.template;
    if (!want || !tpl) {
      const name = want?.name ?? '(none)';
      const langs = s.template_languages;
      const detail = langs.length
        ? `Template "${name}" has no "${want?.language}" version on WABA ${req.sender.waba_id}; it exists in ${langs.join(', ')}.`
        : `Template "${name}" does not exist on WABA ${req.sender.waba_id} (as far as wagate knows).`;
      const action = langs.length
        ? `Use one of its languages (${langs.join(', ')}), or create the "${want?.language}" version.`
        : `Check the name, sync templates from Meta, or create it in WhatsApp Manager. ${suggestTemplates(s.approved_templates)}`;
      return no('TEMPLATE_NOT_FOUND', 'template_exists', detail, action);
    }
    // An unreadable category is treated as marketing, the strictest one: never a silent bypass.
    const found = tpl;
    category = templateCategory(found.category) ?? 'marketing';
    ok('template_exists', () => `Template "${found.name}" (${found.language}) exists; its category is ${category}.`);
  }
  const cat = category as Category;
  const w = s.window;
  const windowOpen = w != null && now >= w.last_inbound_at - 60_000 && now < w.last_inbound_at + CARE_WINDOW_MS;

  // 3b. Meta's account restrictions (ACCOUNT_RESTRICTION): exactly the sends a live one covers.
  const r = blockingRestriction(s.restrictions, windowOpen, now, req.direct_send === true);
  if (r) {
    const what =
      req.direct_send && (r.type === 'RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES' || r.type === 'META_139200')
        ? 'send Direct Send utility messages (approved utility templates still work)'
        : windowOpen
          ? 'reply to customers inside a customer service window'
          : 'send business-initiated messages (outside a customer service window)';
    const until = r.expires_at !== null ? ` until ${iso(r.expires_at)}` : ' with no end date given';
    return no(
      'SENDER_RESTRICTED',
      'sender_restriction',
      `Meta restricted WhatsApp account ${req.sender.waba_id} (${r.type})${until}: sender ${req.sender.id} cannot ${what}.${r.remediation ? ` Meta's remediation: ${r.remediation}` : ''}`,
      `${r.remediation ? `${r.remediation} ` : ''}Check WhatsApp Manager → Account quality for the restriction and appeal it if it is wrong; ${
        windowOpen
          ? 'business-initiated templates outside the window are not covered by it'
          : 'replies inside a window the customer opens are not covered by it'
      }${r.expires_at !== null ? `, and it ends at ${iso(r.expires_at)}` : ''}.`,
      r.expires_at !== null ? r.expires_at - now : undefined,
    );
  }
  if (s.restrictions.length) ok('sender_restriction', () => 'No live Meta restriction covers this send.');

  // 4. Opt-out, per category.
  const consent = c?.consent[cat];
  if (consent?.state === 'opted_out') {
    // A free-form reply inside a window the customer opened AFTER opting out is allowed: they wrote to you.
    const reopened = req.kind === 'free_form' && !req.direct_send && windowOpen && consent.at != null && w!.last_inbound_at > consent.at;
    if (!reopened) {
      return no(
        'OPTED_OUT',
        'opt_out',
        `The customer opted out of ${cat} messages${consent.at ? ` at ${iso(consent.at)}` : ''}${consent.source ? ` (${consent.source})` : ''}.`,
        `Do not send ${cat} messages to this customer. They can opt back in (e.g. by writing START), or record a new opt-in with PUT /v1/customers/:phone/consent.`,
      );
    }
    ok('opt_out', () => `The customer opted out of ${cat} but wrote to you afterwards: a free-form reply inside that window is allowed.`);
  } else ok('opt_out', () => `No opt-out for ${cat}.`);

  // 5. Care window: free-form only inside it; templates and Direct Send any time (neither opens one).
  if (req.kind === 'free_form' && !req.direct_send) {
    if (!windowOpen) {
      const detail = isGroupKey(req.to)
        ? `No member of this group has written to sender ${req.sender.id} in the last 24 hours${w ? ` (last at ${iso(w.last_inbound_at)})` : ''}: a group's window opens when a member writes in the group, and free-form messages to the group are only allowed inside it (Meta answers 131047).`
        : w
          ? `The customer's last message to sender ${req.sender.id} was at ${iso(w.last_inbound_at)}; the 24-hour customer service window closed at ${iso(w.last_inbound_at + CARE_WINDOW_MS)}. Free-form messages are only allowed inside it (Meta answers 131047).`
          : `The customer has not written to sender ${req.sender.id} in the last 24 hours, so there is no open customer service window. Free-form messages are only allowed inside one (Meta answers 131047).`;
      return no('WINDOW_CLOSED_TEMPLATE_REQUIRED', 'care_window', detail, suggestTemplates(s.approved_templates));
    }
    ok('care_window', () => `Customer service window open until ${iso(w!.last_inbound_at + CARE_WINDOW_MS)}.`);
  } else
    ok('care_window', () =>
      windowOpen
        ? `Inside the customer service window (until ${iso(w!.last_inbound_at + CARE_WINDOW_MS)}).`
        : req.direct_send
          ? 'Outside a customer service window: a Direct Send utility message is business-initiated, like a template.'
          : 'Outside a customer service window: templates are allowed.',
    );

  // 6. Recorded opt-in, where a policy requires it for this category (off by default).
  if (p.require_opt_in.includes(cat)) {
    if (consent?.state !== 'opted_in') {
      return no(
        'OPT_IN_REQUIRED',
        'opt_in',
        `Policy requires a recorded opt-in for ${cat} messages and this customer has none.`,
        "Record the customer's opt-in (PUT /v1/customers/:phone/consent with its source) before sending.",
      );
    }
    ok('opt_in', () => `Recorded opt-in for ${cat}${consent.at ? ` since ${iso(consent.at)}` : ''}.`);
  }

  // 7-8. Template status and parameters.
  if (tpl) {
    if (tpl.status === 'PAUSED') {
      return no(
        'TEMPLATE_PAUSED',
        'template_status',
        `Template "${tpl.name}" is PAUSED by Meta (low quality); sends fail with 132015.`,
        `Wait for Meta to unpause it (3 h the first time, 6 h the second) or improve it; meanwhile use another template. ${suggestTemplates(s.approved_templates.filter((n) => n !== tpl!.name))}`,
      );
    }
    if (tpl.status !== 'APPROVED') {
      return no(
        'TEMPLATE_NOT_APPROVED',
        'template_status',
        `Template "${tpl.name}" is ${tpl.status}, not APPROVED; Meta only sends approved templates.`,
        tpl.status === 'PENDING'
          ? "Wait for Meta's review, then send again."
          : tpl.status === 'ARCHIVED'
            ? `Meta archived it for inactivity (it is deleted 28 days after archiving): unarchive it in WhatsApp Manager to restore its previous status, or use another template. ${suggestTemplates(s.approved_templates.filter((n) => n !== tpl!.name))}`
            : `Use an approved template. ${suggestTemplates(s.approved_templates.filter((n) => n !== tpl!.name))}`,
      );
    }
    ok('template_status', () => `Template "${tpl.name}" is APPROVED.`);
    const pc = checkTemplateParams(tpl, req.template!.components ?? []);
    if (!pc.ok) {
      return no(
        'TEMPLATE_PARAMS_MISMATCH',
        'template_params',
        `Template "${tpl.name}" ${pc.component}: ${pc.problem}.`,
        `Send the parameters the template expects (${describeSpec(templateSpec(tpl))}).`,
      );
    }
    ok('template_params', () => 'Parameters match the template.');
  }

  // 9. Categories denied by policy, per sender or per recipient country.
  const bySender = p.deny_categories.by_sender[req.sender.id] ?? p.deny_categories.by_sender[req.sender.phone_number_id];
  if (bySender?.includes(cat)) {
    return no(
      'POLICY_CATEGORY_DENIED',
      'category_policy',
      `Policy forbids ${cat} messages from sender ${req.sender.id}.`,
      'Send from a sender allowed to send this category, or change policies.deny_categories.by_sender.',
    );
  }
  const byCountry = req.country ? p.deny_categories.by_country[req.country] : undefined;
  if (byCountry?.includes(cat)) {
    return no(
      'POLICY_CATEGORY_DENIED',
      'category_policy',
      `Policy forbids ${cat} messages to numbers in ${req.country}.`,
      'Do not send this category to that country, or change policies.deny_categories.by_country.',
    );
  }
  ok('category_policy', () => `No policy forbids ${cat} here.`);

  // 10. Meta's market rules for marketing.
  if (cat === 'marketing') {
    if (p.block_us_marketing && req.country === 'US') {
      return no(
        'MARKET_RESTRICTED',
        'market_rules',
        'Meta has delivered no marketing templates to US (+1, US area code) numbers since 1 April 2025; the send would fail with 131049.',
        'Do not send marketing to US numbers; utility and authentication templates, and replies inside a window, still work.',
      );
    }
    if (c?.marketing_limited_at != null && now < c.marketing_limited_at + DAY_MS) {
      const until = c.marketing_limited_at + DAY_MS;
      return no(
        'MARKETING_LIMITED_BY_META',
        'market_rules',
        `Meta refused marketing to this customer with 131049 (per-user marketing limit) at ${iso(c.marketing_limited_at)}; no marketing for 24 hours after that.`,
        `Send again after ${iso(until)}.`,
        until - now,
      );
    }
    ok('market_rules', () => 'No Meta market restriction applies.');
  }

  // 11. Per-user marketing cap: marketing outside a window the customer opened counts; inside it does not.
  const takesMarketing = cat === 'marketing' && !windowOpen;
  if (takesMarketing) {
    if (s.marketing_count_24h >= p.marketing_cap_per_24h) {
      const freeAt = s.marketing_oldest_at != null ? s.marketing_oldest_at + DAY_MS : now + DAY_MS;
      return no(
        'FREQUENCY_CAP',
        'frequency_cap',
        `This customer already got ${s.marketing_count_24h} marketing message${s.marketing_count_24h === 1 ? '' : 's'} in the last 24 hours; the cap is ${p.marketing_cap_per_24h}.`,
        `Send after ${iso(freeAt)}, or wait until the customer writes (marketing inside their window does not count).`,
        freeAt - now,
      );
    }
    ok('frequency_cap', () => `${s.marketing_count_24h} of ${p.marketing_cap_per_24h} marketing messages used in the last 24 hours.`);
  } else if (cat === 'marketing') ok('frequency_cap', () => 'Marketing inside a window the customer opened does not count toward the cap.');

  // 12. Tier: unique business-initiated recipients per portfolio per rolling 24h (outside care windows).
  const takesTier = (req.kind === 'template' || req.direct_send === true) && !windowOpen;
  if (takesTier) {
    // Meta's reported limit wins over the configured one (which may be stale) once Meta reported one.
    const limit = s.portfolio_limit ? s.portfolio_limit.limit : req.sender.messaging_limit;
    if (!s.tier_recipient_counted && limit != null && s.tier_used >= limit) {
      const freeAt = s.tier_oldest_at != null ? s.tier_oldest_at + DAY_MS : now + DAY_MS;
      return no(
        'TIER_LIMIT',
        'tier_limit',
        `Business portfolio ${req.sender.business_id} has reached its messaging limit: ${s.tier_used} of ${limit} unique customers contacted outside a service window in the last 24 hours.`,
        `Send after ${iso(freeAt)}, raise the limit with Meta (verify the business, keep quality high), or reply to customers who write (inside a window it does not count).`,
        freeAt - now,
      );
    }
    ok('tier_limit', () =>
      s.tier_recipient_counted
        ? "Recipient already counted in the portfolio's 24-hour unique-recipient budget."
        : `${s.tier_used} of ${limit ?? 'unlimited'} unique recipients used in the last 24 hours.`,
    );
  }

  // 13-14. Quiet hours and tag rules; VIP tags bypass both (never opt-outs or Meta rules).
  const tags = c?.tags ?? [];
  const vip = p.vip_tags.find((t) => tags.includes(t));
  if (p.quiet_hours.length) {
    if (vip) ok('quiet_hours', () => `VIP tag "${vip}": quiet hours do not apply.`);
    else {
      for (const q of p.quiet_hours) {
        if (!q.categories.includes(cat)) continue;
        if (!(q.senders.includes('*') || q.senders.includes(req.sender.id) || q.senders.includes(req.sender.phone_number_id))) continue;
        const { zones, source } = q.time_zone
          ? { zones: [q.time_zone], source: 'policy' }
          : recipientZones({ customer_tz: c?.time_zone, country: req.country, fallback: req.sender.default_time_zone });
        const start = parseHHMM(q.start);
        const end = parseHHMM(q.end);
        let waitMin = 0;
        let quietZone: string | null = null;
        let quietAt = 0;
        for (const z of zones) {
          const m = localMinuteOfDay(z, now);
          if (inDailyWindow(m, start, end)) {
            const wait = minutesUntil(m, end);
            if (wait > waitMin) {
              waitMin = wait;
              quietZone = z;
              quietAt = m;
            }
          }
        }
        if (quietZone) {
          const from =
            source === 'customer'
              ? "the customer's time zone"
              : source === 'country'
                ? `the number's country (${req.country}${zones.length > 1 ? `, ${zones.length} zones: quiet in any of them counts` : ''})`
                : source === 'policy'
                  ? "the policy's time zone"
                  : "the sender's default time zone";
          return no(
            'POLICY_QUIET_HOURS',
            'quiet_hours',
            `It is ${formatMinute(quietAt)} in ${quietZone} (${from}), inside the quiet hours ${q.start}–${q.end} for ${cat} messages.`,
            `Send after ${q.end} local time (in about ${Math.ceil(waitMin / 60)} h)${source !== 'customer' ? ", or set the customer's time_zone to be exact" : ''}.`,
            waitMin * 60_000,
          );
        }
      }
      ok('quiet_hours', () => 'Outside quiet hours.');
    }
  }
  if (p.exclude_tags.length && tags.length) {
    const hit = p.exclude_tags.find((e) => e.categories.includes(cat) && tags.includes(e.tag));
    if (hit && vip) ok('tag_rules', () => `Tag "${hit.tag}" would exclude ${cat}, but VIP tag "${vip}" overrides it.`);
    else if (hit)
      return no(
        'POLICY_EXCLUDED_TAG',
        'tag_rules',
        `The customer has the tag "${hit.tag}", excluded from ${cat} messages by policy.`,
        `Do not send ${cat} to this customer, or remove the tag (PUT /v1/customers/:phone).`,
      );
    else ok('tag_rules', () => 'No excluding tag.');
  }

  // 15. Cost: the 72h free-entry-point window changes cost, not permission.
  ok('pricing', () => pricingNote(cat, windowOpen, w, now, req.service_month ?? null));
  return {
    decision: allow(checks),
    category,
    takes_marketing_slot: takesMarketing,
    takes_tier_slot: takesTier,
    new_tier_recipient: takesTier && !s.tier_recipient_counted,
  };
}

function pricingNote(
  cat: Category,
  windowOpen: boolean,
  w: GateSnapshot['window'],
  now: number,
  sm: GateRequest['service_month'] | null,
): string {
  // By the rules of the day of the send (pricing-rules.ts): service and in-window utility are charged from 1 Oct 2026.
  const fep = w?.fep_opened_at != null && now < w.fep_opened_at + FEP_WINDOW_MS;
  if (fep) return `Free: inside the 72-hour free entry point window (until ${iso(w.fep_opened_at! + FEP_WINDOW_MS)}).`;
  if (windowOpen && w?.referral_at != null && w.fep_opened_at == null && now < w.referral_at + CARE_WINDOW_MS)
    return 'Free: this reply to a click-to-WhatsApp ad opens a 72-hour free entry point window.';
  const b = billingAt({
    category: cat,
    at: now,
    in_csw: windowOpen,
    in_fep: false,
    service_used: sm?.used ?? null,
    allowance: sm?.allowance,
  });
  if (!b) return `Charged by Meta as ${cat} when delivered (sent before per-message pricing began on 1 Jul 2025).`;
  if (b.free_reason === 'service_message') return 'Free: a service message inside the customer service window (until 1 Oct 2026).';
  if (b.free_reason === 'utility_in_customer_service_window')
    return 'Free: utility template inside the customer service window (until 1 Oct 2026).';
  if (b.free_reason === 'service_free_allowance' && sm)
    return `Free: within the number's monthly free service allowance (${sm.used} of ${sm.allowance} used in ${sm.month}, counted from delivered service messages).`;
  if (cat === 'service' && sm)
    return `Charged by Meta at the market's utility rate when delivered: the number's ${sm.allowance} free service messages of ${sm.month} are used up (${sm.used} counted).`;
  if (cat === 'service')
    return "Charged by Meta at the market's utility rate when delivered (service messages since 1 Oct 2026), unless within the number's monthly free service allowance.";
  if (cat === 'utility' && windowOpen)
    return 'Charged by Meta as utility when delivered: utility templates inside the customer service window are charged since 1 Oct 2026.';
  return `Charged by Meta as ${cat} when delivered.`;
}
