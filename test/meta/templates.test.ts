// Engine templates and errors over real components: the Meta sandbox, the GraphClient, a SQLite store in a
// temp dir and the memory gate. syncTemplates pages through every template and the gate then applies the
// lower-cased category (the reference's upper-case MARKETING bypass); createTemplate records Meta's answer.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { buildContext } from '../../src/engine/build-context.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import { EmbeddedQueue } from '../../src/queue/embedded.ts';
import { MemoryPacer } from '../../src/pacing/memory.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox, type SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { GraphClient } from '../../src/meta/client.ts';
import { createSqliteStore } from '../../src/store/sqlite.ts';
import { MemoryGateState } from '../../src/gate/memory.ts';
import { defaultPolicies } from '../../src/domain/policies.ts';
import { createLogger } from '../../src/observability/log.ts';
import type { AppContext } from '../../src/engine/context.ts';
import { EngineError } from '../../src/engine/context.ts';
import type { SenderConfig } from '../../src/domain/types.ts';
import { syncTemplates, createTemplate, toTemplateRecord, normalizeCategory, normalizeStatus } from '../../src/engine/templates.ts';
import { explainError, classifyMetaError } from '../../src/engine/errors.ts';

const sender: SenderConfig = {
  id: 'main',
  phone_number_id: '106540352242922',
  waba_id: '102290129340398',
  business_id: 'biz-1',
  access_token: 'sandbox-token-main',
  throughput_mps: 80,
  messaging_limit: 250,
  default_time_zone: 'UTC',
};

let sb: SandboxHandle;
let ctx: AppContext;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wagate-tpl-'));
  sb = await startSandbox({
    port: 0,
    host: '127.0.0.1',
    app_secret: 's',
    numbers: [
      { phone_number_id: sender.phone_number_id, waba_id: sender.waba_id, display_phone_number: '+1 555 010 0001', throughput_mps: 80 },
    ],
    tokens: [sender.access_token],
  });
  const store = await createSqliteStore(join(dir, 'wagate.db'));
  const senders = [sender];
  ctx = buildContext({
    config: ConfigSchema.parse({ log_level: 'silent' }),
    senders,
    store,
    gate: new MemoryGateState({ policies: defaultPolicies(), senders }),
    queue: new EmbeddedQueue({ path: ':memory:' }),
    pacer: new MemoryPacer(),
    meta: new GraphClient({ api_url: sb.url, api_version: 'v23.0', connect_timeout_ms: 1_000, request_timeout_ms: 2_000 }),
    log: createLogger('silent'),
    backends: { store: 'sqlite', gate: 'memory' },
  });
});

afterAll(async () => {
  await ctx.meta.close();
  await ctx.queue.close();
  await ctx.store.close();
  await sb.close();
  rmSync(dir, { recursive: true, force: true });
});

async function templateCategory(name: string): Promise<string | null> {
  const out = await ctx.gate.check(
    {
      message_id: `m_${name}`,
      sender,
      to: '447700900123',
      country: 'GB',
      kind: 'template',
      type: 'template',
      template: { name, language: 'en_US', components: [] },
    },
    Date.now(),
  );
  return out.category;
}

describe('syncTemplates', () => {
  it('pages through every template, stores them with lower-case categories, and the gate applies them', async () => {
    // 4 seeds + 97 = 101 templates: more than one page (PAGE = 100), and under Meta's 100 creations/hour.
    const extra = 97;
    for (let i = 0; i < extra; i++) {
      const r = await ctx.meta.createTemplate(
        { phone_number_id: sender.phone_number_id, waba_id: sender.waba_id, access_token: sender.access_token },
        {
          name: `bulk_${i}`,
          language: 'en_US',
          category: 'MARKETING',
          components: [{ type: 'BODY', text: `Offer number ${i} for you today` }],
        },
      );
      expect(r.ok).toBe(true);
    }
    const sandboxCount = ((await (await fetch(`${sb.url}/_sandbox/templates`)).json()) as { templates: unknown[] }).templates.length;
    expect(await templateCategory('spring_sale')).toBeNull(); // the gate does not know it yet

    const { synced } = await syncTemplates(ctx);
    expect(synced).toBe(sandboxCount);
    expect(synced).toBeGreaterThan(extra);

    const spring = await ctx.store.getTemplate(sender.waba_id, 'spring_sale', 'en_US');
    expect(spring).toMatchObject({ category: 'marketing', status: 'APPROVED', quality: 'GREEN' });
    expect((await ctx.store.getTemplate(sender.waba_id, 'bulk_96', 'en_US'))?.category).toBe('marketing');
    expect(await templateCategory('spring_sale')).toBe('marketing');
    expect(await templateCategory('auth_code')).toBe('authentication');
    expect(await templateCategory('hello_world')).toBe('utility');
  });

  it('syncing twice is idempotent; an unknown sender is a clear 404', async () => {
    const before = (await ctx.store.listTemplates({ waba_id: sender.waba_id })).length;
    await syncTemplates(ctx, 'main');
    expect((await ctx.store.listTemplates({ waba_id: sender.waba_id })).length).toBe(before);
    await expect(syncTemplates(ctx, 'nobody')).rejects.toMatchObject({ code: 'UNKNOWN_SENDER', status: 404 });
  });

  it("a Meta refusal becomes an EngineError with the catalog's fix", async () => {
    await fetch(`${sb.url}/_sandbox/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: sender.access_token, state: 'revoked' }),
    });
    try {
      const err = await syncTemplates(ctx).catch((e) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect(err.code).toBe('META_190');
      expect(err.fix).toContain('whatsapp_business_management');
      expect(JSON.stringify({ m: err.message, d: err.details })).not.toContain(sender.access_token);
    } finally {
      await fetch(`${sb.url}/_sandbox/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: sender.access_token, state: 'valid' }),
      });
    }
  });
});

