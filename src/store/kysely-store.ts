// The Store port implemented ONCE over Kysely; sqlite.ts and postgres.ts only open the connection,
// run the shared migrations and hand a Kysely instance here. The few dialect differences (row locks,
// greatest/max) are marked where they occur.
import { sql, type Compilable, type Kysely, type RawBuilder, type SqliteDatabase } from 'kysely';
import {
  CATEGORIES,
  DAY_MS,
  FEP_WINDOW_MS,
  STATUS_RANK,
  type Category,
  type ConsentState,
  type CustomerRecord,
  type MessageRecord,
  type MessageStatus,
  type SenderStatus,
  type StatusEvent,
  type TemplateRecord,
  type WindowRecord,
} from '../domain/types.ts';
import type { SenderRestriction } from '../domain/restrictions.ts';
import { isBsuid } from '../domain/identity.ts';
import type { GateCustomerUpdate, GateSeed, Reservation } from '../gate/port.ts';
import type {
  AlertRecord,
  AuditEntry,
  DeadLetter,
  FailedWebhookBatch,
  ForwardStatus,
  MessageFilter,
  MovedMessage,
  SenderHealthRecord,
  Store,
  UnenqueuedMessage,
} from './port.ts';
import { StoreError, isUniqueViolation } from './errors.ts';
import { createBatcher, type Batcher } from '../shared/batcher.ts';
import type { StoreDialect } from './migrations.ts';
import { RollupStore, type AlertAck, type RollupPoint, type RollupTables } from './rollup-store.ts';
import { SessionStore, type SessionRecord, type SessionTables } from './session-store.ts';
import { templateLanguage } from '../domain/language.ts';
import { movedOf } from './forward.ts';
import {
  rowToAlert,
  rowToAudit,
  rowToCustomer,
  rowToDeadLetter,
  rowToFailedWebhookBatch,
  rowToHealth,
  rowToMessage,
  rowToMoved,
  rowToSenderStatus,
  rowToTemplate,
  rowToWindow,
  splitDecision,
  toJson,
  toJsonOrNull,
  type Tables,
} from './tables.ts';

type MessagePatch = Partial<Pick<MessageRecord, 'wamid' | 'attempts' | 'last_error' | 'pricing'>>;

const MAX_LIMIT = 1000;
const limitOf = (n: number | undefined, dflt = 100) => Math.max(1, Math.min(MAX_LIMIT, Math.floor(n ?? dflt)));
const offsetOf = (n: number | undefined) => Math.max(0, Math.floor(n ?? 0));
/** Meta retries a webhook for up to 7 days: dedupe keys older than that can go. */
const SEEN_EVENT_TTL_MS = 8 * DAY_MS;
const SEEN_EVENT_PRUNE_EVERY = 5000;
/** Rows per multi-row statement (well under SQLite's and PostgreSQL's bound-parameter limits). */
const BATCH_ROWS = 500;
const TERMINAL: MessageStatus[] = ['failed', 'dead_lettered'];
const PING_QUERY = sql`select 1`;
/** Distinct statement texts prepared by name on PostgreSQL; past this (a leak of dynamic texts) they run unnamed. */
const PG_NAMED_MAX = 2_000;

/** The slice of a pg Pool the store needs (pg.Pool fits it; kept structural so this file needs no pg import). */
export interface PgQueryPool {
  query(config: { name?: string; text: string; values: readonly unknown[] }): Promise<{ rows: unknown[]; rowCount: number | null }>;
  end(): Promise<void>;
  readonly ended: boolean;
}

function checkCategory(category: Category): void {
  // The category becomes part of a column name: only the four known ones may pass.
  if (!CATEGORIES.includes(category)) {
    throw new StoreError('INVALID', `unknown consent category "${String(category)}"`, `use one of ${CATEGORIES.join(', ')}`);
  }
}

/** The status event as stored in history (only its own fields); refuses a status wagate does not know. */
function storedStatusEvent(id: string, ev: StatusEvent): StatusEvent {
  if (!Object.hasOwn(STATUS_RANK, ev.status)) {
    throw new StoreError(
      'INVALID',
      `status "${String(ev.status)}" for message ${id} is unknown`,
      `use one of ${Object.keys(STATUS_RANK).join(', ')}`,
    );
  }
  return { status: ev.status, at: ev.at, source: ev.source, ...(ev.detail !== undefined ? { detail: ev.detail } : {}) };
}

/**
 * A batch of status changes as rows in id order, one column per field (for unnest); refused before
 * anything is written when an id appears twice or a status is unknown.
 */
function statusRows(items: readonly ForwardStatus[]) {
  const ids = new Set<string>();
  return inIdOrder(items).map(({ id, ev, pricing, wamid, attempts }) => {
    if (ids.has(id))
      throw new StoreError(
        'INVALID',
        `message ${id} appears twice in one batch of status changes`,
        'apply the second status after the first (a later call)',
      );
    ids.add(id);
    return {
      id,
      status: ev.status,
      rank: STATUS_RANK[ev.status],
      ev: toJson(storedStatusEvent(id, ev)),
      at: ev.at,
      has_pricing: pricing !== undefined,
      pricing: pricing === undefined ? null : toJsonOrNull(pricing),
      wamid: wamid ?? null,
      attempts: attempts ?? null,
    };
  });
}

/** Rows of a batch in id order. Not what orders PostgreSQL's row locks (the plan does): lockedInIdOrder does that. */
const inIdOrder = <T extends { id: string }>(items: readonly T[]): T[] =>
  [...items].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));

/**
 * PostgreSQL: the CTE `locked`, the batch's messages (rows of `messages m` joined to the CTE `v` on id
 * that pass `cond`) locked in id order. A multi-row UPDATE otherwise locks its rows in its plan's
 * order: the table's physical order for a hash join or a scan of messages, `v`'s for a nested loop,
 * chosen by batch size and statistics, and the physical order moves as rows get new versions. Two
 * statements taking shared rows in different orders deadlock (one is aborted). Joined to `locked`,
 * the UPDATE writes only rows this lock already holds, so every multi-row write waits in id order.
 * FOR NO KEY UPDATE is the lock the UPDATE itself takes: it adds no conflict of its own.
 */
const lockedInIdOrder = (cond: RawBuilder<unknown>) =>
  sql`locked as (select m.id from messages m join v on m.id = v.id where ${cond} order by m.id for no key update of m)`;

/** A message as its row (both dialects take JSON as text); the gate's decision goes in its own column. */
function messageRow(m: MessageRecord) {
  const { history, decision } = splitDecision(m.history ?? []);
  return {
    id: m.id,
    sender_id: m.sender_id,
    recipient: m.to,
    category: m.category,
    type: m.type,
    template_name: m.template_name ?? null,
    template_language: m.template_language ?? null,
    payload: toJson(m.payload),
    status: m.status,
    status_rank: STATUS_RANK[m.status],
    wamid: m.wamid ?? null,
    attempts: m.attempts ?? 0,
    idempotency_key: m.idempotency_key ?? null,
    request_hash: m.request_hash ?? null,
    last_error: toJsonOrNull(m.last_error),
    pricing: toJsonOrNull(m.pricing),
    reserved_marketing: m.reserved_marketing ? 1 : 0,
    reserved_tier: m.reserved_tier ? 1 : 0,
    // A queued message waits for the relay until the queue confirmed its job (markEnqueued).
    enqueued: m.status === 'queued' ? 0 : 1,
    created_at: m.created_at,
    updated_at: m.updated_at,
    history: toJson(history),
    decision: toJsonOrNull(decision),
  };
}

/** PostgreSQL type of each column messageRow writes, in its order (for insertMessagesUnnest). */
const MESSAGE_COLUMN_TYPES: Record<keyof ReturnType<typeof messageRow>, string> = {
  id: 'text',
  sender_id: 'text',
  recipient: 'text',
  category: 'text',
  type: 'text',
  template_name: 'text',
  template_language: 'text',
  payload: 'jsonb',
  status: 'text',
  status_rank: 'integer',
  wamid: 'text',
  attempts: 'integer',
  idempotency_key: 'text',
  request_hash: 'text',
  last_error: 'jsonb',
  pricing: 'jsonb',
  reserved_marketing: 'integer',
  reserved_tier: 'integer',
  enqueued: 'integer',
  created_at: 'bigint',
  updated_at: 'bigint',
  history: 'jsonb',
  decision: 'jsonb',
};
const MESSAGE_COLUMNS = Object.keys(MESSAGE_COLUMN_TYPES) as (keyof typeof MESSAGE_COLUMN_TYPES)[];

