// One fail-fast ioredis connection, shared by the Redis gate (src/gate/redis.ts) and the Redis pacer
// (src/pacing/redis.ts): both must deny or fail at once while Redis is away, never queue commands
// forever, and recover by themselves when it returns.
//
// - No offline queue and no per-command retries: a command issued while disconnected fails at once.
// - A short per-command timeout: a slow Redis fails the call instead of stalling senders.
// - Reconnect forever in the background, backing off to 1 s: recovery needs no restart.
// - ready() waits for the FIRST connection only (bounded); while reconnecting after an outage it fails
//   at once with the caller's own error type and the last connection error in the message.
import { Redis, type RedisOptions } from 'ioredis';
import { redactUrl } from './log.ts';

export interface FailFastRedisOptions {
  url: string;
  /** Names the caller in messages, e.g. "gate" or "pacing". */
  label: string;
  /** Builds the caller's error (GateUnavailableError, PacerUnavailableError, ...). */
  unavailable: (message: string, cause?: unknown) => Error;
  /** Per-command timeout (default 500 ms). */
  command_timeout_ms?: number;
  /** How long ready() waits for the very first connection (default 2,000 ms). */
  connect_timeout_ms?: number;
  /** Extra ioredis options (e.g. enableAutoPipelining); the fail-fast ones above always win. */
  extra?: RedisOptions;
}

export class FailFastRedis {
  readonly redis: Redis;
  /** The URL without its password, for messages. */
  readonly where: string;
  private readonly label: string;
  private readonly unavailable: FailFastRedisOptions['unavailable'];
  private readonly connectTimeout: number;
  private lastError: Error | null = null;
  private closed = false;

  constructor(opts: FailFastRedisOptions) {
    this.label = opts.label;
    this.unavailable = opts.unavailable;
    this.where = redactUrl(opts.url);
    this.connectTimeout = opts.connect_timeout_ms ?? 2_000;
    this.redis = new Redis(opts.url, {
      ...opts.extra,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.command_timeout_ms ?? 500,
      connectTimeout: this.connectTimeout,
      retryStrategy: (n: number) => Math.min(n * 100, 1_000),
      lazyConnect: false,
    });
    // ioredis reports connection trouble as events; keep the last one for the error message.
    this.redis.on('error', (err: Error) => {
      this.lastError = err;
    });
  }

  /** True when a command can be sent right now (the hot path checks this before awaiting ready()). */
  get isReady(): boolean {
    return this.redis.status === 'ready' && !this.closed;
  }

  /** Waits for the first connection only; while reconnecting after an outage, fails at once. */
  ready(): Promise<void> {
    if (this.closed) return Promise.reject(this.unavailable(`${this.label}: the Redis connection to ${this.where} is closed`));
    const st = this.redis.status;
    if (st === 'ready') return Promise.resolve();
    if (st === 'wait' || st === 'connecting' || st === 'connect') {
      return new Promise<void>((resolve, reject) => {
        const onReady = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          this.redis.off('ready', onReady);
          reject(
            this.unavailable(
              `${this.label}: Redis at ${this.where} not connected after ${this.connectTimeout} ms${this.lastError ? ` (${this.lastError.message})` : ''}`,
            ),
          );
        }, this.connectTimeout);
        this.redis.once('ready', onReady);
      });
    }
    return Promise.reject(
      this.unavailable(
        `${this.label}: Redis at ${this.where} is unreachable (${st}${this.lastError ? `: ${this.lastError.message}` : ''})`,
      ),
    );
  }

  /** "<label>: Redis at <where> did not answer: <why>" for a failed command. */
  describe(err: unknown): string {
    return `${this.label}: Redis at ${this.where} did not answer: ${(err as Error)?.message ?? String(err)}`;
  }

  async ping(): Promise<boolean> {
    try {
      await this.ready();
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
