// Layer 1: parsing Graph error bodies (sync) and webhook errors[] items (async), shapes from cloud-api.md
// §2.1, §2.3 and §7.7. Garbage never throws: it becomes code -1 with a message that says what was expected.
import { describe, it, expect } from 'vitest';
import { parseGraphError, parseWebhookError, transportError } from '../../src/domain/errors/index.ts';

describe('parseGraphError (sync)', () => {
  it('reads the WhatsApp-specific error body of §2.1', () => {
    const body = {
      error: {
        message: '(#130429) Rate limit hit',
        type: 'OAuthException',
        code: 130429,
        error_data: { messaging_product: 'whatsapp', details: 'Cloud API message throughput has been reached.' },
        error_subcode: 2494055,
        fbtrace_id: 'Az8or2yhqkZfEZ-_4Qn_Bam',
      },
    };
    expect(parseGraphError(400, body)).toEqual({
      code: 130429,
      subcode: 2494055,
      message: '(#130429) Rate limit hit',
      title: 'Rate limit hit',
      details: 'Cloud API message throughput has been reached.',
      fbtrace_id: 'Az8or2yhqkZfEZ-_4Qn_Bam',
      http_status: 400,
      source: 'sync',
    });
  });

  it("reads Graph's generic example with error_user_title / error_user_msg", () => {
    const text =
      '{"error":{"message":"Message describing the error","type":"OAuthException","code":190,"error_subcode":460,"error_user_title":"A title","error_user_msg":"A message","fbtrace_id":"EJplcsCHuLu"}}';
    const e = parseGraphError(401, text);
    expect(e).toMatchObject({
      code: 190,
      subcode: 460,
      title: 'A title',
      details: 'A message',
      fbtrace_id: 'EJplcsCHuLu',
      http_status: 401,
    });
  });

  it('accepts a Buffer body, numeric strings for code, and error_data as a JSON string', () => {
    const e = parseGraphError(
      400,
      Buffer.from(JSON.stringify({ error: { code: '131056', message: 'pair', error_data: '{"details":"same recipient"}' } })),
    );
    expect(e).toMatchObject({ code: 131056, details: 'same recipient', subcode: null, fbtrace_id: null, title: null });
  });

  it.each([
    ['HTML from a proxy', 502, '<html><body>Bad Gateway</body></html>', 'not a JSON object'],
    ['empty body', 503, '', 'not a JSON object'],
    ['JSON without error', 500, { ok: false }, 'without an "error" object'],
    ['error without code', 400, { error: { message: 'x' } }, 'without an integer "code"'],
    ['array', 400, [1, 2], 'not a JSON object'],
    ['null', 400, null, 'not a JSON object'],
    ['undefined', 400, undefined, 'not a JSON object'],
    ['number', 400, 42, 'not a JSON object'],
  ])('turns garbage (%s) into code -1 with a clear message', (_n, status, body, why) => {
    const e = parseGraphError(status, body);
    expect(e.code).toBe(-1);
    expect(e.http_status).toBe(status);
    expect(e.message).toContain(why);
    expect(e.message).toContain('expected {"error"');
  });

  it('never lets a token through', () => {
    const token = 'EAAG' + 'x'.repeat(60);
    const e = parseGraphError(400, {
      error: { code: 100, message: `bad access_token=${token}`, error_data: { details: `Bearer ${token}` } },
    });
    expect(JSON.stringify(e)).not.toContain(token);
    const g = parseGraphError(502, `oops ${token}`);
    expect(g.message).not.toContain(token);
    expect(transportError(`failed for input_token=${token}&x=1`).message).not.toContain(token);
  });
});

describe('parseWebhookError (async)', () => {
  it('reads the failed-status error of §7.7 (131049)', () => {
    const item = {
      code: 131049,
      title: 'This message was not delivered to maintain healthy ecosystem engagement.',
      message: 'This message was not delivered to maintain healthy ecosystem engagement.',
      error_data: { details: 'In order to maintain a healthy ecosystem engagement, the message failed to be delivered.' },
      href: '/documentation/business-messaging/whatsapp/support/error-codes',
    };
    expect(parseWebhookError(item)).toEqual({
      code: 131049,
      subcode: null,
      title: item.title,
      message: item.message,
      details: item.error_data.details,
      fbtrace_id: null,
      http_status: null,
      source: 'webhook',
    });
  });

  it('reads the system-level value.errors item of §7.7 (130429)', () => {
    const e = parseWebhookError({
      code: 130429,
      title: 'Rate limit hit',
      message: 'Rate limit hit',
      error_data: {
        details: 'Message failed to send because there were too many messages sent from this phone number in a short period of time',
      },
      href: '/x',
    });
    expect(e).toMatchObject({ code: 130429, title: 'Rate limit hit', source: 'webhook' });
  });

  it('falls back to the title when message is missing, and never throws on garbage', () => {
    expect(parseWebhookError({ code: 131026, title: 'Message Undeliverable' }).message).toBe('Message Undeliverable');
    for (const g of [null, 'x', 7, [], { title: 'no code' }]) {
      const e = parseWebhookError(g);
      expect(e.code).toBe(-1);
      expect(e.source).toBe('webhook');
      expect(e.message).toMatch(/Webhook error item is not/);
    }
  });
});
