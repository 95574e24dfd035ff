// Through the composition root (createApp): the built-in sandbox signs and posts webhooks to the app's
// own /webhook; a customer message opens the window, a free-form reply is sent by the delivery
// workers, and its statuses come back through the webhook to the message record.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type App } from '../../src/app.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import { createLogger } from '../../src/observability/log.ts';
import { waitFor } from './helpers.ts';

let app: App;
let base: string;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wagate-webhooks-app-'));
  const config = ConfigSchema.parse({
    port: 0,
    host: '127.0.0.1',
    data_dir: dir,
    log_level: 'silent',
    sandbox: { port: 0 },
    webhooks: { opt_out_confirmation: 'Unsubscribed. Reply START to undo.' },
  });
  app = await createApp({ config, env: {}, logger: createLogger('silent'), monitor: false });
  base = await app.start();
});

afterAll(async () => {
  await app?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function sandbox(path: string, body: unknown): Promise<any> {
  const res = await fetch(`${app.sandbox!.url}/_sandbox${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  expect(res.status, path).toBe(200);
  return res.json();
}

describe('webhooks in the assembled app', () => {
  it('handshake with the generated verify token', async () => {
    const res = await fetch(
      `${base}/webhook?hub.mode=subscribe&hub.challenge=42&hub.verify_token=${encodeURIComponent(app.ctx.config.meta.verify_token!)}`,
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('42');
  });

  it('inbound → window → reply sent → statuses applied through /webhook', async () => {
    const pnid = app.ctx.senders.resolve().phone_number_id;
    await sandbox('/inbound', { phone_number_id: pnid, from: '447700900101', type: 'text', text: { body: 'Where is my order?' } });
    await waitFor('window', async () => (await app.ctx.store.getWindows('447700900101')).length > 0);
    const sent = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: '+447700900101', type: 'text', text: { body: 'On its way!' } }),
    });
    expect(sent.status).toBe(202);
    const { id } = (await sent.json()) as { id: string };
    const m = await waitFor('delivered or read', async () => {
      const r = await app.ctx.store.getMessage(id);
      return r && (r.status === 'delivered' || r.status === 'read') ? r : null;
    });
    expect(m.wamid).toMatch(/^wamid\./);
    expect(m.history.some((h) => h.source === 'webhook')).toBe(true);
  });

  it('STOP from the customer opts out, confirms once, and the gate then denies marketing', async () => {
    const pnid = app.ctx.senders.resolve().phone_number_id;
    await sandbox('/inbound', { phone_number_id: pnid, from: '447700900102', type: 'text', text: { body: 'STOP' } });
    await waitFor('opt-out', async () => (await app.ctx.store.getCustomer('447700900102'))?.consent.marketing.state === 'opted_out');
    const replies = await waitFor('confirmation', async () => {
      const l = await app.ctx.store.listMessages({ to: '447700900102' });
      return l.length ? l : null;
    });
    expect(replies.length).toBe(1);
    const check = await fetch(`${base}/v1/compliance/check`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        to: '447700900102',
        type: 'template',
        template: {
          name: 'spring_sale',
          language: { code: 'en_US' },
          components: [{ type: 'body', parameters: [{ type: 'text', text: 'Ann' }] }],
        },
      }),
    });
    const decision = (await check.json()) as { allowed: boolean; reason_code: string };
    expect(decision).toMatchObject({ allowed: false, reason_code: 'OPTED_OUT' });
  });

  it('a forged webhook is refused by the app', async () => {
    const res = await fetch(`${base}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': 'sha256=' + '0'.repeat(64) },
      body: '{"object":"whatsapp_business_account","entry":[]}',
    });
    expect(res.status).toBe(401);
  });
});
