// Group commit for independent single-row writes issued by many concurrent tasks (delivery workers):
// calls made while a batch is being written wait for it and then go together, in ONE statement, so at
// 1,000 mps the store sees tens of round trips per second instead of a thousand. An idle batcher writes
// at the next turn of the event loop (setImmediate), so a lone write waits for nothing but that turn.
// Each caller gets its own result, or the error of the batch that carried its item.

export interface Batcher<I, O> {
  add(item: I): Promise<O>;
}

export function createBatcher<I, O>(write: (items: I[]) => Promise<O[]>, opts: { max_batch?: number; max_in_flight?: number } = {}): Batcher<I, O> {
  const maxBatch = opts.max_batch ?? 500;
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
        .then(
          (out) => {
            if (out.length !== batch.length) throw new Error(`batch writer returned ${out.length} results for ${batch.length} items`);
            batch.forEach((b, i) => b.resolve(out[i]));
          },
        )
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
          setImmediate(pump);
        }
      });
    },
  };
}
