// The dashboard's durable series and alert acknowledgements (migration 6), for KyselyStore to delegate
// to. Rollups are per-minute sums keyed by (minute, metric, sender, key): every write ADDS to the row,
// so several instances (and several flushes inside one minute) sum up without reading first. Only
// additive values are kept (counts, histogram bucket counts, sums); percentiles are computed on read.
import { sql, type Kysely } from 'kysely';

/** One per-minute sum. `sender` is '' for series with no sender (decisions). */
export interface RollupPoint {
  /** Start of the minute, epoch ms (a multiple of 60,000). */
  minute: number;
  /** "sends" (key: outcome), "decisions" (key: reason code or "allowed"), "meta_errors" (key: code), "latency" (key: le bucket or "sum"). */
  metric: string;
  sender: string;
  key: string;
  value: number;
}

/** An operator saw an alert (it stays open until its cause is resolved). */
export interface AlertAck {
  alert_id: string;
  at: number;
  actor: string;
}

export interface RollupTables {
  metric_rollups: RollupPoint;
  alert_acks: AlertAck;
}

export const MINUTE_MS = 60_000;
const ROWS_PER_STATEMENT = 500;

/** Points with the same key summed (one statement may not touch a row twice on PostgreSQL). */
export function mergePoints(points: readonly RollupPoint[]): RollupPoint[] {
  const byKey = new Map<string, RollupPoint>();
  for (const p of points) {
    if (!Number.isFinite(p.value) || p.value === 0) continue;
    const minute = Math.floor(p.minute / MINUTE_MS) * MINUTE_MS;
    const k = `${minute}\u0000${p.metric}\u0000${p.sender}\u0000${p.key}`;
    const cur = byKey.get(k);
    if (cur) cur.value += p.value;
    else byKey.set(k, { minute, metric: p.metric, sender: p.sender, key: p.key, value: p.value });
  }
  return [...byKey.values()];
}

export class RollupStore {
  constructor(private readonly db: Kysely<RollupTables>) {}

  async add(points: readonly RollupPoint[]): Promise<void> {
    const rows = mergePoints(points);
    for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
      await this.db
        .insertInto('metric_rollups')
        .values(rows.slice(i, i + ROWS_PER_STATEMENT))
        .onConflict((oc) =>
          oc.columns(['minute', 'metric', 'sender', 'key']).doUpdateSet({ value: sql<number>`metric_rollups.value + excluded.value` }),
        )
        .execute();
    }
  }

  /** Points with since <= minute < until, oldest first. */
  async list(opts: { since: number; until?: number; metrics?: readonly string[]; senders?: readonly string[] }): Promise<RollupPoint[]> {
    let q = this.db.selectFrom('metric_rollups').selectAll().where('minute', '>=', opts.since);
    if (opts.until !== undefined) q = q.where('minute', '<', opts.until);
    if (opts.metrics?.length) q = q.where('metric', 'in', [...opts.metrics]);
    if (opts.senders) q = q.where('sender', 'in', ['', ...opts.senders]);
    const rows = await q.orderBy('minute').orderBy('metric').orderBy('sender').orderBy('key').limit(200_000).execute();
    return rows.map((r) => ({ ...r, minute: Number(r.minute), value: Number(r.value) }));
  }

  /** Deletes the minutes before `before`; returns how many rows went. */
  async prune(before: number): Promise<number> {
    const r = await this.db.deleteFrom('metric_rollups').where('minute', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows ?? 0);
  }

  /** The first acknowledgement wins (who saw it first, and when). */
  async ack(a: AlertAck): Promise<void> {
    await this.db
      .insertInto('alert_acks')
      .values(a)
      .onConflict((oc) => oc.column('alert_id').doNothing())
      .execute();
  }

  async acks(alert_ids: readonly string[]): Promise<AlertAck[]> {
    if (alert_ids.length === 0) return [];
    const rows = await this.db
      .selectFrom('alert_acks')
      .selectAll()
      .where('alert_id', 'in', [...alert_ids])
      .execute();
    return rows.map((r) => ({ ...r, at: Number(r.at) }));
  }
}
