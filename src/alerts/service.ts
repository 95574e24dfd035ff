// AlertService: the one Alerter. raise() returns at once (delivery never waits for Slack or SMTP);
// work happens on a per-dedupe-key queue so the same condition raised 1,000 times by 64 workers in the
// same second alerts exactly once. The store keeps the alert (GET /v1/alerts, and dedupe across
// restarts); an in-memory copy keeps dedupe working while the store itself is the thing that is down.
import type { Alerter, AlertInput } from './port.ts';
import type { AlertRecord, Store } from '../store/port.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/log.ts';
import type { Metrics } from '../observability/metrics.ts';
import { newId } from '../domain/ids.ts';
import { notifiersFromConfig, severityAtLeast, severityRank, type Notification, type Notifier } from './notifiers.ts';

export interface AlertRetryOptions {
  /** Total tries per notifier and notification (first try included). */
  attempts: number;
  base_ms: number;
  max_ms: number;
}

export interface AlertServiceOptions {
  store: Store;
  config: Config['alerts'];
  log: Logger;
  metrics: Metrics;
  now: () => number;
  /** Default: built from config (Slack, webhook, e-mail as configured). */
  notifiers?: Notifier[];
  retry?: Partial<AlertRetryOptions>;
}

type Op = { type: 'raise'; input: AlertInput } | { type: 'resolve' };

const DEFAULT_RETRY: AlertRetryOptions = { attempts: 6, base_ms: 1_000, max_ms: 60_000 };

export class AlertService implements Alerter {
  private readonly store: Store;
  private readonly config: Config['alerts'];
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly now: () => number;
  private readonly notifiers: Notifier[];
  private readonly retry: AlertRetryOptions;
  private readonly queues = new Map<string, Op[]>();
  private readonly pending = new Set<Promise<void>>();
  /** Last known record per dedupe key: the fallback when the store cannot be read. */
  private readonly memo = new Map<string, AlertRecord>();
  /** Backoff sleeps in progress: close() wakes them so nothing hangs. */
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private closed = false;

  constructor(opts: AlertServiceOptions) {
    this.store = opts.store;
    this.config = opts.config;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.now = opts.now;
    this.notifiers = opts.notifiers ?? notifiersFromConfig(opts.config);
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
  }

  /** Channels alerts go to (for `wagate doctor` and the banner). */
  channels(): string[] {
    return this.notifiers.map((n) => `${n.channel}(>=${n.min_severity})`);
  }

  raise(a: AlertInput): void {
    try {
      if (!a || typeof a.dedupe_key !== 'string' || !a.dedupe_key) {
        this.log.error({ kind: a?.kind }, 'alert raised without a dedupe_key: ignored (bug in the caller)');
        return;
      }
      this.push(a.dedupe_key, { type: 'raise', input: a });
    } catch (err) {
      this.log.error({ err }, 'alert raise failed');
    }
  }

  resolve(dedupe_key: string): void {
    try {
      if (dedupe_key) this.push(dedupe_key, { type: 'resolve' });
    } catch (err) {
      this.log.error({ err }, 'alert resolve failed');
    }
  }

