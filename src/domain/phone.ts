// Phone numbers → E.164 (libphonenumber-js). State is keyed by the normalised number: digits without
// '+', exactly what Meta's `to` and `wa_id` look like. Pure: no I/O.
import { isSupportedCountry, parsePhoneNumberWithError, ParseError, validatePhoneNumberLength } from 'libphonenumber-js';
import metadata from 'libphonenumber-js/min/metadata';

export type PhoneResult =
  | { ok: true; e164: string; digits: string; country: string | null; calling_code: string; valid_range: boolean }
  | { ok: false; reason: string; fix: string };

const callingCodes = (metadata as { country_calling_codes: Record<string, string[]> }).country_calling_codes;

const REASONS: Record<string, string> = {
  NOT_A_NUMBER: 'it is not a phone number',
  INVALID_COUNTRY: 'it has no valid international country calling code',
  TOO_SHORT: 'it is too short for its country calling code',
  TOO_LONG: 'it is too long for its country calling code',
  INVALID_LENGTH: 'its length is not valid for its country calling code',
};

const FIX = 'Give the number in international format with its country code, e.g. "+14155550123" or "14155550123".';

/**
 * Normalises a recipient. Accepts "+CC…", "00CC…" or bare digits that already include the country code
 * (as Meta's own examples do); spaces, dashes, dots and parentheses are ignored. A number without a
 * country code is refused rather than guessed: Meta would silently prepend the *business's* country
 * code and could deliver to the wrong person (cloud-api.md §1.1).
 *
 * We accept any number whose length is possible for its calling code, even when the range is not a
 * known assigned one (`valid_range: false`): test and fictional ranges (+44 7700 900xxx, +1 555 01xx)
 * must work in the sandbox, and Meta itself answers for unreachable numbers.
 */
export function normalisePhone(input: unknown): PhoneResult {
  if (typeof input !== 'string' && typeof input !== 'number') {
    return { ok: false, reason: `expected a phone number string, got ${input === null ? 'null' : typeof input}`, fix: FIX };
  }
  const raw = String(input).trim();
  if (!raw) return { ok: false, reason: 'it is empty', fix: FIX };
  if (/[a-z]/i.test(raw)) return { ok: false, reason: 'it contains letters', fix: FIX };
  let s = raw.replace(/[\s\-().\u00a0]/g, '');
  if (s.startsWith('00')) s = '+' + s.slice(2);
  if (!s.startsWith('+')) s = '+' + s;
  if (!/^\+\d+$/.test(s))
    return { ok: false, reason: 'it contains characters other than digits, "+", spaces, dashes and parentheses', fix: FIX };
  s = `+${canonicalDigits(s.slice(1))}`;
  const lengthProblem = validatePhoneNumberLength(s);
  if (lengthProblem) return { ok: false, reason: REASONS[lengthProblem] ?? lengthProblem, fix: FIX };
  try {
    const p = parsePhoneNumberWithError(s);
    const cc = p.countryCallingCode as string;
    // NANP (+1) spans many countries: only trust the library's per-area-code answer there, never guess US.
    const country = p.country ?? (cc === '1' ? null : (callingCodes[cc]?.[0] ?? null));
    const digits = canonicalDigits((p.number as string).slice(1));
    return {
      ok: true,
      e164: `+${digits}`,
      digits,
      country: country === '001' ? null : country,
      calling_code: cc,
      valid_range: p.isValid(),
    };
  } catch (err) {
    const code = err instanceof ParseError ? err.message : 'NOT_A_NUMBER';
    return { ok: false, reason: REASONS[code] ?? code, fix: FIX };
  }
}

/**
 * One key per person for Brazil and Mexico, where Meta's `wa_id` and the number a business types
 * differ (cloud-api.md §1.1: "Cloud API may modify the extra prefix"):
 * - Brazil: accounts from before the 9th mobile digit have wa_ids like 55 11 8765-4321 (12 digits);
 *   the number today is 55 11 98765-4321. A 12-digit +55 number whose subscriber part starts with 6-9
 *   is such a mobile: insert the 9.
 * - Mexico: wa_ids carry the old mobile "1" (52 1 55 1234 5678); numbers no longer do: drop it.
 * Windows, opt-outs and caps are keyed by this form, so an inbound from the old form and a send to
 * the new one meet. Webhooks should key inbound `from` / `wa_id` with canonicalWaId().
 */
export function canonicalDigits(digits: string): string {
  if (digits.length === 12 && digits.startsWith('55') && digits[4] >= '6') return `${digits.slice(0, 4)}9${digits.slice(4)}`;
  if (digits.length === 13 && digits.startsWith('521')) return `52${digits.slice(3)}`;
  return digits;
}

/** A wa_id (or any digits-with-country-code string) → the key wagate stores state under. */
export function canonicalWaId(raw: string): string {
  return canonicalDigits(String(raw).replace(/\D/g, ''));
}

/** True for an ISO 3166 alpha-2 code that phone numbers belong to ("IN", "BR"); false for "XX", "ZZ", "in". */
export function isPhoneCountry(code: string): boolean {
  return /^[A-Z]{2}$/.test(code) && isSupportedCountry(code);
}
