// Dashboard sessions (migration 9), for KyselyStore to delegate to: one row per signed-in browser,
// keyed by the SHA-256 of its cookie (the cookie itself is never stored), with a reference to the API
// key it stands for and its two clocks. Kept in the store so every instance sharing it honours a session
// any of them issued (src/http/session.ts decides what is live; this only keeps the rows).
import type { Kysely } from 'kysely';

export interface SessionRecord {
  /** SHA-256 (hex) of the cookie value. */
  id_sha256: string;
  /**
   * Which of api.keys it stands for: the SHA-256 (hex) of that key's key_sha256 (names need not be
   * unique; the config's own hash stays out of the database). Role and senders are read from the
   * config on every use, so a key removed from it ends its sessions.
   */
  key_ref: string;
  created_at: number;
  last_seen: number;
}

export interface SessionTables {
  dashboard_sessions: SessionRecord;
}

const toRecord = (r: SessionRecord): SessionRecord => ({ ...r, created_at: Number(r.created_at), last_seen: Number(r.last_seen) });

export class SessionStore {
  constructor(private readonly db: Kysely<SessionTables>) {}

  async create(s: SessionRecord): Promise<void> {
    await this.db.insertInto('dashboard_sessions').values(s).execute();
  }

  async get(id_sha256: string): Promise<SessionRecord | null> {
    const r = await this.db.selectFrom('dashboard_sessions').selectAll().where('id_sha256', '=', id_sha256).executeTakeFirst();
    return r ? toRecord(r) : null;
  }

  /** Moves the idle clock forward (never back: two instances touching at once keep the later time). */
  async touch(id_sha256: string, last_seen: number): Promise<void> {
    await this.db
      .updateTable('dashboard_sessions')
      .set({ last_seen })
      .where('id_sha256', '=', id_sha256)
      .where('last_seen', '<', last_seen)
      .execute();
  }

  async delete(id_sha256: string): Promise<void> {
    await this.db.deleteFrom('dashboard_sessions').where('id_sha256', '=', id_sha256).execute();
  }

  /** Deletes the sessions created before `created_before` or idle since before `seen_before`; returns how many. */
  async prune(opts: { created_before: number; seen_before: number }): Promise<number> {
    const r = await this.db
      .deleteFrom('dashboard_sessions')
      .where((eb) => eb.or([eb('created_at', '<', opts.created_before), eb('last_seen', '<', opts.seen_before)]))
      .executeTakeFirst();
    return Number(r.numDeletedRows ?? 0);
  }
}
