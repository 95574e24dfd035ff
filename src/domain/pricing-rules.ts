// Meta's pricing rules by the date of the send (changes-2026.md §2, cloud-api.md §10). Pure: the
// gate's pricing note, the cost estimates (src/engine/pricing.ts) and the service-message counter
// all ask `billingAt` what one message costs, so each answers by the day the message is sent, and a
// send of September 2026 is still priced as it was then.
//
// Eras (UTC days; Meta changes prices at 00:00 UTC on the 1st):
// - 1 Jul 2025, per-message pricing (H, Meta's pricing page via cloud-api.md §10.1): only delivered
//   templates are charged; service (free-form) messages are free; utility templates inside an open
//   customer service window are free; anything inside a 72 h free-entry-point window is free.
// - 1 Oct 2026 (M: announced by Meta on 1 Jul 2026 with the Business Agent Platform; ChakraHQ,
//   hello-charles, patagon.ai, YCloud and WhaTools agree; Meta's own pricing page was not readable):
//   service messages are charged per delivered message at the market's utility rate, with a monthly
//   free allowance per business number (reported as 1,000: WhaTools, Make's module docs; a single
//   figure, so it is configurable); utility templates inside the window are charged; the
//   free-entry-point window stays free.
// Before 1 Jul 2025 Meta priced conversations, which wagate does not model: a date before it is refused.
import type { Category } from './types.ts';

export const PMP_START = Date.UTC(2025, 6, 1);
export const SERVICE_BILLING_START = Date.UTC(2026, 9, 1);
/** The reported free service messages per business number per calendar month from 1 Oct 2026. */
export const DEFAULT_SERVICE_FREE_ALLOWANCE = 1_000;

export type PricingEra = 'pmp_2025_07' | 'pmp_2026_10';

export interface PricingEraInfo {
  id: PricingEra;
  effective_from: string;
  summary: string;
}

export const PRICING_ERAS: readonly PricingEraInfo[] = [
  {
    id: 'pmp_2025_07',
    effective_from: '2025-07-01',
    summary:
      'Per-message pricing: delivered templates are charged; service messages and utility templates inside an open customer service window are free; everything inside a free entry point window is free.',
  },
  {
    id: 'pmp_2026_10',
    effective_from: '2026-10-01',
    summary:
      "Service messages are charged at the market's utility rate beyond a monthly free allowance per business number; utility templates inside the customer service window are charged; the free entry point window stays free.",
  },
];

/** The era in force at `at` (ms); null before per-message pricing (1 Jul 2025). */
export function pricingEraAt(at: number): PricingEraInfo | null {
  if (at < PMP_START) return null;
  return at < SERVICE_BILLING_START ? PRICING_ERAS[0] : PRICING_ERAS[1];
}

/** The calendar month (UTC) a service message counts in for the free allowance: "2026-10". */
export function billingMonth(at: number): string {
  return new Date(at).toISOString().slice(0, 7);
}

export type FreeReason = 'free_entry_point' | 'service_message' | 'utility_in_customer_service_window' | 'service_free_allowance' | null;

export interface Billing {
  era: PricingEra;
  billable: boolean;
  free_reason: FreeReason;
  /** Whose rate applies when billable: a service message is charged at the utility rate from Oct 2026. */
  rate_category: Exclude<Category, 'service'> | null;
  /** True when the message uses up one of the number's free service messages of the month. */
  uses_allowance: boolean;
}

export interface BillingInput {
  category: Category;
  /** When the message is sent (ms). */
  at: number;
  /** A customer service window is open for the pair. */
  in_csw: boolean;
  /** A free entry point window is open for the pair. */
  in_fep: boolean;
  /** Service messages of this number already counted this month (unknown: null, then assumed used up). */
  service_used?: number | null;
  allowance?: number;
}

/** What one message costs under the rules of the day it is sent; null before 1 Jul 2025. */
export function billingAt(input: BillingInput): Billing | null {
  const era = pricingEraAt(input.at);
  if (!era) return null;
  const base = { era: era.id, uses_allowance: false };
  if (input.in_fep) return { ...base, billable: false, free_reason: 'free_entry_point', rate_category: null };
  if (era.id === 'pmp_2025_07') {
    if (input.category === 'service') return { ...base, billable: false, free_reason: 'service_message', rate_category: null };
    if (input.category === 'utility' && input.in_csw)
      return { ...base, billable: false, free_reason: 'utility_in_customer_service_window', rate_category: null };
    return { ...base, billable: true, free_reason: null, rate_category: input.category };
  }
  if (input.category === 'service') {
    const allowance = input.allowance ?? DEFAULT_SERVICE_FREE_ALLOWANCE;
    const used = input.service_used;
    if (used != null && used < allowance)
      return { era: era.id, billable: false, free_reason: 'service_free_allowance', rate_category: null, uses_allowance: true };
    return { ...base, billable: true, free_reason: null, rate_category: 'utility' };
  }
  return { ...base, billable: true, free_reason: null, rate_category: input.category };
}
