// The engine's in-process event bus: every event name and its payload, in one typed map. Grep an
// event's name to find who emits it and who listens; a name not in this map does not compile.
import { EventEmitter } from 'node:events';
import type { MessageRecord } from '../domain/types.ts';

/** phone_number_quality_update, as the webhook handler read it (senders resolved). */
export interface PhoneQualityNotice {
  waba_id: string | null;
  sender_id: string | null;
  sender_ids: string[];
  display_phone_number: string | null;
  event: string | null;
  current_limit: unknown;
  old_limit: unknown;
  max_daily_conversations_per_business: unknown;
  at: number;
}

/** account_update, as the webhook handler read it. `stop_sending`: see accountStopsSending. */
export interface AccountUpdateNotice {
  /** The WABA the event is about: waba_info.waba_id on partner events, else entry.id. */
  waba_id: string | null;
  /** On partner events: entry.id, the partner's business portfolio (not a WABA). */
  partner_business_id?: string | null;
  sender_ids: string[];
  event: string | null;
  ban_state: string | null;
  stop_sending: boolean;
  /** ACCOUNT_RESTRICTION: what Meta restricted, until when, and its remediation (the gate enforces it). */
  restrictions?: import('../domain/restrictions.ts').SenderRestriction[];
  ban_info: unknown;
  violation_info: unknown;
  at: number;
}

/** business_capability_update, read: the portfolios' messaging limit Meta reports (null = unlimited). */
export interface CapabilityNotice {
  waba_id: string | null;
  sender_ids: string[];
  business_ids: string[];
  messaging_limit: number | null | undefined;
  max_phone_numbers_per_business: number | null;
  max_phone_numbers_per_waba: number | null;
  at: number;
}

export interface AccountAlertNotice {
  waba_id: string | null;
  sender_ids: string[];
  entity_type: string | null;
  entity_id: string | null;
  alert_info: unknown;
  at: number;
}

/** value.errors of a messages webhook: errors about the account or number, not one message. */
export interface SystemErrorNotice {
  waba_id: string | null;
  sender_id: string | null;
  phone_number_id: string | null;
  errors: { code: number; title: string | null; details: string | null; action: string }[];
}

export interface HaltCause {
  reason: string;
  reason_code: string;
  sender_id?: string;
  detail?: Record<string, unknown>;
}

/** What 'message.status' tells (a full MessageRecord or a store's MovedMessage, both carry it). */
export type MessageStatusChange = Pick<MessageRecord, 'id' | 'sender_id' | 'status' | 'wamid' | 'updated_at' | 'last_error'>;

export interface EngineEvents {
  /** A message's status moved (worker or webhook): the message after the change. */
  'message.status': [message: MessageStatusChange];
  /** Every sender halted (a credential error such as 190). */
  'sender.halt_all': [cause: HaltCause];
  'sender.resume': [event: { sender_id: string }];
  /** One webhook event applied, with its result (metrics label). */
  'webhook.applied': [event: { kind: string; key: string; result: string }];
  /** Work for a sender's workers: look at the queue now. */
  'delivery.kick': [event: { sender_id: string }];
  'meta.phone_quality': [notice: PhoneQualityNotice];
  'meta.account_update': [notice: AccountUpdateNotice];
  'meta.account_alert': [notice: AccountAlertNotice];
  'meta.capability': [notice: CapabilityNotice];
  'meta.system_error': [notice: SystemErrorNotice];
}

export type EngineBus = EventEmitter<EngineEvents>;

export function createBus(): EngineBus {
  return new EventEmitter<EngineEvents>();
}
