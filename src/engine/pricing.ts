// Engine functions for pricing (MCP estimate_cost / estimate_pricing, GET/POST /v1/pricing/*).
// What is charged follows Meta's rules on the day of the send (src/domain/pricing-rules.ts): per-message
// pricing since 1 Jul 2025 (delivered templates charged; service messages and utility inside an open
// customer service window free) and, from 1 Oct 2026, service messages charged at the market's utility
// rate beyond a monthly free allowance per number (counted by Store.addServiceMessages from delivered
// statuses) and utility inside the window charged; a free-entry-point window stays free. The rates come
// from a data file with its source and dates (src/engine/pricing-data.json), which an operator replaces
// with Meta's rate card (config pricing.file, or WAGATE_PRICING_FILE; a JSON file of the same shape).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { AppContext } from './context.ts';
import { appError } from '../shared/errors/app-error.ts';
import { normalisePhone } from '../domain/phone.ts';
import { getCustomerView } from './customers.ts';
import {
  billingAt,
  billingMonth,
  DEFAULT_SERVICE_FREE_ALLOWANCE,
  PMP_START,
  pricingEraAt,
  SERVICE_BILLING_START,
  type Billing,
} from '../domain/pricing-rules.ts';

const Rate = z.number().nonnegative();
const PricingFileSchema = z.object({
  source: z.string().min(1),
  as_of: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date like "2026-03-02"'),
  /** The first day the rates apply (a rate card is Meta's from that date); defaults to as_of. */
  effective_from: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'a date like "2026-10-01"')
    .optional(),
  /** Free service messages per number per month from 1 Oct 2026; config pricing.service_free_allowance wins. */
  service_free_allowance: z.number().int().min(0).optional(),
  pricing_model: z.string().default('PMP'),
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 currency code like "USD"'),
  notes: z.array(z.string()).default([]),
  markets: z
    .array(
      z.object({
        id: z.string().min(1),
        name: z.string().min(1),
        countries: z.array(z.string().regex(/^[A-Z]{2}$/, 'ISO 3166 alpha-2 in capitals, e.g. "BR"')).min(1),
        rates: z.object({
          marketing: Rate.optional(),
          utility: Rate.optional(),
          authentication: Rate.optional(),
          authentication_international: Rate.optional(),
          /** Service messages from 1 Oct 2026, when Meta's card gives one; otherwise the utility rate applies. */
          service: Rate.optional(),
        }),
        estimate: z.boolean().default(false),
        note: z.string().optional(),
      }),
    )
    .min(1),
});
export type PricingData = z.infer<typeof PricingFileSchema>;

export const PRICED_TYPES = ['marketing', 'utility', 'authentication', 'authentication_international', 'service'] as const;
export type PricedType = (typeof PRICED_TYPES)[number];

const DEFAULT_FILE = join(dirname(fileURLToPath(import.meta.url)), 'pricing-data.json');
const cache = new Map<string, PricingData>();

/** The rate file in use: config pricing.file, else WAGATE_PRICING_FILE, else the bundled one. */
export function pricingFilePath(ctx?: Pick<AppContext, 'config'>): string {
  return ctx?.config.pricing?.file || process.env.WAGATE_PRICING_FILE || DEFAULT_FILE;
}

/** Reads and validates the pricing file (pricingFilePath); cached per path. */
export function loadPricing(path: string = pricingFilePath()): PricingData {
  const hit = cache.get(path);
  if (hit) return hit;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw appError('PRICING_FILE_UNREADABLE', `The pricing file ${path} could not be read as JSON: ${(err as Error).message}.`);
  }
  const r = PricingFileSchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw appError('PRICING_FILE_INVALID', `The pricing file ${path} is invalid: ${issues.join('; ')}.`, { details: { issues } });
  }
  cache.set(path, r.data);
  return r.data;
}

/** "br", "BR", "+55 11 91234-5678" → "BR". */
function countryOf(input: string): string {
  const s = input.trim();
  if (/^[A-Za-z]{2}$/.test(s)) return s.toUpperCase();
  const p = normalisePhone(s);
  if (p.ok && p.country) return p.country;
  throw appError(
    'INVALID_COUNTRY',
    `recipient_country "${s.slice(0, 40)}" is neither an ISO 3166 alpha-2 code nor a phone number with a country code.`,
    {
      fix: 'Pass a country code such as "BR" or "IN", or the recipient\'s phone number ("+5511912345678").',
      details: { field: 'recipient_country' },
    },
  );
}