/**
 * PostgreSQL: many messages in one INSERT from one array per column (unnest). Its text is the same
 * for every batch size, so it is parsed and planned once per connection, where a multi-row VALUES
 * list is a new statement for each row count.
 */
function insertMessagesUnnest(rows: ReturnType<typeof messageRow>[]): RawBuilder<unknown> {
  const arrays = sql.join(MESSAGE_COLUMNS.map((c) => sql`cast(${rows.map((r) => r[c])} as ${sql.raw(MESSAGE_COLUMN_TYPES[c])}[])`));
  return sql`insert into messages (${sql.join(MESSAGE_COLUMNS.map((c) => sql.ref(c)))}) select * from unnest(${arrays})`;
}

function messagePatchCols(patch: MessagePatch | undefined): Record<string, unknown> {
  const cols: Record<string, unknown> = {};
  if (!patch) return cols;
  if (patch.wamid !== undefined) cols.wamid = patch.wamid;
  if (patch.attempts !== undefined) cols.attempts = patch.attempts;
  if (patch.last_error !== undefined) cols.last_error = toJsonOrNull(patch.last_error);
  if (patch.pricing !== undefined) cols.pricing = toJsonOrNull(patch.pricing);
  return cols;
}

export class KyselyStore implements Store {
  private readonly pg: boolean;
  private seenInserts = 0;
  private closed = false;

  constructor(
    private readonly db: Kysely<Tables>,
    readonly dialect: StoreDialect,
    /** SQLite only: the (statement-caching) connection, for synchronous execution of built queries. */
    private readonly direct?: SqliteDatabase,
    /** PostgreSQL only: the pool, for named prepared statements (see exec). */
    private readonly pgPool?: PgQueryPool,
  ) {
    this.pg = dialect === 'postgres';
    this.inserts = createBatcher(
      async (ms: MessageRecord[]): Promise<unknown[]> => {
        if (ms.length > 1) {
          try {
            if (this.pg) await this.all(this.raw(insertMessagesUnnest(ms.map(messageRow))), 'insert_messages');
            else await this.db.insertInto('messages').values(ms.map(messageRow)).$call(this.all);
            return ms.map(() => null);
          } catch (err) {
            if (!isUniqueViolation(err)) throw err;
          }
        }
        const out: unknown[] = [];
        for (const m of ms)
          out.push(
            await this.insertOne(m).then(
              () => null,
              (e: unknown) => e ?? new Error('insert failed'),
            ),
          );
        return out;
      },
      { flush: this.direct ? 'busy_next_turn' : 'next_turn' },
    ); // SQLite answers at once: a lone API request must not yield to the loop for it
  }

  /**
   * Runs a query built with Kysely. Queries are always built by the typed layer; on SQLite the
   * compiled SQL runs synchronously on a cached prepared statement, which skips Kysely's async
   * executor (connection mutex and promise chain; a few percent of CPU on the hot path). Safe because
   * better-sqlite3 is synchronous: nothing interleaves inside one statement.
   */
  private async exec<R>(q: Compilable<R>, name?: string): Promise<{ rows: R[]; changes: number }> {
    const c = q.compile();
    if (this.direct) {
      const st = this.direct.prepare(c.sql);
      if (st.reader) return { rows: st.all(c.parameters) as R[], changes: 0 };
      return { rows: [], changes: Number(st.run(c.parameters).changes) };
    }
    if (this.pgPool) {
      // Named prepared statements: PostgreSQL parses and plans each distinct text once per connection
      // instead of on every call (bench: 6.4k → 10k conditional status updates/s at concurrency 16).
      // `name`: a statement whose one text serves every batch size (arrays, unnest) is named even
      // though it reads like a multi-row statement.
      const r = await this.pgPool.query({ name: name ? `wg_${name}` : this.pgName(c.sql), text: c.sql, values: c.parameters });
      return { rows: r.rows as R[], changes: r.rowCount ?? 0 };
    }
    const r = await this.db.executeQuery(c);
    return { rows: r.rows, changes: Number(r.numAffectedRows ?? 0n) };
  }

  private readonly pgNames = new Map<string, string | undefined>();
  /**
   * A stable name per statement text (the same on every connection); undefined (run unnamed, planned
   * per call) for listings: after a few runs PostgreSQL may reuse a generic plan for a named statement,
   * and for "filter + ORDER BY + LIMIT $n" a generic plan can pick the ordered index and scan (seen:
   * getMessageByWamid 30% slower). Key lookups and single-row writes, the hot path, plan the same
   * either way. Multi-row statements (one text per row count, each used now and then) stay unnamed
   * too. Also undefined once too many texts exist (a leak of dynamic texts).
   */
  private pgName(text: string): string | undefined {
    if (this.pgNames.has(text)) return this.pgNames.get(text);
    let name: string | undefined;
    if (!/ order by | limit |\), \(/.test(text) && this.pgNames.size < PG_NAMED_MAX) {
      name = `wg${this.pgNames.size}`;
    }
    if (this.pgNames.size < PG_NAMED_MAX) this.pgNames.set(text, name);
    return name;
  }
  /** The connection, for the stores of other concerns over the same database (src/store/campaign-store.ts). */
  get connection(): Kysely<Tables> {
    return this.db;
  }
  private readonly all = async <R>(q: Compilable<R>, name?: string): Promise<R[]> => (await this.exec(q, name)).rows;
  /** A hand-written sql`…` statement (the batched UPDATE … FROM VALUES Kysely cannot build) for exec. */
  private raw<R>(q: RawBuilder<R>): Compilable<R> {
    return { compile: () => q.compile(this.db) };
  }
  private readonly first = async <R>(q: Compilable<R>): Promise<R | undefined> => (await this.exec(q)).rows[0];
  private readonly firstOrThrow = async <R>(q: Compilable<R>): Promise<R> => {
    const rows = (await this.exec(q)).rows;
    if (rows.length === 0) throw new Error('store: the statement returned no row');
    return rows[0];
  };
  private readonly changes = async (q: Compilable<unknown>): Promise<number> => (await this.exec(q)).changes;

  /** greatest(a, b) ignoring nulls on both dialects (SQLite's 2-argument max() returns NULL on NULL). */
  private greatest(a: string, b: string) {
    return this.pg
      ? sql`greatest(${sql.ref(a)}, ${sql.ref(b)})`
      : sql`max(coalesce(${sql.ref(a)}, ${sql.ref(b)}), coalesce(${sql.ref(b)}, ${sql.ref(a)}))`;
  }

  // ---------------------------------------------------------------- customers

  async getCustomer(wa_id: string): Promise<CustomerRecord | null> {
    const r = await this.db.selectFrom('customers').selectAll().where('wa_id', '=', wa_id).$call(this.first);
    return r ? rowToCustomer(r) : null;
  }

  async getCustomers(wa_ids: readonly string[]): Promise<CustomerRecord[]> {
    const out: CustomerRecord[] = [];
    const keys = [...new Set(wa_ids)];
    for (let i = 0; i < keys.length; i += BATCH_ROWS) {
      const rows = await this.db
        .selectFrom('customers')
        .selectAll()
        .where('wa_id', 'in', keys.slice(i, i + BATCH_ROWS))
        .$call(this.all);
      for (const r of rows) out.push(rowToCustomer(r));
    }
    return out;
  }

  async upsertCustomer(
    wa_id: string,
    patch: Partial<Pick<CustomerRecord, 'profile_name' | 'tags' | 'time_zone' | 'undeliverable_at' | 'marketing_limited_at'>>,
    now: number,
  ): Promise<CustomerRecord> {
    const cols: Record<string, unknown> = {};
    if (patch.profile_name !== undefined) cols.profile_name = patch.profile_name;
    if (patch.tags !== undefined) {
      if (!Array.isArray(patch.tags) || patch.tags.some((t) => typeof t !== 'string')) {
        throw new StoreError('INVALID', `tags for customer must be an array of strings`, 'pass tags as ["vip", "newsletter"]');
      }
      cols.tags = toJson([...new Set(patch.tags)]);
    }
    if (patch.time_zone !== undefined) cols.time_zone = patch.time_zone;
    if (patch.undeliverable_at !== undefined) cols.undeliverable_at = patch.undeliverable_at;
    if (patch.marketing_limited_at !== undefined) cols.marketing_limited_at = patch.marketing_limited_at;
    const r = await this.db
      .insertInto('customers')
      .values({ wa_id, ...cols, created_at: now, updated_at: now } as never)
      .onConflict((oc) => oc.column('wa_id').doUpdateSet({ ...cols, updated_at: now } as never))
      .returningAll()
      .$call(this.firstOrThrow);
    return rowToCustomer(r);
  }

