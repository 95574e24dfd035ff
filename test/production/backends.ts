// The shared local production services and how a test leaves them clean: every run uses its own
// namespace (PostgreSQL schema, JetStream streams, Redis keys) and drops it afterwards.
import { Redis } from 'ioredis';
import pg from 'pg';
import { connect } from 'nats';

export const REDIS_URL = process.env.WAGATE_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const NATS_URL = process.env.WAGATE_NATS_URL ?? 'nats://127.0.0.1:4222';
export const DATABASE_URL = process.env.WAGATE_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

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
