// The one schema for wagate's configuration: YAML file + environment overrides, validated here.
// Every key has a default that makes `npm start` work on a fresh clone (embedded mode + sandbox).
import { z } from 'zod';
import { PoliciesSchema } from '../domain/policies.ts';

// YAML reads unquoted ids as numbers; Meta ids are strings of digits (15-16 digits fit a double exactly).
const digits = (what: string) =>
  z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string().regex(/^\d{5,20}$/, `${what}: digits only (quote it in YAML)`));

const SenderSchema = z.object({
  id: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, "_", "." or "-"'),
  phone_number_id: digits('Meta phone number id, as shown in WhatsApp Manager'),
  waba_id: digits('WhatsApp Business Account id'),
  business_id: z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string().min(1)).default('default'),
  display_phone_number: z.string().optional(),
  /** The token itself (usually `${WA_TOKEN_X}`), or empty with access_token_env naming the variable. */
  access_token: z.string().optional(),
  access_token_env: z.string().optional(),
  throughput_mps: z.number().int().min(1).max(1000).default(80),
  /** Unique business-initiated recipients per rolling 24h (portfolio): 250, 2000, 10000, 100000, or null = unlimited. */
  messaging_limit: z.number().int().positive().nullable().default(250),
  default_time_zone: z.string().default('UTC'),
  /**
   * Where this number's marketing templates are posted: Cloud API's /messages (default) or Meta's
   * Marketing Messages API, /{phone-number-id}/marketing_messages (a WABA with
   * disable_marketing_messages_on_cloud_api answers 131063 on /messages). See also meta.marketing_messages_wabas.
   */
  marketing_endpoint: z.enum(['messages', 'marketing_messages']).optional(),
});

