// bench:pg — PostgreSQL statements per delivered message on the production path (issue 18: "PostgreSQL
// does 4.4 inserts and 5.0 updates per message"). A real wagate on PostgreSQL/Redis/NATS with the
// in-process sandbox as Meta; N template sends over HTTP, each delivered and read (three status
// webhooks, with Meta 2026's contacts[] on each). Every statement the pg client sends is counted by
// its verb and its text: a count, not a time, so it is the same on a busy machine.
// Usage: npm run bench:pg [-- --messages 1000]. The LAST line is one JSON object.
import pg from 'pg';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg('messages', 1000);

// Kysely's dialect and the store's named statements both end in Client#query: count there, once each.
const counts = new Map<string, number>();
let counting = false;
const query = pg.Client.prototype.query as (...a: unknown[]) => unknown;
(pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown }).query = function (this: unknown, ...a: unknown[]) {
  if (counting) {
    const cfg = a[0] as string | { text?: string };
    const text = (typeof cfg === 'string' ? cfg : (cfg?.text ?? '')).replace(/\s+/g, ' ').trim();
    counts.set(text.slice(0, 100), (counts.get(text.slice(0, 100)) ?? 0) + 1);
  }
  return query.apply(this, a);
};

const { startHarness, recipient, orderUpdate } = await import('../test/delivery/harness.ts');
const { DATABASE_URL } = await import('../test/production/backends.ts');
const h = await startHarness({ production: true, mps: 1000 });
try {
  counting = true;
  const ids: string[] = [];
  for (let i = 0; i < N; i += 50) {
    const rs = await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, j) => h.post(orderUpdate(`+${recipient(i + j)}`, i + j))));
    for (const r of rs) if (r.status === 202) ids.push(r.json.id);
  }
  // Until every message is read (its last status applied), then a moment for the last batch's cleanup.
  const end = Date.now() + 120_000;
  let read = 0;
  let polled = 0; // the bench's own reads: subtracted below
  const readNow = async (list: string[]) => {
    polled += list.length;
    return (await Promise.all(list.map((id) => h.ctx.store.getMessage(id)))).filter((m) => m?.status === 'read').length;
  };
  // Poll the last 20 (the slowest); then check every message once.
  while (Date.now() < end && (await readNow(ids.slice(-20))) < Math.min(20, ids.length)) await new Promise((r) => setTimeout(r, 250));
  for (let i = 0; i < ids.length; i += 200) read += await readNow(ids.slice(i, i + 200));
  await new Promise((r) => setTimeout(r, 1_500));
  counting = false;
  // Rows written, as PostgreSQL counts them for this run's own schema (the 4.4 inserts and 5.0
  // updates per message are these): backends flush their counters about once a second.
  await new Promise((r) => setTimeout(r, 2_000));
  const c = new pg.Client({ connectionString: DATABASE_URL });
  await c.connect();
  const tup = (
    await c.query(
      'select coalesce(sum(n_tup_ins),0)::int ins, coalesce(sum(n_tup_upd),0)::int upd, coalesce(sum(n_tup_hot_upd),0)::int hot, coalesce(sum(n_tup_del),0)::int del from pg_stat_user_tables where schemaname = $1',
      [h.namespace],
    )
  ).rows[0] as { ins: number; upd: number; hot: number; del: number };
  // Per table: where the rows written go (a non-HOT update also writes one entry in every index).
  const perTable = (
    await c.query(
      'select relname, n_tup_ins::int ins, n_tup_upd::int upd, n_tup_hot_upd::int hot from pg_stat_user_tables where schemaname = $1 and (n_tup_ins + n_tup_upd) > 0 order by n_tup_upd + n_tup_ins desc',
      [h.namespace],
    )
  ).rows as { relname: string; ins: number; upd: number; hot: number }[];
  await c.end();
  // Drop the bench's own reads (getMessage above): they are not wagate's.
  const own = [...counts.keys()].find((k) => k.startsWith('select * from "messages" where "id" = $1'));
  if (own) counts.set(own, Math.max(0, (counts.get(own) ?? 0) - polled));
  const rows = [...counts.entries()];
  const total = rows.reduce((n, [, c]) => n + c, 0);
  const byVerb: Record<string, number> = {};
  for (const [text, c] of rows) {
    const verb = /^(select|insert|update|delete|with)\b/i.exec(text)?.[1].toLowerCase() ?? 'other';
    byVerb[verb] = (byVerb[verb] ?? 0) + c;
  }
  const per = (n: number) => Math.round((n / ids.length) * 1000) / 1000;
  console.log(
    rows
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([t, c]) => `${String(per(c)).padStart(6)}  ${t}`)
      .join('\n'),
  );
  console.log(
    JSON.stringify({
      backend: 'production',
      messages: ids.length,
      read,
      statements_per_message: per(total),
      by_verb_per_message: Object.fromEntries(Object.entries(byVerb).map(([k, v]) => [k, per(v)])),
      rows_per_message: { inserted: per(tup.ins), updated: per(tup.upd), hot_updated: per(tup.hot), deleted: per(tup.del) },
      by_table_per_message: Object.fromEntries(
        perTable.map((t) => [t.relname, { inserted: per(t.ins), updated: per(t.upd), hot_updated: per(t.hot) }]),
      ),
    }),
  );
} finally {
  await h.close();
}
process.exit(0);
