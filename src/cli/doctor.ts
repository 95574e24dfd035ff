// `wagate doctor`: is this installation able to send? Checks the config, every configured backend,
// every sender's token (debug_token: validity, expiry, the two WhatsApp permissions) and number, the
// webhook setup and the alert channels. Prints ✓ / ✗ (a problem, with its fix) / ! (a warning).
// Exit 0: all good; 1: problems found; 2: the config itself is invalid.
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Redis } from 'ioredis';
import { connect as natsConnect } from 'nats';
import { ConfigError, loadConfig, needsSandbox, resolveSenders } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { GraphClient } from '../meta/client.ts';
import { checkToken } from '../engine/senders.ts';
import { explainCredentialError, REQUIRED_SCOPES } from '../alerts/messages.ts';
import { scrubSecrets } from '../observability/log.ts';

export interface DoctorOptions {
  config?: string;
  /** Where lines go (default stdout). */
  write?: (line: string) => void;
  env?: Record<string, string | undefined>;
  /** Per-probe timeout (ms). */
  timeout_ms?: number;
  now?: () => number;
}

type Mark = 'ok' | 'fail' | 'warn' | 'info';
const SYMBOL: Record<Mark, string> = { ok: '✓', fail: '✗', warn: '!', info: '•' };

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

async function within<T>(ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<T>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const errText = (e: unknown) => scrubSecrets(String((e as Error)?.message ?? e));

export async function run(opts: DoctorOptions = {}): Promise<number> {
  const write = opts.write ?? ((l: string) => void process.stdout.write(l + '\n'));
  const env = opts.env ?? process.env;
  const timeout = opts.timeout_ms ?? 3_000;
  const now = opts.now ?? Date.now;
  let problems = 0;
  let warnings = 0;
  const line = (mark: Mark, text: string, fix?: string) => {
    if (mark === 'fail') problems++;
    if (mark === 'warn') warnings++;
    write(`${SYMBOL[mark]} ${text}`);
    if (fix) write(`    fix: ${fix}`);
  };

  write('wagate doctor');
  write('');
  // ---- config
  let config: Config;
  let file: string | null;
  try {
    ({ config, file } = loadConfig({ file: opts.config ?? null, env }));
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) line('fail', `config ${p.key}${p.where ? ` (${p.where})` : ''}: ${p.problem}`, p.fix);
      write('');
      write('The configuration is invalid: fix it first (exit 2).');
      return 2;
    }
    throw err;
  }
  line('ok', `config loaded from ${file ?? 'defaults and environment (no file)'}`);

  // ---- backends
  write('');
  write('Backends');
  if (config.database_url) {
    const url = config.database_url;
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeout });
    try {
      await within(timeout, 'PostgreSQL', async () => {
        await client.connect();
        await client.query('select 1');
      });
      line('ok', `PostgreSQL answers at ${redact(url)} (schema "${config.namespace}")`);
    } catch (e) {
      line(
        'fail',
        `PostgreSQL at ${redact(url)} does not answer: ${errText(e)}`,
        'start PostgreSQL or correct WAGATE_DATABASE_URL / database_url (postgres://user:password@host:5432/db); unset it to use the embedded SQLite store',
      );
    } finally {
      await client.end().catch(() => {});
    }
  }
  if (!config.database_url || !config.nats_url) {
    const dir = config.data_dir;
    try {
      if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
      const files = [!config.database_url ? 'wagate.db' : null, !config.nats_url ? 'queue.db' : null].filter((f): f is string => !!f);
      for (const f of files) {
        const path = join(dir, f);
        if (!existsSync(path)) continue; // created on first start
        const db = new Database(path, { readonly: true, fileMustExist: true });
        try {
          db.prepare('select 1').get();
        } finally {
          db.close();
        }
      }
      line('ok', `embedded SQLite (${files.join(', ')}) in ${dir} is writable`);
    } catch (e) {
      line(
        'fail',
        `embedded data directory ${dir} is not usable: ${errText(e)}`,
        'make the directory writable by this user, or point WAGATE_DATA_DIR / data_dir elsewhere',
      );
    }
  }
  if (config.redis_url) {
    const url = config.redis_url;
    const redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: timeout,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
    });
    redis.on('error', () => {});
    try {
      const pong = await within(timeout, 'Redis', async () => {
        await redis.connect();
        return redis.ping();
      });
      if (pong !== 'PONG') throw new Error(`unexpected answer ${pong}`);
      line('ok', `Redis answers at ${redact(url)}`);
    } catch (e) {
      line(
        'fail',
        `Redis at ${redact(url)} does not answer: ${errText(e)}`,
        'start Redis or correct WAGATE_REDIS_URL / redis_url (redis://host:6379); unset it to use the embedded gate and pacing',
      );
    } finally {
      redis.disconnect();
    }
  } else line('info', 'gate and pacing: embedded (in process); set WAGATE_REDIS_URL to share them between instances');
  if (config.nats_url) {
    const url = config.nats_url;
    let nc: Awaited<ReturnType<typeof natsConnect>> | null = null;
    try {
      nc = await within(timeout, 'NATS', () => natsConnect({ servers: url, timeout, maxReconnectAttempts: 0 }));
      const jsm = await nc.jetstreamManager({ timeout });
      await within(timeout, 'JetStream', () => jsm.getAccountInfo());
      line('ok', `NATS JetStream answers at ${redact(url)}`);
    } catch (e) {
      const msg = errText(e);
      const fix = /jetstream|503/i.test(msg)
        ? 'the NATS server runs without JetStream: start it with -js (and a storage dir, -sd)'
        : 'start nats-server -js or correct WAGATE_NATS_URL / nats_url (nats://host:4222); unset it to use the embedded queue';
      line('fail', `NATS at ${redact(url)}: ${msg}`, fix);
    } finally {
      await nc?.close().catch(() => {});
    }
  } else line('info', 'queue: embedded (SQLite in process); set WAGATE_NATS_URL for NATS JetStream');

  // ---- senders
  write('');
  write('Senders');
  const senders = resolveSenders(config, env);
  const sandbox = needsSandbox(config, senders);
  if (sandbox) {
    line(
      'warn',
      `no sender has a Meta access token: wagate runs the built-in Meta SANDBOX (nothing reaches WhatsApp)`,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's ${ENV} syntax, shown as is
      'to go live, add senders with phone_number_id, waba_id and access_token (e.g. ${WA_TOKEN_MAIN}) to the config',
    );
  } else {
    const appToken = config.meta.app_token;
    if (appToken && !/^\d+\|\S+$/.test(appToken)) {
      line(
        'fail',
        'meta.app_token is not an app access token ("<app_id>|<app_secret>"): every debug_token check would fail',
        'set it to "<app id>|<app secret>" from App Dashboard → Settings → Basic, or remove it (each sender\'s own token is used then)',
      );
    }
    const meta = new GraphClient({
      api_url: config.meta.api_url,
      api_version: config.meta.api_version,
      connect_timeout_ms: Math.min(timeout, config.meta.connect_timeout_ms),
      request_timeout_ms: Math.max(timeout, 5_000),
    });
    const ctx = { meta, config, now };
    const warnMs = config.health.expiry_warning_days * 86_400_000;
    try {
      for (const s of senders) {
        const label = `sender ${s.id} (${s.phone_number_id})`;
        if (!s.access_token) {
          line(
            'fail',
            `${label}: no access token`,
            `set senders[${s.id}].access_token (e.g. \${WA_TOKEN_${s.id.toUpperCase().replace(/[^A-Z0-9]/g, '_')}}) or access_token_env`,
          );
          continue;
        }
        const c = await checkToken(ctx, s);
        if (c.unreachable) {
          line(
            'fail',
            `${label}: could not ask Meta about the token: ${c.error?.message ?? 'no answer'}`,
            `check network access to ${config.meta.api_url}${config.meta.app_token ? ' and meta.app_token ("app_id|app_secret")' : ''}`,
          );
          continue;
        }
        if (!c.valid) {
          const { name, meaning } = explainCredentialError(c.error?.code ?? 190, c.error?.subcode ?? null);
          line(
            'fail',
            `${label}: token INVALID (${name}): ${meaning}`,
            `generate a new System User token with ${REQUIRED_SCOPES.join(' and ')} for WABA ${s.waba_id}, put it in the config (or PUT /v1/senders/${s.id}/token on a running wagate)`,
          );
          continue;
        }
        const exp = c.expires_at && c.expires_at > 0 ? c.expires_at * 1000 : null;
        const expText = exp ? `expires ${new Date(exp).toISOString()}` : 'never expires';
        if (exp && exp - now() < warnMs)
          line(
            'fail',
            `${label}: token ${expText} (in ${((exp - now()) / 86_400_000).toFixed(1)} days)`,
            'replace it now with a System User token set to never expire',
          );
        else line('ok', `${label}: token valid (${c.type ?? 'unknown type'}, ${expText})`);
        if (c.missing_scopes.length || c.uncovered_scopes.length) {
          const what = [
            c.missing_scopes.length ? `missing ${c.missing_scopes.join(', ')}` : '',
            c.uncovered_scopes.length ? `${c.uncovered_scopes.join(', ')} not granted for WABA ${s.waba_id}` : '',
          ]
            .filter(Boolean)
            .join('; ');
          line(
            'fail',
            `${label}: permissions: ${what}`,
            `in Business Settings → System users, assign WABA ${s.waba_id} to the system user and generate a token with ${REQUIRED_SCOPES.join(' and ')}`,
          );
        } else line('ok', `${label}: permissions ${REQUIRED_SCOPES.join(', ')} cover WABA ${s.waba_id}`);
        const phone = await meta
          .getPhoneNumber({ phone_number_id: s.phone_number_id, waba_id: s.waba_id, access_token: s.access_token })
          .catch((e: unknown) => ({ ok: false as const, error: { code: 0, message: errText(e) } }));
        if (phone.ok) {
          const p = phone.value;
          const q = p.quality_rating ?? 'unknown';
          line(
            q === 'RED' ? 'warn' : 'ok',
            `${label}: number ${p.display_phone_number ?? ''} quality ${q}, limit ${p.messaging_limit_tier ?? 'unknown'}, throughput ${p.throughput?.level ?? 'unknown'}`,
          );
        } else {
          line(
            'fail',
            `${label}: GET /${s.phone_number_id} failed: ${phone.error.message}`,
            `check that phone_number_id ${s.phone_number_id} belongs to WABA ${s.waba_id} and that the token's system user has that WABA assigned`,
          );
        }
      }
    } finally {
      await meta.close();
    }
  }

  // ---- webhooks
  write('');
  write('Webhooks');
  if (config.meta.app_secret) line('ok', 'app secret set: webhook signatures (X-Hub-Signature-256) are verified');
  else if (sandbox) line('info', "app secret: the sandbox's own (sandbox mode)");
  else
    line(
      'fail',
      'meta.app_secret is not set: webhooks from Meta cannot be verified and will be refused',
      'set WAGATE_APP_SECRET to your Meta app secret (App Dashboard → Settings → Basic)',
    );
  if (config.meta.verify_token) line('ok', 'verify token set: the GET /webhook handshake will succeed');
  else if (sandbox) line('info', 'verify token: generated at start and printed (sandbox mode)');
  else
    line(
      'fail',
      'meta.verify_token is not set: Meta cannot verify the callback URL',
      'set WAGATE_VERIFY_TOKEN to a random string and enter the same in App Dashboard → WhatsApp → Configuration',
    );

  // ---- alerts
  write('');
  write('Alerts');
  const a = config.alerts;
  const channels = [
    a.slack_webhook_url ? `Slack (≥${a.min_severity.slack})` : '',
    a.webhook_url ? `webhook (≥${a.min_severity.webhook})${a.webhook_secret ? ', signed' : ', UNSIGNED'}` : '',
    a.email ? `e-mail to ${a.email.to.join(', ')} (≥${a.min_severity.email})` : '',
  ].filter(Boolean);
  if (channels.length) line('ok', `alert channels: ${channels.join('; ')}`);
  else
    line(
      'warn',
      'no alert channel configured: a revoked token would only show in logs and GET /v1/alerts',
      'set alerts.slack_webhook_url, alerts.webhook_url (+ webhook_secret) or alerts.email',
    );
  if (a.webhook_url && !a.webhook_secret)
    line(
      'warn',
      'alerts.webhook_url has no webhook_secret: receivers cannot verify alerts',
      'set alerts.webhook_secret; wagate signs with HMAC-SHA256 in X-Wagate-Signature-256',
    );

  write('');
  write(
    problems
      ? `${problems} problem(s) found${warnings ? `, ${warnings} warning(s)` : ''}.`
      : `All checks passed${warnings ? ` (${warnings} warning(s))` : ''}.`,
  );
  return problems ? 1 : 0;
}
