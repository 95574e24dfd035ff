// Business policies (config `policies:`), validated by PoliciesSchema. Owned by the gate: decide()
// reads the parsed Policies. Keep every field defaulted so an empty config is valid. Messages say what
// is wrong and how to fix it: src/config/load.ts adds the key and file:line:col.
import { z } from 'zod';
import { isValidZone } from './timezone.ts';

const CATEGORY_LIST = 'marketing, utility, authentication, service';
const Category = z.enum(['marketing', 'utility', 'authentication', 'service'], { error: `not a category; use one of ${CATEGORY_LIST}` });
const HHMM = z
  .string({ error: 'a time as "HH:MM" in quotes, 24-hour, e.g. "21:00"' })
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'time as HH:MM, 24-hour, e.g. "21:00" (quote it in YAML)');
const Tag = z.string({ error: 'a tag name (string)' }).min(1, 'a tag name cannot be empty');
const Country = z.string().regex(/^[A-Z]{2}$/, 'ISO 3166 alpha-2 country code in capitals, e.g. "US", "BR"');

export const QuietHoursSchema = z
  .object({
    start: HHMM, // may wrap midnight: 21:00 → 08:00
    end: HHMM,
    categories: z.array(Category).default(['marketing']),
    senders: z.array(z.string()).default(['*']),
    /** Evaluate in this zone instead of the recipient's (rarely wanted). */
    time_zone: z.string().refine(isValidZone, 'not an IANA time zone; use a name like "Europe/Berlin" or "America/Sao_Paulo"').optional(),
  })
  .refine((q) => q.start !== q.end, {
    message: 'start and end are equal, so the quiet period would be empty; use different times (it may wrap midnight: "21:00" to "08:00")',
    path: ['end'],
  });

export const PoliciesSchema = z.object({
  /** Per-user marketing cap in a rolling 24h (marketing inside a customer-opened window does not count). */
  marketing_cap_per_24h: z
    .number({ error: 'a whole number of marketing messages per customer per 24h, e.g. 2' })
    .int('a whole number, e.g. 2')
    .min(0, '0 or more (0 forbids marketing outside windows)')
    .default(2),
  quiet_hours: z.array(QuietHoursSchema).default([]),
  /** Customers with any of these tags get no business-initiated messages of the listed categories. */
  exclude_tags: z
    .array(z.object({ tag: Tag, categories: z.array(Category).default(['marketing', 'utility', 'authentication']) }))
    .default([]),
  /** Customers with any of these tags bypass quiet hours and tag exclusions (never opt-outs or Meta rules). */
  vip_tags: z.array(Tag).default([]),
  deny_categories: z
    .object({
      /** Sender alias or phone_number_id → categories it may not send. */
      by_sender: z.record(z.string(), z.array(Category)).default({}),
      /** Recipient country (ISO alpha-2) → categories not sent there. */
      by_country: z
        .record(z.string(), z.array(Category))
        .superRefine((rec, ctx) => {
          for (const k of Object.keys(rec)) {
            if (!Country.safeParse(k).success)
              ctx.addIssue({
                code: 'custom',
                path: [k],
                message: `"${k}" is not a country code: use the ISO 3166 alpha-2 code in capitals, e.g. "US", "BR"`,
              });
          }
        })
        .default({}),
    })
    .prefault({}),
  /** Categories that need a recorded opt-in (off by default). */
  require_opt_in: z.array(Category).default([]),
  /** Meta delivers no marketing templates to US numbers since 1 Apr 2025. */
  block_us_marketing: z.boolean({ error: 'true or false' }).default(true),
  /** After a 131026 (undeliverable), hold further sends to that number this long, unless the customer writes. */
  undeliverable_hold_h: z.number({ error: 'hours, a number' }).min(0).default(168),
});

export type Policies = z.infer<typeof PoliciesSchema>;
export type QuietHours = z.infer<typeof QuietHoursSchema>;

/** The defaults (an empty `policies:` section). */
export function defaultPolicies(): Policies {
  return PoliciesSchema.parse({});
}
