// Versioned migrations, ONE list for both dialects. Each migration is plain DDL with the few
// dialect-specific column types substituted (JSON, auto-increment id). Applied versions are recorded in
// `wagate_migrations`; a migration runs in one transaction with its record, so a crash mid-way leaves
// the version unapplied and it runs again whole on the next start. Never edit a released migration:
// append a new one.
export type StoreDialect = 'sqlite' | 'postgres';

interface Types {
  /** JSON column: jsonb on PostgreSQL (queryable by operators), text on SQLite. */
  json: string;
  /** Auto-increment integer primary key. */
  autoId: string;
  /** For the rare statement only one dialect has (storage parameters). */
  dialect: StoreDialect;
}

export interface Migration {
  version: number;
  name: string;
  statements: (t: Types) => string[];
}

const consentCols = ['marketing', 'utility', 'authentication', 'service']
  .map((c) => `c_${c}_state text not null default 'unknown', c_${c}_at bigint, c_${c}_source text`)
  .join(',\n  ');

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    statements: (t) => [
      `create table customers (
  wa_id text primary key,
  profile_name text,
  ${consentCols},
  tags ${t.json} not null default '[]',
  time_zone text,
  undeliverable_at bigint,
  marketing_limited_at bigint,
  created_at bigint not null,
  updated_at bigint not null
)`,
      `create index customers_created_idx on customers (created_at)`,
      `create table care_windows (
  sender_id text not null,
  wa_id text not null,
  last_inbound_at bigint not null,
  referral_at bigint,
  fep_opened_at bigint,
  primary key (sender_id, wa_id)
)`,
      `create index care_windows_wa_idx on care_windows (wa_id)`,
      `create index care_windows_inbound_idx on care_windows (last_inbound_at)`,
      `create table templates (
  waba_id text not null,
  name text not null,
  language text not null,
  category text not null,
  status text not null,
  quality text,
  components ${t.json} not null,
  meta_id text,
  updated_at bigint not null,
  primary key (waba_id, name, language)
)`,
      `create table messages (
  id text primary key,
  sender_id text not null,
  recipient text not null,
  category text not null,
  type text not null,
  template_name text,
  template_language text,
  payload ${t.json} not null,
  status text not null,
  status_rank integer not null,
  wamid text,
  attempts integer not null default 0,
  idempotency_key text unique,
  request_hash text,
  last_error ${t.json},
  pricing ${t.json},
  reserved_marketing integer not null default 0,
  reserved_tier integer not null default 0,
  created_at bigint not null,
  updated_at bigint not null,
  history ${t.json} not null
)`,
      `create index messages_wamid_idx on messages (wamid)`,
      `create index messages_created_idx on messages (created_at)`,
      `create index messages_sender_created_idx on messages (sender_id, created_at)`,
      `create index messages_recipient_created_idx on messages (recipient, created_at)`,
      `create table audit_log (
  id ${t.autoId},
  at bigint not null,
  actor text not null,
  action text not null,
  subject text,
  detail ${t.json} not null
)`,
      `create index audit_subject_idx on audit_log (subject)`,
      `create index audit_action_idx on audit_log (action)`,
      `create table seen_events (
  event_key text primary key,
  at bigint not null
)`,
      `create index seen_events_at_idx on seen_events (at)`,
      `create table webhook_batches (
  id text primary key,
  body text not null,
  at bigint not null
)`,
      `create table dead_letters (
  id text primary key,
  message_id text not null,
  sender_id text not null,
  reason_code text not null,
  explanation text not null,
  fix text,
  meta_error ${t.json},
  attempts integer not null,
  created_at bigint not null,
  state text not null
)`,
      `create index dead_letters_state_idx on dead_letters (state, created_at)`,
      `create table alerts (
  id text primary key,
  kind text not null,
  severity text not null,
  dedupe_key text not null,
  sender_id text,
  title text not null,
  body text not null,
  detail ${t.json} not null,
  created_at bigint not null,
  last_sent_at bigint,
  resolved_at bigint
)`,
      `create index alerts_dedupe_idx on alerts (dedupe_key, created_at)`,
      `create table sender_health (
  sender_id text primary key,
  data ${t.json} not null,
  updated_at bigint not null
)`,
      `create table sender_statuses (
  sender_id text primary key,
  state text not null,
  reason text,
  reason_code text,
  credentials_valid integer not null,
  since bigint
)`,
      `create table settings (
  name text primary key,
  value text not null
)`,
    ],
  },
  {
    version: 2,
    name: 'outbox: messages not yet handed to the delivery queue',
    // The store is the source of truth for what must be sent: a queued message is `enqueued = 0` until
    // the queue confirmed its job, and the relay (src/delivery/relay.ts) hands every such message to the
    // queue, whenever and wherever it was stored. Messages queued before this version and never tried
    // are handed over again (the queue dedupes by message id), as the old start-up recovery did.
    statements: () => [
      `alter table messages add column enqueued integer not null default 1`,
      `update messages set enqueued = 0 where status = 'queued' and attempts = 0`,
      `create index messages_unenqueued_idx on messages (created_at) where enqueued = 0`,
    ],
  },
  {
    version: 3,
    name: 'set-aside webhook batches',
    statements: () => [
      // A batch that cannot be parsed or applied with the store up leaves webhook_batches for here, so
      // it never blocks the batches after it; kept with its raw body until replayed or discarded.
      `create table webhook_failed_batches (
  id text primary key,
  body text not null,
  received_at bigint not null,
  failed_at bigint not null,
  error text not null,
  attempts integer not null,
  state text not null,
  updated_at bigint not null
)`,
      `create index webhook_failed_state_idx on webhook_failed_batches (state, failed_at)`,
    ],
  },
  {
    version: 4,
    name: 'identities: business-scoped user ids linked to phones',
    // Meta's 2026 identities (changes-2026.md §1): a customer may show up as a phone (wa_id), a
    // business-scoped user id (user_id, scoped to one business portfolio), or both. Each payload that
    // carries both links them, so what one person said under either (an opt-out) holds for both.
    statements: () => [
      `create table identity_links (
  business_id text not null,
  user_id text not null,
  wa_id text not null,
  at bigint not null,
  primary key (business_id, user_id)
)`,
      `create index identity_links_wa_idx on identity_links (business_id, wa_id)`,
    ],
  },
  {
    version: 5,
    name: 'campaigns, their recipients, and scheduled messages',
    // src/store/campaign-store.ts reads and writes them (port src/campaigns/port.ts). One row per
    // recipient per campaign: several instances claim batches of pending rows atomically, and the
    // recipient's idempotency key (campaign, seq, generation) ties it to at most one message.
    statements: (t) => [
      `create table campaigns (
  id text primary key,
  name text not null,
  sender_id text not null,
  template_name text not null,
  template_language text not null,
  category text not null,
  status text not null,
  deliver_at bigint,
  audience ${t.json} not null,
  options ${t.json} not null,
  total integer not null,
  status_reason text,
  waiting_until bigint,
  actor text not null,
  created_at bigint not null,
  updated_at bigint not null,
  started_at bigint,
  finished_at bigint
)`,
      `create index campaigns_status_idx on campaigns (status, deliver_at)`,
      `create table campaign_recipients (
  campaign_id text not null,
  seq integer not null,
  recipient text not null,
  variables ${t.json},
  state text not null,
  not_before bigint not null,
  claim_until bigint,
  claimed_by text,
  gen integer not null,
  message_id text,
  wa_id text,
  reason_code text,
  detail text,
  updated_at bigint not null,
  primary key (campaign_id, seq)
)`,
      `create index campaign_recipients_state_idx on campaign_recipients (campaign_id, state, seq)`,
      `create index campaign_recipients_message_idx on campaign_recipients (message_id)`,
      `create table scheduled_messages (
  id text primary key,
  sender_id text not null,
  recipient text not null,
  body ${t.json} not null,
  deliver_at bigint not null,
  state text not null,
  claim_until bigint,
  claimed_by text,
  message_id text,
  decision ${t.json},
  actor text not null,
  created_at bigint not null,
  updated_at bigint not null
)`,
      `create index scheduled_messages_due_idx on scheduled_messages (state, deliver_at)`,
    ],
  },
  {
    version: 6,
    name: 'dashboard: per-minute rollups and alert acknowledgements',
    // The dashboard's charts (src/observability/rollups.ts writes them, src/store/rollup-store.ts reads
    // them): additive per-minute sums, so instances and flushes add up and a restart keeps the history.
    statements: () => [
      `create table metric_rollups (
  minute bigint not null,
  metric text not null,
  sender text not null,
  key text not null,
  value double precision not null,
  primary key (minute, metric, sender, key)
)`,
      `create table alert_acks (
  alert_id text primary key,
  at bigint not null,
  actor text not null
)`,
    ],
  },
  {
    version: 7,
    name: 'pricing: service messages per number per month',
    // Meta charges service messages from 1 Oct 2026 beyond a monthly free allowance per business
    // number (changes-2026.md §2): each delivered service message counts once in its sender's month.
    // (Versions 5 and 6 belong to other work; each version is applied on its own.)
    statements: () => [
      `create table service_message_counts (
  sender_id text not null,
  month text not null,
  count bigint not null,
  updated_at bigint not null,
  primary key (sender_id, month)
)`,
    ],
  },
  {
    version: 8,
    name: 'messages: room in each page for status updates in place (PostgreSQL)',
    // A message row is updated about five times (claim, accepted, sent, delivered, read). With full
    // pages (fillfactor 100) every update is a new tuple on another page plus a new entry in each of
    // the table's seven indexes; with room left in the page, an update that changes no indexed column
    // (sent, delivered, read: status, history, pricing) is a heap-only tuple (HOT) and touches no
    // index. New pages get the room; existing rows keep theirs until rewritten. SQLite has no such
    // setting (it rewrites the row in its B-tree either way).
    statements: (t) => (t.dialect === 'postgres' ? ['alter table messages set (fillfactor = 70)'] : []),
  },
  {
    version: 9,
    name: 'dashboard: sessions shared by every instance',
    // src/store/session-store.ts: one row per signed-in browser, keyed by the SHA-256 of its cookie
    // (never the cookie), so an instance behind a balancer honours a session another one issued.
    statements: () => [
      `create table dashboard_sessions (
  id_sha256 text primary key,
  key_ref text not null,
  created_at bigint not null,
  last_seen bigint not null
)`,
      `create index dashboard_sessions_seen_idx on dashboard_sessions (last_seen)`,
    ],
  },
  {
    version: 10,
    name: "messages: the gate's decision in its own column",
    // The decision a message was accepted on (every check with its sentence: most of a row's bytes)
    // is written once. Inside history it was rewritten by each of the row's five status updates, and
    // it made the history large enough for PostgreSQL to compress and move out of line (TOAST) again
    // at each. The store keeps it here and puts it back into the first history event when it reads
    // the row (src/store/tables.ts). Rows stored before keep it in their history; null here.
    statements: (t) => [`alter table messages add column decision ${t.json}`],
  },
];

