// X-Hub-Signature-256: HMAC-SHA256 of the RAW request body keyed with the Meta app secret, lowercase hex
// after "sha256=" (cloud-api.md §7.2). Verified on the exact bytes received, never on re-serialised
// JSON (Meta escapes non-ASCII as \uXXXX in what it signs). Several secrets may be valid at once while
// an app secret is rotated: the current one and the previous ones.
import { createHmac, timingSafeEqual } from 'node:crypto';

export type SignatureCheck =
  | { ok: true; secret_index: number }
  | { ok: false; reason: 'no_secret_configured' | 'missing' | 'malformed' | 'mismatch' };

/** The header value Meta would send for `raw` signed with `secret` ("sha256=<hex>"). */
export function signPayload(raw: Buffer | string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
}

const HEADER_RE = /^sha256=([0-9a-fA-F]{64})$/;

/**
 * Checks `header` against every configured secret with a constant-time comparison of the digests.
 * Secrets that are empty or undefined are ignored; none left → `no_secret_configured` (never accept
 * an unsigned webhook just because nobody configured a secret).
 */
export function verifySignature(
  raw: Buffer,
  header: string | string[] | undefined,
  secrets: readonly (string | null | undefined)[],
): SignatureCheck {
  const keys = secrets.filter((s): s is string => typeof s === 'string' && s.length > 0);
  if (keys.length === 0) return { ok: false, reason: 'no_secret_configured' };
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return { ok: false, reason: 'missing' };
  const m = HEADER_RE.exec(value.trim());
  if (!m) return { ok: false, reason: 'malformed' };
  const given = Buffer.from(m[1].toLowerCase(), 'hex');
  for (let i = 0; i < keys.length; i++) {
    const expected = createHmac('sha256', keys[i]).update(raw).digest();
    if (timingSafeEqual(expected, given)) return { ok: true, secret_index: i };
  }
  return { ok: false, reason: 'mismatch' };
}

/** Constant-time string equality for the verification token (lengths may leak, contents do not). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ab.length !== bb.length) return false;
  return timingSafeEqual(ab, bb);
}
