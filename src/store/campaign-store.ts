// CampaignStore (src/campaigns/port.ts) over the store's own Kysely connection, for SQLite and
// PostgreSQL (tables of migration 5). Every write is one statement, so it is atomic on both dialects
// without a transaction (on SQLite the store's other statements share the one connection: a
// transaction here would take them in). The dialect differences are marked where they occur:
// PostgreSQL claims with `for update skip locked` (concurrent claimers take disjoint rows without
// waiting), SQLite's single writer makes `update ... where rowid in (select ... limit n) returning`
// atomic by itself.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Category } from '../domain/types.ts';
import { CATEGORIES } from '../domain/types.ts';
import type {
  CampaignRecord,
  CampaignStatus,
  CampaignStore,
  CustomerFacts,
  NewRecipient,
  RecipientOutcome,
  RecipientRecord,
  RecipientSettle,
  RecipientState,
  RecipientTally,
  ScheduledMessageRecord,
} from '../campaigns/port.ts';
import type { Store } from './port.ts';
import { KyselyStore } from './kysely-store.ts';
import type { StoreDialect } from './migrations.ts';

const ROWS_PER_STATEMENT = 400;
/** An upload's rows per insert, at most (the audience builder stores 1,000 at a time). */
const RECIPIENTS_PER_STATEMENT = 5000;
const MAX_LIMIT = 5000;
const CANCEL_CHUNK = 5000;

type Row = Record<string, unknown>;
// biome-ignore lint/suspicious/noExplicitAny: raw statements only; the tables are typed by the row mappers below.
type Db = Kysely<any>;

const json = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));
const jsonOrNull = <T>(v: unknown): T | null => (v === null || v === undefined ? null : json<T>(v));
const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const limitOf = (n: number | undefined, d = 100) => Math.max(1, Math.min(MAX_LIMIT, Math.floor(n ?? d)));

function rowToCampaign(r: Row): CampaignRecord {
  return {
    id: r.id as string,
    name: r.name as string,
    sender_id: r.sender_id as string,
    template_name: r.template_name as string,
    template_language: r.template_language as string,
    category: r.category as CampaignRecord['category'],
    status: r.status as CampaignStatus,
    deliver_at: numOrNull(r.deliver_at),
    audience: json(r.audience),
    options: json(r.options),
    total: num(r.total),
    status_reason: (r.status_reason as string | null) ?? null,
    waiting_until: numOrNull(r.waiting_until),
    actor: r.actor as string,
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
    started_at: numOrNull(r.started_at),
    finished_at: numOrNull(r.finished_at),
  };
}

function rowToRecipient(r: Row): RecipientRecord {
  return {
    campaign_id: r.campaign_id as string,
    seq: num(r.seq),
    recipient: r.recipient as string,
    variables: jsonOrNull(r.variables),
    state: r.state as RecipientState,
    not_before: num(r.not_before),
    claim_until: numOrNull(r.claim_until),
    claimed_by: (r.claimed_by as string | null) ?? null,
    gen: num(r.gen),
    message_id: (r.message_id as string | null) ?? null,
    wa_id: (r.wa_id as string | null) ?? null,
    reason_code: (r.reason_code as string | null) ?? null,
    detail: (r.detail as string | null) ?? null,
    updated_at: num(r.updated_at),
  };
}

function rowToScheduled(r: Row): ScheduledMessageRecord {
  return {
    id: r.id as string,
    sender_id: r.sender_id as string,
    recipient: r.recipient as string,
    body: json(r.body),
    deliver_at: num(r.deliver_at),
    state: r.state as ScheduledMessageRecord['state'],
    claim_until: numOrNull(r.claim_until),
    claimed_by: (r.claimed_by as string | null) ?? null,
    message_id: (r.message_id as string | null) ?? null,
    decision: jsonOrNull(r.decision),
    actor: r.actor as string,
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
  };
}

const inList = (values: readonly unknown[]): RawBuilder<unknown> =>
  sql.join(
    values.map((v) => sql`${v}`),
    sql`, `,
  );

/** The campaign store over a KyselyStore's connection (the composition root and tests call this). */
export function campaignStoreFor(store: Store): CampaignStore {
  if (!(store instanceof KyselyStore)) throw new Error('campaigns need the SQLite or PostgreSQL store');
  return new KyselyCampaignStore(store.connection as unknown as Db, store.dialect);
}

export class KyselyCampaignStore implements CampaignStore {
  private readonly pg: boolean;
  constructor(
    private readonly db: Db,
    dialect: StoreDialect,
  ) {
    this.pg = dialect === 'postgres';
  }

