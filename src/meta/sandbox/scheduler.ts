// One timer for many delayed jobs (status webhooks at thousands of sends per second): a binary
// min-heap ordered by due time, and a single setTimeout armed for the earliest job.

interface Job {
  due: number;
  seq: number;
  gen: number;
  fn: () => void;
}

export class Scheduler {
  private heap: Job[] = [];
  private timer: NodeJS.Timeout | null = null;
  private armedFor = Infinity;
  private seq = 0;
  private gen = 0;
  private closed = false;

  get size(): number {
    return this.heap.length;
  }

  at(due: number, fn: () => void): void {
    if (this.closed) return;
    this.push({ due, seq: ++this.seq, gen: this.gen, fn });
    if (due < this.armedFor) this.arm();
  }

  /** Drops every job not yet run. */
  clear(): void {
    this.gen++;
    this.heap = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Infinity;
  }

  close(): void {
    this.closed = true;
    this.clear();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Infinity;
    if (this.heap.length === 0 || this.closed) return;
    const due = this.heap[0].due;
    this.armedFor = due;
    this.timer = setTimeout(() => this.run(), Math.max(0, due - Date.now()));
  }

  private run(): void {
    this.timer = null;
    this.armedFor = Infinity;
    const now = Date.now();
    const gen = this.gen;
    while (this.heap.length && this.heap[0].due <= now && gen === this.gen) {
      const job = this.pop()!;
      if (job.gen !== this.gen) continue;
      try {
        job.fn();
      } catch {
        // a job's failure must not stop the others
      }
    }
    this.arm();
  }

  private less(a: Job, b: Job): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private push(j: Job): void {
    const h = this.heap;
    h.push(j);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private pop(): Job | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}