describe('createTemplate', () => {
  it("creates at Meta in upper case and records Meta's answer (lower-case) in store and gate", async () => {
    const out = await createTemplate(ctx, 'main', {
      name: 'welcome_offer',
      language: 'en_US',
      category: 'marketing',
      components: [{ type: 'BODY', text: 'Welcome! Here is 10% off your first order.' }],
    });
    expect(out).toMatchObject({ name: 'welcome_offer', language: 'en_US', category: 'marketing', id: expect.any(String) });
    const stored = await ctx.store.getTemplate(sender.waba_id, 'welcome_offer', 'en_US');
    expect(stored).toMatchObject({ category: 'marketing', meta_id: out.id, status: out.status });
    const listed = (await (await fetch(`${sb.url}/_sandbox/templates`)).json()) as { templates: { name: string; category: string }[] };
    const atMeta = listed.templates.find((t) => t.name === 'welcome_offer')!;
    expect(atMeta.category).toBe('MARKETING');
  });

  it('refuses bad input with a clear error before calling Meta', async () => {
    const bad = [
      [{ name: 'Bad Name', language: 'en_US', category: 'marketing', components: [{}] }, 'name'],
      [{ name: 'ok_name', language: 'english', category: 'marketing', components: [{}] }, 'language'],
      [{ name: 'ok_name', language: 'en_US', category: 'promo', components: [{}] }, 'category'],
      [{ name: 'ok_name', language: 'en_US', category: 'UTILITY', components: [] }, 'components'],
    ] as const;
    for (const [tpl, field] of bad) {
      const err = await createTemplate(ctx, 'main', tpl as never).catch((e) => e);
      expect(err).toMatchObject({ code: 'INVALID_TEMPLATE', status: 400, details: { field } });
    }
  });
});

describe('mapping Meta template objects', () => {
  it('lower-cases categories, maps legacy ones, falls back to marketing (strictest) and PENDING (not sendable)', () => {
    expect(normalizeCategory('MARKETING')).toBe('marketing');
    expect(normalizeCategory('Utility')).toBe('utility');
    expect(normalizeCategory('ACCOUNT_UPDATE')).toBe('utility');
    expect(normalizeCategory('OTP')).toBe('authentication');
    expect(normalizeCategory('SOMETHING_NEW')).toBe('marketing');
    expect(normalizeCategory(undefined)).toBe('marketing');
    expect(normalizeStatus('approved')).toBe('APPROVED');
    expect(normalizeStatus('REINSTATED')).toBe('APPROVED');
    expect(normalizeStatus('LOCKED')).toBe('APPROVED'); // locked = cannot be edited, still sent (as the template webhook reads it)
    expect(normalizeStatus('WHATEVER')).toBe('PENDING');
    expect(toTemplateRecord('w', { name: '', language: 'en_US' }, 1)).toBeNull();
    expect(
      toTemplateRecord(
        'w',
        { name: 'x', language: 'en', category: 'UTILITY', status: 'APPROVED', id: 123, quality_score: { score: 'red' } },
        5,
      ),
    ).toEqual({
      waba_id: 'w',
      name: 'x',
      language: 'en',
      category: 'utility',
      status: 'APPROVED',
      quality: 'RED',
      components: [],
      meta_id: '123',
      updated_at: 5,
    });
  });
});

describe('engine errors', () => {
  it('explainError answers the faces, accepting "(#131056)" as pasted from a log', () => {
    expect(explainError(null, { code: 131056 })).toMatchObject({ code: 131056, action: 'retry_after', known: true });
    expect(explainError(ctx, { code: '(#131047)' as unknown as number })).toMatchObject({ code: 131047, known: true });
    expect(explainError(null, { code: 190, subcode: 467 })).toMatchObject({ subcode: 467, subcode_name: 'Invalid Access Token' });
    expect(() => explainError(null, { code: 'abc' as unknown as number })).toThrow(EngineError);
    expect(() => explainError(null, {} as never)).toThrow(/code is required/);
  });

  it('classifyMetaError counts codes the catalog does not know', async () => {
    const c = classifyMetaError(ctx, {
      code: 987654,
      subcode: null,
      message: 'x',
      title: null,
      details: null,
      fbtrace_id: null,
      http_status: 500,
      source: 'sync',
    });
    expect(c).toMatchObject({ known: false, action: 'retry' });
    classifyMetaError(ctx, {
      code: 131056,
      subcode: null,
      message: 'x',
      title: null,
      details: null,
      fbtrace_id: null,
      http_status: 400,
      source: 'sync',
    });
    const text = await ctx.metrics.registry.metrics();
    expect(text).toMatch(/wagate_meta_unknown_errors_total\{code="987654"\} 1/);
    expect(text).not.toMatch(/code="131056"/);
  });
});
