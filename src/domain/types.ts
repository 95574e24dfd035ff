// Core domain types shared by every concern. Pure data: no I/O, no classes with behaviour.
// Times are epoch milliseconds (number) everywhere inside wagate; ISO strings only at the faces.

/** Meta's conversation/pricing categories. `service` = free-form (non-template) messages. */
export type Category = 'marketing' | 'utility' | 'authentication' | 'service';
export const CATEGORIES: readonly Category[] = ['marketing', 'utility', 'authentication', 'service'];

export type ConsentState = 'opted_in' | 'opted_out' | 'unknown';

export interface ConsentRecord {
  state: ConsentState;
  at: number | null;
  /** Where the change came from: "webhook:keyword:STOP", "api", "mcp", "user_preferences", ... */
  source: string | null;
}

export type ConsentMap = Record<Category, ConsentRecord>;

export type TemplateStatus =
  | 'APPROVED'
  | 'PENDING'
  | 'REJECTED'
  | 'PAUSED'
  | 'DISABLED'
  | 'IN_APPEAL'
  | 'PENDING_DELETION'
  | 'DELETED'
  | 'LIMIT_EXCEEDED'
  /** Archived by Meta for inactivity (deleted after 28 days unless unarchived, which restores the previous status). */
  | 'ARCHIVED';

/** A template as Meta knows it (components as in Meta's template API, kept verbatim). */
export interface TemplateRecord {
  waba_id: string;
  name: string;
  language: string; // e.g. "en_US"
  category: Exclude<Category, 'service'>;
  status: TemplateStatus;
  quality?: 'GREEN' | 'YELLOW' | 'RED' | 'UNKNOWN' | null;
  /** Meta's `components` array: HEADER / BODY / FOOTER / BUTTONS with text and examples. */
  components: unknown[];
  meta_id?: string | null;
  updated_at: number;
}

export type SenderState = 'active' | 'paused' | 'halted';

/** One WhatsApp business phone number wagate sends from (config, validated). */
export interface SenderConfig {
  id: string; // alias, e.g. "main"
  phone_number_id: string;
  waba_id: string;
  business_id: string;
  display_phone_number?: string;
  access_token: string; // resolved secret; never log it
  throughput_mps: number; // 80 default, up to 1000
  /** Unique business-initiated recipients per rolling 24h for the portfolio; null = unlimited. */
  messaging_limit: number | null;
  /** IANA zone used for quiet hours when neither the customer nor the country gives one. */
  default_time_zone: string;
}

/** Live, changing state of a sender as the gate sees it. */
export interface SenderStatus {
  sender_id: string;
  state: SenderState;
  reason: string | null; // why paused/halted, human readable
  reason_code: string | null; // e.g. "CREDENTIALS_INVALID", "META_131048"
  credentials_valid: boolean;
  since: number | null;
}

/** Delivery lifecycle of one outbound message. Order matters: see STATUS_RANK. */
export type MessageStatus =
  | 'queued'
  | 'sending'
  | 'in_doubt'
  | 'accepted' // Meta answered 200 with a wamid
  | 'sent'
  | 'delivered'
  | 'read'
  | 'failed'
  | 'dead_lettered';

/** Monotonic rank for status webhooks: a status never replaces one of higher rank. */
export const STATUS_RANK: Record<MessageStatus, number> = {
  queued: 0,
  sending: 1,
  in_doubt: 2,
  accepted: 3,
  sent: 4,
  delivered: 5,
  read: 6,
  failed: 7,
  dead_lettered: 7,
};

export interface StatusEvent {
  status: MessageStatus;
  at: number;
  source: string; // "gate", "worker", "webhook", "api"
  detail?: Record<string, unknown>;
}

/** The durable record of one outbound message. */
export interface MessageRecord {
  id: string; // wagate's id, stable for life (ULID-like), also biz_opaque_callback_data
  sender_id: string;
  to: string; // E.164 without '+', as Meta's `to`
  category: Category;
  type: string; // Meta message type: text, template, image, ...
  template_name: string | null;
  template_language: string | null;
  payload: Record<string, unknown>; // the exact body sent to Meta (validated)
  status: MessageStatus;
  wamid: string | null;
  attempts: number;
  idempotency_key: string | null;
  request_hash: string | null;
  last_error: Record<string, unknown> | null;
  pricing: Record<string, unknown> | null;
  /** What the gate reserved for this message (so a restart can rebuild caps and tier counts). */
  reserved_marketing: boolean;
  reserved_tier: boolean;
  created_at: number;
  updated_at: number;
  history: StatusEvent[];
}

export interface CustomerRecord {
  wa_id: string; // E.164 digits without '+'
  profile_name: string | null;
  consent: ConsentMap;
  tags: string[];
  time_zone: string | null;
  undeliverable_at: number | null;
  /** Last 131049 (per-user marketing limit hit): no marketing for 24h after it. */
  marketing_limited_at: number | null;
  created_at: number;
  updated_at: number;
}

/** A customer-service window on one sender, opened by the customer's last inbound message. */
export interface WindowRecord {
  sender_id: string;
  wa_id: string;
  last_inbound_at: number;
  /** Set when the inbound came from a click-to-WhatsApp ad (referral): starts the 72h FEP clock. */
  referral_at: number | null;
  /** When the business replied to a referral within 24h: the 72h free-entry-point window start. */
  fep_opened_at: number | null;
}

export function emptyConsent(): ConsentMap {
  const blank = (): ConsentRecord => ({ state: 'unknown', at: null, source: null });
  return { marketing: blank(), utility: blank(), authentication: blank(), service: blank() };
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
export const CARE_WINDOW_MS = DAY_MS;
export const FEP_WINDOW_MS = 72 * HOUR_MS;