/** What a migration's statements are written with, per dialect. */
export function migrationTypes(dialect: StoreDialect): Types {
  return dialect === 'postgres'
    ? { json: 'jsonb', autoId: 'bigserial primary key', dialect }
    : { json: 'text', autoId: 'integer primary key autoincrement', dialect };
}

/** Runs raw SQL on ONE connection (migrations need begin/commit on the same connection). */
export type RawRun = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

/**
 * Applies every pending migration in order; returns the versions applied now. The caller makes sure no
 * other process migrates the same database at the same time (PostgreSQL: advisory lock; SQLite:
 * `begin immediate` takes the write lock before the applied versions are read).
 */
export async function runMigrations(run: RawRun, dialect: StoreDialect): Promise<number[]> {
  const t = migrationTypes(dialect);
  await run('create table if not exists wagate_migrations (version integer primary key, name text not null, applied_at bigint not null)');
  const ph = (i: number) => (dialect === 'sqlite' ? '?' : `$${i}`);
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    await run(dialect === 'sqlite' ? 'begin immediate' : 'begin');
    try {
      const done = await run(`select version from wagate_migrations where version = ${ph(1)}`, [m.version]);
      if (done.length === 0) {
        for (const stmt of m.statements(t)) await run(stmt);
        await run(`insert into wagate_migrations (version, name, applied_at) values (${ph(1)}, ${ph(2)}, ${ph(3)})`, [
          m.version,
          m.name,
          Date.now(),
        ]);
        applied.push(m.version);
      }
      await run('commit');
    } catch (err) {
      await run('rollback').catch(() => {});
      throw new Error(`store migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
    }
  }
  return applied;
}
