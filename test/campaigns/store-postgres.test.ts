import { randomBytes } from 'node:crypto';
import { afterAll, describe } from 'vitest';
import pg from 'pg';
import { createPostgresStore } from '../../src/store/postgres.ts';
import { DATABASE_URL as URL, missing } from '../support/services.ts';
import { campaignStoreContract } from './store-contract.ts';

const RUN = randomBytes(4).toString('hex');
let n = 0;
const schemas = new Set<string>();

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

describe.skipIf(missing('postgres'))('on the shared PostgreSQL', () => {
  campaignStoreContract('postgres', async () => {
    const schema = `wcs_${RUN}_${++n}`;
    schemas.add(schema);
    const store = await createPostgresStore(URL, { schema });
    return {
      store,
      second: () => createPostgresStore(URL, { schema }),
      cleanup: async () => {
        await store.close();
        await dropSchema(schema);
      },
    };
  });
});
