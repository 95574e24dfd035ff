// Group commit for independent single-row writes issued by many concurrent tasks (delivery workers):
// calls made while a batch is being written wait for it and then go together, in ONE statement, so at
// 1,000 mps the store sees tens of round trips per second instead of a thousand. An idle batcher writes
// at the next turn of the event loop (setImmediate), so a lone write waits for nothing but that turn
// (or, with flush 'same_tick', at the end of the current callback).
// Each caller gets its own result, or the error of the batch that carried its item.

export interface Batcher<I, O> {
  add(item: I): Promise<O>;
}

export interface BatcherOptions {
  max_batch?: number;
  max_in_flight?: number;
  /**
   * When an idle batcher writes: 'next_turn' (default) gathers the calls of one whole turn of the
   * event loop (every socket read of that turn: concurrent workers); 'same_tick' only those of the
   * current callback and its microtasks, never yielding to the loop, for a caller that must not be
   * delayed behind other work (an API request on the synchronous embedded store); 'busy_next_turn':
   * 'same_tick' while calls are sparse, 'next_turn' once they come closer than `busy_ms` apart
   * (under load a turn's calls then share one write; a lone call still never yields).
   */
  flush?: 'next_turn' | 'same_tick' | 'busy_next_turn';
  /** For 'busy_next_turn': calls closer than this (ms) mean load. Default 1. */
  busy_ms?: number;
}

export function createBatcher<I, O>(write: (items: I[]) => Promise<O[]>, opts: BatcherOptions = {}): Batcher<I, O> {
  const maxBatch = opts.max_batch ?? 500;
  const busyMs = opts.busy_ms ?? 1;
  let lastAdd = -Infinity;
  const later = (fn: () => void): void => {
    let soon = opts.flush === 'same_tick';
    if (opts.flush === 'busy_next_turn') {
      const now = performance.now();
      soon = now - lastAdd >= busyMs; // sparse calls: no yield
      lastAdd = now;
    }
    if (soon) queueMicrotask(fn);
    else setImmediate(fn);
  };
  const maxInFlight = opts.max_in_flight ?? 2;
  let waiting: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  let inFlight = 0;
  let scheduled = false;

  const pump = (): void => {
    scheduled = false;
    while (waiting.length > 0 && inFlight < maxInFlight) {
      const batch = waiting.slice(0, maxBatch);
      waiting = waiting.slice(batch.length);
      inFlight++;
      write(batch.map((b) => b.item))
        .then((out) => {
          if (out.length !== batch.length) throw new Error(`batch writer returned ${out.length} results for ${batch.length} items`);
          batch.forEach((b, i) => b.resolve(out[i]));
        })
        .catch((err: unknown) => batch.forEach((b) => b.reject(err)))
        .finally(() => {
          inFlight--;
          if (waiting.length > 0) pump();
        });
    }
  };

  return {
    add(item: I): Promise<O> {
      return new Promise<O>((resolve, reject) => {
        waiting.push({ item, resolve, reject });
        if (!scheduled && inFlight < maxInFlight) {
          scheduled = true;
          later(pump);
        }
      });
    },
  };
}