  private async rows(q: RawBuilder<unknown>): Promise<Row[]> {
    return (await q.execute(this.db)).rows as Row[];
  }

  async insertCampaign(c: CampaignRecord): Promise<void> {
    await this.rows(sql`insert into campaigns (id, name, sender_id, template_name, template_language, category, status, deliver_at,
      audience, options, total, status_reason, waiting_until, actor, created_at, updated_at, started_at, finished_at)
      values (${c.id}, ${c.name}, ${c.sender_id}, ${c.template_name}, ${c.template_language}, ${c.category}, ${c.status}, ${c.deliver_at},
      ${JSON.stringify(c.audience)}, ${JSON.stringify(c.options)}, ${c.total}, ${c.status_reason}, ${c.waiting_until}, ${c.actor},
      ${c.created_at}, ${c.updated_at}, ${c.started_at}, ${c.finished_at})`);
  }

  async getCampaign(id: string): Promise<CampaignRecord | null> {
    const r = await this.rows(sql`select * from campaigns where id = ${id}`);
    return r[0] ? rowToCampaign(r[0]) : null;
  }

  async listCampaigns(opts: { status?: CampaignStatus[]; limit?: number; offset?: number } = {}): Promise<CampaignRecord[]> {
    const where = opts.status?.length ? sql`where status in (${inList(opts.status)})` : sql``;
    const r = await this.rows(
      sql`select * from campaigns ${where} order by created_at desc, id desc limit ${limitOf(opts.limit, 50)} offset ${Math.max(0, opts.offset ?? 0)}`,
    );
    return r.map(rowToCampaign);
  }

  async campaignIds(status: CampaignStatus[], opts: { due_before?: number } = {}): Promise<string[]> {
    const due = opts.due_before !== undefined ? sql`and (deliver_at is null or deliver_at <= ${opts.due_before})` : sql``;
    const r = await this.rows(sql`select id from campaigns where status in (${inList(status)}) ${due} order by created_at limit 1000`);
    return r.map((x) => x.id as string);
  }

  async transition(
    id: string,
    from: readonly CampaignStatus[],
    to: CampaignStatus,
    now: number,
    patch: Partial<Pick<CampaignRecord, 'status_reason' | 'waiting_until' | 'started_at' | 'finished_at' | 'total' | 'audience'>> = {},
  ): Promise<CampaignRecord | null> {
    const sets = [sql`status = ${to}`, sql`updated_at = ${now}`, ...this.patchSets(patch)];
    const r = await this.rows(
      sql`update campaigns set ${sql.join(sets, sql`, `)} where id = ${id} and status in (${inList(from)}) returning *`,
    );
    return r[0] ? rowToCampaign(r[0]) : null;
  }

  private patchSets(patch: Partial<CampaignRecord>): RawBuilder<unknown>[] {
    const sets: RawBuilder<unknown>[] = [];
    if (patch.status_reason !== undefined) sets.push(sql`status_reason = ${patch.status_reason}`);
    if (patch.waiting_until !== undefined) sets.push(sql`waiting_until = ${patch.waiting_until}`);
    if (patch.started_at !== undefined) sets.push(sql`started_at = ${patch.started_at}`);
    if (patch.finished_at !== undefined) sets.push(sql`finished_at = ${patch.finished_at}`);
    if (patch.total !== undefined) sets.push(sql`total = ${patch.total}`);
    if (patch.audience !== undefined) sets.push(sql`audience = ${JSON.stringify(patch.audience)}`);
    return sets;
  }

  async updateCampaign(
    id: string,
    patch: Partial<Pick<CampaignRecord, 'status_reason' | 'waiting_until' | 'total' | 'audience'>>,
    now: number,
  ): Promise<void> {
    const sets = [sql`updated_at = ${now}`, ...this.patchSets(patch)];
    await this.rows(sql`update campaigns set ${sql.join(sets, sql`, `)} where id = ${id}`);
  }

