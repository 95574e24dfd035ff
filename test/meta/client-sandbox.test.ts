// GraphClient against the real Meta sandbox (src/meta/sandbox): accepted sends land in the ledger with
// wagate's id as biz_opaque_callback_data, each error class is classified as the worker needs it, and the
// never-sent / maybe-sent split holds (a send the sandbox processed but never answered is in doubt, and
// the ledger proves it was accepted).
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { GraphClient, withCallbackData } from '../../src/meta/client.ts';
import type { SenderCredentials } from '../../src/meta/types.ts';
import { classify, explain } from '../../src/domain/errors/index.ts';

const PNID = '106540352242922';
const WABA = '102290129340398';
const TOKEN = 'sandbox-token-main';
const creds: SenderCredentials = { phone_number_id: PNID, waba_id: WABA, access_token: TOKEN };
const helloWorld = (to: string) => ({
  messaging_product: 'whatsapp',
  to,
  type: 'template',
  template: { name: 'hello_world', language: { code: 'en_US' } },
});

let sb: SandboxHandle;
let client: GraphClient;

async function control(path: string, body?: unknown): Promise<any> {
  const res = await fetch(
    `${sb.url}/_sandbox${path}`,
    body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
  );
  return res.json();
}

beforeAll(async () => {
  sb = await startSandbox({
    port: 0,
    host: '127.0.0.1',
    app_secret: 'test-secret',
    numbers: [{ phone_number_id: PNID, waba_id: WABA, display_phone_number: '+1 555 010 0001', throughput_mps: 80 }],
    tokens: [TOKEN],
  });
  client = new GraphClient({ api_url: sb.url, api_version: 'v23.0', connect_timeout_ms: 1_000, request_timeout_ms: 1_000 });
});

afterAll(async () => {
  await client.close();
  await sb.close();
});

beforeEach(async () => {
  await control('/reset', {});
});

