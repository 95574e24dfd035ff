// Notifiers: where an alert goes. Slack incoming webhook, a generic HMAC-signed JSON webhook, e-mail
// over SMTP. Each send() either resolves (delivered) or throws (the AlertService retries with backoff).
// Nothing here decides *whether* to send: dedupe and severity live in service.ts.
import { createHmac } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Config } from '../config/schema.ts';
import type { AlertRecord } from '../store/port.ts';
import { scrubSecrets } from '../observability/log.ts';

export type Severity = AlertRecord['severity'];
export type Channel = 'slack' | 'webhook' | 'email';

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export function severityRank(s: Severity): number {
  return RANK[s] ?? 0;
}

/** True when an alert of `severity` reaches a channel whose lowest accepted severity is `min`. */
export function severityAtLeast(severity: Severity, min: Severity): boolean {
  return severityRank(severity) >= severityRank(min);
}

/** What a notifier delivers: the stored alert plus whether this is a reminder of an open one. */
export interface Notification {
  alert: AlertRecord;
  reminder: boolean;
  /** When this notification was produced (ms). */
  at: number;
}

export interface Notifier {
  readonly channel: Channel;
  readonly min_severity: Severity;
  send(n: Notification): Promise<void>;
  close?(): Promise<void>;
}

const ICON: Record<Severity, string> = { info: 'ℹ️', warning: '⚠️', critical: '🚨' };

function subject(n: Notification): string {
  return `${n.reminder ? '[reminder] ' : ''}[wagate ${n.alert.severity}] ${n.alert.title}`;
}

/** The JSON every machine receiver gets (generic webhook); stable field names. */
export function notificationJson(n: Notification): Record<string, unknown> {
  const a = n.alert;
  return {
    id: a.id,
    kind: a.kind,
    severity: a.severity,
    dedupe_key: a.dedupe_key,
    sender_id: a.sender_id,
    title: scrubSecrets(a.title),
    body: scrubSecrets(a.body),
    detail: a.detail,
    reminder: n.reminder,
    created_at: new Date(a.created_at).toISOString(),
    sent_at: new Date(n.at).toISOString(),
  };
}

/** `sha256=<hex>` over the exact raw body, as Meta signs its webhooks (receivers can reuse that code). */
export function signBody(secret: string, rawBody: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(rawBody).digest('hex');
}

async function postJson(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'wagate-alerts', ...headers },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  // Drain the body so the keep-alive connection is reusable.
  const text = await res.text().catch(() => '');
  if (!res.ok) throw new Error(`HTTP ${res.status} from ${new URL(url).host}: ${text.slice(0, 200)}`);
}

export class SlackNotifier implements Notifier {
  readonly channel = 'slack' as const;
  constructor(
    private readonly url: string,
    readonly min_severity: Severity,
    private readonly timeoutMs = 10_000,
  ) {}

  async send(n: Notification): Promise<void> {
    const a = n.alert;
    const text = `${ICON[a.severity]} ${subject(n)}`;
    const body = scrubSecrets(a.body);
    // Slack: `text` is the notification fallback, `blocks` the rendered message (mrkdwn section limit 3000).
    const payload = {
      text,
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: text.slice(0, 150), emoji: true } },
        { type: 'section', text: { type: 'mrkdwn', text: body.slice(0, 2900) || '(no detail)' } },
        {
          type: 'context',
          elements: [
            {
              type: 'mrkdwn',
              text: `kind \`${a.kind}\`${a.sender_id ? ` · sender \`${a.sender_id}\`` : ''} · key \`${a.dedupe_key}\` · ${new Date(n.at).toISOString()}`,
            },
          ],
        },
      ],
    };
    await postJson(this.url, JSON.stringify(payload), {}, this.timeoutMs);
  }
}

export class WebhookNotifier implements Notifier {
  readonly channel = 'webhook' as const;
  constructor(
    private readonly url: string,
    private readonly secret: string | undefined,
    readonly min_severity: Severity,
    private readonly timeoutMs = 10_000,
  ) {}

  async send(n: Notification): Promise<void> {
    const raw = JSON.stringify(notificationJson(n));
    const headers: Record<string, string> = { 'x-wagate-event': n.alert.kind, 'x-wagate-delivery': `${n.alert.id}:${n.at}` };
    if (this.secret) headers['x-wagate-signature-256'] = signBody(this.secret, raw);
    await postJson(this.url, raw, headers, this.timeoutMs);
  }
}

type EmailConfig = NonNullable<Config['alerts']['email']>;

export class EmailNotifier implements Notifier {
  readonly channel = 'email' as const;
  private readonly transport: Transporter;
  constructor(
    private readonly cfg: EmailConfig,
    readonly min_severity: Severity,
    timeoutMs = 15_000,
  ) {
    this.transport = nodemailer.createTransport({
      host: cfg.host,
      port: cfg.port,
      secure: cfg.secure,
      auth: cfg.user ? { user: cfg.user, pass: cfg.pass ?? '' } : undefined,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    });
  }

  async send(n: Notification): Promise<void> {
    const a = n.alert;
    const lines = [
      scrubSecrets(a.body),
      '',
      `kind: ${a.kind}`,
      `severity: ${a.severity}`,
      a.sender_id ? `sender: ${a.sender_id}` : null,
      `first raised: ${new Date(a.created_at).toISOString()}`,
      `dedupe key: ${a.dedupe_key}`,
    ].filter((l): l is string => l !== null);
    await this.transport.sendMail({ from: this.cfg.from, to: this.cfg.to, subject: scrubSecrets(subject(n)), text: lines.join('\n') });
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}

/** The notifiers the config asks for (none configured = alerts are stored and logged only). */
export function notifiersFromConfig(cfg: Config['alerts']): Notifier[] {
  const out: Notifier[] = [];
  if (cfg.slack_webhook_url) out.push(new SlackNotifier(cfg.slack_webhook_url, cfg.min_severity.slack));
  if (cfg.webhook_url) out.push(new WebhookNotifier(cfg.webhook_url, cfg.webhook_secret, cfg.min_severity.webhook));
  if (cfg.email) out.push(new EmailNotifier(cfg.email, cfg.min_severity.email));
  return out;
}
