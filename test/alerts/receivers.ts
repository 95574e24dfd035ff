// Real local receivers for alert tests: an HTTP server on 127.0.0.1 standing in for Slack and for a
// generic webhook endpoint, and a real SMTP server (smtp-server) receiving the e-mail.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface HttpHit {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  json: Record<string, unknown>;
}

export interface HttpReceiver {
  url: string;
  hits: HttpHit[];
  byPath(path: string): HttpHit[];
  /** The next `n` requests to `path` are answered with `status` (and not recorded as hits). */
  failNext(path: string, n: number, status?: number): void;
  /** Requests that were answered with an error. */
  failed: { path: string; status: number }[];
  /** Forget hits, failures and planned failures. */
  reset(): void;
  close(): Promise<void>;
}

export async function startHttpReceiver(): Promise<HttpReceiver> {
  const hits: HttpHit[] = [];
  const failed: { path: string; status: number }[] = [];
  const failures = new Map<string, { n: number; status: number }>();
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const f = failures.get(path);
      if (f && f.n > 0) {
        f.n--;
        failed.push({ path, status: f.status });
        res.statusCode = f.status;
        res.end('receiver says no');
        return;
      }
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        /* keep raw */
      }
      hits.push({ path, headers: req.headers, raw, json });
      res.statusCode = 200;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    failed,
    byPath: (p) => hits.filter((h) => h.path === p),
    reset() {
      hits.length = 0;
      failed.length = 0;
      failures.clear();
    },
    failNext(path, n, status = 500) {
      failures.set(path, { n, status });
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface Mail {
  from: string;
  to: string[];
  raw: string;
  subject: string;
}

export interface SmtpReceiver {
  port: number;
  mails: Mail[];
  close(): Promise<void>;
}

export async function startSmtpReceiver(): Promise<SmtpReceiver> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    // close() waits this long for a client still connected, then ends it (smtp-server's default is
    // 30 s, which is a hook's whole timeout: a proof test's cleanup timed out on it once in CI).
    closeTimeout: 1_000,
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      let raw = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (raw += c));
      stream.on('end', () => {
        const subject = /^Subject: (.*(?:\r?\n[ \t].*)*)/m.exec(raw)?.[1]?.replace(/\r?\n[ \t]/g, ' ') ?? '';
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          subject,
        });
        callback();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.server.address() as AddressInfo;
  return { port, mails, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Decodes an RFC 2047 encoded-word subject (nodemailer encodes non-ASCII). */
export function decodeSubject(s: string): string {
  return s.replace(/=\?utf-8\?([BQ])\?([^?]*)\?=\s*/gi, (_m, enc: string, text: string) =>
    enc.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(
          text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))),
          'latin1',
        ).toString('utf8'),
  );
}

export interface Receivers {
  http: HttpReceiver;
  smtp: SmtpReceiver;
  /** Forget everything received (between tests). */
  reset(): void;
  close(): Promise<void>;
}

/** Both receivers at once (Slack + generic webhook on one HTTP server, e-mail on SMTP). */
export async function startReceivers(): Promise<Receivers> {
  const [http, smtp] = await Promise.all([startHttpReceiver(), startSmtpReceiver()]);
  return {
    http,
    smtp,
    reset() {
      http.reset();
      smtp.mails.length = 0;
    },
    close: async () => {
      await http.close();
      await smtp.close();
    },
  };
}
