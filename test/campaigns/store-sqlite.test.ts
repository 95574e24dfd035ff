import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore } from '../../src/store/sqlite.ts';
import { campaignStoreContract } from './store-contract.ts';

campaignStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wagate-cmp-'));
  const store = await createSqliteStore(join(dir, 'wagate.db'));
  return {
    store,
    // One writer: a second connection would only wait on the first; the claims are atomic statements.
    second: async () => createSqliteStore(join(dir, 'wagate.db')),
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
