// Template webhooks of 2026 (issue 14, changes-2026.md §5): ARCHIVED and UNARCHIVED (which restores the
// status before it), a quality or category event for a template wagate has not synced (fetched from
// Meta: here the real sandbox behind the real GraphClient, never invented), components updates, and
// language codes compared as Meta means them ("en-US" is "en_US"). Payloads follow Meta's webhook
// reference pages, unknown fields included.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { GraphClient } from '../../src/meta/client.ts';
import { WebhookProcessor } from '../../src/webhooks/processor.ts';
import { checkCompliance } from '../../src/engine/compliance.ts';
import { findTemplate, listTemplates, syncTemplates } from '../../src/engine/templates.ts';
import { templateLanguage } from '../../src/domain/language.ts';
import { validateMessage } from '../../src/domain/message.ts';
import type { TemplateRecord } from '../../src/domain/types.ts';
import { envelope, makeCtx, PNID, SECRET, SENDER, WABA, type TestCtx } from './helpers.ts';

const UK_CUSTOMER = '447700900123';
let t: TestCtx;
let proc: WebhookProcessor;
let sandbox: SandboxHandle | null = null;
let graph: GraphClient | null = null;

beforeEach(async () => {
  t = await makeCtx();
  proc = new WebhookProcessor(t.ctx);
  await proc.start();
});
afterEach(async () => {
  await proc.stop();
  await t.close();
  await graph?.close();
  await sandbox?.close();
  sandbox = null;
  graph = null;
});

/** Meta for this test: the sandbox, with the sender's number and token, reached through the real client. */
async function withMeta(): Promise<SandboxHandle> {
  sandbox = await startSandbox({
    port: 0,
    host: '127.0.0.1',
    app_secret: SECRET,
    numbers: [{ phone_number_id: PNID, waba_id: WABA, display_phone_number: '15550783881', throughput_mps: 80 }],
    tokens: [SENDER.access_token!],
  });
  graph = new GraphClient({ api_url: sandbox.url, api_version: 'v25.0', connect_timeout_ms: 1000, request_timeout_ms: 2000 });
  t.ctx.meta = graph;
  return sandbox;
}

const idOf = (s: SandboxHandle, name: string) => [...s.state.templates.values()].find((x) => x.name === name && x.waba_id === WABA)!.id;

const record = (over: Partial<TemplateRecord> = {}): TemplateRecord => ({
  waba_id: WABA,
  name: 'spring_sale',
  language: 'en_US',
  category: 'marketing',
  status: 'APPROVED',
  quality: 'GREEN',
  components: [{ type: 'BODY', text: 'Hi {{1}}' }],
  meta_id: '594425479261596',
  updated_at: 1,
  ...over,
});

async function seed(rec: TemplateRecord) {
  await t.ctx.store.upsertTemplate(rec);
  await t.ctx.gate.upsertTemplate(rec);
}

// Meta's message_template_status_update shape (reference, 13 Apr 2026), with a field wagate does not know.
const status = (event: string, time: number, extra: Record<string, unknown> = {}) =>
  envelope(
    'message_template_status_update',
    {
      event,
      message_template_id: 594425479261596,
      message_template_name: 'spring_sale',
      message_template_language: 'en_US',
      reason: 'NONE',
      message_template_category: 'MARKETING',
      some_2027_field: { x: 1 },
      ...extra,
    },
    { time },
  );