  async addRecipients(campaign_id: string, rows: readonly NewRecipient[], now: number): Promise<void> {
    // One array (PostgreSQL) or one JSON text (SQLite) per column, not a parameter per value: a
    // million-row upload built a query object and eight parameters per row, which lived until the
    // statement came back and was what grew the process at its peak (130-160 MB of heap).
    for (let i = 0; i < rows.length; i += RECIPIENTS_PER_STATEMENT) {
      const chunk = rows.slice(i, i + RECIPIENTS_PER_STATEMENT);
      const variables = chunk.map((r) => (r.variables === null ? null : JSON.stringify(r.variables)));
      const from = this.pg
        ? sql`unnest(cast(${chunk.map((r) => r.seq)} as integer[]), cast(${chunk.map((r) => r.recipient)} as text[]),
            cast(${variables} as jsonb[])) as v(seq, recipient, variables)`
        : sql`(select json_extract(value, '$[0]') as seq, json_extract(value, '$[1]') as recipient, json_extract(value, '$[2]') as variables
            from json_each(${JSON.stringify(chunk.map((r, k) => [r.seq, r.recipient, variables[k]]))}))`;
      // `where true`: SQLite reads "on conflict" after a bare select as a join's constraint.
      await this.rows(
        sql`insert into campaign_recipients (campaign_id, seq, recipient, variables, state, not_before, gen, updated_at)
          select ${campaign_id}, seq, recipient, variables, 'pending', 0, 0, ${now} from ${from} where true
          on conflict (campaign_id, seq) do nothing`,
      );
    }
  }

  async claimRecipients(campaign_id: string, limit: number, now: number, lease_ms: number, claimer: string): Promise<RecipientRecord[]> {
    const n = Math.max(1, Math.min(MAX_LIMIT, Math.floor(limit)));
    // The n lowest seqs of two sets (pending and due; claimed by someone whose lease ran out), each read
    // in seq order from the (campaign_id, state, seq) index and cut at n. One condition with an `or`
    // walked the primary key from the campaign's first recipient past every one already queued: a
    // claim cost grew with the campaign's progress (8.4 ms at 80,000 of 100,000 queued on SQLite,
    // 10.5 ms on PostgreSQL, against 0.8 and 1.2 ms this way).
    const pending = sql`campaign_id = ${campaign_id} and state = 'pending' and not_before <= ${now} order by seq limit ${n}`;
    const expired = sql`campaign_id = ${campaign_id} and state = 'claimed' and claim_until < ${now} order by seq limit ${n}`;
    const set = sql`state = 'claimed', claim_until = ${now + lease_ms}, claimed_by = ${claimer}, updated_at = ${now}`;
    const r = this.pg
      ? // Materialized: evaluated once (an inlined subquery may be rescanned per row, claiming more than n).
        // A row locked here and not among the n is unlocked when the statement ends.
        await this.rows(sql`with p as materialized (select seq from campaign_recipients where ${pending} for update skip locked),
            e as materialized (select seq from campaign_recipients where ${expired} for update skip locked),
            c as (select seq from p union all select seq from e order by seq limit ${n})
          update campaign_recipients r set ${set} from c where r.campaign_id = ${campaign_id} and r.seq = c.seq returning r.*`)
      : await this.rows(sql`update campaign_recipients set ${set} where rowid in (select rowid from (
            select rowid, seq from (select rowid, seq from campaign_recipients where ${pending})
            union all select rowid, seq from (select rowid, seq from campaign_recipients where ${expired})
          ) order by seq limit ${n}) returning *`);
    return r.map(rowToRecipient).sort((a, b) => a.seq - b.seq);
  }

  async settleRecipients(campaign_id: string, items: readonly RecipientSettle[], claimer: string, now: number): Promise<number[]> {
    const done: number[] = [];
    // One statement per chunk: the rows as a VALUES list joined on seq, each written only while this
    // claimer still holds it (a lost claim changes nothing). Absent message_id, wa_id, not_before and
    // gen keep the row's; reason_code and detail are this settle's (null when not given).
    for (let i = 0; i < items.length; i += ROWS_PER_STATEMENT / 2) {
      const chunk = items.slice(i, i + ROWS_PER_STATEMENT / 2);
      const values = sql.join(
        chunk.map(
          (it) =>
            sql`(cast(${it.seq} as integer), ${it.state}, ${it.message_id ?? null}, ${it.wa_id ?? null}, ${it.reason_code ?? null}, ${it.detail ?? null}, cast(${it.not_before ?? null} as bigint), cast(${it.gen ?? null} as integer))`,
        ),
        sql`, `,
      );
      const r = await this.rows(sql`with v (seq, state, message_id, wa_id, reason_code, detail, not_before, gen) as (values ${values})
        update campaign_recipients set state = v.state, updated_at = ${now}, claim_until = null, claimed_by = null,
          message_id = coalesce(v.message_id, campaign_recipients.message_id), wa_id = coalesce(v.wa_id, campaign_recipients.wa_id),
          reason_code = v.reason_code, detail = v.detail, not_before = coalesce(v.not_before, campaign_recipients.not_before),
          gen = coalesce(v.gen, campaign_recipients.gen)
        from v where campaign_recipients.campaign_id = ${campaign_id} and campaign_recipients.seq = v.seq
          and campaign_recipients.state = 'claimed' and campaign_recipients.claimed_by = ${claimer}
        returning campaign_recipients.seq as seq`);
      for (const x of r) done.push(num(x.seq));
    }
    return done.sort((a, b) => a - b);
  }

