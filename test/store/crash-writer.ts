// Child process for crash.test.ts: writes messages to a SQLite store and prints each id only after
// the insert AND its status change have resolved (acknowledged), until it is killed.
import { createSqliteStore } from '../../src/store/sqlite.ts';
import { message } from './fixtures.ts';

const store = await createSqliteStore(process.argv[2]);
for (let i = 0; ; i++) {
  const m = message({ id: `crash_${i}`, idempotency_key: `k_${i}` });
  await store.insertMessage(m);
  await store.applyStatus(m.id, { status: 'accepted', at: m.created_at + 1, source: 'worker' }, { wamid: `wamid.${i}` });
  process.stdout.write(`${m.id}\n`);
}