export const ConfigSchema = z.object({
  port: z.number().int().min(0).max(65535).default(8080),
  host: z.string().default('0.0.0.0'),
  data_dir: z.string().default('./data'),
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  redis_url: z
    .string()
    .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
    .optional(),
  nats_url: z
    .string()
    .regex(/^(nats|tls):\/\//, 'must start with nats://')
    .optional(),
  database_url: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres://')
    .optional(),
  /** PostgreSQL connections per instance (mind max_connections across instances). */
  database_pool_max: z.number().int().min(1).max(500).default(10),
  /** Prefix for Redis keys, JetStream stream/subjects and the PostgreSQL schema (lets tests and tenants share servers). */
  namespace: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,30}$/, 'lower-case letters, digits and "_", starting with a letter')
    .default('wagate'),
  meta: z
    .object({
      api_url: z.string().url().default('https://graph.facebook.com'),
      /**
       * Graph API version. v25.0 (18 Feb 2026, available until 29 Jul 2028; changes-2026.md §9): the
       * newest one with a published end date, and past v24's WhatsApp changes wagate reads (the
       * portfolio messaging limit whatsapp_business_manager_messaging_limit, no conversation object in
       * statuses). v23.0, the old default, expires 8 Oct 2027. v26.0 and v27.0 work too; v27 also
       * restricts legacy Graph features (multi-ID requests, field aliases) for new apps.
       */
      api_version: z
        .string()
        .regex(/^v\d+\.\d+$/, 'like v25.0')
        .default('v25.0'),
      app_secret: z.string().optional(),
      /** Older secrets still accepted for webhook signatures during a rotation, and tried on tokens set through the API (then sealed again under app_secret). */
      app_secrets_previous: z.array(z.string()).default([]),
      /** WABAs whose marketing templates go to the Marketing Messages API (/marketing_messages), for every number in them. */
      marketing_messages_wabas: z
        .array(
          z.preprocess(
            (v) => (typeof v === 'number' ? String(v) : v),
            z.string().regex(/^\d{5,20}$/, 'a WABA id: digits only (quote it in YAML)'),
          ),
        )
        .default([]),
      verify_token: z.string().optional(),
      /** App access token ("app_id|app_secret") for debug_token; defaults to the sender's own token. */
      app_token: z.string().optional(),
      connect_timeout_ms: z.number().int().positive().default(5_000),
      request_timeout_ms: z.number().int().positive().default(15_000),
    })
    .prefault({}),
  sandbox: z
    .object({
      port: z.number().int().min(0).max(65535).default(8081),
      /** auto: run the in-process sandbox when no sender has Meta credentials. */
      mode: z.enum(['auto', 'always', 'never']).default('auto'),
    })
    .prefault({}),
  senders: z.array(SenderSchema).default([]),
  /** Alias (or phone_number_id) used when a request names no sender. Default: the first sender. */
  default_sender: z.string().optional(),
  policies: PoliciesSchema.prefault({}),
  delivery: z
    .object({
      /**
       * The most counted attempts a message gets (then MAX_ATTEMPTS): resends after an in-doubt send
       * (each may be a duplicate) and retries of failures that may be the message's own (a code the
       * catalog caps, such as code 1 at 3, gives up at its cap; an unknown code with an unexpected HTTP
       * status). Transient failures (Meta 5xx, network, throttling) are never counted: retry_max_age_h.
       */
      max_attempts: z.number().int().min(1).max(100).default(8),
      /**
       * Hours a message keeps being retried through transient failures in a row (Meta 5xx or outage,
       * network, throttling), counted from the first of them; then it is dead-lettered RETRY_AGE_EXCEEDED.
       */
      retry_max_age_h: z
        .number({ message: 'retry_max_age_h must be a number of hours, e.g. 24' })
        .positive({ message: 'retry_max_age_h must be more than 0 hours (a fraction such as 0.5 is fine)' })
        .max(24 * 30, { message: 'retry_max_age_h must be at most 720 hours (30 days)' })
        .default(24),
      backoff_base_ms: z.number().int().positive().default(1_000),
      backoff_max_ms: z.number().int().positive().default(300_000),
      lease_ms: z.number().int().positive().default(30_000),
      concurrency_per_sender: z.number().int().min(1).max(1024).default(64),
      /** How long an in-doubt send waits for its status webhook before it is resent. */
      in_doubt_grace_ms: z.number().int().positive().default(600_000),
      /** Re-check opt-out, window, template and sender right before sending. */
      dispatch_recheck: z.boolean().default(true),
      /** How often the outbox relay hands stored messages the queue has no job for to the queue. */
      relay_interval_ms: z.number().int().min(10).max(60_000).default(1_000),
      /** A stored message is the relay's once this old (younger ones are still in their submit). */
      relay_grace_ms: z.number().int().min(0).max(600_000).default(5_000),
    })
    .prefault({}),
  webhooks: z
    .object({
      max_body_bytes: z
        .number()
        .int()
        .positive()
        .default(3 * 1024 * 1024),
      /** Opt-out / opt-in keywords by language; matched on the whole trimmed, case-folded text. */
      opt_out_keywords: z.array(z.string()).optional(),
      opt_in_keywords: z.array(z.string()).optional(),
      /** Text sent back (free-form, inside the window the STOP opened) after an opt-out; none if unset. */
      opt_out_confirmation: z.string().optional(),
      opt_in_confirmation: z.string().optional(),
    })
    .prefault({}),
  alerts: z
    .object({
      slack_webhook_url: z.string().url().optional(),
      webhook_url: z.string().url().optional(),
      webhook_secret: z.string().optional(),
      email: z
        .object({
          host: z.string(),
          port: z.number().int().default(587),
          secure: z.boolean().default(false),
          user: z.string().optional(),
          pass: z.string().optional(),
          from: z.string(),
          to: z.array(z.string()).min(1),
        })
        .optional(),
      /** Lowest severity each channel receives. */
      min_severity: z
        .object({
          slack: z.enum(['info', 'warning', 'critical']).default('warning'),
          webhook: z.enum(['info', 'warning', 'critical']).default('info'),
          email: z.enum(['info', 'warning', 'critical']).default('critical'),
        })
        .prefault({}),
      remind_interval_s: z.number().int().positive().default(3_600),
      dead_letters_threshold: z.number().int().positive().default(100),
      queue_age_threshold_s: z.number().int().positive().default(600),
    })
    .prefault({}),
  health: z
    .object({
      check_interval_s: z.number().int().positive().default(86_400),
      check_interval_near_expiry_s: z.number().int().positive().default(3_600),
      expiry_warning_days: z.number().int().positive().default(7),
    })
    .prefault({}),
  dashboard: z
    .object({
      /** How long the dashboard's per-minute series (metric_rollups) are kept. */
      rollup_retention_days: z.number().int().positive().max(400).default(7),
    })
    .prefault({}),
  api: z
    .object({
      /** API keys. Empty = no auth (embedded/dev). `key_sha256` is the hex SHA-256 of the key. */
      keys: z
        .array(
          z.object({
            name: z.string(),
            key_sha256: z.string().regex(/^[a-f0-9]{64}$/, 'hex SHA-256 of the key (`wagate hash-key KEY`)'),
            role: z.enum(['send', 'read', 'admin']),
            senders: z.array(z.string()).default(['*']),
          }),
        )
        .default([]),
      rate_limit_per_minute: z.number().int().positive().default(6_000),
    })
    .prefault({}),
  /** Cost estimates (src/engine/pricing.ts, the rules by date in src/domain/pricing-rules.ts). */
  pricing: z
    .object({
      /** A rate file of the bundled one's shape (src/engine/pricing-data.json); WAGATE_PRICING_FILE also names one. */
      file: z.string().min(1).optional(),
      /**
       * Free service messages per business number per calendar month from 1 Oct 2026 (reported as
       * 1,000; Meta's own page was not readable). Wins over the rate file's service_free_allowance.
       */
      service_free_allowance: z.number().int().min(0).max(10_000_000).optional(),
    })
    .prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;
export type SenderEntry = z.infer<typeof SenderSchema>;
