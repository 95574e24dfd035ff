// Business policies (config `policies:`), validated by PoliciesSchema. Owned by the gate: decide()
// reads the parsed Policies. Keep every field defaulted so an empty config is valid.
import { z } from 'zod';

const Category = z.enum(['marketing', 'utility', 'authentication', 'service']);
const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'time as HH:MM, 24-hour');

export const PoliciesSchema = z.object({
  /** Per-user marketing cap in a rolling 24h (marketing inside a customer-opened window does not count). */
  marketing_cap_per_24h: z.number().int().min(0).default(2),
  quiet_hours: z
    .array(
      z.object({
        start: HHMM, // may wrap midnight: 21:00 → 08:00
        end: HHMM,
        categories: z.array(Category).default(['marketing']),
        senders: z.array(z.string()).default(['*']),
      }),
    )
    .default([]),
  /** Customers with any of these tags get no business-initiated messages of the listed categories. */
  exclude_tags: z
    .array(z.object({ tag: z.string(), categories: z.array(Category).default(['marketing', 'utility', 'authentication']) }))
    .default([]),
  /** Customers with any of these tags bypass quiet hours and tag exclusions (never opt-outs or Meta rules). */
  vip_tags: z.array(z.string()).default([]),
  deny_categories: z
    .object({
      by_sender: z.record(z.string(), z.array(Category)).default({}),
      by_country: z.record(z.string(), z.array(Category)).default({}),
    })
    .prefault({}),
  /** Categories that need a recorded opt-in (off by default). */
  require_opt_in: z.array(Category).default([]),
  /** Meta delivers no marketing templates to US numbers since 1 Apr 2025. */
  block_us_marketing: z.boolean().default(true),
});

export type Policies = z.infer<typeof PoliciesSchema>;
