// A real wagate for delivery tests and bench/delivery.ts: createApp with the embedded queue, SQLite
// store, memory gate/pacer and the in-process Meta sandbox (or a sandbox given by URL), HTTP on
// 127.0.0.1:0. Nothing is mocked; the sandbox ledger is Meta's own count of accepted sends.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ConfigSchema } from '../../src/config/schema.ts';
import { createApp, type App } from '../../src/app.ts';
import { createLogger } from '../../src/observability/log.ts';
import type { AppContext } from '../../src/engine/context.ts';
import type { TemplateRecord } from '../../src/domain/types.ts';
import { seedTemplates } from '../../src/meta/sandbox/templates.ts';
import { DATABASE_URL, NATS_URL, REDIS_URL, dropNamespace } from '../production/backends.ts';

export const PHONE_NUMBER_ID = '106540352242922';
export const WABA_ID = '102290129340398';

export interface HarnessOptions {
  mps?: number;
  /** Overrides for config.delivery. */
  delivery?: Record<string, unknown>;
  /** Extra fields of the one sender (e.g. marketing_endpoint). */
  sender?: Record<string, unknown>;
  workers?: boolean;
  /** Use Redis/PostgreSQL/NATS (WAGATE_* env or the local defaults), with a random namespace. */
  production?: boolean;
  /** With production: PostgreSQL at this URL instead (e.g. through a test's own TCP proxy). */
  database_url?: string;
  /** Data directory to reuse (crash tests); a fresh temp dir otherwise. */
  dataDir?: string;
  /** An already running sandbox (its base URL): the app then uses it instead of starting one. */
  sandboxUrl?: string;
  log_level?: string;
}

export interface LedgerSend {
  wamid: string;
  to: string;
  type: string;
  biz_opaque_callback_data: string | null;
  at: number | string;
}

export interface Harness {
  app: App;
  ctx: AppContext;
  base: string;
  sandboxUrl: string;
  dataDir: string;
  namespace: string;
  /** Calls the sandbox control API. */
  sandbox(method: 'GET' | 'POST', path: string, body?: unknown): Promise<any>;
  ledger(): Promise<LedgerSend[]>;
  /** POST /v1/messages over real HTTP. */
  post(body: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any }>;
  get(path: string): Promise<{ status: number; json: any }>;
  close(opts?: { keepData?: boolean }): Promise<void>;
}

