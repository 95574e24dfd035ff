// Shared helpers for the faces tests: a whole wagate (createApp: HTTP, workers, webhooks, in-process
// sandbox) in a temp dir, and small assertions on MCP tool results.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.ts';
import { createApp, type App } from '../../src/app.ts';
import { createLogger } from '../../src/observability/log.ts';

export const PHONE_NUMBER_ID = '106540352242922';
export const WABA_ID = '102290129340398';

export interface Running {
  app: App;
  base: string;
  dir: string;
  close(): Promise<void>;
}

export async function startWagate(
  extra: Record<string, unknown> = {},
  opts: { workers?: boolean; monitor?: boolean } = {},
): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'wagate-faces-'));
  const config = ConfigSchema.parse({
    port: 0,
    host: '127.0.0.1',
    data_dir: dir,
    log_level: 'silent',
    namespace: `faces_${randomBytes(3).toString('hex')}`,
    sandbox: { port: 0, mode: 'always' },
    senders: [{ id: 'main', phone_number_id: PHONE_NUMBER_ID, waba_id: WABA_ID, business_id: 'faces', messaging_limit: null }],
    ...extra,
  });
  const app = await createApp({ config, env: {}, logger: createLogger('silent'), workers: opts.workers, monitor: opts.monitor ?? false });
  const base = await app.start();
  return {
    app,
    base,
    dir,
    async close() {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type ToolCallResult = { isError?: boolean; content?: unknown; structuredContent?: Record<string, unknown> };

/** The JSON in a tool result's text content. */
export function bodyOf(r: ToolCallResult): Record<string, unknown> {
  const c = (r.content as { type: string; text: string }[])[0];
  expect(c.type).toBe('text');
  return JSON.parse(c.text) as Record<string, unknown>;
}

/** A refusal as wagate promises it: a stable code, what is wrong, and how to fix it. No stack trace. */
export function expectExplainedRefusal(r: ToolCallResult): Record<string, unknown> {
  expect(r.isError).toBe(true);
  const b = bodyOf(r);
  const text = JSON.stringify(b);
  expect(text).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/); // no stack frames
  if (b.error) {
    const e = b.error as Record<string, unknown>;
    expect(typeof e.code).toBe('string');
    expect(String(e.message).length).toBeGreaterThan(5);
    expect(String(e.fix).length).toBeGreaterThan(5);
    expect(e.code).not.toBe('INTERNAL');
  } else {
    expect(typeof b.reason_code).toBe('string');
    expect(String(b.explanation).length).toBeGreaterThan(5);
    expect(String(b.suggested_action).length).toBeGreaterThan(5);
  }
  return b;
}

export async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, ms = 10_000, step = 50): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, step));
  }
}

export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json().catch(() => ({}))) as Record<string, unknown> };
}

export const TOOL_NAMES = [
  'check_compliance',
  'send_message',
  'send_template',
  'reply_customer',
  'explain_error',
  'retry_failed_messages',
  'sync_template_status',
  'check_conversation',
  'check_frequency_cap',
  'get_customer_context',
  'get_delivery_status',
  'get_rate_limit',
  'list_conversations',
  'list_templates',
  'get_account_quality',
  'estimate_cost',
  'estimate_pricing',
  'create_template',
  'sync_webhooks',
  'archive_chat',
  'send_media',
  'send_interactive',
  'mark_as_read',
  'set_consent',
  'get_sender_health',
  'resume_sender',
  'list_dead_letters',
  'replay_dead_letter',
  'schedule_message',
  'schedule_campaign',
  'preview_campaign',
  'pause_campaign',
  'resume_campaign',
  'cancel_campaign',
  'get_campaign',
  'list_campaigns',
];

/** Every tool listed, with input and output schemas, a usable description, annotations and `sender`. */
export function expectToolList(
  tools: {
    name: string;
    description?: string;
    inputSchema: Record<string, unknown>;
    outputSchema?: Record<string, unknown>;
    annotations?: Record<string, unknown>;
  }[],
): void {
  expect(tools.map((t) => t.name).sort()).toEqual([...TOOL_NAMES].sort());
  for (const t of tools) {
    expect(t.description?.length ?? 0, t.name).toBeGreaterThan(40);
    expect(t.inputSchema.type, t.name).toBe('object');
    expect(Object.keys((t.inputSchema.properties ?? {}) as object), t.name).toContain('sender');
    expect(t.outputSchema?.type, t.name).toBe('object');
    for (const h of ['readOnlyHint', 'destructiveHint', 'idempotentHint'])
      expect(typeof t.annotations?.[h], `${t.name}.${h}`).toBe('boolean');
    for (const [k, p] of Object.entries((t.inputSchema.properties ?? {}) as Record<string, { description?: string }>)) {
      expect(p.description?.length ?? 0, `${t.name}.${k} has a description`).toBeGreaterThan(5);
    }
  }
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  expect(byName.get_delivery_status.annotations?.readOnlyHint).toBe(true);
  expect(byName.send_template.annotations?.readOnlyHint).toBe(false);
  expect((byName.send_template.inputSchema.required as string[]).sort()).toEqual(['template_name', 'to']);
  expect(Object.keys(byName.send_template.inputSchema.properties as object)).toEqual(
    expect.arrayContaining(['locale', 'variables', 'idempotency_key']),
  );
  expect(Object.keys(byName.retry_failed_messages.inputSchema.properties as object)).toContain('message_ids');
  expect(Object.keys(byName.list_conversations.inputSchema.properties as object)).toEqual(
    expect.arrayContaining(['status_filter', 'limit', 'offset']),
  );
}
