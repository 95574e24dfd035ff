// The Decision: what the gate answers for every outbound message, allowed or not.
// Reason codes are a public, stable contract (documented in the README): never rename one.

export const REASON_CODES = [
  'INVALID_RECIPIENT',
  'INVALID_MESSAGE',
  'UNKNOWN_SENDER',
  'SENDER_PAUSED',
  'SENDER_RESTRICTED',
  'CREDENTIALS_INVALID',
  'OPTED_OUT',
  'OPT_IN_REQUIRED',
  'WINDOW_CLOSED_TEMPLATE_REQUIRED',
  'TEMPLATE_NOT_FOUND',
  'TEMPLATE_NOT_APPROVED',
  'TEMPLATE_PAUSED',
  'TEMPLATE_PARAMS_MISMATCH',
  'FREQUENCY_CAP',
  'MARKETING_LIMITED_BY_META',
  'MARKET_RESTRICTED',
  'RECIPIENT_UNDELIVERABLE',
  'TIER_LIMIT',
  'POLICY_QUIET_HOURS',
  'POLICY_EXCLUDED_TAG',
  'POLICY_CATEGORY_DENIED',
  'GATE_UNAVAILABLE',
  'BSUID_NOT_SUPPORTED',
] as const;

export type ReasonCode = (typeof REASON_CODES)[number];

export interface CheckResult {
  rule: string; // stable rule name, e.g. "care_window", "opt_out", "frequency_cap"
  passed: boolean;
  detail: string; // one human sentence
}

export interface Decision {
  allowed: boolean;
  reason_code: ReasonCode | null; // null when allowed
  explanation: string;
  suggested_action: string;
  retry_after_s?: number;
  checks: CheckResult[];
}

export function allow(checks: CheckResult[], explanation = 'All checks passed.'): Decision {
  return { allowed: true, reason_code: null, explanation, suggested_action: 'none', checks };
}

export function deny(
  reason_code: ReasonCode,
  explanation: string,
  suggested_action: string,
  checks: CheckResult[],
  retry_after_s?: number,
): Decision {
  const d: Decision = { allowed: false, reason_code, explanation, suggested_action, checks };
  if (retry_after_s !== undefined) d.retry_after_s = retry_after_s;
  return d;
}