  async cancelPending(campaign_id: string, now: number): Promise<number> {
    // In chunks: one statement over a million rows outlives PostgreSQL's statement timeout (and holds
    // SQLite's writer for seconds). A row another instance is claiming right now is taken next round.
    const set = sql`state = 'cancelled', reason_code = 'CAMPAIGN_CANCELLED', claim_until = null, claimed_by = null, updated_at = ${now}`;
    const which = sql`campaign_id = ${campaign_id} and state in ('pending', 'claimed')`;
    let total = 0;
    for (;;) {
      const r = this.pg
        ? await this.rows(sql`with c as materialized (select seq from campaign_recipients where ${which} limit ${CANCEL_CHUNK} for update skip locked)
            update campaign_recipients r set ${set} from c where r.campaign_id = ${campaign_id} and r.seq = c.seq returning r.seq`)
        : await this.rows(sql`update campaign_recipients set ${set}
            where rowid in (select rowid from campaign_recipients where ${which} limit ${CANCEL_CHUNK}) returning seq`);
      total += r.length;
      if (r.length === 0) {
        const left = await this.rows(sql`select 1 as x from campaign_recipients where ${which} limit 1`);
        if (!left.length) return total;
        await new Promise((res) => setTimeout(res, 20)); // locked by a claim in flight: it settles, then we take it
      }
    }
  }

  async nextPendingAt(campaign_id: string): Promise<number | null> {
    const r = await this.rows(
      sql`select min(not_before) as at from campaign_recipients where campaign_id = ${campaign_id} and state = 'pending'`,
    );
    return numOrNull(r[0]?.at);
  }

  async tallyStates(campaign_id: string): Promise<Pick<RecipientTally, 'states' | 'denied'>> {
    const out: Pick<RecipientTally, 'states' | 'denied'> = { states: {}, denied: {} };
    const groups = await this.rows(sql`select state, reason_code, count(*) as n from campaign_recipients
      where campaign_id = ${campaign_id} group by state, reason_code`);
    for (const g of groups) {
      const n = num(g.n);
      const state = g.state as string;
      out.states[state] = (out.states[state] ?? 0) + n;
      if (state === 'denied') {
        const reason = (g.reason_code as string | null) ?? 'UNKNOWN';
        out.denied[reason] = (out.denied[reason] ?? 0) + n;
      }
    }
    return out;
  }

  async tallyOutcomes(campaign_id: string, category: Category, since: number | null): Promise<Omit<RecipientTally, 'states' | 'denied'>> {
    const out: Omit<RecipientTally, 'states' | 'denied'> = { messages: {}, failed_by_code: {}, opted_out_during: 0 };
    const groups = await this.rows(sql`select m.status as mstatus, count(*) as n
      from campaign_recipients r left join messages m on m.id = r.message_id
      where r.campaign_id = ${campaign_id} and r.state = 'queued' group by m.status`);
    for (const g of groups) {
      const ms = (g.mstatus as string | null) ?? 'unknown';
      out.messages[ms] = (out.messages[ms] ?? 0) + num(g.n);
    }
    if ((out.messages.failed ?? 0) + (out.messages.dead_lettered ?? 0) > 0) {
      const failed = await this.rows(sql`select m.last_error as e from campaign_recipients r join messages m on m.id = r.message_id
        where r.campaign_id = ${campaign_id} and r.state = 'queued' and m.status in ('failed', 'dead_lettered') limit 100000`);
      for (const f of failed) {
        const e = jsonOrNull<Record<string, unknown>>(f.e);
        const code = String(e?.code ?? 'UNKNOWN');
        out.failed_by_code[code] = (out.failed_by_code[code] ?? 0) + 1;
      }
    }
    if (since !== null && CATEGORIES.includes(category)) {
      const col = sql.raw(`c.c_${category}_state`);
      const at = sql.raw(`c.c_${category}_at`);
      // A recipient denied at dispatch has no wa_id: its customer is the recipient itself (one who wrote STOP before its turn).
      // Meta's webhook timestamps are whole seconds, so a STOP in the campaign's first second is stamped
      // before its started_at: a whole-second time within the start's second counts too (an opt-out
      // through the API carries its millisecond and is judged by it).
      const r =
        await this.rows(sql`select count(*) as n from campaign_recipients r join customers c on c.wa_id = coalesce(r.wa_id, r.recipient)
        where r.campaign_id = ${campaign_id} and ${col} = 'opted_out'
          and (${at} >= ${since} or (${at} >= ${since - (since % 1000)} and ${at} % 1000 = 0))`);
      out.opted_out_during = num(r[0]?.n ?? 0);
    }
    return out;
  }

