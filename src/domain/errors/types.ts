// Types of the Meta error catalog and its classification. Pure data: no I/O.

/** A Graph API error as Meta returns it (sync body `error`, or an async status webhook `errors[]`). */
export interface GraphError {
  code: number;
  subcode: number | null;
  message: string;
  title: string | null;
  details: string | null; // error_data.details
  fbtrace_id: string | null;
  http_status: number | null; // null for async (webhook) errors
  source: 'sync' | 'webhook' | 'transport';
}

/** What the delivery worker does with a failed send. */
export type ErrorAction =
  | 'retry' // transient: backoff with jitter, the worker picks the delay
  | 'retry_after' // throttling or a known wait: retry after retry_after_ms
  | 'fix_request' // the request or config is wrong: dead-letter with the reason, alert developers
  | 'drop' // this message cannot be delivered (recipient state, policy): dead-letter, no retry
  | 'pause_sender' // this phone number cannot send until a human acts (quality, account, registration)
  | 'pause_template' // this template cannot be used (paused or disabled by Meta)
  | 'halt_all'; // credentials or permissions: stop every consumer, alert, resume when valid again

/** What the error is about: how far the worker's reaction should reach. */
export type ErrorScope = 'message' | 'recipient' | 'sender' | 'template' | 'all';

/** How long Meta implies one should wait before retrying. */
export type DelayRule =
  | { kind: 'fixed'; ms: number }
  /** 131056 pair limit: 4^X seconds, X = 0 on the first failure, +1 per failure (Meta, M-PLAT). */
  | { kind: 'pow4'; cap_ms: number }
  | { kind: 'exponential'; base_ms: number; cap_ms: number }
  /** Meta states the wait in error_data.details (2-step PIN lockouts); default when it cannot be read. */
  | { kind: 'details'; default_ms: number };

/** A different reading of the same code, recognised by its details/message text (Meta: build on `code` and `details`). */
export interface CatalogVariant {
  match: RegExp;
  note: string;
  action: ErrorAction;
  scope?: ErrorScope;
  delay?: DelayRule;
  max_attempts?: number;
  exhausted?: 'fix_request' | 'drop';
}

export interface CatalogEntry {
  code: number;
  /** Inclusive upper bound when the entry covers a range of codes (200–299). */
  code_to?: number;
  title: string;
  /** HTTP status in Meta's current table; null when not documented. Never used to classify a known code. */
  http_status: number | null;
  /** How the error reaches wagate: sync Graph response, async webhook, or both. */
  where: 'sync' | 'async' | 'both';
  /** Meta's meaning, in short. */
  meaning: string;
  action: ErrorAction;
  scope: ErrorScope;
  delay?: DelayRule;
  /**
   * For retry actions: after this many failures in a row with this code the action becomes `exhausted`. A
   * cap makes the code a definite failure (counted, see Classification.transient); it must not exceed
   * the default of delivery.max_attempts (8), which bounds every counted send.
   */
  max_attempts?: number;
  exhausted?: 'fix_request' | 'drop';
  /** What happened, for a human who has never seen the code. */
  explanation: string;
  /** What to do about it, step by step. */
  fix: string;
  /** Section of shared/meta/cloud-api.md (or Meta page) the entry comes from. */
  section: string;
  variants?: CatalogVariant[];
}

/** Error 190 subcodes (Graph "Authentication Error Subcodes"). */
export interface SubcodeEntry {
  subcode: number;
  name: string;
  meaning: string;
  fix: string;
}

export interface Classification {
  action: ErrorAction;
  /** The delay Meta implies, for retry_after (and a hint for retry). */
  retry_after_ms?: number;
  /**
   * True when the failure says nothing about the message: Meta's 5xx and outage codes (131000, 2,
   * 131016, 133004, an unknown code with HTTP 5xx/429 or none) and every wait Meta asks for
   * (130429, 131056, 80007, ...), uncapped. The worker does not count it as an attempt and retries it
   * until the failures in a row have lasted delivery.retry_max_age_h. False for a retry the catalog
   * caps (code 1) or an unknown code with an unexpected HTTP status: counted, bounded by the cap and
   * delivery.max_attempts. Always false for the other actions.
   */
  transient: boolean;
  scope: ErrorScope;
  /** False when the code is not in the catalog: the action is a safe default by HTTP status. */
  known: boolean;
  entry: CatalogEntry;
  /** Set when a details-text variant of the code matched. */
  variant?: string;
}