  async setConsent(wa_id: string, category: Category, state: ConsentState, source: string, at: number): Promise<CustomerRecord> {
    checkCategory(category);
    if (state !== 'opted_in' && state !== 'opted_out' && state !== 'unknown') {
      throw new StoreError('INVALID', `unknown consent state "${String(state)}"`, 'use opted_in, opted_out or unknown');
    }
    const cols = { [`c_${category}_state`]: state, [`c_${category}_at`]: at, [`c_${category}_source`]: source };
    const atCol = `customers.c_${category}_at` as 'customers.c_marketing_at';
    // Latest event wins: webhooks arrive out of order, so an older STOP/START never overrides a newer one.
    const r = await this.db
      .insertInto('customers')
      .values({ wa_id, ...cols, created_at: at, updated_at: at } as never)
      .onConflict((oc) =>
        oc
          .column('wa_id')
          .doUpdateSet({ ...cols, updated_at: this.greatest('customers.updated_at', 'excluded.updated_at') } as never)
          .where((eb) => eb.or([eb(atCol, 'is', null), eb(atCol, '<=', at)])),
      )
      .returningAll()
      .$call(this.first);
    if (r) return rowToCustomer(r);
    const cur = await this.getCustomer(wa_id);
    if (!cur) throw new Error(`customer vanished during setConsent`);
    return cur;
  }

  async listCustomers(opts: { limit?: number; offset?: number } = {}): Promise<CustomerRecord[]> {
    const rows = await this.db
      .selectFrom('customers')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('wa_id')
      .limit(limitOf(opts.limit))
      .offset(offsetOf(opts.offset))
      .$call(this.all);
    return rows.map(rowToCustomer);
  }

  // ---------------------------------------------------------------- windows

  async recordInbound(sender_id: string, wa_id: string, at: number, opts: { referral?: boolean } = {}): Promise<WindowRecord> {
    const referral = opts.referral === true;
    // Keep the max: an older inbound (late webhook) never moves the window back.
    const set: Record<string, unknown> = { last_inbound_at: this.greatest('care_windows.last_inbound_at', 'excluded.last_inbound_at') };
    if (referral) set.referral_at = this.greatest('care_windows.referral_at', 'excluded.referral_at');
    const r = await this.db
      .insertInto('care_windows')
      .values({ sender_id, wa_id, last_inbound_at: at, referral_at: referral ? at : null, fep_opened_at: null })
      .onConflict((oc) => oc.columns(['sender_id', 'wa_id']).doUpdateSet(set as never))
      .returningAll()
      .$call(this.firstOrThrow);
    return rowToWindow(r);
  }

  async markFepOpened(sender_id: string, wa_id: string, at: number): Promise<void> {
    // One free-entry-point window per referral: a later reply inside an open FEP does not restart its
    // 72h clock; a new referral (referral_at after the last FEP start) may open a new one.
    await this.db
      .updateTable('care_windows')
      .set({ fep_opened_at: at })
      .where('sender_id', '=', sender_id)
      .where('wa_id', '=', wa_id)
      .where((eb) =>
        eb.or([
          eb('fep_opened_at', 'is', null),
          eb.and([eb('referral_at', 'is not', null), eb('fep_opened_at', '<', eb.ref('referral_at'))]),
        ]),
      )
      .$call(this.all);
  }

  async getWindows(wa_id: string): Promise<WindowRecord[]> {
    const rows = await this.db.selectFrom('care_windows').selectAll().where('wa_id', '=', wa_id).orderBy('sender_id').$call(this.all);
    return rows.map(rowToWindow);
  }

  /** The windows, among these (sender, customer) pairs, that record a referral (one statement per chunk). */
  async getReferralWindows(pairs: { sender_id: string; wa_id: string }[]): Promise<WindowRecord[]> {
    const want = new Set(pairs.map((p) => `${p.sender_id}\u0000${p.wa_id}`));
    const waIds = [...new Set(pairs.map((p) => p.wa_id))];
    const out: WindowRecord[] = [];
    for (let i = 0; i < waIds.length; i += BATCH_ROWS) {
      const rows = await this.db
        .selectFrom('care_windows')
        .selectAll()
        .where('wa_id', 'in', waIds.slice(i, i + BATCH_ROWS))
        .where('referral_at', 'is not', null)
        .$call(this.all);
      for (const r of rows) if (want.has(`${r.sender_id}\u0000${r.wa_id}`)) out.push(rowToWindow(r));
    }
    return out;
  }

  async listWindows(opts: { sender_id?: string; active_since?: number; limit?: number; offset?: number } = {}): Promise<WindowRecord[]> {
    let q = this.db.selectFrom('care_windows').selectAll();
    if (opts.sender_id !== undefined) q = q.where('sender_id', '=', opts.sender_id);
    if (opts.active_since !== undefined) q = q.where('last_inbound_at', '>=', opts.active_since);
    const rows = await q
      .orderBy('last_inbound_at', 'desc')
      .orderBy('sender_id')
      .orderBy('wa_id')
      .limit(limitOf(opts.limit))
      .offset(offsetOf(opts.offset))
      .$call(this.all);
    return rows.map(rowToWindow);
  }

  // ---------------------------------------------------------------- templates

  async upsertTemplate(t: TemplateRecord): Promise<void> {
    const row = {
      waba_id: t.waba_id,
      name: t.name,
      language: templateLanguage(t.language), // Meta's form: "en-US" and "en_US" are one template
      category: t.category,
      status: t.status,
      quality: t.quality ?? null,
      components: toJson(t.components ?? []),
      meta_id: t.meta_id ?? null,
      updated_at: t.updated_at,
    };
    const { waba_id: _w, name: _n, language: _l, ...rest } = row;
    // An older snapshot (late webhook, stale sync) never overwrites a newer one.
    await this.db
      .insertInto('templates')
      .values(row)
      .onConflict((oc) => oc.columns(['waba_id', 'name', 'language']).doUpdateSet(rest).where('templates.updated_at', '<=', t.updated_at))
      .$call(this.all);
  }

  async getTemplate(waba_id: string, name: string, language: string): Promise<TemplateRecord | null> {
    const r = await this.db
      .selectFrom('templates')
      .selectAll()
      .where('waba_id', '=', waba_id)
      .where('name', '=', name)
      .where('language', '=', templateLanguage(language))
      .$call(this.first);
    return r ? rowToTemplate(r) : null;
  }

  async listTemplates(opts: { waba_id?: string; status?: string } = {}): Promise<TemplateRecord[]> {
    let q = this.db.selectFrom('templates').selectAll();
    if (opts.waba_id !== undefined) q = q.where('waba_id', '=', opts.waba_id);
    if (opts.status !== undefined) q = q.where('status', '=', opts.status as TemplateRecord['status']);
    const rows = await q.orderBy('waba_id').orderBy('name').orderBy('language').$call(this.all);
    return rows.map(rowToTemplate);
  }

  // ---------------------------------------------------------------- messages

  /**
   * Group commit of concurrent inserts (many submits at once): one multi-row INSERT per batch. A
   * duplicate key fails the whole statement, so that batch is then inserted row by row and each caller
   * gets its own answer (ok, or its CONFLICT).
   */
  private readonly inserts: Batcher<MessageRecord, unknown>;

  async insertMessage(m: MessageRecord): Promise<void> {
    if (!Object.hasOwn(STATUS_RANK, m.status)) {
      throw new StoreError(
        'INVALID',
        `message ${m.id} has unknown status "${String(m.status)}"`,
        `use one of ${Object.keys(STATUS_RANK).join(', ')}`,
      );
    }
    const err = await this.inserts.add(m);
    if (err) throw err;
  }

