// What the rest of wagate knows about talking to Meta's Graph API. The client (client.ts) implements
// MetaClient; the sandbox (sandbox/) emulates the server side. Tokens never appear in these values.
import type { GraphError } from '../domain/errors/types.ts';

/** The error shape belongs to the Meta error catalog (src/domain/errors/types.ts); re-exported here. */
export type { GraphError };

export type SendResult =
  /** Meta accepted the request (200) and gave a wamid. */
  | { kind: 'accepted'; wamid: string; wa_id: string | null; http_status: number }
  /** Meta answered with an error: the request reached Meta and was refused. */
  | { kind: 'error'; error: GraphError }
  /** Never left this machine (connect refused, DNS, pool closed): safe to retry. */
  | { kind: 'not_sent'; reason: string }
  /** The request may have reached Meta (timeout after write, reset mid-response): in doubt. */
  | { kind: 'in_doubt'; reason: string };

export interface SenderCredentials {
  phone_number_id: string;
  waba_id: string;
  access_token: string;
}

export interface DebugTokenInfo {
  is_valid: boolean;
  app_id?: string;
  type?: string; // SYSTEM_USER, USER, PAGE
  expires_at: number; // seconds; 0 = never
  data_access_expires_at?: number;
  scopes: string[];
  granular_scopes: { scope: string; target_ids?: string[] }[];
  error?: { code: number; subcode?: number; message: string };
}

export interface PhoneNumberInfo {
  id: string;
  display_phone_number?: string;
  verified_name?: string;
  quality_rating?: string; // GREEN | YELLOW | RED | UNKNOWN
  messaging_limit_tier?: string; // TIER_250 | TIER_2K | TIER_10K | TIER_100K | TIER_UNLIMITED
  throughput?: { level: string };
  name_status?: string;
  status?: string;
}

/** Where a message is posted: Cloud API's /messages, or the Marketing Messages API's /marketing_messages. */
export type SendEndpoint = 'messages' | 'marketing_messages';

export type MetaResult<T> = { ok: true; value: T } | { ok: false; error: GraphError };

export interface MetaClient {
  /**
   * POST /{phone_number_id}/messages, or /marketing_messages (Meta's Marketing Messages API, same body)
   * when `endpoint` says so. `body` is Meta's message body; the client adds nothing else.
   */
  sendMessage(creds: SenderCredentials, body: Record<string, unknown>, endpoint?: SendEndpoint): Promise<SendResult>;
  markAsRead(creds: SenderCredentials, wamid: string): Promise<MetaResult<{ success: boolean }>>;
  listTemplates(
    creds: SenderCredentials,
    opts?: { limit?: number; after?: string },
  ): Promise<MetaResult<{ data: Record<string, unknown>[]; after?: string }>>;
  createTemplate(
    creds: SenderCredentials,
    tpl: Record<string, unknown>,
  ): Promise<MetaResult<{ id: string; status: string; category: string }>>;
  deleteTemplate(creds: SenderCredentials, name: string): Promise<MetaResult<{ success: boolean }>>;
  /** GET /{template_id}: one template as Meta's template API shows it (status, category, quality_score, components). */
  getTemplate(creds: SenderCredentials, templateId: string): Promise<MetaResult<Record<string, unknown>>>;
  getPhoneNumber(creds: SenderCredentials): Promise<MetaResult<PhoneNumberInfo>>;
  listPhoneNumbers(creds: SenderCredentials): Promise<MetaResult<PhoneNumberInfo[]>>;
  /** GET /debug_token?input_token=... (app token: the same token in sandbox mode). */
  debugToken(token: string, appToken?: string): Promise<MetaResult<DebugTokenInfo>>;
  close(): Promise<void>;
}
