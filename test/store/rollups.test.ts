// Store contract for the dashboard's tables: per-minute rollups that add up, their retention, and alert
// acknowledgements (migration 6); sessions (migration 9): a row per cookie hash, read back as written,
// its idle clock only moving forward, deleted by logout or by the prune of expired rows, kept across a
// restart. Run against both adapters (PostgreSQL skipped when missing).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createSqliteStore } from '../../src/store/sqlite.ts';
import { createPostgresStore } from '../../src/store/postgres.ts';
import type { Store } from '../../src/store/port.ts';
import { DATABASE_URL, missing } from '../support/services.ts';

const M = 60_000;
const T = 1_750_000_020_000 - (1_750_000_020_000 % M); // a minute boundary
const H = (c: string) => c.repeat(64).slice(0, 64);

interface Handle {
  store: Store;
  reopen: () => Promise<Store>;
  cleanup: () => Promise<void>;
}

function rollupContract(name: string, make: () => Promise<Handle>): void {
  describe(`rollups, alert acks and sessions: ${name}`, () => {
    let h: Handle;
    let s: Store;
    beforeEach(async () => {
      h = await make();
      s = h.store;
    });
    afterEach(async () => h.cleanup());

    it('adds every write to its (minute, metric, sender, key) row, also within one batch, and lists oldest first', async () => {
      await s.addRollups([
        { minute: T + 5_000, metric: 'sends', sender: 'main', key: 'accepted', value: 2 },
        { minute: T + 59_999, metric: 'sends', sender: 'main', key: 'accepted', value: 3 }, // same minute, same batch
        { minute: T, metric: 'sends', sender: 'main', key: 'retry', value: 1 },
      ]);
      await s.addRollups([
        { minute: T + M, metric: 'sends', sender: 'main', key: 'accepted', value: 4 },
        { minute: T, metric: 'sends', sender: 'main', key: 'accepted', value: 10 }, // a later flush (or another instance)
        { minute: T, metric: 'decisions', sender: '', key: 'OPTED_OUT', value: 1 },
        { minute: T, metric: 'sends', sender: 'other', key: 'accepted', value: 0 }, // zeros are not written
      ]);
      const all = await s.listRollups({ since: T });
      expect(all).toEqual([
        { minute: T, metric: 'decisions', sender: '', key: 'OPTED_OUT', value: 1 },
        { minute: T, metric: 'sends', sender: 'main', key: 'accepted', value: 15 },
        { minute: T, metric: 'sends', sender: 'main', key: 'retry', value: 1 },
        { minute: T + M, metric: 'sends', sender: 'main', key: 'accepted', value: 4 },
      ]);
      expect(await s.listRollups({ since: T + M })).toHaveLength(1);
      expect(await s.listRollups({ since: T, until: T + M, metrics: ['decisions'] })).toEqual([all[0]]);
    });

    it('filters by sender keeping the sender-less series, keeps fractions, and survives a restart', async () => {
      await s.addRollups([
        { minute: T, metric: 'latency', sender: 'a', key: 'sum', value: 0.25 },
        { minute: T, metric: 'latency', sender: 'a', key: 'sum', value: 0.5 },
        { minute: T, metric: 'sends', sender: 'b', key: 'accepted', value: 7 },
        { minute: T, metric: 'decisions', sender: '', key: 'allowed', value: 9 },
      ]);
      expect((await s.listRollups({ since: T, senders: ['a'] })).map((p) => [p.sender, p.key, p.value])).toEqual([
        ['', 'allowed', 9],
        ['a', 'sum', 0.75],
      ]);
      const again = await h.reopen();
      try {
        expect(await again.listRollups({ since: T })).toHaveLength(3);
      } finally {
        await again.close();
      }
    });

    it('prunes the minutes before the retention and keeps the rest', async () => {
      await s.addRollups([0, 1, 2, 3].map((i) => ({ minute: T + i * M, metric: 'sends', sender: 'x', key: 'accepted', value: i + 1 })));
      expect(await s.pruneRollups(T + 2 * M)).toBe(2);
      expect((await s.listRollups({ since: 0 })).map((p) => p.minute)).toEqual([T + 2 * M, T + 3 * M]);
      expect(await s.pruneRollups(T + 2 * M)).toBe(0);
    });

    it('keeps the first acknowledgement of an alert and lists them by id', async () => {
      expect(await s.listAlertAcks([])).toEqual([]);
      await s.acknowledgeAlert({ alert_id: 'al_1', at: T, actor: 'dashboard:ops' });
      await s.acknowledgeAlert({ alert_id: 'al_1', at: T + 5, actor: 'dashboard:other' });
      await s.acknowledgeAlert({ alert_id: 'al_2', at: T + 9, actor: 'dashboard:ops' });
      const acks = await s.listAlertAcks(['al_1', 'al_3']);
      expect(acks).toEqual([{ alert_id: 'al_1', at: T, actor: 'dashboard:ops' }]);
    });

    describe('dashboard sessions', () => {
      it('reads a session back by its hash, moves its idle clock only forward, and deletes it', async () => {
        expect(await s.getSession(H('a'))).toBeNull();
        await s.createSession({ id_sha256: H('a'), key_ref: H('k'), created_at: T, last_seen: T });
        await s.createSession({ id_sha256: H('b'), key_ref: H('j'), created_at: T + 1, last_seen: T + 1 });
        expect(await s.getSession(H('a'))).toEqual({ id_sha256: H('a'), key_ref: H('k'), created_at: T, last_seen: T });
        await s.touchSession(H('a'), T + 60_000);
        await s.touchSession(H('a'), T + 30_000); // an instance with an older time does not move it back
        expect((await s.getSession(H('a')))?.last_seen).toBe(T + 60_000);
        await s.touchSession(H('z'), T + 60_000); // unknown: nothing happens
        expect(await s.getSession(H('z'))).toBeNull();
        await s.deleteSession(H('a'));
        expect(await s.getSession(H('a'))).toBeNull();
        expect((await s.getSession(H('b')))?.key_ref).toBe(H('j'));
      });

      it('a hash is one session: a second create with it is refused', async () => {
        await s.createSession({ id_sha256: H('c'), key_ref: H('k'), created_at: T, last_seen: T });
        await expect(s.createSession({ id_sha256: H('c'), key_ref: H('x'), created_at: T, last_seen: T })).rejects.toThrow();
        expect((await s.getSession(H('c')))?.key_ref).toBe(H('k'));
      });

      it('prunes the sessions past their absolute or idle limit, keeps the live ones and survives a restart', async () => {
        await s.createSession({ id_sha256: H('1'), key_ref: H('k'), created_at: T - 13 * 3_600_000, last_seen: T }); // too old
        await s.createSession({ id_sha256: H('2'), key_ref: H('k'), created_at: T - 3_600_000, last_seen: T - 31 * 60_000 }); // idle
        await s.createSession({ id_sha256: H('3'), key_ref: H('k'), created_at: T - 3_600_000, last_seen: T - 60_000 }); // live
        expect(await s.pruneSessions({ created_before: T - 12 * 3_600_000, seen_before: T - 30 * 60_000 })).toBe(2);
        expect(await s.pruneSessions({ created_before: T - 12 * 3_600_000, seen_before: T - 30 * 60_000 })).toBe(0);
        const again = await h.reopen();
        try {
          expect(await again.getSession(H('1'))).toBeNull();
          expect(await again.getSession(H('2'))).toBeNull();
          expect(await again.getSession(H('3'))).toEqual({
            id_sha256: H('3'),
            key_ref: H('k'),
            created_at: T - 3_600_000,
            last_seen: T - 60_000,
          });
        } finally {
          await again.close();
        }
      });
    });
  });
}

async function sqliteHandle(): Promise<Handle> {
  const dir = mkdtempSync(join(tmpdir(), 'wagate-rollups-'));
  const path = join(dir, 'wagate.db');
  const store = await createSqliteStore(path);
  return {
    store,
    reopen: () => createSqliteStore(path),
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
rollupContract('sqlite', sqliteHandle);

const RUN = randomBytes(4).toString('hex');
let n = 0;
const schemas: string[] = [];
async function drop(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: DATABASE_URL });
  await c.connect();
  try {
    await c.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await c.end();
  }
}
afterAll(async () => {
  for (const sc of schemas) await drop(sc).catch(() => {});
});

describe.skipIf(missing('postgres'))('on the shared PostgreSQL', () => {
  const pgHandle = async (): Promise<Handle> => {
    const schema = `wro_${RUN}_${++n}`;
    schemas.push(schema);
    const store = await createPostgresStore(DATABASE_URL, { schema });
    return {
      store,
      reopen: () => createPostgresStore(DATABASE_URL, { schema }),
      cleanup: async () => {
        await store.close();
        await drop(schema);
      },
    };
  };
  rollupContract('postgres', pgHandle);
});