function marketFor(data: PricingData, country: string) {
  const m = data.markets.find((x) => x.countries.includes(country));
  if (!m) {
    throw appError('NO_PRICING_FOR_MARKET', `The pricing file has no rates for ${country}.`, {
      fix: `Markets with rates: ${data.markets.map((x) => `${x.name} (${x.countries.join(', ')})`).join('; ')}. Load Meta's full rate card through WAGATE_PRICING_FILE for the others.`,
      details: { field: 'recipient_country', country },
    });
  }
  return m;
}

function parseType(v: unknown, field: string): PricedType {
  const s = typeof v === 'string' ? v.trim().toLowerCase().replace(/-/g, '_') : '';
  const t = s === 'free_form' || s === 'text' ? 'service' : s;
  if (!(PRICED_TYPES as readonly string[]).includes(t)) {
    throw appError('INVALID_REQUEST', `${field} must be one of ${PRICED_TYPES.join(', ')} (got ${JSON.stringify(v)?.slice(0, 40)}).`, {
      fix: `Use the template's category (marketing, utility, authentication) or "service" for free-form messages.`,
      details: { field },
    });
  }
  return t as PricedType;
}

/** The send date of an estimate: ISO 8601 ("2026-10-01" is that day at 00:00 UTC) or unix ms; default now. */
export function parseSendAt(v: unknown, now: number, field = 'send_at'): number {
  if (v === undefined || v === null || v === '') return now;
  let at = Number.NaN;
  if (typeof v === 'number') at = v;
  else if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v.trim())) {
    const t = v.trim();
    at = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(t) ? `${t}T00:00:00Z` : t);
  }
  if (!Number.isFinite(at)) {
    throw appError(
      'INVALID_REQUEST',
      `${field} must be a date ("2026-10-01") or date-time ("2026-10-01T09:00:00Z") (got ${JSON.stringify(v)?.slice(0, 40)}).`,
      {
        fix: `Pass the day the messages are (or were) sent in ISO 8601, or leave ${field} out for now.`,
        details: { field },
      },
    );
  }
  if (at < PMP_START) {
    throw appError(
      'INVALID_REQUEST',
      `${field} ${new Date(at).toISOString().slice(0, 10)} is before 1 Jul 2025, when Meta still priced conversations; wagate estimates per-message pricing only.`,
      {
        fix: `Pass a ${field} on or after 2025-07-01.`,
        details: { field },
      },
    );
  }
  return at;
}

/** The monthly free service allowance per number: config, else the rate file, else the reported 1,000. */
export function serviceAllowance(ctx: Pick<AppContext, 'config'>, data: PricingData): number {
  return ctx.config.pricing?.service_free_allowance ?? data.service_free_allowance ?? DEFAULT_SERVICE_FREE_ALLOWANCE;
}

/**
 * Per store, sender and month: the service count read last, and when. A few seconds' reuse keeps the
 * send path to no extra read; the counts this process adds (serviceCounted) keep it exact here, other
 * instances' within the reuse time.
 */
const serviceMonthCache = new WeakMap<object, Map<string, { used: number; read_at: number }>>();
const SERVICE_COUNT_REUSE_MS = 5_000;

/** Delivered service messages the store just counted (statuses): the cached counts follow. */
export function serviceCounted(store: object, items: readonly { sender_id: string; month: string; n: number }[]): void {
  const cache = serviceMonthCache.get(store);
  if (!cache) return;
  for (const i of items) {
    const hit = cache.get(`${i.sender_id}|${i.month}`);
    if (hit) hit.used += i.n;
  }
}

/**
 * The sender's service messages counted in the month of `at` and its free allowance, for the gate's
 * pricing note (from 1 Oct 2026; null before, or when the count cannot be read: the note then says
 * the cost depends on the allowance). The count comes from delivered service messages (their status
 * webhooks), so messages still on their way are not in it yet.
 */
export async function serviceMonthUsage(
  ctx: Pick<AppContext, 'config' | 'store' | 'log'>,
  sender_id: string,
  at: number,
): Promise<{ month: string; used: number; allowance: number } | null> {
  if (at < SERVICE_BILLING_START) return null;
  const month = billingMonth(at);
  const key = `${sender_id}|${month}`;
  let cache = serviceMonthCache.get(ctx.store);
  if (!cache) serviceMonthCache.set(ctx.store, (cache = new Map()));
  let hit = cache.get(key);
  try {
    const allowance = serviceAllowance(ctx, loadPricing(pricingFilePath(ctx)));
    if (!hit || Date.now() - hit.read_at > SERVICE_COUNT_REUSE_MS) {
      hit = { used: await ctx.store.getServiceMessageCount(sender_id, month), read_at: Date.now() };
      if (cache.size > 10_000) cache.clear();
      cache.set(key, hit);
    }
    return { month, used: hit.used, allowance };
  } catch (err) {
    ctx.log.warn({ err, sender_id, month }, 'pricing: service messages of the month not read; the pricing note stays general');
    return null;
  }
}