  /** Resolves when every queued raise/resolve and every notifier delivery (retries included) is done. */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  /** Stops retrying, waits up to `timeoutMs` for deliveries in flight, closes SMTP connections. */
  async close(timeoutMs = 5_000): Promise<void> {
    this.closed = true;
    for (const [t, wake] of this.timers) {
      clearTimeout(t);
      wake();
    }
    this.timers.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs).unref()))]);
    clearTimeout(timer);
    for (const n of this.notifiers) await n.close?.().catch(() => {});
  }

  // One queue per key; consecutive raises of the same key collapse into the latest one (a burst of
  // identical 190s costs one store round trip, not one per failed send).
  private push(key: string, op: Op): void {
    const q = this.queues.get(key);
    if (!q) {
      const nq: Op[] = [op];
      this.queues.set(key, nq);
      this.track(this.drain(key, nq));
      return;
    }
    const last = q[q.length - 1];
    if (op.type === 'raise' && last?.type === 'raise') last.input = op.input;
    else if (!(op.type === 'resolve' && last?.type === 'resolve')) q.push(op);
  }

  private async drain(key: string, q: Op[]): Promise<void> {
    while (q.length) {
      const op = q.shift()!;
      try {
        if (op.type === 'raise') await this.doRaise(op.input);
        else await this.doResolve(key);
      } catch (err) {
        this.log.error({ err, dedupe_key: key }, 'alert processing failed');
      }
    }
    this.queues.delete(key);
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private async current(key: string): Promise<AlertRecord | null> {
    try {
      const rec = await this.store.getAlertByDedupeKey(key);
      if (rec) this.memo.set(key, rec);
      return rec ?? this.memo.get(key) ?? null;
    } catch (err) {
      this.log.warn({ err: String(err), dedupe_key: key }, 'alert store unreadable: deduplicating from memory');
      return this.memo.get(key) ?? null;
    }
  }

  private async save(rec: AlertRecord): Promise<void> {
    this.memo.set(rec.dedupe_key, rec);
    try {
      await this.store.upsertAlert(rec);
    } catch (err) {
      // Never lose the notification because the store is down: it is often *why* we alert.
      this.log.warn({ err: String(err), dedupe_key: rec.dedupe_key }, 'alert not stored (store error); notifying anyway');
    }
  }

  private async doRaise(a: AlertInput): Promise<void> {
    const now = this.now();
    const cur = await this.current(a.dedupe_key);
    let rec: AlertRecord;
    let reminder = false;
    if (cur && cur.resolved_at === null) {
      const last = cur.last_sent_at ?? cur.created_at;
      // Already told: stay quiet until the reminder is due, unless the condition got worse
      // (e.g. a token expiring in 6 days → in 12 hours: warning → critical reaches e-mail now).
      const escalated = severityRank(a.severity) > severityRank(cur.severity);
      if (!escalated && now - last < this.config.remind_interval_s * 1000) return;
      reminder = true;
      rec = { ...cur, severity: a.severity, title: a.title, body: a.body, detail: a.detail ?? cur.detail, last_sent_at: now };
    } else {
      // New, or re-armed after resolve(): a new record, so GET /v1/alerts keeps the history.
      rec = {
        id: newId('al', now),
        kind: a.kind,
        severity: a.severity,
        dedupe_key: a.dedupe_key,
        sender_id: a.sender_id ?? null,
        title: a.title,
        body: a.body,
        detail: a.detail ?? {},
        created_at: now,
        last_sent_at: now,
        resolved_at: null,
      };
    }
    await this.save(rec);
    const level = a.severity === 'critical' ? 'error' : a.severity === 'warning' ? 'warn' : 'info';
    this.log[level](
      { alert: { id: rec.id, kind: rec.kind, dedupe_key: rec.dedupe_key, sender_id: rec.sender_id, reminder } },
      `ALERT ${rec.title}`,
    );
    const n: Notification = { alert: rec, reminder, at: now };
    for (const notifier of this.notifiers) {
      if (severityAtLeast(rec.severity, notifier.min_severity)) this.track(this.deliver(notifier, n));
    }
  }

  private async doResolve(key: string): Promise<void> {
    const cur = await this.current(key);
    if (!cur || cur.resolved_at !== null) return;
    await this.save({ ...cur, resolved_at: this.now() });
    this.log.info({ alert: { id: cur.id, kind: cur.kind, dedupe_key: key } }, `alert resolved: ${cur.title}`);
  }

  private async deliver(notifier: Notifier, n: Notification): Promise<void> {
    const labels = { kind: n.alert.kind, channel: notifier.channel };
    for (let attempt = 1; ; attempt++) {
      try {
        await notifier.send(n);
        this.metrics.alertsSent.inc({ ...labels, result: 'ok' });
        return;
      } catch (err) {
        this.metrics.alertsSent.inc({ ...labels, result: 'error' });
        const last = attempt >= this.retry.attempts || this.closed;
        this.log[last ? 'error' : 'warn'](
          {
            channel: notifier.channel,
            alert: { id: n.alert.id, kind: n.alert.kind },
            attempt,
            err: String((err as Error)?.message ?? err),
          },
          last
            ? `alert NOT delivered to ${notifier.channel} after ${attempt} attempts: ${n.alert.title}`
            : `alert delivery to ${notifier.channel} failed; retrying`,
        );
        if (last) {
          this.metrics.alertsSent.inc({ ...labels, result: 'failed' });
          return;
        }
        // Exponential backoff with full jitter: a flapping receiver is not hammered.
        const cap = Math.min(this.retry.max_ms, this.retry.base_ms * 2 ** (attempt - 1));
        await this.sleep(cap / 2 + Math.random() * (cap / 2));
        if (this.closed) {
          this.log.error(
            { channel: notifier.channel, alert: { id: n.alert.id, kind: n.alert.kind } },
            `alert NOT delivered to ${notifier.channel}: shutting down`,
          );
          this.metrics.alertsSent.inc({ ...labels, result: 'failed' });
          return;
        }
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      t.unref();
      this.timers.set(t, resolve);
    });
  }
}