const sendBody = (language: unknown) => ({
  to: UK_CUSTOMER, // not a US number: marketing to +1 is refused (131049) whatever the template
  type: 'template',
  template: { name: 'spring_sale', language, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ann' }] }] },
});

describe('ARCHIVED and UNARCHIVED', () => {
  it('archiving stops sends; unarchiving restores the status it had before (PAUSED stays PAUSED, APPROVED sends again)', async () => {
    await seed(record({ status: 'PAUSED' }));
    await proc.applyBody(status('ARCHIVED', 100, { other_info: { title: 'ARCHIVED', description: 'inactive' } }));
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US'))?.status).toBe('ARCHIVED');
    await proc.applyBody(status('UNARCHIVED', 200));
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US'))?.status).toBe('PAUSED');

    await seed(record({ status: 'APPROVED', updated_at: 300_000 }));
    await proc.applyBody(status('ARCHIVED', 400));
    const denied = await checkCompliance(t.ctx, { body: sendBody({ code: 'en_US' }) });
    expect(denied).toMatchObject({ allowed: false, reason_code: 'TEMPLATE_NOT_APPROVED' });
    expect(denied.suggested_action).toMatch(/unarchive it/);
    await proc.applyBody(status('ARCHIVED', 401)); // a second ARCHIVED keeps the status before the first
    await proc.applyBody(status('UNARCHIVED', 500));
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US'))?.status).toBe('APPROVED');
    expect((await checkCompliance(t.ctx, { body: sendBody({ code: 'en_US' }) })).reason_code).not.toBe('TEMPLATE_NOT_APPROVED');
  });

  it('unarchiving a template archived before wagate knew its status asks Meta for it', async () => {
    const s = await withMeta();
    const id = idOf(s, 'spring_sale');
    await seed(record({ status: 'ARCHIVED', meta_id: id })); // synced while archived: no status to go back to
    await proc.applyBody(status('UNARCHIVED', 600, { message_template_id: Number(id) }));
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US'))?.status).toBe('APPROVED'); // Meta's
  });

  it('unarchiving with no known status and no answer from Meta leaves it archived (fail closed) and says so', async () => {
    await seed(record({ status: 'ARCHIVED' }));
    await proc.applyBody(status('UNARCHIVED', 600));
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US'))?.status).toBe('ARCHIVED');
  });
});

// LOCKED (Meta's status reference, 13 Apr 2026; pywa TemplateStatus): the template "has been locked and
// cannot be edited". Nothing says it cannot be sent; the sandbox sends it and refuses its edits. A sync
// and the webhook must agree: sendable.
describe('LOCKED templates', () => {
  const lockedEvent = (time: number, extra: Record<string, unknown> = {}) =>
    status('LOCKED', time, { other_info: { title: 'TEMPLATE_LOCKED', description: 'locked' }, ...extra });

  it('a sync that reads LOCKED from Meta records the template sendable (it was mapped to DISABLED before)', async () => {
    const s = await withMeta();
    await fetch(`${s.url}/_sandbox/templates/spring_sale`, { method: 'POST', body: JSON.stringify({ status: 'LOCKED' }) });
    await syncTemplates(t.ctx, SENDER.id);
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US'))?.status).toBe('APPROVED');
    expect((await checkCompliance(t.ctx, { body: sendBody({ code: 'en_US' }) })).reason_code).not.toBe('TEMPLATE_NOT_APPROVED');
    // Meta (the sandbox) agrees: the locked template is sent, its edit refused.
    const send = await fetch(`${s.url}/v25.0/${PNID}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SENDER.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', ...sendBody({ code: 'en_US' }) }),
    });
    expect(send.status).toBe(200);
    const edit = await fetch(`${s.url}/v25.0/${idOf(s, 'spring_sale')}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SENDER.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ components: [{ type: 'BODY', text: 'Hi {{1}}', example: { body_text: [['Ann']] } }] }),
    });
    expect(edit.status).toBe(400);
  });

  it('the LOCKED webhook keeps a synced template as it was: APPROVED stays sendable, PAUSED stays paused', async () => {
    await seed(record({ status: 'APPROVED' }));
    await proc.applyBody(lockedEvent(100));
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US'))?.status).toBe('APPROVED');
    expect((await checkCompliance(t.ctx, { body: sendBody({ code: 'en_US' }) })).reason_code).not.toBe('TEMPLATE_NOT_APPROVED');
    await seed(record({ status: 'PAUSED', updated_at: 200_000 }));
    await proc.applyBody(lockedEvent(300));
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US'))?.status).toBe('PAUSED');
  });

  it('a LOCKED webhook for a template wagate has not synced fetches it; Meta says LOCKED: recorded sendable', async () => {
    const s = await withMeta();
    await fetch(`${s.url}/_sandbox/templates/spring_sale`, { method: 'POST', body: JSON.stringify({ status: 'LOCKED' }) });
    await proc.applyBody(lockedEvent(700, { message_template_id: Number(idOf(s, 'spring_sale')) }));
    expect(await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US')).toMatchObject({ status: 'APPROVED', category: 'marketing' });
  });
});

describe('events for a template wagate has not synced', () => {
  it('a quality event fetches the template from Meta (components, category) and applies the new quality', async () => {
    const s = await withMeta();
    const id = idOf(s, 'spring_sale');
    const r = await proc.applyBody(
      envelope(
        'message_template_quality_update',
        {
          previous_quality_score: 'GREEN',
          new_quality_score: 'YELLOW',
          message_template_id: Number(id),
          message_template_name: 'spring_sale',
          message_template_language: 'en_US',
          alert_info: { unknown_alert: true },
        },
        { time: 700 },
      ),
    );
    expect(r.results.applied).toBe(1);
    const rec = await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US');
    expect(rec).toMatchObject({ status: 'APPROVED', category: 'marketing', quality: 'YELLOW', meta_id: id });
    expect(JSON.stringify(rec?.components)).toContain('spring sale starts today'); // Meta's, not an empty list
  });

  it('a category event Meta cannot answer for records nothing (no invented record), audited', async () => {
    const r = await proc.applyBody(
      envelope(
        'template_category_update',
        {
          message_template_id: 99,
          message_template_name: 'never_synced',
          message_template_language: 'de',
          previous_category: 'UTILITY',
          new_category: 'MARKETING',
        },
        { time: 800 },
      ),
    );
    expect(r.results.ignored).toBe(1);
    expect(await t.ctx.store.getTemplate(WABA, 'never_synced', 'de')).toBeNull();
  });
});

