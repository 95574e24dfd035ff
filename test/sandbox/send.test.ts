// POST /{version}/{phone-number-id}/messages: Meta's success shape, its validation and its sync errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { ctl, graph, PNID, sandbox, sendMsg, text, tpl } from './helpers.ts';

let s: SandboxHandle;
const TO = '447700900123';

beforeAll(async () => {
  s = await sandbox({ statuses: { enabled: false } });
  // Open the care window so free-form sends pass.
  await ctl(s, 'POST', '/inbound', { phone_number_id: PNID, from: TO, type: 'text', text: { body: 'hi' } });
});
afterAll(async () => s.close());

function expectGraphError(r: { status: number; body: any }, code: number, http = 400) {
  expect(r.status).toBe(http);
  expect(r.body.error.code).toBe(code);
  expect(r.body.error.message).toMatch(new RegExp(`^\\(#${code}\\) `));
  expect(r.body.error.type).toBe('OAuthException');
  expect(r.body.error.error_data.messaging_product).toBe('whatsapp');
  expect(typeof r.body.error.error_data.details).toBe('string');
  expect(typeof r.body.error.fbtrace_id).toBe('string');
}

describe('accepted sends', () => {
  it("answers with Meta's shape: contacts input/wa_id and a wamid; template sends carry message_status", async () => {
    const r = await sendMsg(s, text('+44 7700 900123'));
    expect(r.status).toBe(200);
    expect(r.body.messaging_product).toBe('whatsapp');
    expect(r.body.contacts).toEqual([{ input: '+44 7700 900123', wa_id: TO }]);
    expect(r.body.messages[0].id).toMatch(/^wamid\./);
    expect(r.body.messages[0].id.length).toBeLessThanOrEqual(128);
    expect(r.body.messages[0].message_status).toBeUndefined();
    const t = await sendMsg(s, tpl(TO, 'hello_world'));
    expect(t.status).toBe(200);
    expect(t.body.messages[0].message_status).toBe('accepted');
  });

  it('accepts every outbound message type of §1.3 and any vNN.N version', async () => {
    const bodies: Record<string, unknown>[] = [
      { type: 'image', image: { link: 'https://example.com/a.jpg', caption: 'c' } },
      { type: 'audio', audio: { id: '123', voice: true } },
      { type: 'video', video: { id: '123' } },
      { type: 'document', document: { link: 'https://example.com/a.pdf', filename: 'a.pdf' } },
      { type: 'sticker', sticker: { id: '1' } },
      { type: 'location', location: { latitude: '37.44', longitude: -122.16, name: 'x' } },
      { type: 'contacts', contacts: [{ name: { formatted_name: 'A B' }, phones: [{ phone: '+1 555' }] }] },
      { type: 'reaction', reaction: { message_id: 'wamid.X', emoji: '👍' } },
      {
        type: 'interactive',
        interactive: {
          type: 'button',
          body: { text: 'pick' },
          action: {
            buttons: [
              { type: 'reply', reply: { id: 'a', title: 'A' } },
              { type: 'reply', reply: { id: 'b', title: 'B' } },
            ],
          },
        },
      },
      {
        type: 'interactive',
        interactive: {
          type: 'list',
          body: { text: 'pick' },
          action: { button: 'Menu', sections: [{ title: 'S', rows: [{ id: 'r1', title: 'R1' }] }] },
        },
      },
      {
        type: 'interactive',
        interactive: {
          type: 'cta_url',
          body: { text: 'go' },
          action: { name: 'cta_url', parameters: { display_text: 'Open', url: 'https://example.com' } },
        },
      },
      {
        type: 'interactive',
        interactive: {
          type: 'flow',
          body: { text: 'go' },
          action: {
            name: 'flow',
            parameters: { flow_message_version: '3', flow_token: 't', flow_id: '1', flow_cta: 'Book', flow_action: 'data_exchange' },
          },
        },
      },
      { type: 'text', text: { body: 'reply' }, context: { message_id: 'wamid.Y' } },
    ];
    for (const [i, b] of bodies.entries()) {
      const r = await sendMsg(s, { to: TO, ...b }, { version: i % 2 ? 'v16.0' : 'v25.0' });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
  });

  it('marks a message as read (with typing indicator) with {success:true}', async () => {
    const r = await sendMsg(s, { status: 'read', message_id: 'wamid.ABC', typing_indicator: { type: 'text' } });
    expect(r).toEqual({ status: 200, body: { success: true } });
  });
});

describe('sync validation errors', () => {
  it('missing to → 131008; invalid to → 131009; to = sender → 131021', async () => {
    expectGraphError(await sendMsg(s, { type: 'text', text: { body: 'x' } }), 131008);
    expectGraphError(await sendMsg(s, text('12')), 131009);
    expectGraphError(await sendMsg(s, text('+1 555 010 0001')), 131021);
  });

  it('missing messaging_product and invalid JSON → 100', async () => {
    const r = await graph(s, 'POST', `/v23.0/${PNID}/messages`, { to: TO, type: 'text', text: { body: 'x' } });
    expectGraphError(r, 100);
    const bad = await graph(s, 'POST', `/v23.0/${PNID}/messages`, '{not json');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe(100);
  });

  it("enforces Meta's length and count limits with 100", async () => {
    expectGraphError(await sendMsg(s, text(TO, 'x'.repeat(4097))), 100);
    expect((await sendMsg(s, text(TO, 'x'.repeat(4096)))).status).toBe(200);
    expectGraphError(await sendMsg(s, { to: TO, type: 'image', image: { link: 'https://e.com/a.jpg', caption: 'c'.repeat(1025) } }), 100);
    const four = [1, 2, 3, 4].map((i) => ({ type: 'reply', reply: { id: `b${i}`, title: `B${i}` } }));
    expectGraphError(
      await sendMsg(s, { to: TO, type: 'interactive', interactive: { type: 'button', body: { text: 'x' }, action: { buttons: four } } }),
      100,
    );
    const rows = Array.from({ length: 11 }, (_, i) => ({ id: `r${i}`, title: `R${i}` }));
    expectGraphError(
      await sendMsg(s, {
        to: TO,
        type: 'interactive',
        interactive: { type: 'list', body: { text: 'x' }, action: { button: 'M', sections: [{ title: 'S', rows }] } },
      }),
      100,
    );
    expectGraphError(
      await sendMsg(s, {
        to: TO,
        type: 'interactive',
        interactive: {
          type: 'button',
          body: { text: 'x' },
          action: { buttons: [{ type: 'reply', reply: { id: 'a', title: 'x'.repeat(21) } }] },
        },
      }),
      100,
    );
    expectGraphError(await sendMsg(s, { to: TO, type: 'image', image: {} }), 100);
    expectGraphError(await sendMsg(s, { to: TO, type: 'location', location: { latitude: 100, longitude: 0 } }), 131009);
  });

  it('unknown message type → 131051', async () => {
    expectGraphError(await sendMsg(s, { to: TO, type: 'hologram', hologram: {} }), 131051);
  });

  it('unknown phone number id → Graph 100 subcode 33 (GraphMethodException)', async () => {
    const r = await sendMsg(s, text(TO), { pnid: '999999999' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe(100);
    expect(r.body.error.error_subcode).toBe(33);
    expect(r.body.error.type).toBe('GraphMethodException');
    expect(r.body.error.message).toContain("'999999999' does not exist");
    expect(r.body.error.error_data).toBeUndefined();
  });
});

describe('template checks', () => {
  it('unknown template or language → 132001 with HTTP 404', async () => {
    expectGraphError(await sendMsg(s, tpl(TO, 'no_such_template')), 132001, 404);
    const r = await sendMsg(s, { to: TO, type: 'template', template: { name: 'hello_world', language: { code: 'pt_BR' } } });
    expectGraphError(r, 132001, 404);
  });

  it('parameter count mismatch → 132000; wrong format → 132012; right count passes', async () => {
    expectGraphError(await sendMsg(s, tpl(TO, 'order_update', ['only one'])), 132000);
    expectGraphError(await sendMsg(s, tpl(TO, 'hello_world', ['unexpected'])), 132000);
    const wrongType = {
      to: TO,
      type: 'template',
      template: {
        name: 'spring_sale',
        language: { code: 'en_US' },
        components: [{ type: 'body', parameters: [{ type: 'image', image: { id: '1' } }] }],
      },
    };
    expectGraphError(await sendMsg(s, wrongType), 132012);
    expect((await sendMsg(s, tpl(TO, 'order_update', ['Ann', 'A-1']))).status).toBe(200);
  });

  it('auth_code needs its copy-code button parameter (131008), and passes with it', async () => {
    expectGraphError(await sendMsg(s, tpl(TO, 'auth_code', ['123456'])), 131008);
    const ok = tpl(TO, 'auth_code', ['123456']) as any;
    ok.template.components.push({ type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: '123456' }] });
    expect((await sendMsg(s, ok)).status).toBe(200);
  });

  it('paused → 132015, disabled → 132016, pending → 132001', async () => {
    await ctl(s, 'POST', '/templates/order_update', { status: 'PAUSED' });
    expectGraphError(await sendMsg(s, tpl(TO, 'order_update', ['a', 'b'])), 132015);
    await ctl(s, 'POST', '/templates/order_update', { status: 'DISABLED' });
    expectGraphError(await sendMsg(s, tpl(TO, 'order_update', ['a', 'b'])), 132016);
    await ctl(s, 'POST', '/templates/order_update', { status: 'PENDING' });
    expectGraphError(await sendMsg(s, tpl(TO, 'order_update', ['a', 'b'])), 132001, 404);
    await ctl(s, 'POST', '/templates/order_update', { status: 'APPROVED' });
    expect((await sendMsg(s, tpl(TO, 'order_update', ['a', 'b']))).status).toBe(200);
  });
});
