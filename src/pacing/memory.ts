// Pacer for one process: the bucket arithmetic of buckets.ts over plain maps. Synchronous inside,
// so "take from both or neither" is atomic by construction (no await between read and write).
import type { PaceResult, Pacer } from './port.ts';
import { PAIR_CAPACITY, PAIR_PER_MS, block, checkMps, checkRecipient, refill, senderCapacity, takeBoth, type Bucket } from './buckets.ts';

/** Above this many pair buckets, full and unblocked ones are dropped (a fresh bucket is identical). */
const PRUNE_AT = 10_000;

export class MemoryPacer implements Pacer {
  private readonly senders = new Map<string, Bucket>();
  private readonly pairs = new Map<string, Bucket>();
  private closed = false;

  constructor(private readonly now: () => number = () => performance.timeOrigin + performance.now()) {}

  async tryAcquire(sender_id: string, mps: number, recipient: string): Promise<PaceResult> {
    this.assertOpen();
    checkMps(mps);
    checkRecipient(recipient);
    const now = this.now();
    const cap = senderCapacity(mps);
    const perMs = mps / 1000;
    const s = this.bucket(this.senders, sender_id, now, cap);
    const p = this.bucket(this.pairs, pairKey(sender_id, recipient), now, PAIR_CAPACITY);
    refill(s, now, perMs, cap);
    refill(p, now, PAIR_PER_MS, PAIR_CAPACITY);
    // A sender whose mps dropped (tier change) must not keep tokens above its new capacity.
    if (s.tokens > cap) s.tokens = cap;
    if (this.pairs.size > PRUNE_AT) this.prune(now);
    return takeBoth(s, p, now, perMs);
  }

  async penalize(sender_id: string, ms: number, recipient?: string): Promise<void> {
    this.assertOpen();
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`pacing: penalty must be a non-negative number of ms, got ${String(ms)}`);
    const now = this.now();
    // Capacity does not matter for a blocked, emptied bucket; use the largest possible (refill caps later).
    const b =
      recipient === undefined
        ? this.bucket(this.senders, sender_id, now, 0)
        : this.bucket(this.pairs, pairKey(sender_id, recipient), now, PAIR_CAPACITY);
    block(b, now, ms);
  }

  async ping(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.senders.clear();
    this.pairs.clear();
  }

  private bucket(map: Map<string, Bucket>, key: string, now: number, cap: number): Bucket {
    let b = map.get(key);
    if (!b) {
      b = { tokens: cap, ts: now, blocked: 0 };
      map.set(key, b);
    }
    return b;
  }

  private prune(now: number): void {
    for (const [k, b] of this.pairs) {
      if (b.blocked <= now && b.tokens + (now - b.ts) * PAIR_PER_MS >= PAIR_CAPACITY) this.pairs.delete(k);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('pacing: MemoryPacer is closed');
  }
}

function pairKey(sender_id: string, recipient: string): string {
  return `${sender_id}\u0000${recipient}`;
}
