// Engine functions for pricing (MCP estimate_cost / estimate_pricing, GET/POST /v1/pricing/*).
// Meta's model since 1 Jul 2025 is per-message pricing (cloud-api.md §10.1): only DELIVERED TEMPLATE
// messages are charged, by template category and the recipient's market; free-form messages are free,
// utility templates inside an open customer service window are free, and everything inside an open
// free-entry-point window is free. The rates come from a data file with its source and date
// (src/engine/pricing-data.json), which an operator replaces with Meta's rate card through
// WAGATE_PRICING_FILE (a JSON file of the same shape).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { AppContext } from './context.ts';
import { appError } from '../shared/errors/app-error.ts';
import { normalisePhone } from '../domain/phone.ts';
import { getCustomerView } from './customers.ts';

const Rate = z.number().nonnegative();
const PricingFileSchema = z.object({
  source: z.string().min(1),
  as_of: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date like "2026-03-02"'),
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

/** Reads and validates the pricing file (WAGATE_PRICING_FILE, else the bundled one); cached per path. */
export function loadPricing(path: string = process.env.WAGATE_PRICING_FILE || DEFAULT_FILE): PricingData {
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

export interface CostEstimate {
  message_type: PricedType;
  recipient_country: string;
  market: string;
  quantity: number;
  billable: boolean;
  /** Why it is free: "service_message", "utility_in_customer_service_window", "free_entry_point". */
  free_reason: string | null;
  cost_per_message: number;
  /** The reference's name for the unit price (it priced conversations); same value. */
  cost_per_conversation: number;
  total_estimated_cost: number;
  currency: string;
  pricing_model: string;
  rate_is_estimate: boolean;
  source: string;
  as_of: string;
  notes: string[];
}

/**
 * Estimated cost of `quantity` messages of one type to one market. With `customer_id`, the customer's
 * open windows on the sender decide what is free (utility in a CSW, anything in an FEP window).
 */
export async function estimateCost(
  ctx: AppContext,
  input: { message_type: unknown; recipient_country?: string; customer_id?: string; quantity?: number; sender?: string },
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
  const data = loadPricing();
  const country = countryOf(countryInput);
  const market = marketFor(data, country);
  let free: string | null = type === 'service' ? 'service_message' : null;
  if (!free && input.customer_id) {
    const sender = ctx.senders.resolve(input.sender ?? null);
    const view = await getCustomerView(ctx, input.customer_id);
    const open = view.windows.filter((w) => w.sender === sender.id && w.open);
    if (open.some((w) => w.kind === 'free_entry_point')) free = 'free_entry_point';
    else if (type === 'utility' && open.some((w) => w.kind === 'customer_service')) free = 'utility_in_customer_service_window';
  }
  let unit = 0;
  if (!free) {
    const rate = market.rates[type as Exclude<PricedType, 'service'>];
    if (rate === undefined) {
      throw appError('NO_PRICING_FOR_MARKET', `The pricing file has no ${type} rate for ${market.name}.`, {
        fix: "Load Meta's rate card for that market through WAGATE_PRICING_FILE.",
        details: { field: 'message_type', market: market.id },
      });
    }
    unit = rate;
  }
  const notes = [...data.notes];
  if (market.note) notes.unshift(market.note);
  return {
    message_type: type,
    recipient_country: country,
    market: market.name,
    quantity,
    billable: !free,
    free_reason: free,
    cost_per_message: unit,
    cost_per_conversation: unit,
    total_estimated_cost: Math.round(unit * quantity * 1e6) / 1e6,
    currency: data.currency,
    pricing_model: data.pricing_model,
    rate_is_estimate: market.estimate,
    source: data.source,
    as_of: data.as_of,
    notes,
  };
}

export interface PricingSheet {
  country: string;
  market: string;
  conversation_type: PricedType;
  cost_per_message: number;
  cost_per_conversation: number;
  currency: string;
  pricing_category: string;
  effective_date: string;
  rate_is_estimate: boolean;
  rates: Record<string, number>;
  source: string;
}

/** The list rate for one type in one market (the reference's estimate_pricing). */
export function estimatePricing(input: { conversation_type: unknown; recipient_country?: string }): PricingSheet {
  const type = parseType(input.conversation_type, 'conversation_type');
  if (!input.recipient_country) {
    throw appError('INVALID_REQUEST', 'recipient_country is required.', {
      fix: 'Pass an ISO 3166 alpha-2 code such as "IN".',
      details: { field: 'recipient_country' },
    });
  }
  const data = loadPricing();
  const country = countryOf(input.recipient_country);
  const market = marketFor(data, country);
  const rate = type === 'service' ? 0 : market.rates[type];
  if (rate === undefined) {
    throw appError('NO_PRICING_FOR_MARKET', `The pricing file has no ${type} rate for ${market.name}.`, {
      fix: "Load Meta's rate card for that market through WAGATE_PRICING_FILE.",
      details: { field: 'conversation_type', market: market.id },
    });
  }
  return {
    country,
    market: market.name,
    conversation_type: type,
    cost_per_message: rate,
    cost_per_conversation: rate,
    currency: data.currency,
    pricing_category: type === 'service' ? 'free_customer_service' : type,
    effective_date: data.as_of,
    rate_is_estimate: market.estimate,
    rates: Object.fromEntries(Object.entries(market.rates).filter(([, v]) => v !== undefined)) as Record<string, number>,
    source: data.source,
  };
}
