// What any concern calls to raise an alert. The AlertService (service.ts) deduplicates, stores and
// fans out to notifiers (Slack, generic webhook, e-mail) without ever blocking the caller.

export type AlertKind =
  | 'credentials_invalid'
  | 'credentials_expiring'
  | 'scopes_missing'
  | 'sender_paused'
  | 'sender_halted'
  | 'tier_limit_80'
  | 'tier_limit_100'
  | 'quality_dropped'
  | 'limit_changed'
  | 'template_paused'
  | 'template_disabled'
  | 'dead_letters_growing'
  | 'queue_age'
  | 'backend_unreachable'
  | 'stored_token_unreadable'
  | 'campaign_paused';

export interface AlertInput {
  kind: AlertKind;
  severity: 'info' | 'warning' | 'critical';
  /** Same condition = same key: alerts once, then reminds at the configured interval. */
  dedupe_key: string;
  sender_id?: string | null;
  title: string;
  body: string; // what happened, what it means, how to fix it
  detail?: Record<string, unknown>;
}

export interface Alerter {
  /** Fire-and-forget: never throws, never waits for a notifier. */
  raise(a: AlertInput): void;
  /** The condition is over (e.g. token valid again): the next occurrence alerts afresh. */
  resolve(dedupe_key: string): void;
}