  private async insertOne(m: MessageRecord): Promise<void> {
    try {
      await this.db.insertInto('messages').values(messageRow(m)).$call(this.all);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const text = `${(err as Error).message} ${(err as { constraint?: string }).constraint ?? ''}`;
      if (text.includes('idempotency_key')) {
        throw new StoreError(
          'CONFLICT',
          `idempotency key "${m.idempotency_key}" is already used by another message`,
          'look the message up with getMessageByIdempotencyKey and return it instead of inserting',
          { cause: err },
        );
      }
      throw new StoreError('CONFLICT', `message id ${m.id} already exists`, 'generate a new message id (newId) for a new message', {
        cause: err,
      });
    }
  }

  async getMessage(id: string): Promise<MessageRecord | null> {
    const r = await this.db.selectFrom('messages').selectAll().where('id', '=', id).$call(this.first);
    return r ? rowToMessage(r) : null;
  }

  async getMessageByWamid(wamid: string): Promise<MessageRecord | null> {
    // No ORDER BY … LIMIT in SQL: on a table the planner has no statistics for yet, PostgreSQL chose
    // to walk the created_at index and filter on wamid (about 1 ms per lookup in bench:store). A wamid
    // names one message, so the index on wamid returns one row; the earliest wins if ever several.
    const rows = await this.db.selectFrom('messages').selectAll().where('wamid', '=', wamid).$call(this.all);
    if (rows.length === 0) return null;
    const first = rows.reduce((a, b) => (Number(b.created_at) < Number(a.created_at) ? b : a));
    return rowToMessage(first);
  }

  async getMessageByIdempotencyKey(key: string): Promise<MessageRecord | null> {
    if (this.pg) return this.byKey.add(key);
    const r = await this.db.selectFrom('messages').selectAll().where('idempotency_key', '=', key).$call(this.first);
    return r ? rowToMessage(r) : null;
  }

  /**
   * PostgreSQL: the lookups of concurrent keyed submits share one statement (a campaign submits every
   * recipient under a key: one round trip each was the commonest statement of a production dispatch).
   * A lone submit does not wait for company (busy_next_turn).
   */
  private readonly byKey = createBatcher(
    async (keys: string[]): Promise<(MessageRecord | null)[]> => {
      const q = sql<Record<string, unknown>>`select * from messages where idempotency_key = any(cast(${keys} as text[]))`;
      const found = new Map<string, MessageRecord>();
      for (const r of await this.all(this.raw(q), 'messages_by_keys')) found.set(r.idempotency_key as string, rowToMessage(r));
      return keys.map((k) => found.get(k) ?? null);
    },
    { flush: 'busy_next_turn' },
  );

  async applyStatus(id: string, ev: StatusEvent, patch?: MessagePatch): Promise<{ message: MessageRecord; changed: boolean } | null> {
    const evJson = toJson(storedStatusEvent(id, ev));
    const rank = STATUS_RANK[ev.status];
    const cols = messagePatchCols(patch);
    const updatedAt = this.pg ? sql`greatest(updated_at, ${ev.at})` : sql`max(updated_at, ${ev.at})`;
    // Each step is ONE conditional UPDATE, atomic on the row in both engines (PostgreSQL re-checks the
    // WHERE on the latest row version when a concurrent update commits first), so no read-then-write
    // race and one round trip on the common path (a status moving forward).
    // 1. Forward: only when the new status outranks the current one. A status of higher rank cannot be
    //    in history yet (lower/equal ones are the only ones ever recorded without becoming current).
    const forward = await this.db
      .updateTable('messages')
      .set({ ...cols, status: ev.status, status_rank: rank, history: this.appendHistory(evJson), updated_at: updatedAt } as never)
      .where('id', '=', id)
      .where('status_rank', '<', rank)
      .returningAll()
      .$call(this.first);
    if (forward) return { message: rowToMessage(forward), changed: true };
    const other = await this.recordNotForward(id, ev, evJson, cols);
    return other ? { message: other, changed: false } : null;
  }

  /**
   * applyStatus's step 2, not forward (lower/equal rank, or a terminal status): the status is recorded
   * once in history for its time (e.g. `delivered` arriving after `read`) and the patch applied; the
   * current status stays. The message as it is after, or null when unknown.
   */
  private async recordNotForward(
    id: string,
    ev: StatusEvent,
    evJson: string,
    cols: Record<string, unknown>,
  ): Promise<MessageRecord | null> {
    const updatedAt = this.pg ? sql`greatest(updated_at, ${ev.at})` : sql`max(updated_at, ${ev.at})`;
    const seen = this.historyHasStatus(ev.status);
    const set: Record<string, unknown> = {
      ...cols,
      history: sql`case when ${seen} then history else ${this.appendHistory(evJson)} end`,
      updated_at: updatedAt,
    };
    let q = this.db
      .updateTable('messages')
      .set(set as never)
      .where('id', '=', id);
    // A pure duplicate (already recorded, nothing to patch) writes nothing.
    if (Object.keys(cols).length === 0) q = q.where(sql<boolean>`not (${seen})`);
    const other = await q.returningAll().$call(this.first);
    return other ? rowToMessage(other) : this.getMessage(id);
  }

  /**
   * One UPDATE for many forward status changes (webhook statuses arrive ~25 per POST at 1,000 mps):
   * one round trip and one commit instead of one each. Same effect per row as applyStatus's forward
   * step, and the same row-level atomicity (the rank condition is re-checked on the row it updates).
   * On PostgreSQL the rows are locked in id order before they are updated (lockedInIdOrder), so two
   * batches sharing rows wait for each other instead of deadlocking.
   */
  async applyStatusesForward(items: readonly ForwardStatus[]): Promise<(MovedMessage | null)[]> {
    if (items.length === 0) return [];
    const rows = statusRows(items);
    const out = new Map<string, MovedMessage>();
    for (let i = 0; i < rows.length; i += BATCH_ROWS) {
      const chunk = rows.slice(i, i + BATCH_ROWS);
      if (this.pg) {
        // One array per column (unnest): the statement's text is the same for every batch size, so
        // PostgreSQL parses and plans it once per connection (a VALUES list is a new text, planned
        // on every call, for each row count).
        const col = <K extends keyof (typeof chunk)[number]>(k: K) => chunk.map((r) => r[k]);
        const q = sql<
          Record<string, unknown>
        >`with v as (select * from unnest(cast(${col('id')} as text[]), cast(${col('status')} as text[]),
              cast(${col('rank')} as integer[]), cast(${col('ev')} as jsonb[]), cast(${col('at')} as bigint[]),
              cast(${col('has_pricing')} as boolean[]), cast(${col('pricing')} as jsonb[]), cast(${col('wamid')} as text[]),
              cast(${col('attempts')} as integer[])) as v(id, status, rank, ev, at, has_pricing, pricing, wamid, attempts)),
            ${lockedInIdOrder(sql`m.status_rank < v.rank`)}
            update messages m set status = v.status, status_rank = v.rank, history = ${this.appendHistory(sql.ref('v.ev'), sql.ref('m.history'))},
              updated_at = greatest(m.updated_at, v.at), pricing = case when v.has_pricing then v.pricing else m.pricing end,
              wamid = coalesce(v.wamid, m.wamid), attempts = coalesce(v.attempts, m.attempts)
            from v join locked on locked.id = v.id where m.id = v.id and m.status_rank < v.rank returning ${this.movedColumns('m')}`;
        for (const r of await this.all(this.raw(q), 'statuses_forward')) out.set(r.id as string, rowToMoved(r));
        continue;
      }
      const values = sql.join(
        chunk.map(
          (r) =>
            sql`(${r.id}, ${r.status}, ${r.rank}, ${r.ev}, ${r.at}, ${r.has_pricing ? 1 : 0}, ${r.pricing}, ${r.wamid}, ${r.attempts})`,
        ),
      );
      const q = sql<Record<string, unknown>>`with v(id, status, rank, ev, at, has_pricing, pricing, wamid, attempts) as (values ${values})
            update messages set status = v.status, status_rank = v.rank, history = ${this.appendHistory(sql.ref('v.ev'), sql.ref('messages.history'))},
              updated_at = max(messages.updated_at, v.at), pricing = case when v.has_pricing = 1 then v.pricing else messages.pricing end,
              wamid = coalesce(v.wamid, messages.wamid), attempts = coalesce(v.attempts, messages.attempts)
            from v where messages.id = v.id and messages.status_rank < v.rank returning ${this.movedColumns('messages')}`;
      for (const r of await this.all(this.raw(q))) out.set(r.id as string, rowToMoved(r));
    }
    return items.map((it) => out.get(it.id) ?? null);
  }

