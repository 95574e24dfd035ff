// Table types for the typed query layer (Kysely) and the row <-> record mapping shared by both
// dialects. JSON columns are written as JSON text (jsonb on PostgreSQL casts it); they read back as
// text on SQLite and as parsed values on PostgreSQL, so `json()` accepts both. Booleans are 0/1 integers
// (SQLite cannot bind booleans).
import type { ColumnType, Generated } from 'kysely';
import type {
  Category,
  ConsentState,
  CustomerRecord,
  MessageRecord,
  MessageStatus,
  SenderStatus,
  StatusEvent,
  TemplateRecord,
  WindowRecord,
} from '../domain/types.ts';
import type { AlertRecord, AuditEntry, DeadLetter, FailedWebhookBatch, MovedMessage, SenderHealthRecord } from './port.ts';

/** Reads as text (SQLite) or a parsed value (PostgreSQL); written as JSON text. */
type Json = ColumnType<unknown, string, string>;

export interface CustomersTable {
  wa_id: string;
  profile_name: string | null;
  c_marketing_state: ColumnType<ConsentState, ConsentState | undefined, ConsentState>;
  c_marketing_at: number | null;
  c_marketing_source: string | null;
  c_utility_state: ColumnType<ConsentState, ConsentState | undefined, ConsentState>;
  c_utility_at: number | null;
  c_utility_source: string | null;
  c_authentication_state: ColumnType<ConsentState, ConsentState | undefined, ConsentState>;
  c_authentication_at: number | null;
  c_authentication_source: string | null;
  c_service_state: ColumnType<ConsentState, ConsentState | undefined, ConsentState>;
  c_service_at: number | null;
  c_service_source: string | null;
  tags: ColumnType<unknown, string | undefined, string>;
  time_zone: string | null;
  undeliverable_at: number | null;
  marketing_limited_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface MessagesTable {
  id: string;
  sender_id: string;
  recipient: string;
  category: Category;
  type: string;
  template_name: string | null;
  template_language: string | null;
  payload: Json;
  status: MessageStatus;
  status_rank: number;
  wamid: string | null;
  attempts: number;
  idempotency_key: string | null;
  request_hash: string | null;
  last_error: ColumnType<unknown, string | null, string | null>;
  pricing: ColumnType<unknown, string | null, string | null>;
  reserved_marketing: number;
  reserved_tier: number;
  /** 0 while the message waits for the relay to hand it to the delivery queue (migration 2). */
  enqueued: number;
  created_at: number;
  updated_at: number;
  history: Json;
  /** The gate's decision of the first history event, kept out of it (migration 10); null for older rows. */
  decision: ColumnType<unknown, string | null, string | null>;
}

export interface Tables {
  customers: CustomersTable;
  care_windows: WindowRecord;
  templates: {
    waba_id: string;
    name: string;
    language: string;
    category: TemplateRecord['category'];
    status: TemplateRecord['status'];
    quality: string | null;
    components: Json;
    meta_id: string | null;
    updated_at: number;
  };
  messages: MessagesTable;
  audit_log: { id: Generated<number>; at: number; actor: string; action: string; subject: string | null; detail: Json };
  seen_events: { event_key: string; at: number };
  webhook_batches: { id: string; body: string; at: number };
  webhook_failed_batches: {
    id: string;
    body: string;
    received_at: number;
    failed_at: number;
    error: string;
    attempts: number;
    state: FailedWebhookBatch['state'];
    updated_at: number;
  };
  dead_letters: Omit<DeadLetter, 'meta_error'> & { meta_error: ColumnType<unknown, string | null, string | null> };
  alerts: Omit<AlertRecord, 'detail'> & { detail: Json };
  sender_health: { sender_id: string; data: Json; updated_at: number };
  sender_statuses: Omit<SenderStatus, 'credentials_valid'> & { credentials_valid: number };
  settings: { name: string; value: string };
  identity_links: { business_id: string; user_id: string; wa_id: string; at: number };
  service_message_counts: { sender_id: string; month: string; count: number; updated_at: number };
}

export function json<T>(v: unknown): T {
  return (typeof v === 'string' ? JSON.parse(v) : v) as T;
}
export function jsonOrNull<T>(v: unknown): T | null {
  return v == null ? null : json<T>(v);
}
export const toJson = (v: unknown): string => JSON.stringify(v);
export const toJsonOrNull = (v: unknown): string | null => (v == null ? null : JSON.stringify(v));

export function rowToCustomer(r: Record<string, unknown>): CustomerRecord {
  const consent = (c: Category) => ({
    state: r[`c_${c}_state`] as ConsentState,
    at: (r[`c_${c}_at`] as number | null) ?? null,
    source: (r[`c_${c}_source`] as string | null) ?? null,
  });
  return {
    wa_id: r.wa_id as string,
    profile_name: (r.profile_name as string | null) ?? null,
    consent: {
      marketing: consent('marketing'),
      utility: consent('utility'),
      authentication: consent('authentication'),
      service: consent('service'),
    },
    tags: json<string[]>(r.tags),
    time_zone: (r.time_zone as string | null) ?? null,
    undeliverable_at: (r.undeliverable_at as number | null) ?? null,
    marketing_limited_at: (r.marketing_limited_at as number | null) ?? null,
    created_at: r.created_at as number,
    updated_at: r.updated_at as number,
  };
}

export function rowToWindow(r: WindowRecord): WindowRecord {
  return {
    sender_id: r.sender_id,
    wa_id: r.wa_id,
    last_inbound_at: r.last_inbound_at,
    referral_at: r.referral_at ?? null,
    fep_opened_at: r.fep_opened_at ?? null,
  };
}

export function rowToTemplate(r: Record<string, unknown>): TemplateRecord {
  return {
    waba_id: r.waba_id as string,
    name: r.name as string,
    language: r.language as string,
    category: r.category as TemplateRecord['category'],
    status: r.status as TemplateRecord['status'],
    quality: (r.quality as TemplateRecord['quality']) ?? null,
    components: json<unknown[]>(r.components),
    meta_id: (r.meta_id as string | null) ?? null,
    updated_at: r.updated_at as number,
  };
}

/** History is stored in arrival order; readers get it ordered by time (stable for equal times). */
function byTime(history: StatusEvent[]): StatusEvent[] {
  return history.length < 2
    ? history
    : history
        .map((e, i) => [e, i] as const)
        .sort((a, b) => a[0].at - b[0].at || a[1] - b[1])
        .map(([e]) => e);
}

/** The columns a MessageRecord and a MovedMessage both read. */
function messageFacts(r: Record<string, unknown>): Omit<MovedMessage, 'deliveries' | 'delivered_at'> {
  return {
    id: r.id as string,
    sender_id: r.sender_id as string,
    to: r.recipient as string,
    category: r.category as Category,
    status: r.status as MessageStatus,
    wamid: (r.wamid as string | null) ?? null,
    attempts: Number(r.attempts),
    last_error: jsonOrNull(r.last_error),
    pricing: jsonOrNull(r.pricing),
    updated_at: Number(r.updated_at),
  };
}

export function rowToMessage(r: Record<string, unknown>): MessageRecord {
  return {
    ...messageFacts(r),
    type: r.type as string,
    template_name: (r.template_name as string | null) ?? null,
    template_language: (r.template_language as string | null) ?? null,
    payload: json(r.payload),
    idempotency_key: (r.idempotency_key as string | null) ?? null,
    request_hash: (r.request_hash as string | null) ?? null,
    reserved_marketing: r.reserved_marketing === 1 || r.reserved_marketing === true,
    reserved_tier: r.reserved_tier === 1 || r.reserved_tier === true,
    created_at: r.created_at as number,
    history: withDecision(byTime(json<StatusEvent[]>(r.history)), jsonOrNull(r.decision)),
  };
}

/**
 * The gate's decision, written in its own column (migration 10), taken out of the message's first
 * history event (the gate's `queued`), where it is put back on every read. A row keeps it in
 * history when it has no decision column value (stored before) or the event is not the gate's.
 */
export function splitDecision(history: readonly StatusEvent[]): { history: readonly StatusEvent[]; decision: unknown } {
  const first = history[0];
  const d = first?.source === 'gate' ? (first.detail as Record<string, unknown> | undefined) : undefined;
  if (!d || d.decision === undefined) return { history, decision: null };
  const { decision, ...rest } = d;
  return { history: [{ ...first, detail: rest }, ...history.slice(1)], decision };
}

function withDecision(history: StatusEvent[], decision: unknown): StatusEvent[] {
  if (decision === null) return history;
  const i = history.findIndex((h) => h.source === 'gate');
  if (i < 0) return history;
  history[i] = { ...history[i], detail: { decision, ...(history[i].detail as Record<string, unknown> | undefined) } };
  return history;
}

/** A MovedMessage from the columns of KyselyStore's movedColumns. */
export function rowToMoved(r: Record<string, unknown>): MovedMessage {
  return {
    ...messageFacts(r),
    deliveries: Number(r.deliveries ?? 0),
    delivered_at: r.delivered_at === null || r.delivered_at === undefined ? null : Number(r.delivered_at),
  };
}

export function rowToAudit(r: Record<string, unknown>): AuditEntry {
  return {
    id: Number(r.id),
    at: r.at as number,
    actor: r.actor as string,
    action: r.action as string,
    subject: (r.subject as string | null) ?? null,
    detail: json(r.detail),
  };
}

export function rowToDeadLetter(r: Record<string, unknown>): DeadLetter {
  return {
    id: r.id as string,
    message_id: r.message_id as string,
    sender_id: r.sender_id as string,
    reason_code: r.reason_code as string,
    explanation: r.explanation as string,
    fix: (r.fix as string | null) ?? null,
    meta_error: jsonOrNull(r.meta_error),
    attempts: r.attempts as number,
    created_at: r.created_at as number,
    state: r.state as DeadLetter['state'],
  };
}

export function rowToFailedWebhookBatch(r: Record<string, unknown>): FailedWebhookBatch {
  return {
    id: r.id as string,
    received_at: Number(r.received_at),
    failed_at: Number(r.failed_at),
    error: r.error as string,
    attempts: Number(r.attempts),
    state: r.state as FailedWebhookBatch['state'],
    updated_at: Number(r.updated_at),
    body_length: Number(r.body_length ?? (typeof r.body === 'string' ? r.body.length : 0)),
    ...(typeof r.body === 'string' ? { body: r.body } : {}),
  };
}

export function rowToAlert(r: Record<string, unknown>): AlertRecord {
  return {
    id: r.id as string,
    kind: r.kind as string,
    severity: r.severity as AlertRecord['severity'],
    dedupe_key: r.dedupe_key as string,
    sender_id: (r.sender_id as string | null) ?? null,
    title: r.title as string,
    body: r.body as string,
    detail: json(r.detail),
    created_at: r.created_at as number,
    last_sent_at: (r.last_sent_at as number | null) ?? null,
    resolved_at: (r.resolved_at as number | null) ?? null,
  };
}

export function rowToHealth(r: Record<string, unknown>): SenderHealthRecord {
  return { sender_id: r.sender_id as string, data: json(r.data), updated_at: r.updated_at as number };
}

export function rowToSenderStatus(r: Record<string, unknown>): SenderStatus {
  return {
    sender_id: r.sender_id as string,
    state: r.state as SenderStatus['state'],
    reason: (r.reason as string | null) ?? null,
    reason_code: (r.reason_code as string | null) ?? null,
    credentials_valid: r.credentials_valid === 1 || r.credentials_valid === true,
    since: (r.since as number | null) ?? null,
  };
}
