// The words of every alert: what happened, what it means, how to fix it. One builder per condition so
// the same condition always gets the same dedupe key, whoever raises it (a worker hitting a 190 and the
// health monitor seeing an invalid token produce ONE alert, not two).
import type { AlertInput } from './port.ts';
import { explain, lookupSubcode } from '../domain/errors/index.ts';

export interface SenderRef {
  id: string;
  phone_number_id: string;
  waba_id: string;
}

/** Dedupe keys: the identity of a condition. */
export const alertKeys = {
  credentials: (senderId: string) => `credentials:${senderId}`,
  expiring: (senderId: string) => `credentials_expiring:${senderId}`,
  dataAccessExpiring: (senderId: string) => `data_access_expiring:${senderId}`,
  scopes: (senderId: string) => `scopes:${senderId}`,
  paused: (senderId: string, reasonCode: string) => `paused:${senderId}:${reasonCode}`,
  quality: (senderId: string, rating: string) => `quality:${senderId}:${rating}`,
  limit: (senderId: string, tier: string) => `limit:${senderId}:${tier}`,
  tier80: (businessId: string) => `tier80:${businessId}`,
  tier100: (businessId: string) => `tier100:${businessId}`,
  template: (wabaId: string, name: string, language: string, status: string) => `template:${wabaId}:${name}:${language}:${status}`,
  deadLetters: () => 'dead_letters',
  queueAge: (senderId: string) => `queue_age:${senderId}`,
  backend: (name: string) => `backend:${name}`,
  storedToken: (senderId: string) => `stored_token:${senderId}`,
};

export const REQUIRED_SCOPES = ['whatsapp_business_messaging', 'whatsapp_business_management'] as const;

/** What a credential error means, in one sentence: Meta's own words from the error catalog (§3, §8.3). */
export function explainCredentialError(
  code: number | null | undefined,
  subcode: number | null | undefined,
): { name: string; meaning: string } {
  const c = code ?? 190;
  const sub = lookupSubcode(subcode);
  if (c === 190 && sub) return { name: `${sub.name} (subcode ${sub.subcode})`, meaning: sub.meaning.replace(/\.$/, '') };
  if (c === 190 && subcode == null) {
    // WhatsApp v16+ sends no subcode (M-ERR): say what it usually is.
    return {
      name: 'invalid OAuth access token',
      meaning:
        'the access token expired, was revoked, or is otherwise invalid (Meta sends no subcode on WhatsApp; usual causes: a 60-day token expired, the system user or its app was removed, permissions were revoked)',
    };
  }
  const e = explain(c, subcode ?? null);
  return { name: e.subcode_name ? `${e.title}: ${e.subcode_name}` : e.title, meaning: e.meaning.replace(/\.$/, '') };
}

export function tokenFixSteps(s: SenderRef): string {
  return [
    'How to fix:',
    `1. In Meta Business Settings → Users → System users, generate a new token (expiry "Never" is recommended) with the permissions whatsapp_business_messaging and whatsapp_business_management, and make sure the WhatsApp account ${s.waba_id} is assigned to that system user.`,
    `2. Give it to wagate: update the sender "${s.id}" access_token (its environment variable) and restart, or call PUT /v1/senders/${s.id}/token with {"access_token": "<new token>"}.`,
    `3. wagate checks the new token with debug_token and resumes on its own; nothing queued is lost. If it stays halted, call POST /v1/senders/${s.id}/resume and read the answer.`,
  ].join('\n');
}

