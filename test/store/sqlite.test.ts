import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { createSqliteStore } from '../../src/store/sqlite.ts';
import { StoreError } from '../../src/store/errors.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { storeContract } from './contract.ts';
import { message } from './fixtures.ts';

storeContract('sqlite (file, WAL)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wagate-store-'));
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
});

describe('sqlite specifics', () => {
  it("works in memory (':memory:')", async () => {
    const s = await createSqliteStore(':memory:');
    const m = message();
    await s.insertMessage(m);
    expect(await s.getMessage(m.id)).toEqual(m);
    await s.close();
  });

  it('forgets webhook dedupe keys older than 8 days (Meta retries for 7), keeping recent ones', async () => {
    const s = await createSqliteStore(':memory:');
    const day = 86_400_000;
    const t = 1_750_000_000_000;
    expect(await s.markEventSeen('old', t)).toBe(true);
    expect(await s.markEventSeen('recent', t + 3 * day)).toBe(true);
    // pruning runs every 5,000 new keys: cross one boundary
    for (let i = 0; i < 5000; i++) await s.markEventSeen(`k${i}`, t + 9 * day);
    expect(await s.markEventSeen('recent', t + 9 * day)).toBe(false);
    expect(await s.markEventSeen('old', t + 9 * day)).toBe(true);
    await s.close();
  });

  it('opens in WAL mode and records every migration once, also when opened twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wagate-store-'));
    const path = join(dir, 'wagate.db');
    try {
      const a = await createSqliteStore(path);
      const b = await createSqliteStore(path); // a second opener while the first is open
      await b.close();
      await a.close();
      const raw = new Database(path, { readonly: true });
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      const versions = raw.prepare('select version from wagate_migrations order by version').all() as { version: number }[];
      raw.close();
      expect(versions.map((v) => v.version)).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with a clear error for a path it cannot open or a file that is not a database', async () => {
    const e1 = await createSqliteStore('/nonexistent-dir/for/sure/wagate.db').catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(StoreError);
    expect((e1 as StoreError).message).toContain('/nonexistent-dir/for/sure/wagate.db');
    expect((e1 as StoreError).fix).toMatch(/data_dir/);
    const dir = mkdtempSync(join(tmpdir(), 'wagate-store-'));
    try {
      const path = join(dir, 'junk.db');
      writeFileSync(path, 'this is not a sqlite database, just text that is long enough to have a header '.repeat(20));
      const e2 = await createSqliteStore(path).catch((e: unknown) => e);
      expect(e2).toBeInstanceOf(StoreError);
      expect((e2 as StoreError).code).toBe('UNAVAILABLE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