export async function http(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

export function buildConfig(opts: HarnessOptions, dataDir: string, namespace: string) {
  const raw: Record<string, unknown> = {
    port: 0,
    host: '127.0.0.1',
    data_dir: dataDir,
    log_level: opts.log_level ?? 'silent',
    namespace,
    sandbox: { port: 0, mode: opts.sandboxUrl ? 'never' : 'always' },
    senders: [
      {
        id: 'main',
        phone_number_id: PHONE_NUMBER_ID,
        waba_id: WABA_ID,
        business_id: 'delivery-test',
        throughput_mps: opts.mps ?? 80,
        messaging_limit: null,
        ...(opts.sandboxUrl ? { access_token: 'sandbox-token-main' } : {}),
        ...(opts.sender ?? {}),
      },
    ],
    delivery: { backoff_base_ms: 20, backoff_max_ms: 500, lease_ms: 5_000, in_doubt_grace_ms: 2_000, ...(opts.delivery ?? {}) },
  };
  if (opts.sandboxUrl) raw.meta = { api_url: opts.sandboxUrl, app_secret: 'sandbox-app-secret', verify_token: 'delivery-test' };
  if (opts.production) {
    raw.redis_url = REDIS_URL;
    raw.nats_url = NATS_URL;
    raw.database_url = opts.database_url ?? DATABASE_URL;
  }
  return ConfigSchema.parse(raw);
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'wagate-delivery-'));
  const namespace = `dlv_${randomBytes(4).toString('hex')}`;
  const config = buildConfig(opts, dataDir, namespace);
  const app = await createApp({ config, env: {}, logger: createLogger(config.log_level), workers: opts.workers ?? true, monitor: false });
  const base = await app.start();
  const sandboxUrl = opts.sandboxUrl ?? app.sandbox?.url;
  if (!sandboxUrl) throw new Error('harness: no sandbox URL');
  // An external sandbox sends its webhooks (statuses) to this app.
  if (opts.sandboxUrl) await http('POST', `${sandboxUrl}/_sandbox/webhooks`, { url: `${base}/webhook` });
  await approveSeedTemplates(app.ctx);
  const h: Harness = {
    app,
    ctx: app.ctx,
    base,
    sandboxUrl,
    dataDir,
    namespace,
    async sandbox(method, path, body) {
      const r = await http(method, `${sandboxUrl}${path}`, body);
      if (r.status >= 300) throw new Error(`sandbox ${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
      return r.json;
    },
    async ledger() {
      const r = await http('GET', `${sandboxUrl}/_sandbox/ledger?phone_number_id=${PHONE_NUMBER_ID}`);
      return (r.json?.sends ?? []) as LedgerSend[];
    },
    post: (body, headers) => http('POST', `${base}/v1/messages`, body, headers),
    get: (path) => http('GET', `${base}${path}`),
    async close(o = {}) {
      await app.stop();
      // The shared servers stay clean: this run's Redis keys, JetStream stream and schema go.
      if (opts.production) await dropNamespace(namespace);
      if (!o.keepData && !opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return h;
}

/**
 * The gate learns templates from Meta (sync / template webhooks). Tests start from the sandbox's own
 * seed templates, written through the store and the gate the way the template sync does.
 */
export async function approveSeedTemplates(ctx: AppContext, override: Partial<Record<string, unknown[]>> = {}): Promise<void> {
  for (const t of seedTemplates()) {
    const rec: TemplateRecord = {
      waba_id: WABA_ID,
      name: t.name,
      language: t.language,
      category: t.category.toLowerCase() as TemplateRecord['category'],
      status: 'APPROVED',
      quality: 'GREEN',
      components: override[t.name] ?? t.components,
      updated_at: ctx.now(),
    };
    await ctx.store.upsertTemplate(rec);
    await ctx.gate.upsertTemplate(rec);
  }
}

/** Distinct, valid Indian mobile numbers (libphonenumber accepts them; no US marketing rules). */
export function recipient(i: number): string {
  return `91${9800000000 + i}`;
}

/** A utility template message (no window, no marketing cap needed). */
export function orderUpdate(to: string, n = 1): Record<string, unknown> {
  return {
    to,
    type: 'template',
    template: {
      name: 'order_update',
      language: { code: 'en_US' },
      components: [
        {
          type: 'body',
          parameters: [
            { type: 'text', text: 'Ana' },
            { type: 'text', text: `A-${n}` },
          ],
        },
      ],
    },
  };
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Ledger sends per wagate id: lost = submitted ids with 0, duplicates = ids with > 1. */
export function countLedger(ids: string[], sends: LedgerSend[]): { lost: number; duplicates: number; byId: Map<string, number> } {
  const byId = new Map<string, number>();
  for (const s of sends)
    if (s.biz_opaque_callback_data) byId.set(s.biz_opaque_callback_data, (byId.get(s.biz_opaque_callback_data) ?? 0) + 1);
  let lost = 0;
  let duplicates = 0;
  for (const id of ids) {
    const n = byId.get(id) ?? 0;
    if (n === 0) lost++;
    if (n > 1) duplicates += n - 1;
  }
  return { lost, duplicates, byId };
}

/** Starts the sandbox in a child process (bench: Meta is remote, it must not share our event loop). */
export function startSandboxProcess(mps: number): Promise<{ url: string; stop(): Promise<void> }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./sandbox-child.ts', import.meta.url))], {
    env: { ...process.env, SANDBOX_MPS: String(mps) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once('line', (line) =>
      resolve({
        url: JSON.parse(line).url,
        stop: () =>
          new Promise<void>((r) => {
            proc.once('exit', () => r());
            proc.kill('SIGTERM');
          }),
      }),
    );
    proc.once('exit', (code) => reject(new Error(`sandbox process exited with ${code}`)));
  });
}