/** Error 190 (or any credential failure): the sender is halted. */
export function credentialsInvalidAlert(
  s: SenderRef,
  err: {
    code?: number | null;
    subcode?: number | null;
    message?: string | null;
    source: 'send' | 'debug_token' | 'account_update' | 'resume';
  },
): AlertInput {
  const { name, meaning } = explainCredentialError(err.code ?? 190, err.subcode ?? null);
  const codeText = `${err.code ?? 190}${err.subcode != null ? `/${err.subcode}` : ''}`;
  const where =
    err.source === 'send'
      ? 'a send to Meta failed with'
      : err.source === 'debug_token'
        ? 'debug_token reports'
        : err.source === 'resume'
          ? 'a resume attempt found'
          : 'Meta reported';
  return {
    kind: 'credentials_invalid',
    severity: 'critical',
    dedupe_key: alertKeys.credentials(s.id),
    sender_id: s.id,
    title: `Sender ${s.id} halted: access token invalid (${codeText} ${name})`,
    body: [
      `Sending from ${s.id} (phone number id ${s.phone_number_id}) is halted: ${where} error ${codeText} (${name}).`,
      `What it means: ${meaning}.${err.message ? ` Meta said: "${err.message}".` : ''}`,
      'Messages stay queued; none is sent or lost while halted.',
      tokenFixSteps(s),
    ].join('\n'),
    detail: {
      code: err.code ?? 190,
      subcode: err.subcode ?? null,
      name,
      source: err.source,
      phone_number_id: s.phone_number_id,
      waba_id: s.waba_id,
    },
  };
}

export function credentialsExpiringAlert(
  s: SenderRef,
  expiresAtS: number,
  now: number,
  field: 'expires_at' | 'data_access_expires_at' = 'expires_at',
): AlertInput {
  const days = Math.max(0, (expiresAtS * 1000 - now) / 86_400_000);
  const when = new Date(expiresAtS * 1000).toISOString();
  const data = field === 'data_access_expires_at';
  return {
    kind: 'credentials_expiring',
    severity: days < 1 ? 'critical' : 'warning',
    dedupe_key: data ? alertKeys.dataAccessExpiring(s.id) : alertKeys.expiring(s.id),
    sender_id: s.id,
    title: `Sender ${s.id}: ${data ? 'data access' : 'access token'} expires in ${days.toFixed(1)} days`,
    body: [
      `The ${data ? "token's data access" : 'access token'} of sender ${s.id} (phone number id ${s.phone_number_id}) expires at ${when}. After that every send fails with error 190 and wagate halts the sender.`,
      'Replace it before then (a non-expiring System User token avoids this).',
      tokenFixSteps(s),
    ].join('\n'),
    detail: { field, expires_at: when, days_left: Number(days.toFixed(2)) },
  };
}

export function scopesMissingAlert(s: SenderRef, missing: string[], uncovered: string[]): AlertInput {
  const parts: string[] = [];
  if (missing.length) parts.push(`the token lacks the permission(s) ${missing.join(', ')}`);
  if (uncovered.length)
    parts.push(
      `the permission(s) ${uncovered.join(', ')} do not cover WhatsApp account ${s.waba_id} / phone number ${s.phone_number_id} (granular_scopes target_ids)`,
    );
  return {
    kind: 'scopes_missing',
    severity: 'critical',
    dedupe_key: alertKeys.scopes(s.id),
    sender_id: s.id,
    title: `Sender ${s.id}: token is missing WhatsApp permissions`,
    body: [`For sender ${s.id}: ${parts.join('; ')}. Sends will fail with error 10 or 200.`, tokenFixSteps(s)].join('\n'),
    detail: { missing, uncovered },
  };
}

const QUALITY_WORD: Record<string, string> = { GREEN: 'High', YELLOW: 'Medium', RED: 'Low' };

export function qualityDroppedAlert(s: SenderRef, from: string, to: string): AlertInput {
  return {
    kind: 'quality_dropped',
    severity: to === 'RED' ? 'critical' : 'warning',
    dedupe_key: alertKeys.quality(s.id, to),
    sender_id: s.id,
    title: `Sender ${s.id}: quality rating dropped ${from} → ${to}`,
    body: [
      `Meta rates the messages of ${s.id} (phone number id ${s.phone_number_id}) ${QUALITY_WORD[to] ?? to} quality now (was ${QUALITY_WORD[from] ?? from}).`,
      'What it means: users are blocking or reporting recent messages. Persistent low quality brings spam rate limits (131048), blocks throughput upgrades and limit increases.',
      'How to fix: pause or narrow marketing campaigns, check opt-in and frequency, review recent templates for quality (WhatsApp Manager → Insights).',
    ].join('\n'),
    detail: { from, to },
  };
}

