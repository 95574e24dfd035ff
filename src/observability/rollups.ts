// Per-minute rollups for the dashboard's charts, taken from the Prometheus counters every concern
// already increments (src/observability/metrics.ts), so no send or decision path changes: every
// `flush_ms` (2 s) the recorder reads the counters, writes what grew since its last read into the current
// minute (Store.addRollups adds), and once an hour deletes minutes older than the retention.
// Series: sends by outcome (per sender), decisions by reason code, Meta errors by code (per sender),
// delivery latency (enqueue to Meta's accept) as histogram bucket counts and their sum (per sender).
import type { Metrics } from './metrics.ts';
import type { RollupPoint, Store } from '../store/port.ts';
import type { Logger } from './log.ts';
import { MINUTE_MS } from '../store/rollup-store.ts';

interface MetricValue {
  labels: Record<string, string | number | undefined>;
  value: number;
  metricName?: string;
}

export interface RollupRecorderOptions {
  store: Store;
  metrics: Metrics;
  log: Logger;
  now: () => number;
  retention_days: number;
  /** How often counters are read and written (default 2 s: with the page polling every 3 s, a chart is at most 5 s behind). */
  flush_ms?: number;
}

const HOUR_MS = 3_600_000;

export class RollupRecorder {
  private readonly last = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private lastPrune = 0;
  private flushing: Promise<void> | null = null;

  constructor(private readonly o: RollupRecorderOptions) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.o.flush_ms ?? 2_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  /** Reads the counters now and writes what grew; one flush at a time. */
  flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    const now = this.o.now();
    const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    const points: RollupPoint[] = [];
    const taken: [string, number][] = [];
    const delta = (id: string, value: number): number => {
      const d = value - (this.last.get(id) ?? 0);
      taken.push([id, value]);
      return Math.max(0, d);
    };
    const m = this.o.metrics;
    for (const v of (await m.sends.get()).values as MetricValue[]) {
      const sender = String(v.labels.sender ?? '');
      const outcome = String(v.labels.outcome ?? '');
      const code = String(v.labels.code ?? '');
      const d = delta(`s|${sender}|${outcome}|${code}`, v.value);
      if (!d) continue;
      points.push({ minute, metric: 'sends', sender, key: outcome, value: d });
      if (code) points.push({ minute, metric: 'meta_errors', sender, key: code, value: d });
    }
    for (const v of (await m.decisions.get()).values as MetricValue[]) {
      const allowed = String(v.labels.allowed) === 'true';
      const key = allowed ? 'allowed' : String(v.labels.reason ?? 'none');
      const d = delta(`d|${allowed}|${v.labels.reason ?? ''}`, v.value);
      if (d) points.push({ minute, metric: 'decisions', sender: '', key, value: d });
    }
    for (const v of (await m.sendLatency.get()).values as MetricValue[]) {
      const sender = String(v.labels.sender ?? '');
      const name = v.metricName ?? '';
      let key: string | null = null;
      if (name.endsWith('_bucket')) key = `le:${v.labels.le}`;
      else if (name.endsWith('_sum')) key = 'sum';
      if (!key) continue;
      const d = delta(`l|${sender}|${key}`, v.value);
      if (d) points.push({ minute, metric: 'latency', sender, key, value: d });
    }
    try {
      if (points.length) await this.o.store.addRollups(points);
      for (const [id, value] of taken) this.last.set(id, value); // only once written: a failed write is retried next flush
      if (now - this.lastPrune >= HOUR_MS) {
        this.lastPrune = now;
        await this.o.store.pruneRollups(minute - this.o.retention_days * 24 * HOUR_MS);
      }
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'dashboard rollups not written; retried at the next flush');
    }
  }
}

/** Latency percentile (seconds) from cumulative bucket counts `le:<bound>` (Prometheus style). */
export function percentileFromBuckets(buckets: Map<number, number>, q: number): number | null {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Number.POSITIVE_INFINITY) ?? (bounds.length ? buckets.get(bounds[bounds.length - 1])! : 0);
  if (!total) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const b of bounds) {
    const c = buckets.get(b)!;
    if (c >= rank) {
      if (!Number.isFinite(b)) return prevBound; // beyond the last finite bound: report that bound
      const inBucket = c - prevCount;
      return inBucket > 0 ? prevBound + ((b - prevBound) * (rank - prevCount)) / inBucket : b;
    }
    prevBound = b;
    prevCount = c;
  }
  return prevBound;
}