  async listRecipients(
    campaign_id: string,
    opts: { state?: RecipientState[]; limit?: number; offset?: number; after_seq?: number; outcome?: boolean } = {},
  ): Promise<RecipientOutcome[]> {
    const state = opts.state?.length ? sql`and r.state in (${inList(opts.state)})` : sql``;
    const where = opts.after_seq !== undefined ? sql`${state} and r.seq > ${opts.after_seq}` : state;
    const page = sql`where r.campaign_id = ${campaign_id} ${where} order by r.seq limit ${limitOf(opts.limit)} offset ${Math.max(0, opts.offset ?? 0)}`;
    const r =
      opts.outcome === false
        ? await this.rows(sql`select r.* from campaign_recipients r ${page}`)
        : await this.rows(sql`select r.*, m.status as message_status, m.last_error as message_error
      from campaign_recipients r left join messages m on m.id = r.message_id ${page}`);
    return r.map((x) => ({
      ...rowToRecipient(x),
      message_status: (x.message_status as string | null) ?? null,
      message_error: jsonOrNull(x.message_error),
    }));
  }

  async unsentQueued(campaign_id: string, limit: number): Promise<{ seq: number; gen: number; message_id: string }[]> {
    const r = await this.rows(sql`select r.seq as seq, r.gen as gen, r.message_id as message_id
      from campaign_recipients r join messages m on m.id = r.message_id
      where r.campaign_id = ${campaign_id} and r.state = 'queued' and m.status = 'queued' and m.attempts = 0 order by r.seq limit ${limitOf(limit)}`);
    return r.map((x) => ({ seq: num(x.seq), gen: num(x.gen), message_id: x.message_id as string }));
  }

  async withdrawMessages(ids: readonly string[], code: string, explanation: string, now: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const out: string[] = [];
    const err = JSON.stringify({ code, message: explanation });
    const ev = JSON.stringify({ status: 'failed', at: now, source: 'campaign', detail: { reason_code: code, explanation } });
    // PostgreSQL: jsonb concatenation; SQLite: json_insert at the end of the array.
    const history = this.pg ? sql`history || jsonb_build_array(${ev}::jsonb)` : sql`json_insert(history, '$[#]', json(${ev}))`;
    const lastError = this.pg ? sql`${err}::jsonb` : sql`${err}`;
    for (let i = 0; i < ids.length; i += ROWS_PER_STATEMENT) {
      const chunk = ids.slice(i, i + ROWS_PER_STATEMENT);
      const r = await this.rows(sql`update messages set status = 'failed', status_rank = 7, last_error = ${lastError},
          history = ${history}, updated_at = ${now}
        where id in (${inList(chunk)}) and status = 'queued' and attempts = 0 returning id`);
      for (const x of r) out.push(x.id as string);
    }
    return out;
  }

  private withdrawnCode(code: string): RawBuilder<unknown> {
    return this.pg ? sql`m.last_error->>'code' = ${code}` : sql`json_extract(m.last_error, '$.code') = ${code}`;
  }

  async requeueWithdrawn(campaign_id: string, code: string, now: number): Promise<number> {
    const r =
      await this.rows(sql`update campaign_recipients set state = 'pending', gen = gen + 1, message_id = null, not_before = 0, updated_at = ${now}
      where campaign_id = ${campaign_id} and state = 'queued' and message_id in
        (select m.id from messages m join campaign_recipients r2 on r2.message_id = m.id
          where r2.campaign_id = ${campaign_id} and m.status = 'failed' and ${this.withdrawnCode(code)}) returning seq`);
    return r.length;
  }