describe('message_template_components_update', () => {
  // Meta's reference shape: body in message_template_element, text header, footer, URL and phone buttons.
  const components = (extra: Record<string, unknown> = {}) =>
    envelope(
      'message_template_components_update',
      {
        message_template_id: 594425479261596,
        message_template_name: 'spring_sale',
        message_template_language: 'en_US',
        message_template_element: 'Hi {{1}}, the sale ends {{2}}.',
        message_template_title: 'Spring sale',
        message_template_footer: 'Reply STOP to opt out',
        message_template_buttons: [
          {
            message_template_button_type: 'URL',
            message_template_button_text: 'Shop now',
            message_template_button_url: 'https://s.example/{{1}}',
          },
          {
            message_template_button_type: 'PHONE_NUMBER',
            message_template_button_text: 'Call us',
            message_template_button_phone_number: '+15550783881',
          },
        ],
        unknown_component_field: 'kept in the audit',
        ...extra,
      },
      { time: 900 },
    );

  it('without an answer from Meta, the edit the webhook shows is applied: a new body changes the parameters the gate checks', async () => {
    await seed(
      record({
        components: [
          { type: 'BODY', text: 'Hi {{1}}' },
          {
            type: 'BUTTONS',
            buttons: [
              { type: 'QUICK_REPLY', text: 'Stop promotions' },
              { type: 'URL', text: 'Shop', url: 'https://s.example/old' },
              { type: 'PHONE_NUMBER', text: 'Call', phone_number: '+15550000000' },
            ],
          },
        ],
      }),
    );
    const r = await proc.applyBody(components());
    expect(r.results.applied).toBe(1);
    const rec = await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US');
    expect(rec?.components).toEqual([
      { type: 'BODY', text: 'Hi {{1}}, the sale ends {{2}}.' },
      {
        type: 'BUTTONS',
        buttons: [
          { type: 'QUICK_REPLY', text: 'Stop promotions' },
          { type: 'URL', text: 'Shop now', url: 'https://s.example/{{1}}' },
          { type: 'PHONE_NUMBER', text: 'Call us', phone_number: '+15550783881' },
        ],
      },
      { type: 'HEADER', format: 'TEXT', text: 'Spring sale' },
      { type: 'FOOTER', text: 'Reply STOP to opt out' },
    ]);
    // One body parameter no longer fills the template: the gate says so before Meta would (132000).
    const d = await checkCompliance(t.ctx, { body: sendBody({ code: 'en_US' }) });
    expect(d.allowed).toBe(false);
    expect(d.reason_code).toBe('TEMPLATE_PARAMS_MISMATCH');
  });

  it("with Meta reachable, Meta's whole template wins over the webhook's partial view", async () => {
    const s = await withMeta();
    const id = idOf(s, 'spring_sale');
    await seed(record({ meta_id: id }));
    await proc.applyBody(components({ message_template_id: Number(id) }));
    const rec = await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en_US');
    expect(JSON.stringify(rec?.components)).toContain('spring sale starts today'); // the sandbox's template
    expect(JSON.stringify(rec?.components)).toContain('Stop promotions');
  });
});

describe('language codes as Meta means them', () => {
  it('normalises the forms callers write', () => {
    expect(templateLanguage('en-US')).toBe('en_US');
    expect(templateLanguage('EN_us')).toBe('en_US');
    expect(templateLanguage(' pt-br ')).toBe('pt_BR');
    expect(templateLanguage('de')).toBe('de');
    expect(templateLanguage('zh-hant')).toBe('zh_Hant');
    expect(templateLanguage('not a code')).toBe('not a code');
  });

  it('"en-US" finds the en_US template at the gate, in lookups and lists, and is sent to Meta as en_US', async () => {
    await seed(record());
    const d = await checkCompliance(t.ctx, { body: sendBody({ code: 'en-US' }) });
    expect(d.allowed, d.explanation).toBe(true);
    const plain = await checkCompliance(t.ctx, { body: sendBody('EN-us') });
    expect(plain.allowed, plain.explanation).toBe(true);
    const parsed = validateMessage(sendBody({ code: 'en-US', policy: 'deterministic' }));
    expect(parsed.ok && (parsed.message.content as { language: unknown }).language).toEqual({ code: 'en_US', policy: 'deterministic' });
    expect((await findTemplate(t.ctx, SENDER, 'spring_sale', 'en-us'))?.language).toBe('en_US');
    expect((await t.ctx.store.getTemplate(WABA, 'spring_sale', 'en-US'))?.language).toBe('en_US'); // the store's own lookup too
    expect((await listTemplates(t.ctx, { locale_filter: 'en-US' })).total).toBe(1);
    // A webhook naming the language the other way updates the same record.
    await proc.applyBody(status('PAUSED', 1000, { message_template_language: 'en-US' }));
    expect((await t.ctx.store.listTemplates({ waba_id: WABA })).map((x) => `${x.language}:${x.status}`)).toEqual(['en_US:PAUSED']);
  });
});