  /**
   * The columns of a MovedMessage read back from `t` (the row after the write): its delivered and
   * read events are counted where the history is, instead of sending the whole history back.
   */
  private movedColumns(t: 'm' | 'messages'): RawBuilder<unknown> {
    const h = sql.ref(`${t}.history`);
    const delivered = this.pg
      ? sql`from jsonb_array_elements(${h}) e where e->>'status' in ('delivered', 'read')`
      : sql`from json_each(${h}) e where json_extract(e.value, '$.status') in ('delivered', 'read')`;
    const at = this.pg ? sql`(e->>'at')::bigint` : sql`json_extract(e.value, '$.at')`;
    const c = (col: string) => sql.ref(`${t}.${col}`);
    return sql`${c('id')}, ${c('sender_id')}, ${c('recipient')}, ${c('category')}, ${c('status')}, ${c('wamid')}, ${c('attempts')},
      ${c('last_error')}, ${c('pricing')}, ${c('updated_at')},
      case when ${c('status')} in ('delivered', 'read') then (select count(*) ${delivered}) else 0 end as deliveries,
      case when ${c('status')} in ('delivered', 'read') then (select min(${at}) ${delivered}) end as delivered_at`;
  }

  /**
   * applyStatus's step 2 for many messages: on PostgreSQL one statement (rows locked in id order),
   * where one by one it took two or three round trips a status (the update that finds nothing to move,
   * the conditional history write, the read back): a duplicate webhook, or a batch applied again in
   * recovery, went that way for every status. A row that now outranks nothing (status_rank < rank:
   * unknown when the forward step ran, or moved since) is left alone, and the caller's full path decides.
   */
  async applyStatusesNotForward(items: readonly ForwardStatus[]): Promise<(MovedMessage | null)[]> {
    if (items.length === 0) return [];
    const rows = statusRows(items); // refused before anything is written
    const out = new Map<string, MovedMessage>();
    if (!this.pg) {
      // SQLite answers in-process: the one-by-one step costs no round trip. Same rank guard as below.
      const evJson = new Map(rows.map((r) => [r.id, r.ev]));
      for (const it of items) {
        const cur = await this.getMessage(it.id);
        if (!cur || STATUS_RANK[cur.status] < STATUS_RANK[it.ev.status]) continue;
        const cols = messagePatchCols(it.pricing !== undefined ? { pricing: it.pricing as MessageRecord['pricing'] } : undefined);
        const m = await this.recordNotForward(it.id, it.ev, evJson.get(it.id) as string, cols);
        if (m) out.set(it.id, movedOf(m));
      }
      return items.map((it) => out.get(it.id) ?? null);
    }
    for (let i = 0; i < rows.length; i += BATCH_ROWS) {
      const chunk = rows.slice(i, i + BATCH_ROWS);
      const col = <K extends keyof (typeof chunk)[number]>(k: K) => chunk.map((r) => r[k]);
      const seen = sql`m.history @> jsonb_build_array(jsonb_build_object('status', v.status))`;
      // Rows with nothing to write (a pure duplicate) are read in the same statement, from its snapshot:
      // they are locked too, so nothing moved them in between.
      const q = sql<Record<string, unknown>>`with v as (select * from unnest(cast(${col('id')} as text[]), cast(${col('status')} as text[]),
            cast(${col('rank')} as integer[]), cast(${col('ev')} as jsonb[]), cast(${col('at')} as bigint[]),
            cast(${col('has_pricing')} as boolean[]), cast(${col('pricing')} as jsonb[])) as v(id, status, rank, ev, at, has_pricing, pricing)),
          ${lockedInIdOrder(sql`m.status_rank >= v.rank`)},
          w as (update messages m set history = case when ${seen} then m.history else ${this.appendHistory(sql.ref('v.ev'), sql.ref('m.history'))} end,
            updated_at = greatest(m.updated_at, v.at), pricing = case when v.has_pricing then v.pricing else m.pricing end
            from v join locked on locked.id = v.id where m.id = v.id and m.status_rank >= v.rank and (v.has_pricing or not ${seen})
            returning ${this.movedColumns('m')})
        select * from w
        union all
        select ${this.movedColumns('m')} from messages m join locked on locked.id = m.id where not exists (select 1 from w where w.id = m.id)`;
      for (const r of await this.all(this.raw(q), 'statuses_not_forward')) out.set(r.id as string, rowToMoved(r));
    }
    return items.map((it) => out.get(it.id) ?? null);
  }

  /** history with one event appended (kept in arrival order; rowToMessage orders it by time). */
  private appendHistory(ev: string | RawBuilder<unknown>, history: RawBuilder<unknown> = sql.ref('history')) {
    return this.pg ? sql`${history} || jsonb_build_array(cast(${ev} as jsonb))` : sql`json_insert(${history}, '$[#]', json(${ev}))`;
  }

  /** True when history already holds an event with this status. */
  private historyHasStatus(status: MessageStatus) {
    return this.pg
      ? sql`history @> cast(${toJson([{ status }])} as jsonb)`
      : sql`exists (select 1 from json_each(messages.history) where json_extract(json_each.value, '$.status') = ${status})`;
  }

  async updateMessage(id: string, patch: MessagePatch, now: number): Promise<void> {
    await this.db
      .updateTable('messages')
      .set({ ...messagePatchCols(patch), updated_at: now } as never)
      .where('id', '=', id)
      .$call(this.all);
  }

  async claimAttempts(items: readonly { id: string; expected_attempts: number; attempts: number }[], now: number): Promise<Set<string>> {
    const claimed = new Set<string>();
    for (let i = 0; i < items.length; i += BATCH_ROWS) {
      const chunk = inIdOrder(items.slice(i, i + BATCH_ROWS));
      if (this.pg) {
        // Arrays (unnest): one text for every batch size, planned once per connection.
        const q = sql<{ id: string }>`with v as (select * from unnest(cast(${chunk.map((it) => it.id)} as text[]),
              cast(${chunk.map((it) => it.expected_attempts)} as integer[]), cast(${chunk.map((it) => it.attempts)} as integer[])) as v(id, expected, attempts)),
            ${lockedInIdOrder(sql`m.status = 'queued' and m.attempts = v.expected`)}
            update messages m set attempts = v.attempts, enqueued = 1, updated_at = cast(${now} as bigint)
            from v join locked on locked.id = v.id where m.id = v.id and m.status = 'queued' and m.attempts = v.expected returning m.id`;
        for (const r of await this.all(this.raw(q), 'claim_attempts')) claimed.add(r.id);
        continue;
      }
      const values = sql.join(chunk.map((it) => sql`(${it.id}, ${it.expected_attempts}, ${it.attempts})`));
      const q = sql<{ id: string }>`with v(id, expected, attempts) as (values ${values})
            update messages set attempts = v.attempts, enqueued = 1, updated_at = ${now}
            from v where messages.id = v.id and messages.status = 'queued' and messages.attempts = v.expected returning id`;
      for (const r of await this.all(this.raw(q))) claimed.add(r.id);
    }
    return claimed;
  }

  async listUnenqueued(opts: { created_before: number; limit: number }): Promise<UnenqueuedMessage[]> {
    // The partial index messages_unenqueued_idx holds only these rows: the scan costs nothing when all is well.
    return this.db
      .selectFrom('messages')
      .select(['id', 'sender_id', 'attempts', 'created_at'])
      .where('enqueued', '=', 0)
      .where('status', '=', 'queued')
      .where('created_at', '<=', opts.created_before)
      .orderBy('created_at')
      .limit(limitOf(opts.limit))
      .$call(this.all);
  }