export function limitChangedAlert(s: SenderRef, from: string, to: string): AlertInput {
  return {
    kind: 'limit_changed',
    severity: 'info',
    dedupe_key: alertKeys.limit(s.id, to),
    sender_id: s.id,
    title: `Sender ${s.id}: messaging limit changed ${from} → ${to}`,
    body: `Meta changed the business-initiated messaging limit seen on ${s.id} (phone number id ${s.phone_number_id}) from ${from} to ${to}. Update the sender's messaging_limit in the config so the gate counts against the new limit.`,
    detail: { from, to },
  };
}

export function tierLimitAlert(businessId: string, senders: string[], usage: number, limit: number): AlertInput {
  const pct = Math.floor((usage / limit) * 100);
  const full = usage >= limit;
  return {
    kind: full ? 'tier_limit_100' : 'tier_limit_80',
    severity: full ? 'critical' : 'warning',
    dedupe_key: full ? alertKeys.tier100(businessId) : alertKeys.tier80(businessId),
    sender_id: senders.length === 1 ? senders[0] : null,
    title: `Messaging limit ${full ? 'reached' : 'at ' + pct + '%'} for business ${businessId}: ${usage}/${limit}`,
    body: [
      `${usage} unique customers received business-initiated messages in the last 24 h, against a portfolio limit of ${limit} (senders: ${senders.join(', ')}).`,
      full
        ? 'The gate now refuses new business-initiated conversations with TIER_LIMIT until the rolling 24 h window frees room. Replies inside open customer-service windows still go out.'
        : 'At 100% the gate refuses new business-initiated conversations (TIER_LIMIT).',
      'How to fix: spread campaigns over more time, or raise the limit (verify the business; keep quality high so Meta scales the portfolio).',
    ].join('\n'),
    detail: { business_id: businessId, usage, limit, percent: pct },
  };
}

/** For the webhook processor: a template went PAUSED / DISABLED (message_template_status_update). */
export function templateStatusAlert(t: {
  waba_id: string;
  name: string;
  language: string;
  status: string;
  reason?: string | null;
  detail?: string | null;
}): AlertInput {
  const disabled = t.status === 'DISABLED';
  return {
    kind: disabled ? 'template_disabled' : 'template_paused',
    severity: disabled ? 'critical' : 'warning',
    dedupe_key: alertKeys.template(t.waba_id, t.name, t.language, t.status),
    sender_id: null,
    title: `Template ${t.name} (${t.language}) ${disabled ? 'disabled' : 'paused'} by Meta`,
    body: [
      `Meta ${disabled ? 'disabled' : 'paused'} the template ${t.name} (${t.language}) on WhatsApp account ${t.waba_id}${t.reason ? ` (reason: ${t.reason})` : ''}.${t.detail ? ` ${t.detail}` : ''}`,
      disabled
        ? 'What it means: it can no longer be sent (132016); messages using it are refused by the gate.'
        : 'What it means: low quality feedback; sends fail with 132015 until it is unpaused (pauses last 3 h, then 6 h; a third time disables it).',
      'How to fix: review the template content and audience, then edit it or create a new one; a paused template can be unpaused in WhatsApp Manager or with POST /{template_id}/unpause.',
    ].join('\n'),
    detail: { waba_id: t.waba_id, name: t.name, language: t.language, status: t.status, reason: t.reason ?? null },
  };
}

