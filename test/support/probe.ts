// The probes behind test/support/services.ts: where each service is, whether it answers, whether a
// server binary is installed, and the one line that says how to start or install what is missing.
// No vitest import: test/support/global-setup.ts runs this in vitest's main process.
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';

/** The shared servers the service suites use: WAGATE_* env or the local defaults (../shared/services.md). */
export const REDIS_URL = process.env.WAGATE_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const NATS_URL = process.env.WAGATE_NATS_URL ?? 'nats://127.0.0.1:4222';
export const DATABASE_URL =
  process.env.WAGATE_TEST_DATABASE_URL ?? process.env.WAGATE_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export type Need = 'postgres' | 'redis' | 'nats' | 'redis-server' | 'nats-server';
/** What each need is missing for (absent: it answers / is installed). */
export type ServiceStatus = Partial<Record<Need, string>>;

const PROBE_TIMEOUT_MS = 1_500;

const hostPort = (url: string, port: number) => {
  const u = new URL(url);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port) || port };
};

/** Opens a TCP connection, optionally writes, and hands each chunk to `done` until it returns a verdict. */
function talk(host: string, port: number, write: string | null, done: (data: string) => string | null | undefined): Promise<string | null> {
  return new Promise((resolve) => {
    let buf = '';
    let settled = false;
    const s = connect({ host, port });
    const finish = (why: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => finish(`no answer within ${PROBE_TIMEOUT_MS} ms`), PROBE_TIMEOUT_MS);
    s.on('connect', () => write !== null && s.write(write));
    s.on('data', (d) => {
      buf += String(d);
      const v = done(buf);
      if (v !== undefined) finish(v);
    });
    s.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    s.on('close', () => finish('closed the connection'));
  });
}

async function probeRedis(): Promise<string | null> {
  const { host, port } = hostPort(REDIS_URL, 6379);
  // Any RESP reply means a Redis answers (-NOAUTH included: the URL's password is the client's business).
  return talk(host, port, 'PING\r\n', (b) =>
    b.includes('\r\n') ? (/^[+-]/.test(b) ? null : `not Redis (${JSON.stringify(b.slice(0, 20))})`) : undefined,
  );
}

async function probeNats(): Promise<string | null> {
  const { host, port } = hostPort(NATS_URL, 4222);
  return talk(host, port, null, (b) => {
    if (!b.includes('\r\n')) return undefined;
    const m = /^INFO\s+(\{.*\})/.exec(b);
    if (!m) return `not NATS (${JSON.stringify(b.slice(0, 20))})`;
    try {
      return (JSON.parse(m[1]!) as { jetstream?: boolean }).jetstream ? null : 'answers without JetStream (start it with -js)';
    } catch {
      return null;
    }
  });
}

const REFUSED = 'answers, but ';

async function probePostgres(): Promise<string | null> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  c.on('error', () => undefined);
  const t0 = Date.now();
  try {
    await c.connect();
    await c.query('select 1');
    return null;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (!err.code && Date.now() - t0 >= PROBE_TIMEOUT_MS) return `no answer within ${PROBE_TIMEOUT_MS} ms`;
    // A SQLSTATE (28P01, 3D000, ...): the server answered and refused the login or the database.
    if (err.code && /^[0-9A-Z]{5}$/.test(err.code) && /\d/.test(err.code)) return `${REFUSED}${err.message.replace(/\s+/g, ' ')}`;
    return err.code && /^[A-Z]+$/.test(err.code) ? err.code : err.message.replace(/\s+/g, ' ');
  } finally {
    await c.end().catch(() => undefined);
  }
}

function probeBinary(bin: string): string | null {
  const r = spawnSync(bin, ['--version'], { stdio: 'ignore', timeout: 5_000 });
  if (r.error) return (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not on PATH' : r.error.message;
  return r.status === 0 ? null : `--version exited ${r.status}`;
}

/** Probes every need once (the services in parallel, each within 1.5 s). */
export async function probeAll(): Promise<ServiceStatus> {
  const [postgres, redis, nats] = await Promise.all([probePostgres(), probeRedis(), probeNats()]);
  const all: Record<Need, string | null> = {
    postgres,
    redis,
    nats,
    'redis-server': probeBinary('redis-server'),
    'nats-server': probeBinary('nats-server'),
  };
  const status: ServiceStatus = {};
  for (const [k, v] of Object.entries(all) as [Need, string | null][]) if (v !== null) status[k] = v;
  return status;
}

const redact = (url: string) => {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.host;
};

/**
 * One line per missing need: which, at which address, why, and how to start or install it. Without CI
 * its suites are skipped; with CI (`ci`) the line is part of the failure.
 */
export function missingLines(status: ServiceStatus, ci = false): string[] {
  const redis = hostPort(REDIS_URL, 6379);
  const nats = hostPort(NATS_URL, 4222);
  const how: Record<Need, [what: string, fix: string]> = {
    postgres: [
      `PostgreSQL at ${redact(DATABASE_URL)} (WAGATE_TEST_DATABASE_URL)`,
      // It answered but refused the login or the database: starting it again would not help.
      status.postgres?.startsWith(REFUSED)
        ? `it needs trust auth for the URL's role and the database: createdb -h ${hostPort(DATABASE_URL, 5432).host} -U postgres ${new URL(DATABASE_URL).pathname.slice(1) || 'test'}`
        : `start it: pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start`,
    ],
    redis: [
      `Redis at ${redact(REDIS_URL)} (WAGATE_REDIS_URL)`,
      `start it: redis-server --daemonize yes --bind 127.0.0.1 --port ${redis.port} --save "" --appendonly no`,
    ],
    nats: [
      `NATS JetStream at ${redact(NATS_URL)} (WAGATE_NATS_URL)`,
      `start it: nats-server -js -a 127.0.0.1 -p ${nats.port} -sd /tmp/nats &`,
    ],
    'redis-server': ['the redis-server binary (private servers of the chaos tests)', 'install it: apt-get install -y redis-server'],
    'nats-server': ['the nats-server binary (private servers of the chaos tests)', 'install it: apt-get install -y nats-server'],
  };
  return (Object.entries(status) as [Need, string][]).map(([need, why]) => {
    const [what, fix] = how[need];
    return ci
      ? `wagate tests: ${what}: ${why}; ${fix} (README "Testing")`
      : `wagate tests: skipping what needs ${what}: ${why}; ${fix} (README "Testing"; with CI set this fails)`;
  });
}