export interface CostEstimate {
  message_type: PricedType;
  recipient_country: string;
  market: string;
  quantity: number;
  /** The day the estimate prices (the send date) and the rules in force then. */
  send_at: string;
  pricing_rules: string;
  billable: boolean;
  /** Why (some are) free: "service_message", "utility_in_customer_service_window", "free_entry_point", "service_free_allowance". */
  free_reason: string | null;
  /** Of `quantity`, how many are free and how many charged (service messages split at the allowance). */
  free_quantity: number;
  billable_quantity: number;
  /** The number's free service messages in the send's month (from 1 Oct 2026, service only). */
  service_allowance: { sender: string | null; month: string; allowance: number; used: number | null; remaining: number | null } | null;
  cost_per_message: number;
  /** The reference's name for the unit price (it priced conversations); same value. */
  cost_per_conversation: number;
  total_estimated_cost: number;
  currency: string;
  pricing_model: string;
  rate_is_estimate: boolean;
  source: string;
  as_of: string;
  rates_effective_from: string;
  notes: string[];
}

function rateOf(market: PricingData['markets'][number], type: PricedType, b: Billing, field: string): number {
  // From 1 Oct 2026 a service message costs the market's utility rate (the card's own service rate if it has one).
  const key = type === 'service' ? (market.rates.service !== undefined ? 'service' : 'utility') : type;
  const rate = market.rates[key as keyof typeof market.rates];
  if (rate === undefined) {
    throw appError(
      'NO_PRICING_FOR_MARKET',
      `The pricing file has no ${key} rate for ${market.name}${type === 'service' ? ` (service messages are charged at it since 1 Oct 2026, era ${b.era})` : ''}.`,
      {
        fix: "Load Meta's rate card for that market through the config's pricing.file (or WAGATE_PRICING_FILE).",
        details: { field, market: market.id },
      },
    );
  }
  return rate;
}

/**
 * Estimated cost of `quantity` messages of one type to one market, sent on `send_at` (default now),
 * by the rules of that day. With `customer_id`, the customer's windows open then decide what is free
 * (utility in a CSW before 1 Oct 2026, anything in an FEP window). From 1 Oct 2026 a service estimate
 * uses the sender's free allowance left in that month (its counter), when the sender is known.
 */
export async function estimateCost(
  ctx: AppContext,
  input: { message_type: unknown; recipient_country?: string; customer_id?: string; quantity?: number; sender?: string; send_at?: unknown },
): Promise<CostEstimate> {
  const type = parseType(input.message_type, 'message_type');
  const quantity = input.quantity ?? 1;
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > 10_000_000) {
    throw appError('INVALID_REQUEST', `quantity must be a whole number from 1 to 10,000,000 (got ${quantity}).`, {
      fix: 'Pass the number of messages, e.g. 1000.',
      details: { field: 'quantity' },
    });
  }
  const countryInput = input.recipient_country ?? input.customer_id;
  if (!countryInput) {
    throw appError('INVALID_REQUEST', "recipient_country (or customer_id) is required: the price depends on the recipient's market.", {
      fix: 'Pass recipient_country, e.g. "BR", or the customer\'s phone number as customer_id.',
      details: { field: 'recipient_country' },
    });
  }
  const now = ctx.now();
  const at = parseSendAt(input.send_at, now);
  const data = loadPricing(pricingFilePath(ctx));
  const country = countryOf(countryInput);
  const market = marketFor(data, country);
  const notes = [...data.notes];
  if (market.note) notes.unshift(market.note);
  let inCsw = false;
  let inFep = false;
  if (input.customer_id) {
    const sender = ctx.senders.resolve(input.sender ?? null);
    const view = await getCustomerView(ctx, input.customer_id);
    // The windows wagate knows are today's: one counts when it is open now and still open at the send.
    const open = view.windows.filter((w) => w.sender === sender.id && w.open && at < Date.parse(w.expires_at));
    inFep = open.some((w) => w.kind === 'free_entry_point');
    inCsw = open.some((w) => w.kind === 'customer_service');
    if (at < now - 60_000) notes.unshift("The customer's windows are taken as they are now, not as they were on the send date.");
  }
  const category = type === 'authentication_international' ? 'authentication' : type;
  const probe = billingAt({ category, at, in_csw: inCsw, in_fep: inFep, service_used: 0 })!;
  let allowanceView: CostEstimate['service_allowance'] = null;
  let freeQty = probe.billable ? 0 : quantity;
  let freeReason: string | null = probe.free_reason;
  if (probe.uses_allowance) {
    // Service from 1 Oct 2026: free while the number's allowance for the month lasts.
    const allowance = serviceAllowance(ctx, data);
    const month = billingMonth(at);
    const named = Boolean(input.sender || ctx.config.default_sender || ctx.config.senders.length === 1);
    const sender = named ? ctx.senders.resolve(input.sender ?? null) : null;
    const used = sender ? await ctx.store.getServiceMessageCount(sender.id, month) : null;
    const remaining = used === null ? null : Math.max(0, allowance - used);
    allowanceView = { sender: sender?.id ?? null, month, allowance, used, remaining };
    if (remaining === null) {
      freeQty = 0;
      notes.unshift(`Up to ${allowance} service messages per number per month are free; name the sender to count what it has used.`);
    } else freeQty = Math.min(quantity, remaining);
    freeReason = freeQty > 0 ? 'service_free_allowance' : null;
  }
  const billableQty = quantity - freeQty;
  const unit = billableQty > 0 ? rateOf(market, type, probe, 'message_type') : 0;
  return {
    message_type: type,
    recipient_country: country,
    market: market.name,
    quantity,
    send_at: new Date(at).toISOString(),
    pricing_rules: probe.era,
    billable: billableQty > 0,
    free_reason: freeReason,
    free_quantity: freeQty,
    billable_quantity: billableQty,
    service_allowance: allowanceView,
    cost_per_message: unit,
    cost_per_conversation: unit,
    total_estimated_cost: Math.round(unit * billableQty * 1e6) / 1e6,
    currency: data.currency,
    pricing_model: data.pricing_model,
    rate_is_estimate: market.estimate,
    source: data.source,
    as_of: data.as_of,
    rates_effective_from: data.effective_from ?? data.as_of,
    notes,
  };
}

