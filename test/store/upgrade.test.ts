// Upgrading a store written by an older wagate (issue 13: "existing SQLite and PostgreSQL data migrate
// with nothing lost"). For each earlier schema version, a database is built with only the migrations
// up to it and filled with raw SQL in that version's shape (the columns of version 1, which every later
// version keeps): an opt-out, a care window, a queued message that holds a tier slot, a template. Then
// today's store opens it (running every later migration) and must find all of it, through the port and
// in the gate seed a restart rebuilds the gate from.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrationTypes, type StoreDialect } from '../../src/store/migrations.ts';
import { createSqliteStore } from '../../src/store/sqlite.ts';
import { createPostgresStore } from '../../src/store/postgres.ts';
import type { Store } from '../../src/store/port.ts';
import { DATABASE_URL, missing } from '../support/services.ts';

const NOW = Date.now();
const PHONE = '5511999990001';
const OPTED_OUT_AT = NOW - 30 * 86_400_000;
const INBOUND_AT = NOW - 3_600_000;

/** Version-1 rows (every later schema keeps these columns): what an older wagate left behind. */
function fixture(ph: (i: number) => string): { sql: string; params: unknown[] }[] {
  const p = (n: number) => Array.from({ length: n }, (_, i) => ph(i + 1)).join(', ');
  const payload = JSON.stringify({
    messaging_product: 'whatsapp',
    to: PHONE,
    type: 'template',
    template: { name: 'promo', language: { code: 'en_US' } },
  });
  const history = JSON.stringify([{ status: 'queued', at: INBOUND_AT, source: 'gate' }]);
  return [
    {
      sql: `insert into customers (wa_id, profile_name, c_marketing_state, c_marketing_at, c_marketing_source, tags, created_at, updated_at) values (${p(8)})`,
      params: [PHONE, 'Ana', 'opted_out', OPTED_OUT_AT, 'webhook:keyword', '["vip"]', OPTED_OUT_AT, OPTED_OUT_AT],
    },
    {
      sql: `insert into care_windows (sender_id, wa_id, last_inbound_at) values (${p(3)})`,
      params: ['main', PHONE, INBOUND_AT],
    },
    {
      sql: `insert into templates (waba_id, name, language, category, status, components, updated_at) values (${p(7)})`,
      params: ['102290129340398', 'promo', 'en_US', 'MARKETING', 'APPROVED', '[]', OPTED_OUT_AT],
    },
    {
      sql: `insert into messages (id, sender_id, recipient, category, type, template_name, template_language, payload, status, status_rank, reserved_marketing, reserved_tier, created_at, updated_at, history) values (${p(15)})`,
      params: [
        'msg_old_1',
        'main',
        PHONE,
        'utility',
        'template',
        'order_update',
        'en_US',
        payload,
        'queued',
        0,
        0,
        1,
        INBOUND_AT,
        INBOUND_AT,
        history,
      ],
    },
  ];
}

type Run = (sql: string, params?: unknown[]) => Promise<void>;

/** What runMigrations does, stopped at `upTo`: the schema an older wagate had. */
async function writeOldStore(run: Run, dialect: StoreDialect, upTo: number): Promise<void> {
  const t = migrationTypes(dialect);
  const ph = (i: number) => (dialect === 'sqlite' ? '?' : `$${i}`);
  await run('create table wagate_migrations (version integer primary key, name text not null, applied_at bigint not null)');
  for (const m of MIGRATIONS.filter((x) => x.version <= upTo)) {
    for (const s of m.statements(t)) await run(s);
    await run(`insert into wagate_migrations (version, name, applied_at) values (${ph(1)}, ${ph(2)}, ${ph(3)})`, [m.version, m.name, NOW]);
  }
  for (const f of fixture(ph)) await run(f.sql, f.params);
}

async function expectNothingLost(store: Store): Promise<void> {
  const c = await store.getCustomer(PHONE);
  expect(c?.consent.marketing).toMatchObject({ state: 'opted_out', at: OPTED_OUT_AT, source: 'webhook:keyword' });
  expect(c?.tags).toEqual(['vip']);
  expect((await store.getWindows(PHONE)).map((w) => [w.sender_id, w.last_inbound_at])).toEqual([['main', INBOUND_AT]]);
  const m = await store.getMessage('msg_old_1');
  expect(m).toMatchObject({ status: 'queued', to: PHONE, reserved_tier: true });
  const seed = await store.loadGateSeed(NOW);
  expect(seed.customers.find((x) => x.wa_id === PHONE)?.consent?.marketing).toBe('opted_out');
  expect(seed.windows.map((w) => w.wa_id)).toEqual([PHONE]);
  expect(seed.reservations.map((r) => r.message_id)).toEqual(['msg_old_1']);
  expect(seed.templates.map((x) => x.name)).toEqual(['promo']);
  // Still a working store: the identities of 2026 can be added to the old customer.
  await store.linkIdentities([{ business_id: 'biz1', user_id: 'BR.1234567890123456789', wa_id: PHONE, at: NOW }]);
  expect(await store.getLinkedPhone('biz1', 'BR.1234567890123456789')).toBe(PHONE);
}

// Every released schema older than today's (the last one is what the previous release wrote).
const OLDER = MIGRATIONS.map((m) => m.version).filter((v) => v < MIGRATIONS[MIGRATIONS.length - 1].version);

describe('a SQLite store written by an older wagate', () => {
  for (const v of OLDER) {
    it(`at schema version ${v} opens migrated with every opt-out, window, message and template`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wagate-upgrade-'));
      try {
        const file = join(dir, 'wagate.db');
        const db = new Database(file);
        await writeOldStore(
          async (sql, params = []) => {
            db.prepare(sql).run(...params);
          },
          'sqlite',
          v,
        );
        db.close();
        const store = await createSqliteStore(file);
        try {
          await expectNothingLost(store);
        } finally {
          await store.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

const RUN = randomBytes(4).toString('hex');
const schemas: string[] = [];
afterAll(async () => {
  if (!schemas.length) return;
  const c = new pg.Client({ connectionString: DATABASE_URL });
  await c.connect();
  for (const s of schemas) await c.query(`drop schema if exists "${s}" cascade`);
  await c.end();
});

describe.skipIf(missing('postgres'))('a PostgreSQL store written by an older wagate', () => {
  for (const v of OLDER) {
    it(`at schema version ${v} opens migrated with every opt-out, window, message and template`, async () => {
      const schema = `wup_${RUN}_${v}`;
      schemas.push(schema);
      const c = new pg.Client({ connectionString: DATABASE_URL });
      await c.connect();
      try {
        await c.query(`create schema "${schema}"`);
        await c.query(`set search_path = "${schema}"`);
        await writeOldStore(
          async (sql, params = []) => {
            await c.query(sql, params);
          },
          'postgres',
          v,
        );
      } finally {
        await c.end();
      }
      const store = await createPostgresStore(DATABASE_URL, { schema });
      try {
        await expectNothingLost(store);
      } finally {
        await store.close();
      }
      // Migration 8: pages of messages keep room for status updates in place (HOT, no index writes).
      const k = new pg.Client({ connectionString: DATABASE_URL });
      await k.connect();
      try {
        const r = await k.query(
          `select c.reloptions from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = 'messages'`,
          [schema],
        );
        expect(r.rows[0].reloptions).toContain('fillfactor=70');
      } finally {
        await k.end();
      }
    });
  }
});
