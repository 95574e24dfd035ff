// ONE shared table of gate decisions: state + request + expected reason. It runs against every
// GateState adapter through the port only (load(seed) → check / checkAndReserve), so a Redis adapter
// that mirrors decide() in Lua runs it unchanged: `runGateCases('redis', make)`.
import { describe, it, expect } from 'vitest';
import type { ReasonCode } from '../../src/domain/decision.ts';
import { PoliciesSchema, type Policies } from '../../src/domain/policies.ts';
import { DAY_MS, HOUR_MS, type Category, type SenderConfig, type SenderStatus, type TemplateRecord } from '../../src/domain/types.ts';
import type { GateCustomerUpdate, GateRequest, GateSeed, GateState, Reservation } from '../../src/gate/port.ts';
import { normalisePhone } from '../../src/domain/phone.ts';

/** Monday 15 June 2026, 12:00 UTC (09:00 in São Paulo, 21:00 in Tokyo). */
export const T0 = Date.UTC(2026, 5, 15, 12, 0, 0);
export const MIN = 60_000;
export const DAY_MS_EXPORT = DAY_MS;
export const H = HOUR_MS;

export const BR = '5511987654321'; // America/Sao_Paulo (UTC-3, no DST)
export const BR2 = '5521987654321';
export const BR3 = '5531987654321';
export const US = '16505551234';
export const DE = '4915112345678';
export const NOCOUNTRY = '15550100001'; // +1 555 01xx: possible, not placeable → sender's default zone

const sender = (id: string, extra: Partial<SenderConfig> = {}): SenderConfig => ({
  id,
  phone_number_id: `10654035224${id.length}${id.charCodeAt(0)}`,
  waba_id: '102290129340398',
  business_id: 'biz1',
  access_token: `token-${id}`,
  throughput_mps: 80,
  messaging_limit: 250,
  default_time_zone: 'UTC',
  ...extra,
});

export const SENDERS: Record<string, SenderConfig> = {
  main: sender('main'),
  alt: sender('alt'),
  tiny: sender('tiny', { business_id: 'biz2', waba_id: '102290129340399', messaging_limit: 2 }),
  unlimited: sender('unlimited', { business_id: 'biz3', waba_id: '102290129340398', messaging_limit: null }),
  tokyo: sender('tokyo', { default_time_zone: 'Asia/Tokyo', business_id: 'biz4' }),
};

const tpl = (name: string, category: string, components: unknown[], extra: Partial<TemplateRecord> = {}): TemplateRecord => ({
  waba_id: '102290129340398',
  name,
  language: 'en_US',
  category: category as TemplateRecord['category'], // upper case on purpose: Meta's spelling
  status: 'APPROVED',
  components,
  updated_at: T0 - DAY_MS,
  ...extra,
});

export const TEMPLATES: TemplateRecord[] = [
  tpl('promo', 'MARKETING', [
    { type: 'BODY', text: 'Hi {{1}}, {{2}} off today' },
    { type: 'FOOTER', text: 'Reply STOP to opt out' },
  ]),
  tpl('promo_tiny', 'MARKETING', [{ type: 'BODY', text: 'Sale' }], { waba_id: '102290129340399' }),
  tpl('welcome', 'UTILITY', [{ type: 'BODY', text: 'Welcome!' }], { waba_id: '102290129340399' }),
  tpl('order_update', 'UTILITY', [
    { type: 'HEADER', format: 'TEXT', text: 'Order {{1}}' },
    { type: 'BODY', text: 'Your order {{1}} ships on {{2}}.' },
    {
      type: 'BUTTONS',
      buttons: [
        { type: 'URL', text: 'Track', url: 'https://shop.example/track/{{1}}' },
        { type: 'QUICK_REPLY', text: 'Stop updates' },
      ],
    },
  ]),
  tpl('otp', 'AUTHENTICATION', [
    { type: 'BODY', text: '*{{1}}* is your verification code.' },
    { type: 'BUTTONS', buttons: [{ type: 'OTP', otp_type: 'COPY_CODE', text: 'Copy code' }] },
  ]),
  tpl('named', 'UTILITY', [{ type: 'BODY', text: 'Hi {{first_name}}, order {{order_id}} is ready.' }]),
  tpl('image_promo', 'MARKETING', [
    { type: 'HEADER', format: 'IMAGE' },
    { type: 'BODY', text: 'New arrivals' },
  ]),
  tpl('coupon', 'MARKETING', [
    { type: 'BODY', text: 'Your code' },
    { type: 'BUTTONS', buttons: [{ type: 'COPY_CODE', example: 'SAVE10' }] },
  ]),
  tpl('paused_promo', 'MARKETING', [{ type: 'BODY', text: 'x' }], { status: 'PAUSED' }),
  tpl('pending_one', 'UTILITY', [{ type: 'BODY', text: 'x' }], { status: 'PENDING' }),
  tpl('lowercase_cat', 'marketing', [{ type: 'BODY', text: 'x' }]),
  tpl('hola', 'MARKETING', [{ type: 'BODY', text: 'Hola' }], { language: 'es' }),
];

