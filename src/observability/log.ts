// Logs (pino): JSON lines, or readable lines (pino-pretty) when they go to a terminal. Secrets are
// redacted by key before either format sees them; phone numbers must go through maskPhone().
import { isatty } from 'node:tty';
import { pino, destination, type DestinationStream, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';

export type { Logger };

export type LogFormat = 'json' | 'pretty';
const FORMATS = ['json', 'pretty', 'auto'];

/**
 * WAGATE_LOG_FORMAT=json|pretty, else (unset or `auto`) pretty on a terminal and JSON otherwise: a
 * pipe, a file, a container's log driver or a log shipper keeps getting one JSON object per line.
 */
export function logFormat(env: Record<string, string | undefined>, tty: boolean): LogFormat {
  const v = env.WAGATE_LOG_FORMAT?.trim().toLowerCase();
  if (v === 'json' || v === 'pretty') return v;
  return tty ? 'pretty' : 'json';
}

export interface LoggerOptions {
  /** Log to stderr (fd 2), not stdout: MCP over stdio owns stdout. */
  stderr?: boolean;
  /** Where lines go instead of fd 1/2 (tests); an `isTTY: true` stream counts as a terminal. */
  stream?: DestinationStream & { isTTY?: boolean };
  /** Read for WAGATE_LOG_FORMAT and NO_COLOR (default process.env). */
  env?: Record<string, string | undefined>;
}

const REDACT = [
  'access_token',
  '*.access_token',
  '*.*.access_token',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'app_secret',
  '*.app_secret',
  'pass',
  '*.pass',
  'key',
  '*.key',
];

export function createLogger(level = 'info', opts: LoggerOptions = {}): Logger {
  const env = opts.env ?? process.env;
  const fd = opts.stderr ? 2 : 1;
  const tty = opts.stream ? opts.stream.isTTY === true : isatty(fd);
  const format = logFormat(env, tty);
  const options = { level, redact: { paths: REDACT, censor: '[redacted]' }, base: { app: 'wagate' } };
  const log =
    format === 'pretty'
      ? pino(options, prettyStream(opts.stream ?? destination({ fd, sync: true }), tty && !env.NO_COLOR))
      : pino(options, opts.stream ?? (opts.stderr ? destination(2) : undefined));
  const asked = env.WAGATE_LOG_FORMAT?.trim().toLowerCase();
  if (asked && !FORMATS.includes(asked))
    log.warn({ WAGATE_LOG_FORMAT: env.WAGATE_LOG_FORMAT }, `WAGATE_LOG_FORMAT is not json, pretty or auto; using ${format}`);
  return log;
}

/**
 * Readable lines: "12:04:05.123 INFO: delivery: message sent {"id":"msg_1",...}". pino serialises (and
 * redacts) each line first, then this formats it, synchronously: a line logged just before
 * process.exit() is not lost in a transport's worker thread.
 */
function prettyStream(out: DestinationStream, colorize: boolean): DestinationStream {
  const pretty = prettyFactory({
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,app,component',
    messageFormat: '{if component}{component}: {end}{msg}',
    singleLine: true,
  });
  return { write: (line: string) => out.write(pretty(line)) };
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