export function deadLettersAlert(count: number, threshold: number): AlertInput {
  return {
    kind: 'dead_letters_growing',
    severity: 'warning',
    dedupe_key: alertKeys.deadLetters(),
    sender_id: null,
    title: `${count > threshold ? `More than ${threshold}` : count} open dead letters`,
    body: `Open dead letters exceed the threshold of ${threshold}: messages that could not be delivered are piling up. Inspect them (GET /v1/dead-letters): each says why and how to fix it; replay or discard them once fixed.`,
    detail: { count, threshold },
  };
}

export function queueAgeAlert(senderId: string, ageS: number, thresholdS: number, state: string): AlertInput {
  return {
    kind: 'queue_age',
    severity: 'warning',
    dedupe_key: alertKeys.queueAge(senderId),
    sender_id: senderId,
    title: `Queue for ${senderId}: oldest message waiting ${Math.round(ageS)} s`,
    body: [
      `The oldest queued message of sender ${senderId} has waited ${Math.round(ageS)} s (bound: ${thresholdS} s). The sender is ${state}.`,
      state === 'active'
        ? 'How to fix: the send rate is below the submit rate (throughput tier, throttling 130429 or pair limits); check /metrics and the delivery logs.'
        : `How to fix: the sender is ${state}; resolve the cause (GET /v1/senders/${senderId}/health) and resume it.`,
    ].join('\n'),
    detail: { age_s: Math.round(ageS), threshold_s: thresholdS, state },
  };
}

export function backendAlert(name: string, kind: string, error?: string): AlertInput {
  return {
    kind: 'backend_unreachable',
    severity: 'critical',
    dedupe_key: alertKeys.backend(name),
    sender_id: null,
    title: `Backend ${name} (${kind}) unreachable`,
    body: [
      `wagate cannot reach its ${name} backend (${kind})${error ? `: ${error}` : ''}.`,
      'What it means: submits and deliveries that need it fail or wait; nothing accepted is dropped, but new work may be refused.',
      `How to fix: check that the ${kind} server is up and reachable with the configured URL (wagate doctor checks each backend).`,
    ].join('\n'),
    detail: { backend: name, kind, error: error ?? null },
  };
}

/** A token set through the API (kept sealed under the app secret) cannot be opened after a restart. */
export function storedTokenUnreadableAlert(
  s: SenderRef,
  reason: 'secret_changed' | 'no_app_secret' | 'malformed',
  setAt: number | null,
): AlertInput {
  const why = {
    secret_changed:
      'neither meta.app_secret nor any of meta.app_secrets_previous opens it (the app secret was changed since the token was set)',
    no_app_secret: 'meta.app_secret is not set, so it cannot be opened',
    malformed: 'the stored value is not a sealed token wagate wrote (damaged or edited)',
  }[reason];
  return {
    kind: 'stored_token_unreadable',
    severity: 'critical',
    dedupe_key: alertKeys.storedToken(s.id),
    sender_id: s.id,
    title: `Sender ${s.id}: the token set through the API cannot be opened; the configured token is used`,
    body: [
      `Sender ${s.id} (phone number id ${s.phone_number_id}) has an access token set with PUT /v1/senders/${s.id}/token${setAt ? ` at ${new Date(setAt).toISOString()}` : ''}, kept sealed in the store: ${why}.`,
      'What it means: wagate sends with the access_token of the config instead. If Meta refuses that one, the sender is halted. The sealed token is kept, not deleted.',
      reason === 'malformed'
        ? `How to fix: set the token again (PUT /v1/senders/${s.id}/token with {"access_token": "<token>"}); it replaces the stored value.`
        : `How to fix: put the app secret the token was set under in meta.app_secrets_previous (or set meta.app_secret) and restart: wagate opens it and seals it again under the current secret. Or set the token again with PUT /v1/senders/${s.id}/token.`,
    ].join('\n'),
    detail: { reason, set_at: setAt ? new Date(setAt).toISOString() : null },
  };
}
