// applyForwardOrNone: the batched forward status write as the delivery workers and the webhook
// processor use it, against the real SQLite store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite.ts';
import { applyForwardOrNone } from '../../src/store/forward.ts';
import type { Store } from '../../src/store/port.ts';
import { T0, message } from './fixtures.ts';

let dir: string;
let store: Store;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wagate-forward-'));
  store = await createSqliteStore(join(dir, 'w.db'));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const sent = (id: string, at = T0 + 1) => ({ id, ev: { status: 'sent' as const, at, source: 'test' } });

describe('applyForwardOrNone', () => {
  it('a repeated id goes in the batch once; its later occurrences come back null for the one-by-one path', async () => {
    const [a, b] = [message(), message()];
    await store.insertMessage(a);
    await store.insertMessage(b);
    const out = await applyForwardOrNone(store, [
      sent(a.id),
      sent(b.id),
      { id: a.id, ev: { status: 'read', at: T0 + 2, source: 'test' } },
      sent('missing'),
    ]);
    expect(out.map((m) => m?.status ?? null)).toEqual(['sent', 'sent', null, null]);
    expect((await store.getMessage(a.id))?.status).toBe('sent'); // the repeat was not applied here
  });

  it('a statement that fails while the store answers gives every item back (null), and says why', async () => {
    const a = message();
    await store.insertMessage(a);
    const failing: Store = Object.assign(Object.create(store) as Store, {
      applyStatusesForward: async () => Promise.reject(new Error('deadlock detected')),
    });
    const why: unknown[] = [];
    expect(await applyForwardOrNone(failing, [sent(a.id)], (err) => why.push(err))).toEqual([null]);
    expect(String(why[0])).toContain('deadlock');
    expect((await store.getMessage(a.id))?.status).toBe('queued');
  });

  it("a store that does not answer rethrows (an outage is the caller's to retry)", async () => {
    const down: Store = Object.assign(Object.create(store) as Store, {
      applyStatusesForward: async () => Promise.reject(new Error('connection refused')),
      ping: async () => false,
    });
    await expect(applyForwardOrNone(down, [sent('x')])).rejects.toThrow('connection refused');
  });
});
