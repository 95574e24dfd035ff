// The shared local production services and how a test leaves them clean: every run uses its own
// namespace (PostgreSQL schema, JetStream streams, Redis keys) and drops it afterwards.
import { Redis } from 'ioredis';
import pg from 'pg';
import { connect } from 'nats';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../pacing/private-redis.ts';
import * as shared from '../support/probe.ts';

export { freePort };

const BIN = join(process.cwd(), 'bin/wagate.js');

/** A real `node bin/wagate.js …` process (start, sandbox), its last 4 KB of output kept for errors. */
export function spawnWagate(args: string[], env: Record<string, string> = {}): { proc: ChildProcess; output: () => string } {
  let out = '';
  const proc = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, WAGATE_CONFIG: '', WAGATE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d) => (out = (out + String(d)).slice(-4_000)));
  proc.stderr!.on('data', (d) => (out = (out + String(d)).slice(-4_000)));
  return { proc, output: () => out };
}

/** SIGTERM (a graceful stop), SIGKILL after 10 s; resolves once the process is gone. */
export async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const kill = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    p.kill('SIGTERM');
  });
}

// `let`, not `const`: importers (test/delivery/harness.ts) read these live bindings, so a chaos test
// can point the next app at a private server with useServers() and put the shared one back after.
// The shared ones are test/support/probe.ts's (WAGATE_* env or the local defaults), the same the
// suites' skip checks probe (test/support/services.ts).
export let REDIS_URL = shared.REDIS_URL;
export let NATS_URL = shared.NATS_URL;
export const DATABASE_URL = shared.DATABASE_URL;

/** Runs fn with apps built against these servers (e.g. a private one to kill); the shared ones after. */
export async function useServers<T>(urls: { redis?: string; nats?: string }, fn: () => Promise<T>): Promise<T> {
  const saved = { redis: REDIS_URL, nats: NATS_URL };
  REDIS_URL = urls.redis ?? REDIS_URL;
  NATS_URL = urls.nats ?? NATS_URL;
  try {
    return await fn();
  } finally {
    REDIS_URL = saved.redis;
    NATS_URL = saved.nats;
  }
}

/** What is left of a namespace on the three services (all zero after dropNamespace). */
export async function leftovers(ns: string): Promise<{ redis_keys: number; streams: string[]; schema: boolean }> {
  const r = new Redis(REDIS_URL);
  const keys = await r.keys(`${ns}:*`);
  r.disconnect();
  const nc = await connect({ servers: NATS_URL });
  const jsm = await nc.jetstreamManager();
  const streams: string[] = [];
  for await (const name of jsm.streams.names()) if (name.includes(ns)) streams.push(name);
  await nc.close();
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  const { rowCount } = await db.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = $1', [ns]);
  await db.end();
  return { redis_keys: keys.length, streams, schema: (rowCount ?? 0) > 0 };
}

export async function dropNamespace(ns: string): Promise<void> {
  if (!/^[a-z][a-z0-9_]{3,30}$/.test(ns)) throw new Error(`refusing to drop namespace "${ns}"`);
  const r = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1_000);
    cursor = next;
    if (keys.length) await r.unlink(...keys);
  } while (cursor !== '0');
  r.disconnect();
  const nc = await connect({ servers: NATS_URL });
  const jsm = await nc.jetstreamManager();
  const names: string[] = [];
  for await (const name of jsm.streams.names()) if (name.includes(ns)) names.push(name);
  for (const name of names) await jsm.streams.delete(name);
  await nc.close();
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  await db.query(`DROP SCHEMA IF EXISTS "${ns}" CASCADE`);
  await db.end();
}

/** A private nats-server (own port, own store dir) for chaos: killed with SIGKILL, never the shared one. */
export async function startPrivateNats(): Promise<{ url: string; kill(): Promise<void>; restart(): Promise<void>; stop(): Promise<void> }> {
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'wagate-nats-private-'));
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      const nc = await connect({ servers: url, reconnect: false, timeout: 500 }).catch(() => null);
      if (nc) {
        const ok = await nc
          .jetstreamManager()
          .then((m) => m.getAccountInfo())
          .then(
            () => true,
            () => false,
          );
        await nc.close();
        if (ok) return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`private nats-server on ${port} did not start`);
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((res) => {
      c.once('exit', () => res());
      c.kill('SIGKILL');
    });
  };
  await start();
  return {
    url,
    kill,
    restart: start,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
