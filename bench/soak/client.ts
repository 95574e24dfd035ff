// The soak's API client: submits at a steady rate, one Idempotency-Key per message, alternating
// between the instances, and retries the way a careful client does: a 503 or 429 after its
// Retry-After, a 5xx, a connection error or a timeout again with the SAME key (failing over to the
// other instance when one does not answer), until a 2xx with an id or a definite 4xx.
import { Agent, request } from 'undici';
import { orderUpdate, recipient } from '../../test/delivery/harness.ts';

export interface SoakMessage {
  i: number;
  key: string;
  to: string;
  /** Time of the first try (ms, Date.now()). */
  first_at: number;
  /** wagate's message id, once a 2xx carried it. */
  id: string | null;
  accepted_at: number | null;
  /** accepted; denied (definite 4xx, e.g. a 422 decision); gave_up (still failing when the client stopped). */
  outcome: 'pending' | 'accepted' | 'denied' | 'gave_up';
  tries: number;
  /** For a denial: "422 CREDENTIALS_INVALID"; for a give-up: the last failure. */
  detail: string | null;
  /** The fault phase at the first try (set by the caller). */
  phase: string;
}

export interface ClientStats {
  requests: number;
  retries: number;
  /** Failures the client retried, by kind: "503 GATE_UNAVAILABLE", "ECONNREFUSED", "timeout", ... */
  retried: Record<string, number>;
  failovers: number;
  replayed: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class SoakClient {
  readonly messages: SoakMessage[] = [];
  readonly stats: ClientStats = { requests: 0, retries: 0, retried: {}, failovers: 0, replayed: 0 };
  private readonly agents: Agent[];
  private readonly inflight = new Set<Promise<void>>();
  private stopping = false;
  private giveUpAt = Infinity;

  constructor(
    private readonly bases: string[],
    private readonly opts: { run: string; phase: () => string; timeoutMs?: number; offset?: number },
  ) {
    this.agents = bases.map(() => new Agent({ connections: 64, keepAliveTimeout: 10_000, connect: { timeout: 2_000 } }));
  }

  /** Open loop: `rate` new messages per second until `untilMs` (performance.now() time) or stop(). */
  /**
   * Open loop: `rate` new messages per second until `untilMs` (performance.now() time) or stop(), with
   * at most `maxInflight` requests (and retries) at once: when wagate answers slower than the rate, the
   * rest wait for a slot (and count in `offered`), so the latency measured is wagate's, not a queue in
   * this client, and the run ends when its time is up.
   */
  async run(rate: number, untilMs: number, maxInflight = 512): Promise<void> {
    const t0 = performance.now();
    let n = 0;
    while (!this.stopping && performance.now() < untilMs) {
      const due = Math.floor(((performance.now() - t0) / 1000) * rate) + 1;
      this.offered = due;
      for (; n < due && this.inflight.size < maxInflight; n++) this.submit(n);
      await sleep(10);
    }
  }

  /** Messages the rate called for by the end (submitted + those still waiting for a slot). */
  offered = 0;

  private submit(i: number): void {
    const to = recipient((this.opts.offset ?? 0) + i);
    const m: SoakMessage = {
      i,
      key: `${this.opts.run}-${i}`,
      to,
      first_at: Date.now(),
      id: null,
      accepted_at: null,
      outcome: 'pending',
      tries: 0,
      detail: null,
      phase: this.opts.phase(),
    };
    this.messages.push(m);
    const p = this.deliver(m, JSON.stringify(orderUpdate(to, i))).finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  private count(kind: string): void {
    this.stats.retried[kind] = (this.stats.retried[kind] ?? 0) + 1;
  }

  private async deliver(m: SoakMessage, body: string): Promise<void> {
    let k = m.i % this.bases.length;
    let backoff = 100;
    for (;;) {
      m.tries++;
      this.stats.requests++;
      let wait = 0;
      let failover = false;
      try {
        const r = await request(`${this.bases[k]}/v1/messages`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json', 'idempotency-key': m.key },
          dispatcher: this.agents[k],
          headersTimeout: this.opts.timeoutMs ?? 10_000,
          bodyTimeout: this.opts.timeoutMs ?? 10_000,
        });
        const json = (await r.body.json().catch(() => null)) as any;
        if (r.statusCode >= 200 && r.statusCode < 300 && json?.id) {
          m.id = json.id;
          m.accepted_at = Date.now();
          m.outcome = 'accepted';
          if (r.headers['idempotent-replayed'] === 'true' || json.replayed) this.stats.replayed++;
          return;
        }
        const what = `${r.statusCode} ${json?.decision?.reason_code ?? json?.error?.code ?? ''}`.trim();
        if (r.statusCode === 503 || r.statusCode === 429) {
          const ra = Number(r.headers['retry-after']);
          wait = Number.isFinite(ra) && ra >= 0 ? Math.min(ra * 1000, 10_000) : backoff;
          failover = true; // a load balancer would send the retry anywhere
        } else if (r.statusCode >= 500) {
          wait = backoff;
          failover = true;
        } else {
          // A definite answer: a denial (422), a bad request, a key conflict (409).
          m.outcome = 'denied';
          m.detail = what;
          return;
        }
        this.count(what);
        m.detail = what;
      } catch (err) {
        const e = err as { code?: string; name?: string; message?: string };
        const what =
          e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT' || e.code === 'UND_ERR_CONNECT_TIMEOUT'
            ? 'timeout'
            : (e.code ?? e.name ?? 'error');
        this.count(what);
        m.detail = what;
        wait = Math.min(backoff, 200);
        failover = true;
      }
      if (Date.now() >= this.giveUpAt) {
        m.outcome = 'gave_up';
        return;
      }
      this.stats.retries++;
      if (failover && this.bases.length > 1) {
        k = (k + 1) % this.bases.length;
        this.stats.failovers++;
      }
      await sleep(wait * (0.75 + Math.random() * 0.5));
      backoff = Math.min(backoff * 2, 2_000);
    }
  }

  /** Stops submitting new messages; retries of the ones in flight go on for up to `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.giveUpAt = Date.now() + graceMs;
    // Nothing new is added once stopping: one wait for all (a race per settled message was O(n²)).
    await Promise.allSettled([...this.inflight]);
  }

  async close(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.close()));
  }
}