export interface PricingSheet {
  country: string;
  market: string;
  conversation_type: PricedType;
  /** The day priced and the rules in force then. */
  send_at: string;
  pricing_rules: string;
  cost_per_message: number;
  cost_per_conversation: number;
  currency: string;
  pricing_category: string;
  /** From 1 Oct 2026, service messages: the free ones per number per month before this rate applies. */
  service_free_allowance: number | null;
  effective_date: string;
  rate_is_estimate: boolean;
  rates: Record<string, number>;
  source: string;
}

/**
 * The list rate for one type in one market on `send_at` (the reference's estimate_pricing): a service
 * message is free before 1 Oct 2026 and costs the utility rate from then (after the free allowance).
 */
export function estimatePricing(
  input: { conversation_type: unknown; recipient_country?: string; send_at?: unknown },
  ctx?: Pick<AppContext, 'config' | 'now'>,
): PricingSheet {
  const type = parseType(input.conversation_type, 'conversation_type');
  if (!input.recipient_country) {
    throw appError('INVALID_REQUEST', 'recipient_country is required.', {
      fix: 'Pass an ISO 3166 alpha-2 code such as "IN".',
      details: { field: 'recipient_country' },
    });
  }
  const at = parseSendAt(input.send_at, ctx ? ctx.now() : Date.now());
  const data = loadPricing(pricingFilePath(ctx));
  const country = countryOf(input.recipient_country);
  const market = marketFor(data, country);
  const era = pricingEraAt(at)!;
  const serviceFree = type === 'service' && era.id === 'pmp_2025_07';
  const b = billingAt({ category: type === 'authentication_international' ? 'authentication' : type, at, in_csw: false, in_fep: false })!;
  const rate = serviceFree ? 0 : rateOf(market, type, b, 'conversation_type');
  return {
    country,
    market: market.name,
    conversation_type: type,
    send_at: new Date(at).toISOString(),
    pricing_rules: era.id,
    cost_per_message: rate,
    cost_per_conversation: rate,
    currency: data.currency,
    pricing_category: serviceFree ? 'free_customer_service' : type,
    service_free_allowance:
      type === 'service' && !serviceFree
        ? ctx
          ? serviceAllowance(ctx, data)
          : (data.service_free_allowance ?? DEFAULT_SERVICE_FREE_ALLOWANCE)
        : null,
    effective_date: data.effective_from ?? data.as_of,
    rate_is_estimate: market.estimate,
    rates: Object.fromEntries(Object.entries(market.rates).filter(([, v]) => v !== undefined)) as Record<string, number>,
    source: data.source,
  };
}
