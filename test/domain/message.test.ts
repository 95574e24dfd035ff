import { describe, it, expect } from 'vitest';
import { validateMessage, buildPayload } from '../../src/domain/message.ts';

const to = '14155550123';
const ok = (body: unknown) => {
  const r = validateMessage(body);
  if (!r.ok) throw new Error(`expected valid, got: ${r.summary}`);
  return r.message;
};
const bad = (body: unknown) => {
  const r = validateMessage(body);
  if (r.ok) throw new Error('expected invalid');
  return r;
};

describe('outbound message schema: valid messages of every type', () => {
  it.each([
    ['text', { text: { body: 'Hello', preview_url: true } }],
    ['image by id', { type: 'image', image: { id: '1234', caption: 'cap' } }],
    ['image by link', { type: 'image', image: { link: 'https://example.com/a.jpg' } }],
    ['audio voice', { type: 'audio', audio: { id: '1', voice: true } }],
    ['video', { type: 'video', video: { link: 'https://example.com/a.mp4', caption: 'c' } }],
    ['document', { type: 'document', document: { id: '9', filename: 'a.pdf', caption: 'c' } }],
    ['sticker', { type: 'sticker', sticker: { id: '9' } }],
    ['location strings', { type: 'location', location: { latitude: '37.44', longitude: '-122.16', name: 'HQ' } }],
    ['location numbers', { type: 'location', location: { latitude: 37.44, longitude: -122.16 } }],
    [
      'contacts',
      {
        type: 'contacts',
        contacts: [{ name: { formatted_name: 'Ann', first_name: 'Ann' }, phones: [{ phone: '+1 415 555 0123', type: 'CELL' }] }],
      },
    ],
    ['reaction', { type: 'reaction', reaction: { message_id: 'wamid.X', emoji: '😀' } }],
    [
      'request_contact_info (Meta 2026: ask a username customer for their phone)',
      {
        type: 'interactive',
        interactive: { type: 'request_contact_info', body: { text: 'Share your number?' }, action: { name: 'request_contact_info' } },
      },
    ],
    ['reaction removal', { type: 'reaction', reaction: { message_id: 'wamid.X', emoji: '' } }],
    ['reply context', { type: 'text', text: { body: 'hi' }, context: { message_id: 'wamid.Y' } }],
    [
      'buttons',
      {
        type: 'interactive',
        interactive: {
          type: 'button',
          header: { type: 'text', text: 'H' },
          body: { text: 'Pick' },
          footer: { text: 'f' },
          action: { buttons: [1, 2, 3].map((i) => ({ type: 'reply', reply: { id: `b${i}`, title: 'Twenty chars exactly' } })) },
        },
      },
    ],
    [
      'list',
      {
        type: 'interactive',
        interactive: {
          type: 'list',
          body: { text: 'Pick' },
          action: {
            button: 'Menu',
            sections: [
              { title: 'A', rows: [{ id: 'r1', title: 'One', description: 'd' }] },
              { title: 'B', rows: [{ id: 'r2', title: 'Two' }] },
            ],
          },
        },
      },
    ],
    [
      'cta_url',
      {
        type: 'interactive',
        interactive: {
          type: 'cta_url',
          body: { text: 'See' },
          action: { name: 'cta_url', parameters: { display_text: 'Open', url: 'https://example.com' } },
        },
      },
    ],
    [
      'flow',
      {
        type: 'interactive',
        interactive: {
          type: 'flow',
          body: { text: 'Book' },
          action: {
            name: 'flow',
            parameters: {
              flow_message_version: '3',
              flow_token: 't',
              flow_id: '123',
              flow_cta: 'Book now',
              flow_action: 'navigate',
              flow_action_payload: { screen: 'START' },
            },
          },
        },
      },
    ],
    [
      'template',
      {
        type: 'template',
        template: {
          name: 'order_update',
          language: { code: 'en_US' },
          components: [{ type: 'body', parameters: [{ type: 'text', text: 'x' }] }],
        },
      },
    ],
  ])('%s', (_name, body) => {
    const m = ok({ to, messaging_product: 'whatsapp', ...(body as object) });
    expect(m.to).toBe(to);
  });
});

