// Test helpers: a real HTTP webhook receiver on 127.0.0.1 and small Graph call wrappers.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';
import { startSandbox, type SandboxHandle, type SandboxOptions } from '../../src/meta/sandbox/server.ts';

export const PNID = '106540352242922';
export const WABA = '102290129340398';
export const TOKEN = 'sandbox-token-main';
export const SECRET = 'test-app-secret';

export interface Received {
  raw: string;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  status: number;
}

export interface Receiver {
  url: string;
  posts: Received[];
  /** Decides the HTTP status of each POST (default 200). */
  respond: (n: number) => number;
  /** Every change of every accepted POST. */
  changes(): { field: string; value: any }[];
  statuses(): any[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const posts: Received[] = [];
  let n = 0;
  const r: Receiver = {
    url: '',
    posts,
    respond: () => 200,
    changes() {
      return posts.filter((p) => p.status === 200).flatMap((p) => p.body.entry.flatMap((e: any) => e.changes));
    },
    statuses() {
      return r
        .changes()
        .filter((c) => c.field === 'messages' && c.value.statuses)
        .flatMap((c) => c.value.statuses);
    },
    close: async () => {
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const status = r.respond(++n);
      posts.push({ raw, headers: req.headers, body: raw ? JSON.parse(raw) : null, status });
      res.writeHead(status);
      res.end(status === 200 ? 'EVENT_RECEIVED' : 'nope');
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;
  server.closeIdleConnections?.();
  return r;
}

export async function sandbox(opts: Partial<SandboxOptions> = {}): Promise<SandboxHandle> {
  return startSandbox({ port: 0, app_secret: SECRET, ...opts });
}

export async function graph(
  s: SandboxHandle,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = TOKEN,
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export function sendMsg(
  s: SandboxHandle,
  body: Record<string, unknown>,
  opts: { pnid?: string; version?: string; token?: string | null } = {},
) {
  return graph(
    s,
    'POST',
    `/${opts.version ?? 'v23.0'}/${opts.pnid ?? PNID}/messages`,
    { messaging_product: 'whatsapp', ...body },
    opts.token === undefined ? TOKEN : opts.token,
  );
}

export function ctl(s: SandboxHandle, method: string, path: string, body?: unknown) {
  return graph(s, method, `/_sandbox${path}`, body, null);
}

export function text(to: string, body = 'hi', extra: Record<string, unknown> = {}) {
  return { to, type: 'text', text: { body }, ...extra };
}

export function tpl(to: string, name: string, params: string[] = [], extra: Record<string, unknown> = {}) {
  const components = params.length ? [{ type: 'body', parameters: params.map((t) => ({ type: 'text', text: t })) }] : [];
  return { to, type: 'template', template: { name, language: { code: 'en_US' }, components }, ...extra };
}

export async function waitFor<T>(fn: () => T | undefined | null | false, timeoutMs = 3000, label = 'condition'): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Fast status timing for tests. */
export const FAST = { sent_ms: 5, delivered_ms: 10, read_ms: 15 };

/**
 * Per-file harness: everything started through it is closed after each test (newest first).
 * `withReceiver` = a real receiver + a sandbox posting to it, one POST in flight so batches arrive
 * in the order they left (stable order assertions).
 */
export function useSandboxes() {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const x of open.splice(0).reverse()) await x.close();
  });
  const track = <T extends { close(): Promise<void> }>(x: T): T => {
    open.push(x);
    return x;
  };
  return {
    sandbox: async (opts: Partial<SandboxOptions> = {}) => track(await sandbox(opts)),
    receiver: async () => track(await startReceiver()),
    async withReceiver(opts: Partial<SandboxOptions> = {}) {
      const rx = track(await startReceiver());
      const s = track(await sandbox({ webhook_url: rx.url, statuses: FAST, ...opts, webhooks: { concurrency: 1, ...opts.webhooks } }));
      return { s, rx };
    },
  };
}
