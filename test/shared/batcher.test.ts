import { describe, expect, it } from 'vitest';
import { createBatcher } from '../../src/shared/batcher.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('createBatcher (group commit for concurrent single-row writes)', () => {
  it('writes calls made in the same turn as one batch, and gives each caller its own result', async () => {
    const batches: number[][] = [];
    const b = createBatcher(async (items: number[]) => {
      batches.push(items);
      return items.map((n) => n * 10);
    });
    const out = await Promise.all([1, 2, 3].map((n) => b.add(n)));
    expect(out).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('calls made while batches are in flight wait and go together in the next one (at most max_in_flight at once)', async () => {
    const batches: number[][] = [];
    let inFlight = 0;
    let maxSeen = 0;
    const release: (() => void)[] = [];
    const b = createBatcher(
      async (items: number[]) => {
        batches.push(items);
        inFlight++;
        maxSeen = Math.max(maxSeen, inFlight);
        await new Promise<void>((r) => release.push(r));
        inFlight--;
        return items;
      },
      { max_in_flight: 1 },
    );
    const first = b.add(1);
    await tick();
    const later = [2, 3, 4].map((n) => b.add(n));
    await tick();
    expect(batches).toEqual([[1]]); // 2..4 wait for the batch in flight
    release.shift()!();
    await first;
    await tick();
    expect(batches).toEqual([[1], [2, 3, 4]]);
    release.shift()!();
    expect(await Promise.all(later)).toEqual([2, 3, 4]);
    expect(maxSeen).toBe(1);
  });

  it("'same_tick' writes at the end of the current callback, before the loop turns", async () => {
    const order: string[] = [];
    const b = createBatcher(async (items: number[]) => (order.push(`write ${items.join(',')}`), items), { flush: 'same_tick' });
    setImmediate(() => order.push('next turn'));
    await Promise.all([b.add(1), b.add(2)]);
    expect(order[0]).toBe('write 1,2');
  });

  it("'busy_next_turn': a lone call is written in its own tick; calls closer than busy_ms share the next turn's write", async () => {
    const order: string[] = [];
    const b = createBatcher(async (items: number[]) => (order.push(`write ${items.join(',')}`), items), {
      flush: 'busy_next_turn',
      busy_ms: 50,
    });
    const first = b.add(1); // sparse: at once, before the loop turns
    setImmediate(() => order.push('turn 1'));
    await first;
    expect(order).toEqual(['write 1']);
    await new Promise((r) => setImmediate(r)); // batch 1 fully done
    setImmediate(() => order.push('turn'));
    const later = [b.add(2), b.add(3)]; // right after: load, gathered for the next turn
    await new Promise((r) => setImmediate(r));
    await Promise.all(later);
    expect(order).toEqual(['write 1', 'turn 1', 'turn', 'write 2,3']);
  });

  it('splits at max_batch', async () => {
    const sizes: number[] = [];
    const b = createBatcher(async (items: number[]) => (sizes.push(items.length), items), { max_batch: 2, max_in_flight: 5 });
    await Promise.all([1, 2, 3, 4, 5].map((n) => b.add(n)));
    expect(sizes).toEqual([2, 2, 1]);
  });

  it('a failed batch rejects every caller in it with its error, and the next batch still runs', async () => {
    let fail = true;
    const b = createBatcher(async (items: string[]) => {
      if (fail) throw new Error('store down');
      return items.map((s) => s.toUpperCase());
    });
    const r = await Promise.allSettled([b.add('a'), b.add('b')]);
    expect(r.map((x) => (x.status === 'rejected' ? (x.reason as Error).message : 'ok'))).toEqual(['store down', 'store down']);
    fail = false;
    expect(await b.add('c')).toBe('C');
  });

  it('a writer that returns the wrong number of results fails its callers instead of mismatching them', async () => {
    const b = createBatcher(async (items: number[]) => items.slice(1));
    await expect(Promise.all([b.add(1), b.add(2)])).rejects.toThrow(/2 items/);
  });
});
