// The dashboard's rollup recorder over the real Prometheus registry and a real SQLite store: what grew
// since the last flush is written to the current minute (never twice), Meta error codes get their own
// series, latency is kept as additive histogram buckets, and minutes older than the retention go.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../../src/observability/metrics.ts';
import { createLogger } from '../../src/observability/log.ts';
import { percentileFromBuckets, RollupRecorder } from '../../src/observability/rollups.ts';
import { createSqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/port.ts';

const DAY = 86_400_000;
const T = 1_780_000_000_000 - (1_780_000_000_000 % 60_000);

let store: Store;
let metrics: Metrics;
let now = T;
let rec: RollupRecorder;
beforeEach(async () => {
  store = await createSqliteStore(':memory:');
  metrics = createMetrics();
  now = T + 1_000;
  rec = new RollupRecorder({ store, metrics, log: createLogger('silent'), now: () => now, retention_days: 7 });
});
afterEach(async () => {
  await store.close();
});

const of = async (metric: string) =>
  (await store.listRollups({ since: 0, metrics: [metric] })).map((p) => [p.minute - T, p.sender, p.key, p.value]);

describe('RollupRecorder', () => {
  it('writes what the counters gained since the last flush into the current minute, never twice', async () => {
    metrics.sends.inc({ sender: 'main', outcome: 'accepted', code: '' }, 3);
    metrics.sends.inc({ sender: 'main', outcome: 'retry', code: '131056' });
    metrics.decisions.inc({ allowed: 'true', reason: 'none' }, 3);
    metrics.decisions.inc({ allowed: 'false', reason: 'OPTED_OUT' });
    await rec.flush();
    await rec.flush(); // nothing new: nothing added
    now += 60_000;
    metrics.sends.inc({ sender: 'main', outcome: 'accepted', code: '' }, 2);
    await rec.flush();
    expect(await of('sends')).toEqual([
      [0, 'main', 'accepted', 3],
      [0, 'main', 'retry', 1],
      [60_000, 'main', 'accepted', 2],
    ]);
    expect(await of('meta_errors')).toEqual([[0, 'main', '131056', 1]]);
    expect(await of('decisions')).toEqual([
      [0, '', 'OPTED_OUT', 1],
      [0, '', 'allowed', 3],
    ]);
  });

  it('keeps latency as bucket counts and a sum, from which percentiles are read', async () => {
    for (const s of [0.004, 0.02, 0.03, 0.2, 2]) metrics.sendLatency.observe({ sender: 'main' }, s);
    await rec.flush();
    const rows = await store.listRollups({ since: 0, metrics: ['latency'] });
    const buckets = new Map(
      rows
        .filter((r) => r.key.startsWith('le:'))
        .map((r) => [r.key === 'le:+Inf' ? Number.POSITIVE_INFINITY : Number(r.key.slice(3)), r.value]),
    );
    expect(buckets.get(Number.POSITIVE_INFINITY)).toBe(5);
    expect(buckets.get(0.05)).toBe(3);
    expect(rows.find((r) => r.key === 'sum')!.value).toBeCloseTo(2.254, 6);
    const p50 = percentileFromBuckets(buckets, 0.5)!;
    expect(p50).toBeGreaterThan(0.01);
    expect(p50).toBeLessThanOrEqual(0.05);
    expect(percentileFromBuckets(new Map(), 0.5)).toBeNull();
  });

  it('deletes minutes older than the retention at its hourly prune, keeping the rest', async () => {
    metrics.sends.inc({ sender: 'main', outcome: 'accepted', code: '' });
    await rec.flush(); // T: the first flush prunes too (nothing old yet)
    now = T + 3 * DAY;
    metrics.sends.inc({ sender: 'main', outcome: 'accepted', code: '' });
    await rec.flush();
    expect((await of('sends')).map((r) => r[0])).toEqual([0, 3 * DAY]);
    now = T + 8 * DAY; // T is now past the 7 days; T + 3 days is not
    metrics.sends.inc({ sender: 'main', outcome: 'accepted', code: '' });
    await rec.flush();
    expect((await of('sends')).map((r) => r[0])).toEqual([3 * DAY, 8 * DAY]);
  });
});
