// Pacer shared by every wagate instance on one Redis: the buckets live in Redis and one Lua script per
// operation (beside this file: acquireTokens-2.lua, penalizeBucket-1.lua, sharing
// includes/tokenBuckets.lua; loaded by src/shared/lua.ts) reads, decides and writes them atomically
// with Redis's own clock.
// Redis down or slow: every call fails fast with PacerUnavailableError (no offline queue, short
// command timeout) and the client reconnects by itself in the background.
import { createHash } from 'node:crypto';
import type { PaceResult, Pacer } from './port.ts';
import { FailFastRedis } from '../observability/redis-client.ts';
import { PAIR_CAPACITY, PAIR_PER_MS, checkMps, checkRecipient, senderCapacity } from './buckets.ts';
import { BackendUnavailableError } from '../shared/backend-unavailable.ts';
import { loadLua, type LuaScript } from '../shared/lua.ts';

const ACQUIRE = loadLua(new URL('./', import.meta.url), 'acquireTokens-2.lua');
const PENALIZE = loadLua(new URL('./', import.meta.url), 'penalizeBucket-1.lua');

/** A pacing call could not reach Redis in time: nothing was taken; the caller should wait and retry. */
export class PacerUnavailableError extends BackendUnavailableError {
  declare readonly code: 'PACING_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(
      'PACING_UNAVAILABLE',
      'Check that Redis answers at WAGATE_REDIS_URL (redis-cli ping); wagate reconnects by itself when it does.',
      message,
      options,
    );
    this.name = 'PacerUnavailableError';
  }
}

export interface RedisPacerOptions {
  url: string;
  prefix: string;
  /** Per-command timeout (default 500 ms): a slow Redis fails the call instead of stalling workers. */
  command_timeout_ms?: number;
  /** How long a call waits for the very first connection (default 2,000 ms). */
  connect_timeout_ms?: number;
}

export class RedisPacer implements Pacer {
  private readonly conn: FailFastRedis;
  private readonly prefix: string;

  constructor(opts: RedisPacerOptions) {
    this.prefix = opts.prefix;
    this.conn = new FailFastRedis({
      url: opts.url,
      label: 'pacing',
      unavailable: (message, cause) => new PacerUnavailableError(message, { cause }),
      command_timeout_ms: opts.command_timeout_ms,
      connect_timeout_ms: opts.connect_timeout_ms,
    });
  }

  async tryAcquire(sender_id: string, mps: number, recipient: string): Promise<PaceResult> {
    checkMps(mps);
    checkRecipient(recipient);
    const tag = this.tag(sender_id);
    const pair = createHash('sha1').update(recipient).digest('base64url').slice(0, 20);
    const r = await this.run(ACQUIRE, [`${tag}:s`, `${tag}:p:${pair}`], [mps / 1000, senderCapacity(mps), PAIR_PER_MS, PAIR_CAPACITY]);
    const [ok, wait, by] = r as [number, number, string];
    if (ok === 1) return { ok: true, wait_ms: 0 };
    return { ok: false, wait_ms: Number(wait), limited_by: by as PaceResult['limited_by'] };
  }

  async penalize(sender_id: string, ms: number, recipient?: string): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`pacing: penalty must be a non-negative number of ms, got ${String(ms)}`);
    const tag = this.tag(sender_id);
    // The sender rate is unknown here; 1 token/s is only used for the key's expiry after the block.
    const [key, rate, cap] =
      recipient === undefined
        ? [`${tag}:s`, 0.001, 1]
        : [`${tag}:p:${createHash('sha1').update(recipient).digest('base64url').slice(0, 20)}`, PAIR_PER_MS, PAIR_CAPACITY];
    await this.run(PENALIZE, [key], [rate, cap, Math.ceil(ms)]);
  }

  ping(): Promise<boolean> {
    return this.conn.ping();
  }

  close(): Promise<void> {
    return this.conn.close();
  }

  /** Keys of one sender share the {hash tag}: one slot on Redis Cluster, one atomic script. */
  private tag(sender_id: string): string {
    return `${this.prefix}:pace:{${encodeURIComponent(sender_id)}}`;
  }

  private async run(script: LuaScript, keys: string[], args: (string | number)[]): Promise<unknown> {
    await this.conn.ready();
    const redis = this.conn.redis;
    try {
      try {
        return await redis.evalsha(script.sha, script.numberOfKeys, ...keys, ...args);
      } catch (err) {
        // First call on this Redis (or after a restart / SCRIPT FLUSH): send the script itself.
        if (!String((err as Error)?.message).includes('NOSCRIPT')) throw err;
        return await redis.eval(script.lua, script.numberOfKeys, ...keys, ...args);
      }
    } catch (err) {
      throw new PacerUnavailableError(this.conn.describe(err), { cause: err });
    }
  }
}