const body = (...texts: string[]) => ({ type: 'body', parameters: texts.map((text) => ({ type: 'text', text })) });
export const PROMO_PARAMS = [body('Ann', '10%')];

export interface ReqSpec {
  sender?: keyof typeof SENDERS;
  to?: string;
  text?: boolean; // free-form text (default when no template)
  template?: string;
  language?: string;
  components?: unknown[];
  message_id?: string;
  /** Direct Send: a free-form text with category "utility" (no template). */
  direct_send?: boolean;
}

let seq = 0;
export function makeReq(r: ReqSpec): GateRequest {
  const to = r.to ?? BR;
  const p = normalisePhone(to);
  const req: GateRequest = {
    message_id: r.message_id ?? `msg_case_${++seq}`,
    sender: SENDERS[r.sender ?? 'main'],
    to: p.ok ? p.digits : to,
    country: p.ok ? p.country : null,
    kind: r.template ? 'template' : 'free_form',
    type: r.template ? 'template' : 'text',
  };
  if (r.template) req.template = { name: r.template, language: r.language ?? 'en_US', components: r.components ?? [] };
  else req.category_hint = r.direct_send ? 'utility' : 'service';
  if (r.direct_send) req.direct_send = true;
  return req;
}

export interface CaseState {
  customers?: GateCustomerUpdate[];
  /** Inbound messages (relative ms before T0 as negative numbers are fine: absolute times). */
  inbound?: { sender?: keyof typeof SENDERS; to?: string; at: number; referral?: boolean }[];
  senders?: Partial<SenderStatus & { sender_id: keyof typeof SENDERS }>[];
  /** Earlier reservations still held (as the store would seed them). */
  prior?: { sender?: keyof typeof SENDERS; to?: string; category: Category; marketing?: boolean; tier?: boolean; at: number }[];
  templates?: TemplateRecord[];
  /** Meta's account restrictions (ACCOUNT_RESTRICTION) per sender. */
  restrictions?: { sender?: keyof typeof SENDERS; type: string; expires_at?: number | null; remediation?: string | null }[];
  /** Messaging limits Meta reported per portfolio (business_capability_update; null = unlimited). */
  portfolio_limits?: { business_id: string; limit: number | null; at?: number }[];
}

export interface GateCase {
  name: string;
  policies?: Record<string, unknown>;
  state?: CaseState;
  req: ReqSpec;
  at?: number;
  expect: ReasonCode | null;
  slots?: { marketing: boolean; tier: boolean };
  explain?: RegExp;
  /** Matches the suggested action. */
  suggest?: RegExp;
  retry_after?: boolean;
}

export function toSeed(state: CaseState = {}): GateSeed {
  const reservations: Reservation[] = (state.prior ?? []).map((p, i) => ({
    message_id: `msg_prior_${i}`,
    sender_id: SENDERS[p.sender ?? 'main'].id,
    to: p.to ?? BR,
    category: p.category,
    marketing_slot: p.marketing ?? p.category === 'marketing',
    tier_slot: p.tier ?? true,
    at: p.at,
  }));
  return {
    customers: state.customers ?? [],
    windows: (state.inbound ?? []).map((w) => ({
      sender_id: SENDERS[w.sender ?? 'main'].id,
      wa_id: w.to ?? BR,
      last_inbound_at: w.at,
      referral_at: w.referral ? w.at : null,
    })),
    templates: state.templates ?? TEMPLATES,
    senders: (state.senders ?? []).map((s) => ({
      sender_id: s.sender_id ?? 'main',
      state: s.state ?? 'paused',
      reason: s.reason ?? null,
      reason_code: s.reason_code ?? null,
      credentials_valid: s.credentials_valid ?? true,
      since: s.since ?? T0 - H,
    })),
    reservations,
    portfolio_limits: (state.portfolio_limits ?? []).map((l) => ({ business_id: l.business_id, limit: l.limit, at: l.at ?? T0 - H })),
    restrictions: [...new Set((state.restrictions ?? []).map((r) => SENDERS[r.sender ?? 'main'].id))].map((sender_id) => ({
      sender_id,
      restrictions: (state.restrictions ?? [])
        .filter((r) => SENDERS[r.sender ?? 'main'].id === sender_id)
        .map((r) => ({ type: r.type, expires_at: r.expires_at ?? null, remediation: r.remediation ?? null })),
    })),
  };
}

const optedOut = (cats: Category[], at = T0 - 2 * H): GateCustomerUpdate => ({
  wa_id: BR,
  consent: Object.fromEntries(cats.map((c) => [c, 'opted_out'])),
  consent_at: Object.fromEntries(cats.map((c) => [c, at])),
});
const QUIET = { quiet_hours: [{ start: '21:00', end: '08:00' }] };
const marketingPriors = (n: number, at = T0 - 2 * H) =>
  Array.from({ length: n }, (_, i) => ({ category: 'marketing' as const, at: at + i * MIN }));

