import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createPostgresStore } from '../../src/store/postgres.ts';
import { StoreError } from '../../src/store/errors.ts';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import type { MessageRecord } from '../../src/domain/types.ts';
import type { Store } from '../../src/store/port.ts';
import { storeContract } from './contract.ts';
import { T0, message } from './fixtures.ts';
import { DATABASE_URL as URL, missing } from '../support/services.ts';

// The shared local server (WAGATE_TEST_DATABASE_URL): trust auth; the `postgres` role exists on these
// machines. Without it the suites that need it skip (test/support/services.ts).
const noPg = missing('postgres');
const RUN = randomBytes(4).toString('hex');
let n = 0;
const schemas = new Set<string>();
const newSchema = () => {
  const s = `wst_${RUN}_${++n}`;
  schemas.add(s);
  return s;
};

async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: URL });
  await c.connect();
  try {
    await c.query(`drop schema if exists "${schema}" cascade`);
    schemas.delete(schema);
  } finally {
    await c.end();
  }
}

afterAll(async () => {
  for (const s of [...schemas]) await dropSchema(s);
});

describe.skipIf(noPg)('on the shared PostgreSQL', () => {
  storeContract('postgres', async () => {
    const schema = newSchema();
    const store = await createPostgresStore(URL, { schema });
    return {
      store,
      reopen: () => createPostgresStore(URL, { schema }),
      cleanup: async () => {
        await store.close();
        await dropSchema(schema);
      },
    };
  });
});

/** A TCP proxy to the shared server that the test can cut and restore (never touches the server). */
async function startProxy(port = 0): Promise<{ port: number; cut: () => Promise<void>; server: Server }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(5432, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
  const actual = (server.address() as { port: number }).port;
  return {
    port: actual,
    server,
    cut: () =>
      new Promise<void>((res) => {
        for (const sk of sockets) sk.destroy();
        server.close(() => res());
      }),
  };
}

/** Messages inserted highest id first, so the table's physical order is the reverse of the id order. */
async function reversedMessages(store: Store, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `msg_${String(i).padStart(3, '0')}`);
  for (const id of [...ids].reverse()) await store.insertMessage(message({ id }));
  return ids;
}

/** Resolves once a connection of this namespace's pool waits for a row lock (polls pg_stat_activity). */
async function untilWaitingForLock(admin: pg.Client, schema: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const r = await admin.query(`select 1 from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'`, [
      `wagate:${schema}`,
    ]);
    if (r.rowCount) return;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error('the store never waited for the row lock the test holds');
}

describe.skipIf(noPg)('postgres: multi-row status writes take their row locks in id order', () => {
  // A webhook batch, a worker's batch and another instance's batch meet on the same messages. One of
  // them holding a row in the middle while another has already locked rows above it in table order and
  // waits for it is a deadlock (PostgreSQL aborts one statement). Here a second connection plays the
  // other writer, taking its rows in id order inside one transaction: the middle row first, then, once
  // the store's statement waits for it, the highest. A statement that locks in id order holds nothing
  // above the middle row yet, so both finish; one that locks in table order deadlocks every time.
  const cases: [string, (store: Store, ids: string[]) => Promise<unknown>, (m: MessageRecord | null) => boolean][] = [
    [
      'applyStatusesForward',
      (store, ids) => store.applyStatusesForward!(ids.map((id) => ({ id, ev: { status: 'sent', at: T0 + 1, source: 'webhook' } }))),
      (m) => m?.status === 'sent',
    ],
    [
      'claimAttempts',
      (store, ids) =>
        store.claimAttempts!(
          ids.map((id) => ({ id, expected_attempts: 0, attempts: 1 })),
          T0 + 1,
        ),
      (m) => m?.attempts === 1,
    ],
    // The outbox relay's write (it meets the workers' claims on queued messages).
    ['markEnqueued', (store, ids) => store.markEnqueued(ids), () => true],
  ];
  // Two sizes: the planner picks a nested loop over the table for a few rows and a hash join for more
  // (on a fresh table), and each walks the rows in their physical order.
  for (const [name, write, done] of cases)
    for (const n of [3, 20]) {
      it(`${name} of ${n} rows never deadlocks with a writer taking the same rows in id order`, async () => {
        const schema = newSchema();
        const store = await createPostgresStore(URL, { schema });
        const admin = new pg.Client({ connectionString: URL });
        await admin.connect();
        try {
          const ids = await reversedMessages(store, n);
          const lock = (id: string) => admin.query(`select id from "${schema}".messages where id = $1 for no key update`, [id]);
          await admin.query('begin');
          await lock(ids[Math.floor(n / 2)]);
          const batch = write(store, ids).then(
            (v) => ({ ok: v }),
            (err: unknown) => ({ err }),
          );
          await untilWaitingForLock(admin, schema);
          const second = await lock(ids[n - 1]).then(
            () => null,
            (err: unknown) => err,
          );
          await admin.query(second ? 'rollback' : 'commit');
          const out = await batch;
          expect(second).toBeNull(); // not the victim of a deadlock
          expect(out).not.toHaveProperty('err'); // nor the store's statement
          for (const id of ids) expect(done(await store.getMessage(id))).toBe(true);
          if (name === 'markEnqueued') expect(await store.listUnenqueued({ created_before: T0 + 1, limit: 100 })).toEqual([]);
        } finally {
          await admin.end();
          await store.close();
          await dropSchema(schema);
        }
      });
    }
});