  async cancelWithdrawn(campaign_id: string, code: string, now: number): Promise<number> {
    const r =
      await this.rows(sql`update campaign_recipients set state = 'cancelled', reason_code = 'CAMPAIGN_CANCELLED', updated_at = ${now}
      where campaign_id = ${campaign_id} and state = 'queued' and message_id in
        (select m.id from messages m join campaign_recipients r2 on r2.message_id = m.id
          where r2.campaign_id = ${campaign_id} and m.status = 'failed' and ${this.withdrawnCode(code)}) returning seq`);
    return r.length;
  }

  async customersPage(after: string, limit: number, sender_id: string, category: Category): Promise<CustomerFacts[]> {
    if (!CATEGORIES.includes(category)) throw new Error(`unknown category ${category}`);
    const col = sql.raw(`c.c_${category}_state`);
    const r = await this.rows(sql`select c.wa_id as wa_id, c.tags as tags, ${col} as consent, w.last_inbound_at as last_inbound_at
      from customers c left join care_windows w on w.wa_id = c.wa_id and w.sender_id = ${sender_id}
      where c.wa_id > ${after} order by c.wa_id limit ${limitOf(limit, 1000)}`);
    return r.map((x) => ({
      wa_id: x.wa_id as string,
      tags: json<string[]>(x.tags ?? '[]'),
      consent: x.consent as CustomerFacts['consent'],
      last_inbound_at: numOrNull(x.last_inbound_at),
    }));
  }

  async insertScheduled(m: ScheduledMessageRecord): Promise<void> {
    await this.rows(sql`insert into scheduled_messages (id, sender_id, recipient, body, deliver_at, state, claim_until, claimed_by, message_id,
      decision, actor, created_at, updated_at) values (${m.id}, ${m.sender_id}, ${m.recipient}, ${JSON.stringify(m.body)}, ${m.deliver_at},
      ${m.state}, ${m.claim_until}, ${m.claimed_by}, ${m.message_id}, ${m.decision === null ? null : JSON.stringify(m.decision)}, ${m.actor},
      ${m.created_at}, ${m.updated_at})`);
  }

  async getScheduled(id: string): Promise<ScheduledMessageRecord | null> {
    const r = await this.rows(sql`select * from scheduled_messages where id = ${id}`);
    return r[0] ? rowToScheduled(r[0]) : null;
  }

  async claimDueScheduled(now: number, limit: number, lease_ms: number, claimer: string): Promise<ScheduledMessageRecord[]> {
    const n = Math.max(1, Math.min(MAX_LIMIT, Math.floor(limit)));
    const due = sql`((state = 'scheduled' and deliver_at <= ${now}) or (state = 'claimed' and claim_until < ${now}))`;
    const set = sql`state = 'claimed', claim_until = ${now + lease_ms}, claimed_by = ${claimer}, updated_at = ${now}`;
    const r = this.pg
      ? await this.rows(sql`with c as materialized (select id from scheduled_messages where ${due} order by deliver_at limit ${n} for update skip locked)
          update scheduled_messages s set ${set} from c where s.id = c.id returning s.*`)
      : await this.rows(sql`update scheduled_messages set ${set}
          where rowid in (select rowid from scheduled_messages where ${due} order by deliver_at limit ${n}) returning *`);
    return r.map(rowToScheduled);
  }

  async settleScheduled(
    id: string,
    claimer: string,
    patch: {
      state: 'scheduled' | 'submitted' | 'denied';
      message_id?: string | null;
      decision?: Record<string, unknown> | null;
      deliver_at?: number;
    },
    now: number,
  ): Promise<boolean> {
    const sets = [
      sql`state = ${patch.state}`,
      sql`updated_at = ${now}`,
      sql`claim_until = null`,
      sql`claimed_by = null`,
      ...(patch.message_id !== undefined ? [sql`message_id = ${patch.message_id}`] : []),
      ...(patch.decision !== undefined ? [sql`decision = ${patch.decision === null ? null : JSON.stringify(patch.decision)}`] : []),
      ...(patch.deliver_at !== undefined ? [sql`deliver_at = ${patch.deliver_at}`] : []),
    ];
    const r = await this.rows(
      sql`update scheduled_messages set ${sql.join(sets, sql`, `)} where id = ${id} and state = 'claimed' and claimed_by = ${claimer} returning id`,
    );
    return r.length > 0;
  }

  async cancelScheduled(id: string, now: number): Promise<boolean> {
    const r = await this.rows(
      sql`update scheduled_messages set state = 'cancelled', updated_at = ${now} where id = ${id} and state = 'scheduled' returning id`,
    );
    return r.length > 0;
  }
}
