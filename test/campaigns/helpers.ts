// A real wagate for campaign tests: the delivery harness's app (SQLite, embedded queue, memory gate,
// in-process Meta sandbox; or the production backends) with a clock the test can move forward, so a
// 24-hour tier window or quiet hours pass without sleeping. The sandbox ledger is Meta's count.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createApp, type App } from '../../src/app.ts';
import { createLogger } from '../../src/observability/log.ts';
import type { CampaignService } from '../../src/campaigns/service.ts';
import type { CliIo } from '../../src/cli/campaign.ts';
import { approveSeedTemplates, buildConfig, http, PHONE_NUMBER_ID, type HarnessOptions, type LedgerSend } from '../delivery/harness.ts';
import { dropNamespace } from '../production/backends.ts';

export interface CampaignHarness {
  app: App;
  campaigns: CampaignService;
  base: string;
  sandboxUrl: string;
  dataDir: string;
  namespace: string;
  /** Moves the app's clock forward (ms). */
  advance(ms: number): void;
  ledger(): Promise<LedgerSend[]>;
  sandbox(method: 'GET' | 'POST', path: string, body?: unknown): Promise<any>;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  close(): Promise<void>;
}

export async function startCampaignHarness(
  opts: HarnessOptions & { policies?: Record<string, unknown>; namespace?: string; sender?: Record<string, unknown> } = {},
): Promise<CampaignHarness> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'wagate-cmp-'));
  const namespace = opts.namespace ?? `cmp_${randomBytes(4).toString('hex')}`;
  const base = buildConfig(opts, dataDir, namespace);
  const config = {
    ...base,
    ...(opts.policies ? { policies: { ...base.policies, ...opts.policies } } : {}),
    senders: base.senders.map((s) => ({ ...s, ...(opts.sender ?? {}) })),
  } as typeof base;
  let offset = 0;
  const app = await createApp({
    config,
    env: {},
    logger: createLogger(config.log_level),
    workers: opts.workers ?? true,
    monitor: false,
    now: () => Date.now() + offset,
  });
  const url = await app.start();
  const sandboxUrl = opts.sandboxUrl ?? app.sandbox?.url;
  if (!sandboxUrl) throw new Error('no sandbox');
  if (opts.sandboxUrl) await http('POST', `${sandboxUrl}/_sandbox/webhooks`, { url: `${url}/webhook` });
  await approveSeedTemplates(app.ctx);
  const campaigns = app.ctx.campaigns;
  if (!campaigns) throw new Error('no campaign service');
  return {
    app,
    campaigns,
    base: url,
    sandboxUrl,
    dataDir,
    namespace,
    advance(ms) {
      offset += ms;
    },
    async ledger() {
      const r = await http('GET', `${sandboxUrl}/_sandbox/ledger?phone_number_id=${PHONE_NUMBER_ID}`);
      return (r.json?.sends ?? []) as LedgerSend[];
    },
    async sandbox(method, path, body) {
      const r = await http(method, `${sandboxUrl}${path}`, body);
      if (r.status >= 300) throw new Error(`sandbox ${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
      return r.json;
    },
    api: (method, path, body) => http(method, `${url}${path}`, body),
    async close() {
      await app.stop();
      if (opts.production) await dropNamespace(namespace);
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Recipient i as a phone number (distinct Indian mobiles: no US marketing rules). */
export const phone = (i: number): string => `91${9700000000 + i}`;

/** Ledger sends per recipient phone. */
export function sendsByRecipient(sends: LedgerSend[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of sends) m.set(s.to, (m.get(s.to) ?? 0) + 1);
  return m;
}

/** Recipients given to a campaign that Meta got 0 times (lost) or more than once (duplicates). */
export function lostAndDuplicates(recipients: string[], sends: LedgerSend[]): { lost: number; duplicates: number } {
  const by = sendsByRecipient(sends);
  let lost = 0;
  let duplicates = 0;
  for (const r of recipients) {
    const n = by.get(r) ?? 0;
    if (n === 0) lost++;
    if (n > 1) duplicates += n - 1;
  }
  return { lost, duplicates };
}

/** The CLI's io with its output kept: what `wagate campaign` printed, in out and err. */
export function cliIo(opts: { tty?: boolean } = {}): CliIo & { out: string; err: string } {
  const o = {
    out: '',
    err: '',
    env: {},
    fetch: globalThis.fetch,
    sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
    stdout: { write: (s: string) => (o.out += s), isTTY: opts.tty === true },
    stderr: { write: (s: string) => (o.err += s) },
  };
  return o;
}