describe('postgres specifics', () => {
  it.skipIf(noPg)('fails calls quickly while the server is unreachable and recovers by itself when it returns', async () => {
    const schema = newSchema();
    let proxy = await startProxy();
    const via = URL.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`);
    const store = await createPostgresStore(via, { schema });
    try {
      await store.setSetting('k', 'before');
      await proxy.cut();
      expect(await store.ping()).toBe(false);
      const err = await store.getSetting('k').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      proxy = await startProxy(proxy.port);
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        ok = await store.ping();
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      expect(ok).toBe(true);
      expect(await store.getSetting('k')).toBe('before');
    } finally {
      await store.close();
      await proxy.cut();
      await dropSchema(schema);
    }
  });

  it.skipIf(noPg)('several instances starting at once on a new schema migrate it exactly once', async () => {
    const schema = newSchema();
    const stores = await Promise.all(Array.from({ length: 4 }, () => createPostgresStore(URL, { schema })));
    try {
      const c = new pg.Client({ connectionString: URL });
      await c.connect();
      const r = await c.query(`select version from "${schema}".wagate_migrations order by version`);
      const t = await c.query(
        `select count(*)::int as n from information_schema.tables where table_schema = $1 and table_name = 'messages'`,
        [schema],
      );
      await c.end();
      expect(r.rows.map((x) => x.version)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(t.rows[0].n).toBe(1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await dropSchema(schema);
    }
  });

  it.skipIf(noPg)('markEventSeen and applyStatus are atomic across separate instances (pools) on one schema', async () => {
    const schema = newSchema();
    const stores: Store[] = await Promise.all([
      createPostgresStore(URL, { schema }),
      createPostgresStore(URL, { schema }),
      createPostgresStore(URL, { schema }),
    ]);
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `evt:${i}`);
      const results = await Promise.all(keys.flatMap((k) => stores.map((s) => s.markEventSeen(k, 1))));
      expect(results.filter(Boolean)).toHaveLength(keys.length);

      const m = message();
      await stores[0].insertMessage(m);
      const order = ['sending', 'accepted', 'sent', 'delivered', 'read'] as const;
      const calls = stores.flatMap((s, i) =>
        order.map((st, j) => s.applyStatus(m.id, { status: st, at: m.created_at + 1 + j, source: `i${i}` })),
      );
      const out = await Promise.all(calls);
      expect(out.filter((r) => r?.changed && r.message.status === 'read')).toHaveLength(1);
      const final = await stores[1].getMessage(m.id);
      expect(final?.status).toBe('read');
      expect(final?.history.map((h) => h.status)).toEqual(['queued', 'sending', 'accepted', 'sent', 'delivered', 'read']);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await dropSchema(schema);
    }
  });

  it.skipIf(noPg)(
    'runs hot statements as named prepared statements on every pooled connection, and close() releases every connection',
    async () => {
      const schema = newSchema();
      const store = await createPostgresStore(URL, { schema });
      const admin = new pg.Client({ connectionString: URL });
      await admin.connect();
      const connections = async () =>
        (await admin.query(`select count(*)::int as n from pg_stat_activity where application_name = $1`, [`wagate:${schema}`])).rows[0]
          .n as number;
      try {
        // Concurrent work spreads over several connections; each prepares the statement once by name.
        const msgs = Array.from({ length: 40 }, () => message());
        await Promise.all(msgs.map((m) => store.insertMessage(m)));
        const out = await Promise.all(
          msgs.map((m, i) => store.applyStatus(m.id, { status: 'sent', at: m.created_at + 1 + i, source: 'test' })),
        );
        expect(out.every((r) => r?.changed && r.message.status === 'sent')).toBe(true);
        // Named statements survive a repeat on the same connections (no "prepared statement already exists").
        const again = await Promise.all(
          msgs.map((m) => store.applyStatus(m.id, { status: 'delivered', at: m.created_at + 100, source: 'test' })),
        );
        expect(again.every((r) => r?.message.status === 'delivered')).toBe(true);
        expect(await connections()).toBeGreaterThan(1);
      } finally {
        await store.close();
      }
      try {
        // Every connection of the pool is gone once close() resolves (none left for the server to time out).
        const end = Date.now() + 2_000;
        while ((await connections()) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
        expect(await connections()).toBe(0);
      } finally {
        await admin.end();
        await dropSchema(schema);
      }
    },
  );

  it.skipIf(noPg)('keeps schemas apart: two namespaces on one database see only their own rows', async () => {
    const [sa, sb] = [newSchema(), newSchema()];
    const a = await createPostgresStore(URL, { schema: sa });
    const b = await createPostgresStore(URL, { schema: sb });
    try {
      await a.setSetting('k', 'a');
      expect(await b.getSetting('k')).toBeNull();
      expect(await a.markEventSeen('e', 1)).toBe(true);
      expect(await b.markEventSeen('e', 1)).toBe(true);
    } finally {
      await a.close();
      await b.close();
      await dropSchema(sa);
      await dropSchema(sb);
    }
  });

  it('fails with a clear error for a bad schema name or an unreachable server, without the password', async () => {
    const e1 = await createPostgresStore(URL, { schema: 'Robert"; drop table x' }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(StoreError);
    expect((e1 as StoreError).code).toBe('INVALID');
    const e2 = await createPostgresStore('postgres://wagate:s3cr3t-pw@127.0.0.1:1/test', { schema: 'x' }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(StoreError);
    expect((e2 as StoreError).code).toBe('UNAVAILABLE');
    expect((e2 as StoreError).message).toContain('127.0.0.1:1');
    expect((e2 as StoreError).message).not.toContain('s3cr3t-pw');
    expect((e2 as StoreError).fix).toMatch(/WAGATE_DATABASE_URL/);
  });
});
