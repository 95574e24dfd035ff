// PostgreSQL adapter (production mode): a pg Pool behind the shared Kysely store. All tables live in
// one schema per wagate namespace (created when missing); the pool's search_path points at it, so the
// shared queries need no schema prefix. Migrations run under a session advisory lock, so several
// instances starting together migrate once.
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Store } from './port.ts';
import { KyselyStore } from './kysely-store.ts';
import { runMigrations } from './migrations.ts';
import { StoreError } from './errors.ts';
import type { Tables } from './tables.ts';
import { redactUrl } from '../observability/log.ts';

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;
const INT8_OID = 20;

/** int8 (bigint columns, count(*)) as a JS number: epoch ms and counts fit in 2^53. Per pool, not global. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export async function createPostgresStore(url: string, opts: { schema: string; pool_max?: number }): Promise<Store> {
  const schema = opts.schema;
  if (!SCHEMA_RE.test(schema)) {
    throw new StoreError(
      'INVALID',
      `PostgreSQL schema name "${schema}" is not allowed`,
      'use lower-case letters, digits and "_" starting with a letter (the `namespace` config key)',
    );
  }
  const pool = new pg.Pool({
    connectionString: url,
    // More connections let PostgreSQL group concurrent commits (bench:delivery production: 10 → ~300 mps, 30 → ~500 mps).
    max: opts.pool_max ?? 10,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    // A hung server must not stall workers forever: the statement fails and the caller retries.
    options: `-c search_path=${schema} -c statement_timeout=30000`,
    // Operators (and tests) can tell which namespace holds which connections in pg_stat_activity.
    application_name: `wagate:${schema}`,
    query_timeout: 35_000,
    types,
  });
  // A connection lost by the server or the network must never crash the process: idle clients are
  // dropped by the pool ('error' on the pool), a checked-out one fails its queries (the caller sees
  // the error) and the pool discards it on release because it is no longer queryable. Without a
  // listener on the client itself, a loss while checked out is an uncaught 'error' event.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));

  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    await pool.end().catch(() => {});
    throw new StoreError(
      'UNAVAILABLE',
      `PostgreSQL at ${redactUrl(url)} is not reachable: ${(err as Error).message}`,
      'check WAGATE_DATABASE_URL (host, port, user, database) and that PostgreSQL is running',
      { cause: err },
    );
  }
  try {
    // Serialise schema creation and migrations across instances (key derived from the schema name).
    await client.query('select pg_advisory_lock(hashtext($1))', [`wagate:migrate:${schema}`]);
    try {
      await client.query('set statement_timeout = 0'); // a long migration is allowed to take its time
      await client.query(`create schema if not exists "${schema}"`);
      await runMigrations(async (sqlText, params = []) => (await client.query(sqlText, params)).rows, 'postgres');
    } finally {
      await client.query('select pg_advisory_unlock(hashtext($1))', [`wagate:migrate:${schema}`]).catch(() => {});
    }
  } catch (err) {
    client.release(true);
    await pool.end().catch(() => {});
    throw new StoreError(
      'UNAVAILABLE',
      `PostgreSQL store (schema ${schema}) could not be prepared: ${(err as Error).message}`,
      'check that the database user may create schemas and tables in this database',
      { cause: err },
    );
  }
  client.release();
  const kysely = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  return new KyselyStore(kysely, 'postgres', undefined, pool);
}