describe('client ↔ sandbox', () => {
  it("accepts a template send; the ledger holds it with wagate's message id", async () => {
    const r = await client.sendMessage(creds, withCallbackData(helloWorld('+1 650 555 1234'), 'msg_sandbox_1'));
    expect(r.kind).toBe('accepted');
    if (r.kind !== 'accepted') return;
    expect(r.wamid).toMatch(/^wamid\./);
    expect(r.wa_id).toBe('16505551234');
    const ledger = await control(`/ledger?phone_number_id=${PNID}`);
    expect(ledger.sends).toHaveLength(1);
    expect(ledger.sends[0]).toMatchObject({ wamid: r.wamid, biz_opaque_callback_data: 'msg_sandbox_1' });
  });

  it('unknown template → 132001 fix_request; revoked token → 190 halt_all with its subcode explained', async () => {
    const bad = await client.sendMessage(creds, { ...helloWorld('16505551234'), template: { name: 'nope', language: { code: 'en_US' } } });
    expect(bad.kind === 'error' && bad.error.code).toBe(132001);
    expect(bad.kind === 'error' && classify(bad.error).action).toBe('fix_request');

    await control('/tokens', { token: TOKEN, state: 'revoked', subcode: 460 });
    const r = await client.sendMessage(creds, helloWorld('16505551234'));
    expect(r.kind).toBe('error');
    if (r.kind !== 'error') return;
    expect(r.error.code).toBe(190);
    expect(classify(r.error).action).toBe('halt_all');
    expect(JSON.stringify(r)).not.toContain(TOKEN);
    const x = explain(r.error.code, r.error.subcode);
    expect(x.action).toBe('halt_all');
    if (r.error.subcode !== null) expect(x.subcode_name).toBe('Password Changed');
    const dbg = await client.debugToken(TOKEN, '100000000000000|test-secret');
    expect(dbg.ok && dbg.value.is_valid).toBe(false);
  });

  it('injected 503 → error code 2, retried; nothing in the ledger', async () => {
    await control('/faults', { status: 503, count: 1 });
    const r = await client.sendMessage(creds, helloWorld('16505551234'));
    expect(r.kind).toBe('error');
    if (r.kind === 'error') expect(classify(r.error)).toMatchObject({ action: 'retry', known: true });
    expect((await control('/ledger')).sends).toHaveLength(0);
    expect((await client.sendMessage(creds, helloWorld('16505551234'))).kind).toBe('accepted');
  });

  it('processed but never answered → in_doubt, and the ledger shows Meta accepted it (resolve by callback data)', async () => {
    await control('/faults', { status: 'hang', accept: true, count: 1 });
    const quick = new GraphClient({ api_url: sb.url, api_version: 'v23.0', connect_timeout_ms: 500, request_timeout_ms: 300 });
    try {
      const r = await quick.sendMessage(creds, withCallbackData(helloWorld('16505551234'), 'msg_in_doubt'));
      expect(r.kind).toBe('in_doubt');
    } finally {
      await quick.close();
    }
    const ledger = await control('/ledger?biz_opaque_callback_data=msg_in_doubt');
    expect(ledger.sends).toHaveLength(1);
  });

  it('sandbox closed → not_sent', async () => {
    const other = await startSandbox({ port: 0, host: '127.0.0.1', app_secret: 's', tokens: [TOKEN] });
    const url = other.url;
    await other.close();
    const c = new GraphClient({ api_url: url, api_version: 'v23.0', connect_timeout_ms: 500, request_timeout_ms: 500 });
    try {
      expect((await c.sendMessage(creds, helloWorld('16505551234'))).kind).toBe('not_sent');
    } finally {
      await c.close();
    }
  });

  it('management: templates (paged), phone number, WABA numbers, debug_token, create and delete', async () => {
    const p1 = await client.listTemplates(creds, { limit: 2 });
    expect(p1.ok).toBe(true);
    if (!p1.ok) return;
    expect(p1.value.data).toHaveLength(2);
    expect(p1.value.after).toBeTruthy();
    const p2 = await client.listTemplates(creds, { limit: 2, after: p1.value.after });
    expect(p2.ok && p2.value.data.map((t) => t.name)).not.toEqual(p1.value.data.map((t) => t.name));

    const phone = await client.getPhoneNumber(creds);
    expect(phone.ok && phone.value).toMatchObject({
      id: PNID,
      quality_rating: expect.any(String),
      throughput: { level: expect.any(String) },
    });
    const list = await client.listPhoneNumbers(creds);
    expect(list.ok && list.value.map((p) => p.id)).toEqual([PNID]);

    const dbg = await client.debugToken(TOKEN);
    expect(dbg.ok && dbg.value).toMatchObject({
      is_valid: true,
      scopes: expect.arrayContaining(['whatsapp_business_messaging', 'whatsapp_business_management']),
    });

    const created = await client.createTemplate(creds, {
      name: 'client_test_tpl',
      language: 'en_US',
      category: 'UTILITY',
      components: [{ type: 'BODY', text: 'Your code is ready, {{1}}.', example: { body_text: [['Ana']] } }],
    });
    expect(created.ok && created.value).toMatchObject({ id: expect.any(String), category: 'UTILITY' });
    if (created.ok) {
      const one = await client.getTemplate(creds, created.value.id);
      expect(one.ok && one.value).toMatchObject({ id: created.value.id, name: 'client_test_tpl', category: 'UTILITY' });
    }
    const missing = await client.getTemplate(creds, '999999999');
    expect(missing.ok).toBe(false);
    expect((await client.deleteTemplate(creds, 'client_test_tpl')).ok).toBe(true);
    const read = await client.markAsRead(creds, 'wamid.unknown');
    // Either Meta-shaped refusal or success: never a throw, never a token in it.
    expect(JSON.stringify(read)).not.toContain(TOKEN);
  });
});
