// Token-bucket arithmetic shared by the pacing adapters. memory.ts runs it directly; redis.ts runs
// acquireTokens-2.lua and penalizeBucket-1.lua (with includes/tokenBuckets.lua), which mirror these
// same lines in Lua (the contract suite checks they agree).
import { PAIR_BURST, PAIR_INTERVAL_MS, type PaceResult } from './port.ts';

/**
 * Sender bucket capacity in seconds of tokens. Meta counts throughput per second; a full bucket
 * of 1 s plus a second of refill could put 2× mps into one wall-clock second at Meta, and network
 * jitter can bunch sends further. 200 ms of tokens keeps any 1 s window at Meta ≤ 1.2× mps even with
 * ~0.8 s of bunching not absorbed, while leaving workers enough slack to reach the full rate.
 */
export const SENDER_BURST_S = 0.2;

export function senderCapacity(mps: number): number {
  return Math.max(1, mps * SENDER_BURST_S);
}

export function checkMps(mps: number): void {
  if (!Number.isFinite(mps) || mps <= 0) {
    throw new RangeError(
      `pacing: throughput_mps must be a positive number, got ${String(mps)}; set the sender's throughput_mps (80 by default, up to 1000)`,
    );
  }
}

export function checkRecipient(recipient: string): void {
  if (typeof recipient !== 'string' || recipient.length === 0) {
    throw new TypeError('pacing: recipient is empty; pass the E.164 wa_id the message goes to');
  }
}

/** One bucket's state: tokens at `ts` (ms), and a penalty block until `blocked` (ms). */
export interface Bucket {
  tokens: number;
  ts: number;
  blocked: number;
}

export function refill(b: Bucket, now: number, perMs: number, cap: number): void {
  if (now > b.ts) {
    b.tokens = Math.min(cap, b.tokens + (now - b.ts) * perMs);
    b.ts = now;
  }
}

/** How long until this bucket has one token and no penalty, if nobody else takes from it. */
export function bucketWait(b: Bucket, now: number, perMs: number): { tokens: number; penalty: number } {
  const penalty = Math.max(0, b.blocked - now);
  // The epsilon absorbs float error: a caller that waited the rounded-up wait must find its token.
  const tokens = b.tokens >= 1 - 1e-9 ? 0 : (1 - b.tokens) / perMs;
  return { tokens, penalty };
}

export const PAIR_PER_MS = 1 / PAIR_INTERVAL_MS;
/**
 * One token below Meta's burst: our grant happens before the request travels, so two sends granted
 * exactly one interval apart can arrive a little closer together. Being one token behind Meta's
 * bucket absorbs up to PAIR_INTERVAL_MS of such jitter, at the price of one message per burst.
 */
export const PAIR_CAPACITY = PAIR_BURST - 1;

/**
 * Takes one token from both buckets or from neither. Buckets are already refilled to `now`.
 * The wait is the longest of the four conditions, rounded UP to whole ms: retrying after it
 * never finds the bucket short (unless someone else took the token meanwhile).
 */
export function takeBoth(s: Bucket, p: Bucket, now: number, sPerMs: number): PaceResult {
  const ws = bucketWait(s, now, sPerMs);
  const wp = bucketWait(p, now, PAIR_PER_MS);
  const penalty = Math.max(ws.penalty, wp.penalty);
  const wait = Math.max(penalty, ws.tokens, wp.tokens);
  if (wait <= 0) {
    s.tokens -= 1;
    p.tokens -= 1;
    return { ok: true, wait_ms: 0 };
  }
  const limited_by: PaceResult['limited_by'] = penalty >= wait ? 'penalty' : wp.tokens >= ws.tokens ? 'recipient' : 'sender';
  return { ok: false, wait_ms: Math.max(1, Math.ceil(wait)), limited_by };
}

/**
 * Meta said we are over its limit (130429 / 131056): its bucket is empty, so ours is emptied too, and
 * nothing goes for `ms`. The bucket refills from now, so the wait is max(ms, time to one token): for
 * a pair that is at least PAIR_INTERVAL_MS, which is when Meta's own pair bucket has a token again.
 */
export function block(b: Bucket, now: number, ms: number): void {
  b.tokens = 0;
  b.ts = now;
  b.blocked = Math.max(b.blocked, now + ms);
}
