// Port Pacer: token buckets per sender (its throughput tier) and per recipient (Meta's pair limit).
// Adapters: memory.ts (one process) and redis.ts (Lua with Redis's own clock, shared by instances).

export interface PaceResult {
  ok: boolean;
  /** When not ok: how long to wait before trying again (never "send early"). */
  wait_ms: number;
  /** Which bucket said no. */
  limited_by?: 'sender' | 'recipient' | 'penalty';
}

export interface Pacer {
  /** Takes one token from the sender bucket AND the pair bucket atomically, or neither. */
  tryAcquire(sender_id: string, mps: number, recipient: string): Promise<PaceResult>;
  /** Meta throttled us (130429/131056): slow this sender (or this pair) for `ms`. */
  penalize(sender_id: string, ms: number, recipient?: string): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Meta's pair rate limit: ~1 message per 6 s to the same user, with a small burst. */
export const PAIR_INTERVAL_MS = 6_000;
export const PAIR_BURST = 45;
