// SQLite adapter (embedded mode, the default): one better-sqlite3 connection in WAL mode behind the
// shared Kysely store. better-sqlite3 is synchronous and fast; the statement cache below removes the
// per-call prepare that Kysely's driver would otherwise do on the hot paths.
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import type { Store } from './port.ts';
import { KyselyStore } from './kysely-store.ts';
import { runMigrations } from './migrations.ts';
import { StoreError } from './errors.ts';
import type { Tables } from './tables.ts';

const STATEMENT_CACHE_MAX = 500;

/** Wraps a better-sqlite3 handle so each distinct SQL text is prepared once (Kysely never iterates). */
function cachingDatabase(db: Database.Database): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    prepare(sqlText: string): SqliteStatement {
      let st = cache.get(sqlText);
      if (!st) {
        st = db.prepare(sqlText) as unknown as SqliteStatement;
        // Dynamic filters produce a bounded set of texts; the cap is only a guard against leaks.
        if (cache.size >= STATEMENT_CACHE_MAX) cache.clear();
        cache.set(sqlText, st);
      }
      return st;
    },
    close() {
      cache.clear();
      db.close();
    },
  };
}

export async function createSqliteStore(path: string): Promise<Store> {
  let db: Database.Database;
  try {
    db = new Database(path);
    db.pragma('busy_timeout = 5000'); // another process (a CLI command) may hold the write lock briefly
    db.pragma('journal_mode = WAL'); // readers never block the writer (ignored for ':memory:')
    db.pragma('synchronous = NORMAL'); // durable across process crashes in WAL; fsync at checkpoints
  } catch (err) {
    throw new StoreError(
      'UNAVAILABLE',
      `SQLite store at ${path} could not be opened: ${(err as Error).message}`,
      'check that data_dir exists and is writable by this user (WAGATE_DATA_DIR), and that the file is a wagate database',
      { cause: err },
    );
  }
  try {
    await runMigrations(async (sqlText, params = []) => {
      const st = db.prepare(sqlText);
      if (st.reader) return st.all(...params) as Record<string, unknown>[];
      st.run(...params);
      return [];
    }, 'sqlite');
  } catch (err) {
    db.close();
    throw new StoreError(
      'UNAVAILABLE',
      `SQLite store at ${path}: ${(err as Error).message}`,
      'restore the database from a backup or move it aside to start fresh; do not edit wagate_migrations by hand',
      { cause: err },
    );
  }
  const cached = cachingDatabase(db);
  const kysely = new Kysely<Tables>({ dialect: new SqliteDialect({ database: cached }) });
  return new KyselyStore(kysely, 'sqlite', cached);
}