  async markEnqueued(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += BATCH_ROWS) {
      const chunk = [...ids.slice(i, i + BATCH_ROWS)].sort();
      if (this.pg) {
        // Locks in id order like the status writes it meets on queued messages (lockedInIdOrder).
        await this.all(
          this.raw(sql`with v as (select * from unnest(cast(${chunk} as text[])) as v(id)), ${lockedInIdOrder(sql`m.enqueued = 0`)}
          update messages m set enqueued = 1 from locked where m.id = locked.id and m.enqueued = 0`),
          'mark_enqueued',
        );
        continue;
      }
      await this.db.updateTable('messages').set({ enqueued: 1 }).where('id', 'in', chunk).where('enqueued', '=', 0).$call(this.all);
    }
  }

  async claimAttempt(id: string, expected_attempts: number, attempts: number, now: number): Promise<boolean> {
    const n = await this.db
      .updateTable('messages')
      .set({ attempts, enqueued: 1, updated_at: now })
      .where('id', '=', id)
      .where('status', '=', 'queued')
      .where('attempts', '=', expected_attempts)
      .$call(this.changes);
    return n > 0;
  }

  async listMessages(filter: MessageFilter): Promise<MessageRecord[]> {
    let q = this.db.selectFrom('messages').selectAll();
    if (filter.sender_id !== undefined) q = q.where('sender_id', '=', filter.sender_id);
    if (filter.to !== undefined) q = q.where('recipient', '=', filter.to);
    if (filter.status !== undefined) {
      if (filter.status.length === 0) return [];
      q = q.where('status', 'in', filter.status);
    }
    if (filter.since !== undefined) q = q.where('created_at', '>=', filter.since);
    const rows = await q
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limitOf(filter.limit))
      .offset(offsetOf(filter.offset))
      .$call(this.all);
    return rows.map(rowToMessage);
  }

  async countMessagesByStatus(): Promise<Record<string, number>> {
    const rows = await this.db
      .selectFrom('messages')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .$call(this.all);
    const out: Record<string, number> = Object.fromEntries(Object.keys(STATUS_RANK).map((s) => [s, 0]));
    for (const r of rows) out[r.status] = Number(r.n);
    return out;
  }

  // ---------------------------------------------------------------- audit

  async appendAudit(e: AuditEntry): Promise<void> {
    await this.db
      .insertInto('audit_log')
      .values({ at: e.at, actor: e.actor, action: e.action, subject: e.subject ?? null, detail: toJson(e.detail ?? {}) })
      .$call(this.all);
  }

  async appendAudits(entries: readonly AuditEntry[]): Promise<void> {
    for (let i = 0; i < entries.length; i += BATCH_ROWS) {
      await this.db
        .insertInto('audit_log')
        .values(
          entries
            .slice(i, i + BATCH_ROWS)
            .map((e) => ({ at: e.at, actor: e.actor, action: e.action, subject: e.subject ?? null, detail: toJson(e.detail ?? {}) })),
        )
        .$call(this.all);
    }
  }

  async listAudit(opts: { subject?: string; action?: string; limit?: number } = {}): Promise<AuditEntry[]> {
    let q = this.db.selectFrom('audit_log').selectAll();
    if (opts.subject !== undefined) q = q.where('subject', '=', opts.subject);
    if (opts.action !== undefined) q = q.where('action', '=', opts.action);
    const rows = await q.orderBy('id', 'desc').limit(limitOf(opts.limit)).$call(this.all);
    return rows.map(rowToAudit);
  }

  // ---------------------------------------------------------------- webhooks

  async markEventSeen(key: string, at: number): Promise<boolean> {
    // One statement: the primary key decides who is first, also across PostgreSQL connections.
    const inserted = await this.db
      .insertInto('seen_events')
      .values({ event_key: key, at })
      .onConflict((oc) => oc.column('event_key').doNothing())
      .$call(this.changes);
    if (++this.seenInserts % SEEN_EVENT_PRUNE_EVERY === 0) {
      await this.db
        .deleteFrom('seen_events')
        .where('at', '<', at - SEEN_EVENT_TTL_MS)
        .$call(this.all);
    }
    return inserted > 0;
  }

  /** Many keys in one statement (webhook bursts: one round trip instead of one per event). */
  async markEventsSeen(keys: string[], at: number): Promise<Set<string>> {
    const fresh = new Set<string>();
    const unique = [...new Set(keys)];
    for (let i = 0; i < unique.length; i += BATCH_ROWS) {
      const chunk = unique.slice(i, i + BATCH_ROWS);
      const rows = await this.db
        .insertInto('seen_events')
        .values(chunk.map((event_key) => ({ event_key, at })))
        .onConflict((oc) => oc.column('event_key').doNothing())
        .returning('event_key')
        .$call(this.all);
      for (const r of rows) fresh.add(r.event_key);
    }
    const before = this.seenInserts;
    this.seenInserts += unique.length;
    if (Math.floor(before / SEEN_EVENT_PRUNE_EVERY) !== Math.floor(this.seenInserts / SEEN_EVENT_PRUNE_EVERY)) {
      await this.db
        .deleteFrom('seen_events')
        .where('at', '<', at - SEEN_EVENT_TTL_MS)
        .$call(this.all);
    }
    return fresh;
  }

  async saveWebhookBatches(rows: { id: string; body: string; at: number }[]): Promise<void> {
    for (let i = 0; i < rows.length; i += BATCH_ROWS) {
      const chunk = rows.slice(i, i + BATCH_ROWS).map((r) => ({ id: r.id, body: r.body, at: r.at }));
      await this.db
        .insertInto('webhook_batches')
        .values(chunk)
        .onConflict((oc) => oc.column('id').doNothing())
        .$call(this.all);
    }
  }

  async deleteWebhookBatches(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += BATCH_ROWS) {
      await this.db
        .deleteFrom('webhook_batches')
        .where('id', 'in', ids.slice(i, i + BATCH_ROWS))
        .$call(this.all);
    }
  }

  async saveWebhookBatch(id: string, body: string, at: number): Promise<void> {
    await this.db
      .insertInto('webhook_batches')
      .values({ id, body, at })
      .onConflict((oc) => oc.column('id').doNothing())
      .$call(this.all);
  }

  async deleteWebhookBatch(id: string): Promise<void> {
    await this.db.deleteFrom('webhook_batches').where('id', '=', id).$call(this.all);
  }

  async listPendingWebhookBatches(limit: number, opts: { at_most?: number } = {}): Promise<{ id: string; body: string; at: number }[]> {
    let q = this.db.selectFrom('webhook_batches').selectAll();
    if (opts.at_most !== undefined) q = q.where('at', '<=', opts.at_most);
    const rows = await q.orderBy('at').orderBy('id').limit(limitOf(limit)).$call(this.all);
    return rows.map((r) => ({ id: r.id, body: r.body, at: r.at }));
  }

  async oldestPendingWebhookBatchAt(): Promise<number | null> {
    const r = await this.db
      .selectFrom('webhook_batches')
      .select((eb) => eb.fn.min('at').as('at'))
      .$call(this.all);
    const at = r[0]?.at;
    return at === null || at === undefined ? null : Number(at);
  }

  async setAsideWebhookBatch(id: string, error: string, at: number): Promise<void> {
    // Copy, then delete: a crash in between leaves the batch in both lists; the next start applies it
    // again (every effect is idempotent) and, if it fails again, sets it aside again (one more attempt).
    await this.db
      .insertInto('webhook_failed_batches')
      .columns(['id', 'body', 'received_at', 'failed_at', 'error', 'attempts', 'state', 'updated_at'])
      .expression(
        (eb) =>
          eb
            .selectFrom('webhook_batches')
            .select([
              'id',
              'body',
              'at',
              // Typed: PostgreSQL does not infer a parameter's type from the INSERT's columns here.
              sql<number>`cast(${at} as bigint)`.as('failed_at'),
              sql<string>`cast(${error} as text)`.as('error'),
              sql<number>`1`.as('attempts'),
              sql<FailedWebhookBatch['state']>`'open'`.as('state'),
              sql<number>`cast(${at} as bigint)`.as('updated_at'),
            ])
            .where('id', '=', id), // the WHERE also lets SQLite parse ON CONFLICT after a SELECT
      )
      .onConflict((oc) =>
        oc.column('id').doUpdateSet((eb) => ({
          body: eb.ref('excluded.body'),
          failed_at: eb.ref('excluded.failed_at'),
          error: eb.ref('excluded.error'),
          attempts: sql<number>`webhook_failed_batches.attempts + 1`,
          state: 'open',
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .$call(this.all);
    const moved = await this.db.deleteFrom('webhook_batches').where('id', '=', id).$call(this.changes);
    if (moved === 0) {
      // Not pending (a replay of a batch already set aside that failed again): record the new failure.
      await this.db
        .updateTable('webhook_failed_batches')
        .set({ failed_at: at, error, attempts: sql<number>`attempts + 1`, state: 'open', updated_at: at })
        .where('id', '=', id)
        .$call(this.all);
    }
  }

  async listFailedWebhookBatches(
    opts: { state?: FailedWebhookBatch['state']; limit?: number; offset?: number } = {},
  ): Promise<FailedWebhookBatch[]> {
    let q = this.db
      .selectFrom('webhook_failed_batches')
      .select(['id', 'received_at', 'failed_at', 'error', 'attempts', 'state', 'updated_at', sql<number>`length(body)`.as('body_length')]);
    if (opts.state !== undefined) q = q.where('state', '=', opts.state);
    const rows = await q
      .orderBy('failed_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limitOf(opts.limit))
      .offset(offsetOf(opts.offset))
      .$call(this.all);
    return rows.map(rowToFailedWebhookBatch);
  }

  async getFailedWebhookBatch(id: string): Promise<FailedWebhookBatch | null> {
    const r = await this.db.selectFrom('webhook_failed_batches').selectAll().where('id', '=', id).$call(this.first);
    return r ? rowToFailedWebhookBatch(r) : null;
  }

  async setFailedWebhookBatchState(id: string, state: FailedWebhookBatch['state'], at: number): Promise<void> {
    await this.db.updateTable('webhook_failed_batches').set({ state, updated_at: at }).where('id', '=', id).$call(this.all);
  }

  // ---------------------------------------------------------------- dead letters

  async addDeadLetter(d: DeadLetter): Promise<void> {
    // Idempotent by id: a worker retrying after a crash must not fail or duplicate.
    await this.db
      .insertInto('dead_letters')
      .values({ ...d, fix: d.fix ?? null, meta_error: toJsonOrNull(d.meta_error), state: d.state ?? 'open' })
      .onConflict((oc) => oc.column('id').doNothing())
      .$call(this.all);
  }

  async getDeadLetter(id: string): Promise<DeadLetter | null> {
    const r = await this.db.selectFrom('dead_letters').selectAll().where('id', '=', id).$call(this.first);
    return r ? rowToDeadLetter(r) : null;
  }

  async listDeadLetters(
    opts: { state?: DeadLetter['state']; sender_id?: string; limit?: number; offset?: number } = {},
  ): Promise<DeadLetter[]> {
    let q = this.db.selectFrom('dead_letters').selectAll();
    if (opts.state !== undefined) q = q.where('state', '=', opts.state);
    if (opts.sender_id !== undefined) q = q.where('sender_id', '=', opts.sender_id);
    const rows = await q
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limitOf(opts.limit))
      .offset(offsetOf(opts.offset))
      .$call(this.all);
    return rows.map(rowToDeadLetter);
  }

  async setDeadLetterState(id: string, state: DeadLetter['state']): Promise<void> {
    await this.db.updateTable('dead_letters').set({ state }).where('id', '=', id).$call(this.all);
  }

  // ---------------------------------------------------------------- alerts

  async upsertAlert(a: AlertRecord): Promise<void> {
    const row = {
      ...a,
      sender_id: a.sender_id ?? null,
      detail: toJson(a.detail ?? {}),
      last_sent_at: a.last_sent_at ?? null,
      resolved_at: a.resolved_at ?? null,
    };
    const { id: _id, ...rest } = row;
    await this.db
      .insertInto('alerts')
      .values(row)
      .onConflict((oc) => oc.column('id').doUpdateSet(rest))
      .$call(this.all);
  }

  async getAlertByDedupeKey(key: string): Promise<AlertRecord | null> {
    // Several records may share a key over time (raised, resolved, raised again): the latest counts.
    const r = await this.db
      .selectFrom('alerts')
      .selectAll()
      .where('dedupe_key', '=', key)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .$call(this.first);
    return r ? rowToAlert(r) : null;
  }

  /** Dashboard rollups and alert acknowledgements: their own module (src/store/rollup-store.ts). */
  private rollupStore?: RollupStore;
  private get rollups(): RollupStore {
    // Its own tables on the same connection (Kysely's table types are invariant: hence the cast).
    return (this.rollupStore ??= new RollupStore(this.db as unknown as Kysely<RollupTables>));
  }
  acknowledgeAlert(ack: AlertAck): Promise<void> {
    return this.rollups.ack(ack);
  }
  listAlertAcks(alert_ids: readonly string[]): Promise<AlertAck[]> {
    return this.rollups.acks(alert_ids);
  }
  addRollups(points: readonly RollupPoint[]): Promise<void> {
    return this.rollups.add(points);
  }
  listRollups(opts: { since: number; until?: number; metrics?: readonly string[]; senders?: readonly string[] }): Promise<RollupPoint[]> {
    return this.rollups.list(opts);
  }
  pruneRollups(before: number): Promise<number> {
    return this.rollups.prune(before);
  }

  /** Dashboard sessions: their own module (src/store/session-store.ts). */
  private sessionStore?: SessionStore;
  private get sessions(): SessionStore {
    return (this.sessionStore ??= new SessionStore(this.db as unknown as Kysely<SessionTables>));
  }
  createSession(s: SessionRecord): Promise<void> {
    return this.sessions.create(s);
  }
  getSession(id_sha256: string): Promise<SessionRecord | null> {
    return this.sessions.get(id_sha256);
  }
  touchSession(id_sha256: string, last_seen: number): Promise<void> {
    return this.sessions.touch(id_sha256, last_seen);
  }
  deleteSession(id_sha256: string): Promise<void> {
    return this.sessions.delete(id_sha256);
  }
  pruneSessions(opts: { created_before: number; seen_before: number }): Promise<number> {
    return this.sessions.prune(opts);
  }

  async listAlerts(opts: { limit?: number; unresolved?: boolean } = {}): Promise<AlertRecord[]> {
    let q = this.db.selectFrom('alerts').selectAll();
    if (opts.unresolved) q = q.where('resolved_at', 'is', null);
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limitOf(opts.limit)).$call(this.all);
    return rows.map(rowToAlert);
  }

  // ---------------------------------------------------------------- senders

  async saveSenderHealth(h: SenderHealthRecord): Promise<void> {
    const data = toJson(h.data ?? {});
    await this.db
      .insertInto('sender_health')
      .values({ sender_id: h.sender_id, data, updated_at: h.updated_at })
      .onConflict((oc) => oc.column('sender_id').doUpdateSet({ data, updated_at: h.updated_at }))
      .$call(this.all);
  }

  async getSenderHealth(sender_id: string): Promise<SenderHealthRecord | null> {
    const r = await this.db.selectFrom('sender_health').selectAll().where('sender_id', '=', sender_id).$call(this.first);
    return r ? rowToHealth(r) : null;
  }

  async saveSenderStatus(s: SenderStatus): Promise<void> {
    const row = {
      sender_id: s.sender_id,
      state: s.state,
      reason: s.reason ?? null,
      reason_code: s.reason_code ?? null,
      credentials_valid: s.credentials_valid ? 1 : 0,
      since: s.since ?? null,
    };
    const { sender_id: _s, ...rest } = row;
    await this.db
      .insertInto('sender_statuses')
      .values(row)
      .onConflict((oc) => oc.column('sender_id').doUpdateSet(rest))
      .$call(this.all);
  }

  async listSenderStatuses(): Promise<SenderStatus[]> {
    const rows = await this.db.selectFrom('sender_statuses').selectAll().orderBy('sender_id').$call(this.all);
    return rows.map(rowToSenderStatus);
  }

  // ---------------------------------------------------------------- settings

  // ---------------------------------------------------------------- identities

  async linkIdentity(l: { business_id: string; user_id: string; wa_id: string; at: number }): Promise<boolean> {
    return (await this.linkIdentities([l])).length > 0;
  }

  async linkIdentities(
    links: readonly { business_id: string; user_id: string; wa_id: string; at: number }[],
  ): Promise<{ business_id: string; user_id: string; wa_id: string }[]> {
    // One statement: new pairs are inserted, a BSUID naming another phone is moved, a known pair is
    // left alone (and not returned). Repeated (portfolio, BSUID) keys: the last one given wins.
    const unique = [...new Map(links.map((l) => [`${l.business_id}\u0000${l.user_id}`, l])).values()];
    const out: { business_id: string; user_id: string; wa_id: string }[] = [];
    for (let i = 0; i < unique.length; i += BATCH_ROWS) {
      const rows = await this.db
        .insertInto('identity_links')
        .values(unique.slice(i, i + BATCH_ROWS))
        .onConflict((oc) =>
          oc
            .columns(['business_id', 'user_id'])
            .doUpdateSet((eb) => ({ wa_id: eb.ref('excluded.wa_id'), at: eb.ref('excluded.at') }))
            .where('identity_links.wa_id', '<>', (eb) => eb.ref('excluded.wa_id')),
        )
        .returning(['business_id', 'user_id', 'wa_id'])
        .$call(this.all);
      out.push(...rows);
    }
    return out;
  }

  async getLinkedPhone(business_id: string, user_id: string): Promise<string | null> {
    const r = await this.db
      .selectFrom('identity_links')
      .select('wa_id')
      .where('business_id', '=', business_id)
      .where('user_id', '=', user_id)
      .$call(this.first);
    return r ? r.wa_id : null;
  }

  async listLinkedUserIds(business_id: string, wa_id: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('identity_links')
      .select('user_id')
      .where('business_id', '=', business_id)
      .where('wa_id', '=', wa_id)
      .orderBy('user_id')
      .$call(this.all);
    return rows.map((r) => r.user_id);
  }

  // ---------------------------------------------------------------- pricing

  async addServiceMessages(items: readonly { sender_id: string; month: string; n: number }[], now: number): Promise<void> {
    // Summed per key first: one statement may not update the same row twice (PostgreSQL refuses it).
    const sums = new Map<string, { sender_id: string; month: string; count: number; updated_at: number }>();
    for (const it of items) {
      if (!(Number.isInteger(it.n) && it.n > 0)) continue;
      const k = `${it.sender_id}\u0000${it.month}`;
      const cur = sums.get(k);
      if (cur) cur.count += it.n;
      else sums.set(k, { sender_id: it.sender_id, month: it.month, count: it.n, updated_at: now });
    }
    const rows = [...sums.values()];
    for (let i = 0; i < rows.length; i += BATCH_ROWS) {
      await this.db
        .insertInto('service_message_counts')
        .values(rows.slice(i, i + BATCH_ROWS))
        .onConflict((oc) =>
          oc.columns(['sender_id', 'month']).doUpdateSet({
            count: sql`service_message_counts.count + excluded.count`,
            updated_at: sql`excluded.updated_at`,
          }),
        )
        .$call(this.all);
    }
  }

  async getServiceMessageCount(sender_id: string, month: string): Promise<number> {
    const r = await this.db
      .selectFrom('service_message_counts')
      .select('count')
      .where('sender_id', '=', sender_id)
      .where('month', '=', month)
      .$call(this.first);
    return r ? Number(r.count) : 0;
  }

  async getSetting(key: string): Promise<string | null> {
    const r = await this.db.selectFrom('settings').select('value').where('name', '=', key).$call(this.first);
    return r ? r.value : null;
  }

  async setSetting(key: string, value: string | null): Promise<void> {
    if (value === null) {
      await this.db.deleteFrom('settings').where('name', '=', key).$call(this.all);
      return;
    }
    await this.db
      .insertInto('settings')
      .values({ name: key, value })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value }))
      .$call(this.all);
  }

  // ---------------------------------------------------------------- gate seed

  async loadGateSeed(now: number): Promise<GateSeed> {
    const [customers, windows, templates, senders, reserved, health, limits] = await Promise.all([
      // Only customers that differ from a blank one: the gate's default covers the rest.
      this.db
        .selectFrom('customers')
        .selectAll()
        .where((eb) =>
          eb.or([
            ...CATEGORIES.map((c) => eb(`c_${c}_state` as 'c_marketing_state', '!=', 'unknown')),
            eb('tags', '!=', '[]'),
            eb('time_zone', 'is not', null),
            eb('undeliverable_at', 'is not', null),
            eb('marketing_limited_at', 'is not', null),
          ]),
        )
        .$call(this.all),
      // 72h: the longest window anything can still be open (FEP); the 24h care window is inside it.
      this.db
        .selectFrom('care_windows')
        .selectAll()
        .where('last_inbound_at', '>=', now - FEP_WINDOW_MS)
        .$call(this.all),
      this.listTemplates(),
      this.listSenderStatuses(),
      this.db
        .selectFrom('messages')
        .select(['id', 'sender_id', 'recipient', 'category', 'reserved_marketing', 'reserved_tier', 'created_at'])
        .where('created_at', '>=', now - DAY_MS)
        .where('status', 'not in', TERMINAL)
        .where((eb) => eb.or([eb('reserved_marketing', '=', 1), eb('reserved_tier', '=', 1)]))
        .orderBy('created_at')
        .$call(this.all),
      // Meta's account restrictions (ACCOUNT_RESTRICTION), kept in the sender health record.
      // One row per sender (few): filtered here, as jsonb (PostgreSQL) and text (SQLite) differ in SQL.
      this.db.selectFrom('sender_health').selectAll().$call(this.all),
      // Messaging limits Meta reported per portfolio (business_capability_update).
      this.db.selectFrom('settings').selectAll().where('name', 'like', 'portfolio_limit:%').$call(this.all),
    ]);
    // The phones learned since for the BSUIDs those reservations went to: the gate counts them once.
    const bsuids = [...new Set(reserved.map((r) => r.recipient).filter(isBsuid))];
    const links: { business_id: string; user_id: string; wa_id: string }[] = [];
    for (let i = 0; i < bsuids.length; i += BATCH_ROWS) {
      links.push(
        ...(await this.db
          .selectFrom('identity_links')
          .select(['business_id', 'user_id', 'wa_id'])
          .where('user_id', 'in', bsuids.slice(i, i + BATCH_ROWS))
          .$call(this.all)),
      );
    }
    return {
      customers: customers.map((r): GateCustomerUpdate => {
        const c = rowToCustomer(r);
        return {
          wa_id: c.wa_id,
          consent: Object.fromEntries(CATEGORIES.map((cat) => [cat, c.consent[cat].state])) as Record<Category, ConsentState>,
          // The time of each recorded change: the gate allows a free-form reply after an opt-out only in
          // a window opened after it, so a restart must not make old opt-outs look new.
          consent_at: Object.fromEntries(
            CATEGORIES.filter((cat) => c.consent[cat].at !== null).map((cat) => [cat, c.consent[cat].at]),
          ) as Partial<Record<Category, number>>,
          tags: c.tags,
          time_zone: c.time_zone,
          undeliverable_at: c.undeliverable_at,
          marketing_limited_at: c.marketing_limited_at,
        };
      }),
      windows: windows.map((w) => ({
        sender_id: w.sender_id,
        wa_id: w.wa_id,
        last_inbound_at: w.last_inbound_at,
        referral_at: w.referral_at ?? null,
        fep_opened_at: w.fep_opened_at ?? null,
      })),
      templates,
      senders,
      restrictions: health.flatMap((r) => {
        const list = rowToHealth(r).data.sender_restrictions;
        return Array.isArray(list) && list.length ? [{ sender_id: r.sender_id, restrictions: list as SenderRestriction[] }] : [];
      }),
      portfolio_limits: limits.flatMap((r) => {
        try {
          const v = JSON.parse(r.value) as { limit: unknown; at: unknown };
          const limit = v.limit === null ? null : typeof v.limit === 'number' ? v.limit : undefined;
          if (limit === undefined || typeof v.at !== 'number') return [];
          return [{ business_id: r.name.slice('portfolio_limit:'.length), limit, at: v.at }];
        } catch {
          return [];
        }
      }),
      reservations: reserved.map(
        (r): Reservation => ({
          message_id: r.id,
          sender_id: r.sender_id,
          to: r.recipient,
          category: r.category,
          marketing_slot: r.reserved_marketing === 1,
          tier_slot: r.reserved_tier === 1,
          at: r.created_at,
        }),
      ),
      identity_links: links,
    };
  }

  // ---------------------------------------------------------------- lifecycle

  async ping(): Promise<boolean> {
    try {
      await PING_QUERY.execute(this.db);
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    // Idempotent: shutdown paths may close twice.
    if (this.closed) return;
    this.closed = true;
    await this.db.destroy();
    // Kysely ends the pool only if a query ever went through it (it sets the pool up lazily); ours go
    // straight to the pool, so end it here when Kysely did not.
    if (this.pgPool && !this.pgPool.ended) await this.pgPool.end();
  }
}
