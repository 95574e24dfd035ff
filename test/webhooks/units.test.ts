// Pure pieces: signature check, keyword matcher, envelope → events with dedupe identities.
import { describe, it, expect } from 'vitest';
import { createHmac } from 'node:crypto';
import { signPayload, verifySignature, safeEqual } from '../../src/webhooks/signature.ts';
import { createKeywordMatcher, normalizeKeyword } from '../../src/webhooks/keywords.ts';
import { extractEvents, metaTime, replyTexts } from '../../src/webhooks/events.ts';
import { envelope, messagesValue, statusBody, st, textMsg } from './helpers.ts';

describe('signature', () => {
  const raw = Buffer.from('{"object":"whatsapp_business_account"}');
  it('matches an independent HMAC-SHA256 and verifies against any configured secret', () => {
    expect(signPayload(raw, 's1')).toBe(`sha256=${createHmac('sha256', 's1').update(raw).digest('hex')}`);
    expect(verifySignature(raw, signPayload(raw, 's2'), ['s1', 's2'])).toEqual({ ok: true, secret_index: 1 });
    expect(verifySignature(raw, signPayload(raw, 's1').toUpperCase().replace('SHA256', 'sha256'), ['s1']).ok).toBe(true);
  });
  it('says why it refuses', () => {
    expect(verifySignature(raw, undefined, ['s1'])).toEqual({ ok: false, reason: 'missing' });
    expect(verifySignature(raw, 'sha256=zz', ['s1'])).toEqual({ ok: false, reason: 'malformed' });
    expect(verifySignature(raw, signPayload(raw, 'x'), ['s1'])).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(raw, signPayload(raw, 's1'), [undefined, ''])).toEqual({ ok: false, reason: 'no_secret_configured' });
    expect(verifySignature(Buffer.from(raw.toString() + ' '), signPayload(raw, 's1'), ['s1']).ok).toBe(false);
  });
  it('safeEqual', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
});

describe('keywords', () => {
  const m = createKeywordMatcher();
  it('whole message, any case, punctuation and accents ignored', () => {
    expect(m.match('STOP')?.kind).toBe('opt_out');
    expect(m.match(' stop. ')?.kind).toBe('opt_out');
    expect(m.match('Opt-out')?.keyword).toBe('OPT OUT');
    expect(m.match('No más')?.kind).toBe('opt_out');
    expect(m.match('रोकें')?.kind).toBe('opt_out');
    expect(m.match('stop it')).toBeNull();
    expect(m.match('unstop')?.kind).toBe('opt_in');
    expect(m.match('Stop promotions')?.kind).toBe('marketing_stop');
    expect(m.match('')).toBeNull();
    expect(m.match('x'.repeat(100))).toBeNull();
  });
  it('normalisation keeps Devanagari signs', () => {
    expect(normalizeKeyword('बंद')).toBe('बंद');
    expect(normalizeKeyword('  São_Paulo ')).toBe('SAO PAULO');
  });
  it('an opt-out word listed as opt-in too stays an opt-out', () => {
    expect(createKeywordMatcher({ opt_out: ['X'], opt_in: ['X'] }).match('x')?.kind).toBe('opt_out');
  });
});

describe('extractEvents', () => {
  it('inbound text (cloud-api.md §7.5): one message event keyed by wamid, with the profile name', () => {
    const ev = extractEvents(textMsg('wamid.HBgLMTY1', 'Does it come in another color?', 1749416383000));
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({
      kind: 'message',
      key: 'm:wamid.HBgLMTY1',
      phone_number_id: '106540352242922',
      profile_name: 'Sheena Nelson',
    });
  });
  it('statuses are keyed by wamid + status', () => {
    const ev = extractEvents(statusBody([st('w1', 'sent', 1000), st('w1', 'read', 2000), { id: 'w2' }]));
    expect(ev.map((e) => e.key)).toEqual(['s:w1:sent', 's:w1:read', expect.stringMatching(/^o:messages\.status:/)]);
  });
  it('management fields are keyed by field, entry id, time and a hash of the value', () => {
    const [a] = extractEvents(envelope('account_update', { event: 'X' }, { time: 5 }));
    const [b] = extractEvents(envelope('account_update', { event: 'Y' }, { time: 5 }));
    expect(a.kind).toBe('account_update');
    expect(a.key).toMatch(/^o:account_update:102290129340398:5000:/);
    expect(a.key).not.toBe(b.key);
  });
  it('user_preferences items', () => {
    const ev = extractEvents(
      envelope(
        'user_preferences',
        messagesValue({
          user_preferences: [{ wa_id: '1650', category: 'marketing_messages', value: 'stop', timestamp: 1731705721, detail: 'd' }],
        }),
      ),
    );
    expect(ev[0]).toMatchObject({ kind: 'user_preferences', wa_id: '1650', value: 'stop', at: 1731705721000 });
  });
  it('garbage never throws', () => {
    for (const g of [
      null,
      1,
      'x',
      [],
      {},
      { entry: 'x' },
      { entry: [null] },
      { object: 'whatsapp_business_account', entry: [{ changes: [null, { field: 'messages', value: 3 }] }] },
    ]) {
      expect(() => extractEvents(g)).not.toThrow();
      expect(extractEvents(g).every((e) => e.kind === 'unknown')).toBe(true);
    }
  });
  it('metaTime and replyTexts', () => {
    expect(metaTime('1749416383')).toBe(1749416383000);
    expect(metaTime(1749416383000)).toBe(1749416383000);
    expect(metaTime('abc')).toBeNull();
    expect(replyTexts({ type: 'interactive', interactive: { type: 'button_reply', button_reply: { id: 'STOP', title: 'Stop' } } })).toEqual(
      ['Stop', 'STOP'],
    );
  });
});
