// Tokens replaced through the API are kept across restarts in the store, never in clear: sealed with
// AES-256-GCM under a key derived from the Meta app secret (which only the operator's config holds).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const keyOf = (secret: string) => createHash('sha256').update(`wagate-token-vault:${secret}`).digest();

/** "v1.<iv>.<tag>.<ciphertext>" (base64url parts). */
export function sealToken(token: string, secret: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keyOf(secret), iv);
  const data = Buffer.concat([c.update(token, 'utf8'), c.final()]);
  return ['v1', iv.toString('base64url'), c.getAuthTag().toString('base64url'), data.toString('base64url')].join('.');
}

/** The token, or null when it was sealed under another secret or tampered with. */
export function openToken(sealed: string, secret: string): string | null {
  const [v, iv, tag, data] = sealed.split('.');
  if (v !== 'v1' || !iv || !tag || data === undefined) return null;
  try {
    const d = createDecipheriv('aes-256-gcm', keyOf(secret), Buffer.from(iv, 'base64url'));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([d.update(Buffer.from(data, 'base64url')), d.final()]).toString('utf8');
  } catch {
    return null;
  }
}

/**
 * Opens a sealed token after an app secret rotation: with `current` first, then each of `previous` in
 * order (meta.app_secrets_previous). `resealed` is the token sealed again under `current` when an older
 * secret opened it (store it in place of the old value), else null. Null when no secret opens it.
 */
export function openSealedToken(
  sealed: string,
  current: string | undefined,
  previous: readonly string[] = [],
): { token: string; resealed: string | null; opened_with: 'current' | 'previous' } | null {
  if (current) {
    const token = openToken(sealed, current);
    if (token !== null) return { token, resealed: null, opened_with: 'current' };
  }
  for (const secret of previous) {
    const token = secret ? openToken(sealed, secret) : null;
    if (token !== null) return { token, resealed: current ? sealToken(token, current) : null, opened_with: 'previous' };
  }
  return null;
}
