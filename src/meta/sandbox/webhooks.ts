// The sandbox's webhook sender: what Meta's side of `POST <callback URL>` does (cloud-api.md §7.2).
// - Batched: changes queue up and leave in one POST every `batch_ms` (up to `max_batch` changes,
//   Meta's 1,000), grouped into one `entry` per WABA, so 1,000 sends/s do not become 3,000 POSTs/s.
// - Signed: X-Hub-Signature-256 = sha256=HMAC-SHA256(app secret, exact raw body bytes). Non-ASCII is
//   written as \uXXXX like Meta does, so a receiver that re-serialises JSON gets a wrong HMAC.
// - Retried: a non-2xx answer or a connection error re-sends the same body (same signature) with
//   exponential backoff and jitter until the horizon (default 7 days); nothing is dropped while the
//   sandbox runs. With no URL set yet, changes wait until one is set.
import { createHmac, randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import type { Logger } from 'pino';

export interface WebhookOptions {
  /** Flush interval for batching (ms). */
  batch_ms: number;
  /** Most changes in one POST (Meta: up to 1,000). */
  max_batch: number;
  /** POSTs in flight at once. */
  concurrency: number;
  retry_base_ms: number;
  retry_max_ms: number;
  /** Give up on a batch after this long (Meta: 7 days, or 36 h per another page). */
  retry_horizon_ms: number;
  timeout_ms: number;
  /** "invalid" signs with a wrong key, "none" omits the header: for receiver tests. */
  signature: 'valid' | 'invalid' | 'none';
}

export const DEFAULT_WEBHOOK_OPTIONS: WebhookOptions = {
  batch_ms: 5,
  max_batch: 1000,
  concurrency: 4,
  retry_base_ms: 250,
  retry_max_ms: 60_000,
  retry_horizon_ms: 7 * 24 * 3600_000,
  timeout_ms: 10_000,
  signature: 'valid',
};

export interface Change {
  field: string;
  value: Record<string, unknown>;
}

interface Pending {
  waba: string;
  change: Change;
  /** Management fields carry entry.time; messages payloads do not (§7.3). */
  timed: boolean;
}

interface Batch {
  id: number;
  body: string;
  signature: string | null;
  changes: number;
  fields: Record<string, number>;
  first_at: number;
  attempt: number;
  /** Generation: a batch from before a clear() (reset) is not retried. */
  gen: number;
}

export interface WebhookLogEntry {
  batch: number;
  attempt: number;
  at: string;
  url: string | null;
  changes: number;
  fields: Record<string, number>;
  status: number | null;
  error: string | null;
  ms: number;
  ok: boolean;
  body?: string;
}

const LOG_MAX = 1000;
const LOG_BODIES = 50; // bodies can be ~300 KB each (1,000 changes)
const PENDING_MAX = 2_000_000;

/** HMAC-SHA256 of the raw body, as Meta's X-Hub-Signature-256 header value. */
export function signBody(body: string | Buffer, secret: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

/** JSON with every non-ASCII character escaped as \uXXXX (Meta's serialisation). */
export function metaJson(v: unknown): string {
  const s = JSON.stringify(v);
  if (Buffer.byteLength(s) === s.length) return s; // pure ASCII: nothing to escape (the common case)
  return s.replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

export class WebhookSender {
  opts: WebhookOptions;
  private readonly initialOpts: WebhookOptions;
  private url: string | null;
  private pending: Pending[] = [];
  private retryTimers = new Set<NodeJS.Timeout>();
  private waitingRetry = 0;
  private inflight = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  private seq = 0;
  private closed = false;
  private gen = 0;
  private agent: Agent;
  private logRing: WebhookLogEntry[] = [];
  private idleWaiters: (() => void)[] = [];
  /** Batches parked because no URL is set yet. */
  private parked: Batch[] = [];
  stats = { posts: 0, delivered_changes: 0, failed_attempts: 0, dropped_changes: 0, enqueued_changes: 0 };

  constructor(
    private appSecret: string,
    url: string | null,
    opts: Partial<WebhookOptions>,
    private log?: Logger,
  ) {
    this.opts = { ...DEFAULT_WEBHOOK_OPTIONS, ...opts };
    this.initialOpts = { ...this.opts };
    this.url = url;
    this.agent = new Agent({ keepAliveTimeout: 10_000, connections: 16 });
  }

  setUrl(url: string | null): void {
    this.url = url;
    if (url && this.parked.length) {
      const parked = this.parked;
      this.parked = [];
      for (const b of parked) void this.deliver(b);
    }
    this.schedule();
  }

  getUrl(): string | null {
    return this.url;
  }

  setOptions(o: Partial<WebhookOptions>): void {
    this.opts = { ...this.opts, ...o };
  }

  enqueue(waba: string, change: Change, timed = false): void {
    if (this.closed) return;
    if (this.pending.length >= PENDING_MAX) {
      // Memory guard for a sandbox left running with no receiver: say so loudly.
      this.stats.dropped_changes++;
      this.log?.error({ field: change.field }, 'sandbox webhook queue full: change dropped');
      return;
    }
    this.stats.enqueued_changes++;
    this.pending.push({ waba, change, timed });
    this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.pending.length === 0) return;
    if (this.pending.length >= this.opts.max_batch && this.inflight < this.opts.concurrency) {
      if (this.flushTimer) clearTimeout(this.flushTimer);
      this.flushTimer = null;
      setImmediate(() => this.flush());
      return;
    }
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        this.flush();
      }, this.opts.batch_ms);
    }
  }

  /** Builds batches from pending changes while POST slots are free. */
  flush(): void {
    while (this.pending.length > 0 && this.inflight < this.opts.concurrency && !this.closed) {
      const take = this.pending.splice(0, this.opts.max_batch);
      void this.deliver(this.build(take));
    }
    if (this.pending.length > 0) this.schedule();
    this.checkIdle();
  }

  private build(items: Pending[]): Batch {
    const entries = new Map<string, { id: string; time?: number; changes: Change[] }>();
    const fields: Record<string, number> = {};
    const now = Math.floor(Date.now() / 1000);
    for (const it of items) {
      const key = it.timed ? `${it.waba}|t` : it.waba;
      let e = entries.get(key);
      if (!e) {
        e = it.timed ? { id: it.waba, time: now, changes: [] } : { id: it.waba, changes: [] };
        entries.set(key, e);
      }
      e.changes.push(it.change);
      fields[it.change.field] = (fields[it.change.field] ?? 0) + 1;
    }
    const body = metaJson({ object: 'whatsapp_business_account', entry: [...entries.values()] });
    const sig =
      this.opts.signature === 'none'
        ? null
        : signBody(body, this.opts.signature === 'invalid' ? this.appSecret + '-wrong' : this.appSecret);
    return { id: ++this.seq, body, signature: sig, changes: items.length, fields, first_at: Date.now(), attempt: 0, gen: this.gen };
  }

  private async deliver(b: Batch): Promise<void> {
    if (this.closed) return;
    const url = this.url;
    if (!url) {
      this.parked.push(b);
      return;
    }
    b.attempt++;
    this.inflight++;
    const t0 = performance.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'facebookexternalua' };
      if (b.signature) headers['x-hub-signature-256'] = b.signature;
      const res = await request(url, {
        method: 'POST',
        body: b.body,
        headers,
        dispatcher: this.agent,
        headersTimeout: this.opts.timeout_ms,
        bodyTimeout: this.opts.timeout_ms,
      });
      status = res.statusCode;
      await res.body.dump();
    } catch (err) {
      error = (err as Error).message || String(err);
    }
    this.inflight--;
    const ok = status !== null && status >= 200 && status < 300;
    this.stats.posts++;
    this.record({
      batch: b.id,
      attempt: b.attempt,
      at: new Date().toISOString(),
      url,
      changes: b.changes,
      fields: b.fields,
      status,
      error,
      ms: Math.round((performance.now() - t0) * 10) / 10,
      ok,
      body: b.body,
    });
    if (ok) {
      this.stats.delivered_changes += b.changes;
    } else {
      this.stats.failed_attempts++;
      if (!this.closed && b.gen === this.gen) this.retry(b);
    }
    if (this.pending.length) this.schedule();
    this.checkIdle();
  }

  private retry(b: Batch): void {
    if (Date.now() - b.first_at > this.opts.retry_horizon_ms) {
      this.stats.dropped_changes += b.changes;
      this.log?.warn({ batch: b.id, attempts: b.attempt }, 'sandbox webhook batch dropped after the retry horizon');
      return;
    }
    const exp = Math.min(this.opts.retry_max_ms, this.opts.retry_base_ms * 2 ** Math.min(b.attempt - 1, 30));
    const delay = Math.round(exp / 2 + (Math.random() * exp) / 2); // jitter: [exp/2, exp]
    this.waitingRetry++;
    const t = setTimeout(() => {
      this.retryTimers.delete(t);
      this.waitingRetry--;
      void this.deliver(b);
    }, delay);
    this.retryTimers.add(t);
  }

  private record(e: WebhookLogEntry): void {
    this.logRing.push(e);
    if (this.logRing.length > LOG_MAX) this.logRing.shift();
    const n = this.logRing.length;
    if (n > LOG_BODIES) delete this.logRing[n - LOG_BODIES - 1].body;
  }

  logEntries(opts: { limit?: number; bodies?: boolean } = {}): WebhookLogEntry[] {
    const list = this.logRing.slice(-(opts.limit ?? 100));
    return opts.bodies ? list : list.map(({ body: _b, ...rest }) => rest);
  }

  /** Changes not yet acknowledged by the receiver (queued, in flight, awaiting retry or a URL). */
  backlog(): { pending: number; inflight: number; retrying: number; parked: number } {
    return { pending: this.pending.length, inflight: this.inflight, retrying: this.waitingRetry, parked: this.parked.length };
  }

  private isIdle(): boolean {
    return this.pending.length === 0 && this.inflight === 0 && this.waitingRetry === 0 && this.parked.length === 0;
  }

  private checkIdle(): void {
    if (this.isIdle() && this.idleWaiters.length) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  /** Resolves when everything queued so far was delivered (or timeout_ms passed: returns false). */
  drain(timeoutMs = 5000): Promise<boolean> {
    if (this.isIdle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** Meta's GET handshake against the current URL (§7.1): 200 with the challenge echoed = verified. */
  async verify(
    verifyToken: string,
  ): Promise<{ ok: boolean; status: number | null; challenge: string; echoed: string | null; error?: string }> {
    const challenge = String(randomBytes(4).readUInt32BE(0));
    if (!this.url) return { ok: false, status: null, challenge, echoed: null, error: 'no webhook URL set' };
    const u = new URL(this.url);
    u.searchParams.set('hub.mode', 'subscribe');
    u.searchParams.set('hub.challenge', challenge);
    u.searchParams.set('hub.verify_token', verifyToken);
    try {
      const res = await request(u, { method: 'GET', dispatcher: this.agent, headersTimeout: this.opts.timeout_ms });
      const text = await res.body.text();
      return { ok: res.statusCode === 200 && text.trim() === challenge, status: res.statusCode, challenge, echoed: text.slice(0, 200) };
    } catch (err) {
      return { ok: false, status: null, challenge, echoed: null, error: (err as Error).message };
    }
  }

  /** Forgets everything queued and restores the start options (reset). In-flight POSTs finish but are not retried. */
  clear(): void {
    this.gen++;
    this.opts = { ...this.initialOpts };
    this.pending = [];
    this.parked = [];
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    this.waitingRetry = 0;
    this.logRing = [];
    this.checkIdle();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    // destroy, not close: a hung receiver must not hold the sandbox's shutdown for timeout_ms.
    await this.agent.destroy().catch(() => undefined);
  }
}