export const GATE_CASES: GateCase[] = [
  // --- care window ---
  {
    name: 'free-form with no window → template required',
    req: { text: true },
    expect: 'WINDOW_CLOSED_TEMPLATE_REQUIRED',
    explain: /no open customer service window/,
  },
  {
    name: 'free-form inside the window → allowed, takes no slot',
    state: { inbound: [{ at: T0 - H }] },
    req: { text: true },
    expect: null,
    slots: { marketing: false, tier: false },
  },
  {
    name: 'free-form 25h after the last inbound → closed',
    state: { inbound: [{ at: T0 - 25 * H }] },
    req: { text: true },
    expect: 'WINDOW_CLOSED_TEMPLATE_REQUIRED',
    explain: /closed at/,
  },
  {
    name: 'a template sent earlier does not open a window',
    state: { prior: [{ category: 'utility', at: T0 - H }] },
    req: { text: true },
    expect: 'WINDOW_CLOSED_TEMPLATE_REQUIRED',
  },
  {
    name: 'windows are per sender: inbound on another number does not count',
    state: { inbound: [{ sender: 'alt', at: T0 - H }] },
    req: { text: true },
    expect: 'WINDOW_CLOSED_TEMPLATE_REQUIRED',
  },
  {
    name: 'window denial suggests approved templates',
    req: { text: true },
    expect: 'WINDOW_CLOSED_TEMPLATE_REQUIRED',
    suggest: /these fit: .*order_update.*promo/,
  },
  {
    name: 'utility template outside a window → allowed, counts toward the tier',
    req: {
      template: 'order_update',
      components: [
        { type: 'header', parameters: [{ type: 'text', text: 'A1' }] },
        body('A1', 'Monday'),
        { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'A1' }] },
      ],
    },
    expect: null,
    slots: { marketing: false, tier: true },
  },
  {
    name: 'template inside the window → allowed, counts toward nothing',
    state: { inbound: [{ at: T0 - H }] },
    req: {
      template: 'named',
      components: [
        {
          type: 'body',
          parameters: [
            { type: 'text', parameter_name: 'order_id', text: '7' },
            { type: 'text', parameter_name: 'first_name', text: 'Ann' },
          ],
        },
      ],
    },
    expect: null,
    slots: { marketing: false, tier: false },
  },

  // --- opt-out per category ---
  {
    name: 'marketing template (category MARKETING upper case) to a marketing opt-out → denied',
    state: { customers: [optedOut(['marketing'])] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'OPTED_OUT',
  },
  {
    name: 'lower-case category in the record is the same category',
    state: { customers: [optedOut(['marketing'])] },
    req: { template: 'lowercase_cat' },
    expect: 'OPTED_OUT',
  },
  {
    name: 'utility template to a marketing-only opt-out → allowed',
    state: { customers: [optedOut(['marketing'])] },
    req: {
      template: 'named',
      components: [
        {
          type: 'body',
          parameters: [
            { type: 'text', parameter_name: 'order_id', text: '7' },
            { type: 'text', parameter_name: 'first_name', text: 'Ann' },
          ],
        },
      ],
    },
    expect: null,
  },
  {
    name: 'free-form reply inside a window opened AFTER a service opt-out → allowed',
    state: { customers: [optedOut(['service'], T0 - 2 * H)], inbound: [{ at: T0 - H }] },
    req: { text: true },
    expect: null,
  },
  {
    name: 'free-form inside a window opened BEFORE the opt-out → denied',
    state: { customers: [optedOut(['service'], T0 - 2 * H)], inbound: [{ at: T0 - 3 * H }] },
    req: { text: true },
    expect: 'OPTED_OUT',
  },
  {
    name: 'a template of an opted-out category stays blocked even inside a new window',
    state: { customers: [optedOut(['marketing'], T0 - 2 * H)], inbound: [{ at: T0 - H }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'OPTED_OUT',
  },
  {
    name: 'opted back in → allowed',
    state: { customers: [optedOut(['marketing']), { wa_id: BR, consent: { marketing: 'opted_in' }, consent_at: { marketing: T0 - H } }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },

  // --- opt-in required by policy ---
  {
    name: 'require_opt_in marketing, consent unknown → denied',
    policies: { require_opt_in: ['marketing'] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'OPT_IN_REQUIRED',
  },
  {
    name: 'require_opt_in marketing, recorded opt-in → allowed',
    policies: { require_opt_in: ['marketing'] },
    state: { customers: [{ wa_id: BR, consent: { marketing: 'opted_in' }, consent_at: { marketing: T0 - DAY_MS } }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },
  {
    name: 'opt-in not required by default',
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
    slots: { marketing: true, tier: true },
  },

  // --- template state and parameters ---
  { name: 'unknown template → not found', req: { template: 'nope' }, expect: 'TEMPLATE_NOT_FOUND' },
  {
    name: 'template in another language only → not found, naming the languages',
    req: { template: 'hola', language: 'en_US' },
    expect: 'TEMPLATE_NOT_FOUND',
    explain: /exists in es/,
  },
  { name: 'paused template → TEMPLATE_PAUSED', req: { template: 'paused_promo' }, expect: 'TEMPLATE_PAUSED' },
  { name: 'pending template → TEMPLATE_NOT_APPROVED', req: { template: 'pending_one' }, expect: 'TEMPLATE_NOT_APPROVED' },
  {
    name: 'body parameter count mismatch',
    req: { template: 'promo', components: [body('Ann')] },
    expect: 'TEMPLATE_PARAMS_MISMATCH',
    explain: /body: expected 2 parameters/,
  },
  {
    name: 'no parameters at all for a template that needs two',
    req: { template: 'promo' },
    expect: 'TEMPLATE_PARAMS_MISMATCH',
    explain: /got 0/,
  },
  {
    name: 'image header missing',
    req: { template: 'image_promo' },
    expect: 'TEMPLATE_PARAMS_MISMATCH',
    explain: /IMAGE header: expected 1 image parameter/,
  },
  {
    name: 'image header given',
    req: {
      template: 'image_promo',
      components: [{ type: 'header', parameters: [{ type: 'image', image: { link: 'https://x.example/a.jpg' } }] }],
    },
    expect: null,
  },
  {
    name: 'url button suffix missing',
    req: { template: 'order_update', components: [{ type: 'header', parameters: [{ type: 'text', text: 'A1' }] }, body('A1', 'Monday')] },
    expect: 'TEMPLATE_PARAMS_MISMATCH',
    explain: /button 0/,
  },
  {
    name: 'named parameter missing',
    req: { template: 'named', components: [{ type: 'body', parameters: [{ type: 'text', parameter_name: 'first_name', text: 'Ann' }] }] },
    expect: 'TEMPLATE_PARAMS_MISMATCH',
    explain: /order_id/,
  },
  {
    name: 'authentication OTP: body code + copy-code button',
    req: {
      template: 'otp',
      components: [body('123456'), { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: '123456' }] }],
    },
    expect: null,
  },
  {
    name: 'coupon code over 20 characters',
    req: {
      template: 'coupon',
      components: [{ type: 'button', sub_type: 'copy_code', index: 0, parameters: [{ type: 'coupon_code', coupon_code: 'X'.repeat(21) }] }],
    },
    expect: 'TEMPLATE_PARAMS_MISMATCH',
    explain: /limit is 20/,
  },

  // --- per-user marketing cap (default 2 per rolling 24h) ---
  {
    name: 'third marketing message in 24h → FREQUENCY_CAP with retry_after',
    state: { prior: marketingPriors(2) },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'FREQUENCY_CAP',
    retry_after: true,
  },
  {
    name: 'marketing sent 25h ago does not count',
    state: { prior: marketingPriors(2, T0 - 25 * H) },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },
  {
    name: 'marketing sent inside a window did not take a slot',
    state: { prior: [...marketingPriors(2)].map((p) => ({ ...p, marketing: false })) },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },
  {
    name: 'marketing inside a window the customer opened is not capped',
    state: { prior: marketingPriors(2), inbound: [{ at: T0 - H }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
    slots: { marketing: false, tier: false },
  },
  {
    name: 'the cap is configurable',
    policies: { marketing_cap_per_24h: 3 },
    state: { prior: marketingPriors(2) },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },
  {
    name: 'utility is not capped',
    state: { prior: marketingPriors(2) },
    req: {
      template: 'named',
      components: [
        {
          type: 'body',
          parameters: [
            { type: 'text', parameter_name: 'order_id', text: '7' },
            { type: 'text', parameter_name: 'first_name', text: 'Ann' },
          ],
        },
      ],
    },
    expect: null,
  },

  // --- Meta market rules ---
  {
    name: 'marketing to a US number → MARKET_RESTRICTED',
    req: { to: US, template: 'promo', components: PROMO_PARAMS },
    expect: 'MARKET_RESTRICTED',
  },
  {
    name: 'utility to a US number → allowed',
    req: {
      to: US,
      template: 'named',
      components: [
        {
          type: 'body',
          parameters: [
            { type: 'text', parameter_name: 'order_id', text: '7' },
            { type: 'text', parameter_name: 'first_name', text: 'Ann' },
          ],
        },
      ],
    },
    expect: null,
  },
  {
    name: 'US marketing block can be turned off',
    policies: { block_us_marketing: false },
    req: { to: US, template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },
  {
    name: '131049 two hours ago → no marketing for 24h',
    state: { customers: [{ wa_id: BR, marketing_limited_at: T0 - 2 * H }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'MARKETING_LIMITED_BY_META',
    retry_after: true,
  },
  {
    name: '131049 25 hours ago → allowed again',
    state: { customers: [{ wa_id: BR, marketing_limited_at: T0 - 25 * H }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },

  // --- tier: unique business-initiated recipients per portfolio per rolling 24h ---
  {
    name: 'Meta reported a higher limit (business_capability_update 2000): it wins over the configured 2',
    state: {
      portfolio_limits: [{ business_id: 'biz2', limit: 2000 }],
      prior: [
        { sender: 'tiny', to: BR2, category: 'utility', at: T0 - 2 * H },
        { sender: 'tiny', to: BR3, category: 'utility', at: T0 - H },
      ],
    },
    req: { sender: 'tiny', template: 'welcome' },
    expect: null,
    slots: { marketing: false, tier: true },
  },
  {
    name: 'Meta reported unlimited (-1): no tier limit whatever the config says',
    state: {
      portfolio_limits: [{ business_id: 'biz2', limit: null }],
      prior: [
        { sender: 'tiny', to: BR2, category: 'utility', at: T0 - 2 * H },
        { sender: 'tiny', to: BR3, category: 'utility', at: T0 - H },
      ],
    },
    req: { sender: 'tiny', template: 'welcome' },
    expect: null,
  },
  {
    name: 'Meta reported a limit of 1 for a portfolio configured unlimited → TIER_LIMIT',
    state: {
      portfolio_limits: [{ business_id: 'biz3', limit: 1 }],
      prior: [{ sender: 'unlimited', to: BR2, category: 'marketing', at: T0 - H }],
    },
    req: { sender: 'unlimited', template: 'promo', components: PROMO_PARAMS },
    expect: 'TIER_LIMIT',
    explain: /1 of 1 unique customers/,
  },
  {
    name: "another portfolio's reported limit does not matter",
    state: {
      portfolio_limits: [{ business_id: 'biz1', limit: 1000 }],
      prior: [
        { sender: 'tiny', to: BR2, category: 'utility', at: T0 - 2 * H },
        { sender: 'tiny', to: BR3, category: 'utility', at: T0 - H },
      ],
    },
    req: { sender: 'tiny', template: 'welcome' },
    expect: 'TIER_LIMIT',
  },
  {
    name: 'tier of 2 used by two other recipients → TIER_LIMIT',
    state: {
      prior: [
        { sender: 'tiny', to: BR2, category: 'utility', at: T0 - 2 * H },
        { sender: 'tiny', to: BR3, category: 'utility', at: T0 - H },
      ],
    },
    req: { sender: 'tiny', template: 'welcome' },
    expect: 'TIER_LIMIT',
    retry_after: true,
  },
  {
    name: 'a recipient already counted does not need a new slot',
    state: {
      prior: [
        { sender: 'tiny', to: BR, category: 'utility', at: T0 - 2 * H },
        { sender: 'tiny', to: BR3, category: 'utility', at: T0 - H },
      ],
    },
    req: { sender: 'tiny', template: 'welcome' },
    expect: null,
  },
  {
    name: 'tier slots older than 24h are free again',
    state: {
      prior: [
        { sender: 'tiny', to: BR2, category: 'utility', at: T0 - 25 * H },
        { sender: 'tiny', to: BR3, category: 'utility', at: T0 - H },
      ],
    },
    req: { sender: 'tiny', template: 'welcome' },
    expect: null,
  },
  {
    name: 'replies inside a window do not use the tier',
    state: {
      prior: [
        { sender: 'tiny', to: BR2, category: 'utility', at: T0 - 2 * H },
        { sender: 'tiny', to: BR3, category: 'utility', at: T0 - H },
      ],
      inbound: [{ sender: 'tiny', at: T0 - H }],
    },
    req: { sender: 'tiny', template: 'welcome' },
    expect: null,
  },
  {
    name: 'unlimited tier',
    state: {
      prior: Array.from({ length: 5 }, (_, i) => ({
        sender: 'unlimited' as const,
        to: `55119876543${10 + i}`,
        category: 'utility' as const,
        at: T0 - H,
      })),
    },
    req: {
      sender: 'unlimited',
      template: 'named',
      components: [
        {
          type: 'body',
          parameters: [
            { type: 'text', parameter_name: 'order_id', text: '7' },
            { type: 'text', parameter_name: 'first_name', text: 'Ann' },
          ],
        },
      ],
    },
    expect: null,
  },

  // --- sender state ---
  {
    name: 'paused sender',
    state: { senders: [{ sender_id: 'main', state: 'paused', reason: 'quality RED', reason_code: 'META_131048' }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'SENDER_PAUSED',
  },
  {
    name: 'halted for invalid credentials',
    state: { senders: [{ sender_id: 'main', state: 'halted', credentials_valid: false, reason_code: 'META_190' }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'CREDENTIALS_INVALID',
  },
  {
    name: 'another sender paused does not matter',
    state: { senders: [{ sender_id: 'alt', state: 'paused' }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },

  // --- Meta's account restrictions (ACCOUNT_RESTRICTION) ---
  {
    name: "business-initiated messaging restricted: a template outside the window is denied, with Meta's remediation",
    state: {
      restrictions: [
        {
          type: 'RESTRICTED_BIZ_INITIATED_MESSAGING',
          expires_at: T0 + DAY_MS,
          remediation: 'Review your messaging practices and ensure compliance with WhatsApp policies.',
        },
      ],
    },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'SENDER_RESTRICTED',
    explain: /RESTRICTED_BIZ_INITIATED_MESSAGING.*Meta's remediation: Review your messaging practices/,
    suggest: /Review your messaging practices/,
    retry_after: true,
  },
  {
    name: 'business-initiated messaging restricted: a reply inside the window is allowed',
    state: { inbound: [{ at: T0 - H }], restrictions: [{ type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expires_at: T0 + DAY_MS }] },
    req: { text: true },
    expect: null,
  },
  {
    name: 'customer-initiated messaging restricted: a reply inside the window is denied',
    state: { inbound: [{ at: T0 - H }], restrictions: [{ type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING', expires_at: null }] },
    req: { text: true },
    expect: 'SENDER_RESTRICTED',
    explain: /cannot reply to customers inside a customer service window/,
  },
  {
    name: 'customer-initiated messaging restricted: a template outside the window is allowed',
    state: { restrictions: [{ type: 'RESTRICTED_CUSTOMER_INITIATED_MESSAGING', expires_at: null }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },
  {
    name: 'an expired restriction denies nothing',
    state: { restrictions: [{ type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expires_at: T0 - MIN }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },
  {
    name: 'utility-template creation restricted (Meta: "cannot create"): sending an approved one is allowed',
    state: {
      restrictions: [{ type: 'RESTRICTED_UTILITY_TEMPLATES', expires_at: T0 + DAY_MS }, { type: 'RESTRICTED_ADD_PHONE_NUMBER_ACTION' }],
    },
    req: {
      template: 'named',
      components: [
        {
          type: 'body',
          parameters: [
            { type: 'text', parameter_name: 'first_name', text: 'Ann' },
            { type: 'text', parameter_name: 'order_id', text: '7' },
          ],
        },
      ],
    },
    expect: null,
  },
  {
    name: "another sender's restriction does not matter",
    state: { restrictions: [{ sender: 'alt', type: 'RESTRICTED_BIZ_INITIATED_MESSAGING', expires_at: T0 + DAY_MS }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },

  // --- recipient ---
  {
    name: 'undeliverable (131026) an hour ago → held',
    state: { customers: [{ wa_id: BR, undeliverable_at: T0 - H }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'RECIPIENT_UNDELIVERABLE',
    retry_after: true,
  },
  {
    name: 'undeliverable, but the customer wrote since → allowed',
    state: { customers: [{ wa_id: BR, undeliverable_at: T0 - 2 * H }], inbound: [{ at: T0 - H }] },
    req: { text: true },
    expect: null,
  },

  // --- quiet hours 21:00–08:00 (marketing by default), recipient's zone ---
  {
    name: 'quiet hours in the country zone (21:30 São Paulo)',
    policies: QUIET,
    at: Date.UTC(2026, 5, 16, 0, 30) - T0,
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'POLICY_QUIET_HOURS',
    retry_after: true,
    explain: /21:30 in America/,
  },
  {
    name: 'quiet hours wrap midnight (07:30 São Paulo)',
    policies: QUIET,
    at: Date.UTC(2026, 5, 15, 10, 30) - T0,
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'POLICY_QUIET_HOURS',
  },
  {
    name: 'a country with several zones: quiet while it is quiet in any of them (07:00 in Acre)',
    policies: QUIET,
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'POLICY_QUIET_HOURS',
    explain: /4 zones/,
  },
  {
    name: 'outside quiet hours in every zone of the country (08:30 in Acre)',
    policies: QUIET,
    at: 90 * MIN,
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },
  {
    name: "outside quiet hours in the customer's own zone (09:00 São Paulo)",
    policies: QUIET,
    state: { customers: [{ wa_id: BR, time_zone: 'America/Sao_Paulo' }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },
  {
    name: "the customer's own zone wins (21:00 Tokyo)",
    policies: QUIET,
    state: { customers: [{ wa_id: BR, time_zone: 'Asia/Tokyo' }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'POLICY_QUIET_HOURS',
    explain: /Asia\/Tokyo/,
  },
  {
    name: "no zone from the number → the sender's default (Tokyo)",
    policies: QUIET,
    req: { sender: 'tokyo', to: NOCOUNTRY, template: 'promo', components: PROMO_PARAMS },
    expect: 'POLICY_QUIET_HOURS',
    explain: /sender's default/,
  },
  {
    name: 'quiet hours apply to the listed categories only',
    policies: QUIET,
    state: { customers: [{ wa_id: BR, time_zone: 'Asia/Tokyo' }] },
    req: {
      template: 'named',
      components: [
        {
          type: 'body',
          parameters: [
            { type: 'text', parameter_name: 'order_id', text: '7' },
            { type: 'text', parameter_name: 'first_name', text: 'Ann' },
          ],
        },
      ],
    },
    expect: null,
  },
  {
    name: 'VIP tag bypasses quiet hours',
    policies: { ...QUIET, vip_tags: ['vip'] },
    state: { customers: [{ wa_id: BR, time_zone: 'Asia/Tokyo', tags: ['vip'] }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },
  {
    name: 'VIP never bypasses an opt-out',
    policies: { vip_tags: ['vip'] },
    state: { customers: [{ ...optedOut(['marketing']), tags: ['vip'] }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'OPTED_OUT',
  },

  // --- tag rules ---
  {
    name: 'excluded tag',
    policies: { exclude_tags: [{ tag: 'churned', categories: ['marketing'] }] },
    state: { customers: [{ wa_id: BR, tags: ['churned'] }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'POLICY_EXCLUDED_TAG',
  },
  {
    name: 'excluded tag, other category',
    policies: { exclude_tags: [{ tag: 'churned', categories: ['marketing'] }] },
    state: { customers: [{ wa_id: BR, tags: ['churned'] }] },
    req: {
      template: 'otp',
      components: [body('1'), { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: '1' }] }],
    },
    expect: null,
  },
  {
    name: 'VIP overrides a tag exclusion',
    policies: { exclude_tags: [{ tag: 'churned' }], vip_tags: ['vip'] },
    state: { customers: [{ wa_id: BR, tags: ['churned', 'vip'] }] },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },

  // --- category policies ---
  {
    name: 'category denied for the sender',
    policies: { deny_categories: { by_sender: { main: ['marketing'] } } },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: 'POLICY_CATEGORY_DENIED',
  },
  {
    name: 'category denied for the country',
    policies: { deny_categories: { by_country: { DE: ['marketing'] } } },
    req: { to: DE, template: 'promo', components: PROMO_PARAMS },
    expect: 'POLICY_CATEGORY_DENIED',
  },
  {
    name: 'category policy for another country',
    policies: { deny_categories: { by_country: { DE: ['marketing'] } } },
    req: { template: 'promo', components: PROMO_PARAMS },
    expect: null,
  },

  // --- Direct Send (changes-2026.md §6): a free-form utility message sent without a template ---
  {
    name: 'Direct Send outside a window → allowed as business-initiated utility, takes a tier slot',
    req: { direct_send: true },
    expect: null,
    slots: { marketing: false, tier: true },
  },
  {
    name: 'Direct Send inside a window → allowed, takes no slot',
    state: { inbound: [{ at: T0 - H }] },
    req: { direct_send: true },
    expect: null,
    slots: { marketing: false, tier: false },
  },
  {
    name: 'Direct Send to a customer who opted out of utility → OPTED_OUT, even after they wrote',
    state: { customers: [optedOut(['utility'])], inbound: [{ at: T0 - H }] },
    req: { direct_send: true },
    expect: 'OPTED_OUT',
    explain: /utility/,
  },
  {
    name: 'Direct Send: a marketing opt-out does not stop it',
    state: { customers: [optedOut(['marketing'])] },
    req: { direct_send: true },
    expect: null,
  },
  {
    name: 'Direct Send counts toward the tier: tier of 2 used → TIER_LIMIT',
    state: {
      prior: [
        { sender: 'tiny', to: BR2, category: 'utility', at: T0 - 2 * H },
        { sender: 'tiny', to: BR3, category: 'utility', at: T0 - H },
      ],
    },
    req: { sender: 'tiny', direct_send: true },
    expect: 'TIER_LIMIT',
  },
  {
    name: 'Direct Send in quiet hours for utility (21:30 São Paulo) → POLICY_QUIET_HOURS',
    policies: { quiet_hours: [{ start: '21:00', end: '08:00', categories: ['utility'] }] },
    at: Date.UTC(2026, 5, 16, 0, 30) - T0,
    req: { direct_send: true },
    expect: 'POLICY_QUIET_HOURS',
  },
  {
    name: "Meta's RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES stops Direct Send",
    state: { restrictions: [{ type: 'RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES', expires_at: T0 + DAY_MS }] },
    req: { direct_send: true },
    expect: 'SENDER_RESTRICTED',
    explain: /Direct Send/,
  },
  {
    name: "wagate's META_139200 hold stops Direct Send, not an approved utility template",
    state: { restrictions: [{ sender: 'tiny', type: 'META_139200', expires_at: T0 + DAY_MS }] },
    req: { sender: 'tiny', template: 'welcome' },
    expect: null,
  },
  {
    name: 'META_139200 hold → SENDER_RESTRICTED for Direct Send',
    state: { restrictions: [{ type: 'META_139200', expires_at: T0 + H }] },
    req: { direct_send: true },
    expect: 'SENDER_RESTRICTED',
  },
  {
    name: 'an expired Direct Send restriction stops nothing',
    state: { restrictions: [{ type: 'RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES', expires_at: T0 - 1 }] },
    req: { direct_send: true },
    expect: null,
  },
];

export type GateFactory = (opts: { policies: Policies; senders: SenderConfig[] }) => GateState | Promise<GateState>;

/** Runs every case against an adapter: dry run and reserve must agree with the table. */
export function runGateCases(name: string, make: GateFactory): void {
  describe(`gate decision table (${name})`, () => {
    for (const c of GATE_CASES) {
      it(c.name, async () => {
        const policies = PoliciesSchema.parse(c.policies ?? {});
        const gate = await make({ policies, senders: Object.values(SENDERS) });
        try {
          await gate.load(toSeed(c.state));
          const req = makeReq(c.req);
          const now = T0 + (c.at ?? 0);
          const dry = await gate.check(req, now);
          const lean = await gate.check(req, now, { explain: false });
          const out = await gate.checkAndReserve(req, now);
          // The verdict alone (explain: false) is the full one without the passed checks' sentences.
          const { checks: leanChecks, ...leanVerdict } = lean.decision;
          const { checks: fullChecks, ...fullVerdict } = dry.decision;
          expect(leanVerdict).toEqual(fullVerdict);
          expect(leanChecks).toEqual(fullChecks.filter((x) => !x.passed));
          expect(lean.category).toBe(dry.category);
          const tier = fullChecks.find((x) => x.rule === 'tier_limit');
          const newTier = dry.decision.allowed && !!tier && !tier.detail.startsWith('Recipient already counted');
          expect(lean.new_tier_recipient).toBe(newTier);
          expect(dry.new_tier_recipient).toBe(newTier);
          for (const o of [dry, out]) {
            expect(o.decision.reason_code, o.decision.explanation).toBe(c.expect);
            expect(o.decision.allowed).toBe(c.expect === null);
            expect(o.decision.checks.length).toBeGreaterThan(0);
            expect(o.decision.explanation.length).toBeGreaterThan(10);
            if (c.expect) {
              expect(o.decision.suggested_action).not.toBe('none');
              expect(o.decision.checks.at(-1)!.passed).toBe(false);
            }
            if (c.explain) expect(o.decision.explanation).toMatch(c.explain);
            if (c.suggest) expect(o.decision.suggested_action).toMatch(c.suggest);
            if (c.retry_after) expect(o.decision.retry_after_s).toBeGreaterThan(0);
          }
          if (c.expect === null) {
            expect(out.reservation?.message_id).toBe(req.message_id);
            if (c.slots) expect({ marketing: out.reservation!.marketing_slot, tier: out.reservation!.tier_slot }).toEqual(c.slots);
          } else expect(out.reservation).toBeUndefined();
        } finally {
          await gate.close();
        }
      });
    }
  });
}

/**
 * An independent, deliberately simple snapshot builder straight from a seed (no adapter): lets the
 * table run against the pure decide() too, so adapters and the function can never drift apart.
 */
export function snapshotFromSeed(seed: GateSeed, req: GateRequest, now: number): import('../../src/domain/decide.ts').GateSnapshot {
  const cutoff = now - DAY_MS;
  const cust = seed.customers.filter((c) => c.wa_id === req.to);
  let customer: import('../../src/domain/decide.ts').SnapshotCustomer | null = null;
  if (cust.length) {
    customer = {
      consent: {
        marketing: { state: 'unknown', at: null },
        utility: { state: 'unknown', at: null },
        authentication: { state: 'unknown', at: null },
        service: { state: 'unknown', at: null },
      },
      tags: [],
      time_zone: null,
      undeliverable_at: null,
      marketing_limited_at: null,
    };
    for (const u of cust) {
      for (const [k, v] of Object.entries(u.consent ?? {}))
        customer.consent[k as Category] = { state: v!, at: u.consent_at?.[k as Category] ?? now };
      if (u.tags) customer.tags = u.tags;
      if (u.time_zone !== undefined) customer.time_zone = u.time_zone;
      if (u.undeliverable_at !== undefined) customer.undeliverable_at = u.undeliverable_at;
      if (u.marketing_limited_at !== undefined) customer.marketing_limited_at = u.marketing_limited_at;
    }
  }
  const wins = seed.windows.filter((w) => w.sender_id === req.sender.id && w.wa_id === req.to);
  const window = wins.length
    ? {
        last_inbound_at: Math.max(...wins.map((w) => w.last_inbound_at)),
        referral_at: wins.find((w) => w.referral_at)?.referral_at ?? null,
        fep_opened_at: null,
      }
    : null;
  const anyIn = seed.windows.filter((w) => w.wa_id === req.to).map((w) => w.last_inbound_at);
  const tpls = seed.templates.filter((t) => t.waba_id === req.sender.waba_id);
  const template = req.template ? (tpls.find((t) => t.name === req.template!.name && t.language === req.template!.language) ?? null) : null;
  const live = seed.reservations.filter((r) => r.at > cutoff && r.message_id !== req.message_id);
  const marketing = live.filter((r) => r.marketing_slot && r.to === req.to);
  const bizOf = (sid: string) => Object.values(SENDERS).find((s) => s.id === sid)?.business_id ?? sid;
  const tier = live.filter((r) => r.tier_slot && bizOf(r.sender_id) === req.sender.business_id);
  const lastByRecipient = new Map<string, number>();
  for (const r of tier) lastByRecipient.set(r.to, Math.max(lastByRecipient.get(r.to) ?? 0, r.at));
  return {
    sender_status: seed.senders.find((s) => s.sender_id === req.sender.id) ?? null,
    restrictions: seed.restrictions?.find((r) => r.sender_id === req.sender.id)?.restrictions ?? [],
    portfolio_limit: seed.portfolio_limits?.find((l) => l.business_id === req.sender.business_id) ?? null,
    customer,
    window,
    last_inbound_any_at: anyIn.length ? Math.max(...anyIn) : null,
    template,
    template_languages:
      req.template && !template ? [...new Set(tpls.filter((t) => t.name === req.template!.name).map((t) => t.language))].sort() : [],
    approved_templates: [...new Set(tpls.filter((t) => t.status === 'APPROVED').map((t) => t.name))].sort(),
    marketing_count_24h: marketing.length,
    marketing_oldest_at: marketing.length ? Math.min(...marketing.map((r) => r.at)) : null,
    tier_used: lastByRecipient.size,
    tier_recipient_counted: lastByRecipient.has(req.to),
    tier_oldest_at: lastByRecipient.size ? Math.min(...lastByRecipient.values()) : null,
  };
}
