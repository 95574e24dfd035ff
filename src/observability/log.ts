// Structured JSON logs (pino). Secrets are redacted by key; phone numbers must go through maskPhone().
import { pino, destination, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'access_token', '*.access_token', '*.*.access_token', 'token', '*.token', 'authorization', '*.authorization',
  'headers.authorization', 'app_secret', '*.app_secret', 'pass', '*.pass', 'key', '*.key',
];

export function createLogger(level = 'info', opts: { stderr?: boolean } = {}): Logger {
  // MCP over stdio owns stdout: logs must then go to stderr (fd 2).
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' }, base: { app: 'wagate' } }, opts.stderr ? destination(2) : undefined);
}

/** "15551234567" → "1555•••4567": enough to correlate, not enough to identify. */
export function maskPhone(phone: string | null | undefined): string {
  if (!phone) return '';
  const d = phone.replace(/[^\d]/g, '');
  if (d.length <= 6) return '•'.repeat(d.length);
  return `${d.slice(0, 4)}•••${d.slice(-4)}`;
}

/** Replaces anything that looks like a Graph access token (EAA…) in free text. */
export function scrubSecrets(text: string): string {
  return text.replace(/EAA[A-Za-z0-9]{20,}/g, 'EAA[redacted]').replace(/access_token=[^&\s"]+/g, 'access_token=[redacted]');
}

/** A connection URL without its password, for messages and logs ("redis://u:***@host:6379/0"). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