describe('outbound message schema: invalid messages name the field and the limit', () => {
  it.each([
    ['text too long', { text: { body: 'x'.repeat(5000) } }, 'text.body', /5000 characters, Meta's limit is 4096/],
    ['empty text', { text: { body: '   ' } }, 'text.body', /empty/],
    [
      'caption too long',
      { type: 'image', image: { id: '1', caption: 'c'.repeat(1025) } },
      'image.caption',
      /1025 characters, Meta's limit is 1024/,
    ],
    ['media without id or link', { type: 'video', video: {} }, 'video', /id.*link/],
    ['media with both', { type: 'image', image: { id: '1', link: 'https://x.y/z' } }, 'image', /not both/],
    ['media link not http', { type: 'image', image: { link: 'ftp://x.y/z' } }, 'image.link', /https/],
    ['audio caption', { type: 'audio', audio: { id: '1', caption: 'no' } }, 'audio.caption', /unknown field/],
    ['latitude out of range', { type: 'location', location: { latitude: 91, longitude: 0 } }, 'location.latitude', /between -90 and 90/],
    ['no contacts', { type: 'contacts', contacts: [] }, 'contacts', /at least one/],
    ['contact without name', { type: 'contacts', contacts: [{ phones: [] }] }, 'contacts.0.name', /formatted_name/],
    [
      '4 buttons',
      {
        type: 'interactive',
        interactive: {
          type: 'button',
          body: { text: 'b' },
          action: { buttons: [1, 2, 3, 4].map((i) => ({ type: 'reply', reply: { id: `b${i}`, title: 't' } })) },
        },
      },
      'interactive.action.buttons',
      /limit is 3/,
    ],
    [
      'button title 21',
      {
        type: 'interactive',
        interactive: {
          type: 'button',
          body: { text: 'b' },
          action: { buttons: [{ type: 'reply', reply: { id: 'a', title: 'x'.repeat(21) } }] },
        },
      },
      'interactive.action.buttons.0.reply.title',
      /21 characters, Meta's limit is 20/,
    ],
    [
      'duplicate button ids',
      {
        type: 'interactive',
        interactive: {
          type: 'button',
          body: { text: 'b' },
          action: {
            buttons: [
              { type: 'reply', reply: { id: 'a', title: 'x' } },
              { type: 'reply', reply: { id: 'a', title: 'y' } },
            ],
          },
        },
      },
      'interactive.action.buttons.1.reply.id',
      /duplicate/,
    ],
    [
      '11 list rows',
      {
        type: 'interactive',
        interactive: {
          type: 'list',
          body: { text: 'b' },
          action: {
            button: 'Go',
            sections: [
              { title: 'a', rows: Array.from({ length: 6 }, (_, i) => ({ id: `a${i}`, title: 't' })) },
              { title: 'b', rows: Array.from({ length: 5 }, (_, i) => ({ id: `b${i}`, title: 't' })) },
            ],
          },
        },
      },
      'interactive.action.sections',
      /11 rows in total, Meta's limit is 10/,
    ],
    [
      'row title 25',
      {
        type: 'interactive',
        interactive: {
          type: 'list',
          body: { text: 'b' },
          action: { button: 'Go', sections: [{ rows: [{ id: 'a', title: 'x'.repeat(25) }] }] },
        },
      },
      'interactive.action.sections.0.rows.0.title',
      /limit is 24/,
    ],
    [
      'list media header',
      {
        type: 'interactive',
        interactive: {
          type: 'list',
          header: { type: 'image', image: { id: '1' } },
          body: { text: 'b' },
          action: { button: 'Go', sections: [{ rows: [{ id: 'a', title: 'x' }] }] },
        },
      },
      'interactive.header.type',
      /text/,
    ],
    [
      'cta display text',
      {
        type: 'interactive',
        interactive: {
          type: 'cta_url',
          body: { text: 'b' },
          action: { name: 'cta_url', parameters: { display_text: 'x'.repeat(21), url: 'https://a.b' } },
        },
      },
      'interactive.action.parameters.display_text',
      /limit is 20/,
    ],
    [
      'flow emoji cta',
      {
        type: 'interactive',
        interactive: {
          type: 'flow',
          body: { text: 'b' },
          action: {
            name: 'flow',
            parameters: { flow_message_version: '3', flow_id: '1', flow_cta: 'Book 📅', flow_action: 'data_exchange' },
          },
        },
      },
      'interactive.action.parameters.flow_cta',
      /emoji/,
    ],
    [
      'unknown interactive',
      { type: 'interactive', interactive: { type: 'poll', body: { text: 'b' } } },
      'interactive.type',
      /not an interactive type/,
    ],
    [
      'reaction with context',
      { type: 'reaction', reaction: { message_id: 'w', emoji: '👍' }, context: { message_id: 'w' } },
      'context',
      /reaction/,
    ],
    ['unknown type', { type: 'texto', texto: {} }, 'type', /not a WhatsApp message type/],
    ['type object missing', { type: 'image' }, 'image', /required/],
    [
      'extra top-level key (recipient override attempt)',
      { text: { body: 'x' }, recipient_id: '15550000000' },
      'recipient_id',
      /unknown field/,
    ],
    ['callback data', { text: { body: 'x' }, biz_opaque_callback_data: 'mine' }, 'biz_opaque_callback_data', /wagate sets it/],
    ['wrong product', { text: { body: 'x' }, messaging_product: 'sms' }, 'messaging_product', /whatsapp/],
    ['group recipient', { text: { body: 'x' }, recipient_type: 'broadcast' }, 'recipient_type', /individual.*group/],
    ['template name', { type: 'template', template: { name: 'Bad Name', language: { code: 'en_US' } } }, 'template.name', /lower-case/],
    ['template no language', { type: 'template', template: { name: 'a' } }, 'template.language', /required/],
  ])('%s', (_name, body, field, problem) => {
    const r = bad({ to, ...(body as object) });
    expect(r.issues.map((i) => i.field)).toContain(field);
    expect(r.issues.find((i) => i.field === field)!.problem).toMatch(problem);
    expect(r.summary).toContain(field);
  });

  it('refuses inherited property names as types (found by fuzzing: {"type":"toString"} crashed)', () => {
    for (const type of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      const r = validateMessage({ to: '447700900123', type, [type]: {} });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.issues[0].field).toBe('type');
    }
    const i = validateMessage({ to: '447700900123', type: 'interactive', interactive: { type: 'toString' } });
    expect(i.ok).toBe(false);
    if (!i.ok) expect(i.issues[0].field).toBe('interactive.type');
  });

  it('refuses a body that is not an object', () => {
    for (const b of [null, 'x', [1], 3]) expect(bad(b).issues[0].field).toBe('(body)');
  });
  it('requires `to`', () => {
    expect(bad({ text: { body: 'x' } }).issues[0].field).toBe('to');
  });
});

describe('buildPayload', () => {
  it('addresses Meta by phone when `to` is given, even beside `recipient` (to wins: the BSUID never rides along)', () => {
    const m = ok({ to: '+1 (415) 555-0123', recipient: 'US.13491208655302741918', type: 'text', text: { body: 'x' } });
    const p = buildPayload(m, { to: '14155550123' });
    expect(p.to).toBe('14155550123');
    expect(p).not.toHaveProperty('recipient');
    const b = buildPayload(ok({ recipient: 'US.13491208655302741918', type: 'text', text: { body: 'x' } }), {
      recipient: 'US.13491208655302741918',
    });
    expect(b).toMatchObject({ recipient: 'US.13491208655302741918', recipient_type: 'individual' });
    expect(b).not.toHaveProperty('to');
  });

  it('rebuilds the payload from validated fields with the normalised recipient', () => {
    const m = ok({ to: '+1 (415) 555-0123', type: 'template', template: { name: 'a', language: 'en_US' }, context: { message_id: 'w' } });
    expect(buildPayload(m, { to: '14155550123' })).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '14155550123',
      type: 'template',
      template: { name: 'a', language: { code: 'en_US' } },
      context: { message_id: 'w' },
    });
  });
});
