import { describe, it, expect } from 'vitest';
import { canonicalWaId, normalisePhone } from '../../src/domain/phone.ts';

describe('normalisePhone', () => {
  it.each([
    ['+1 (650) 555-1234', '16505551234', 'US'],
    ['16505551234', '16505551234', 'US'],
    ['0044 7700 900123', '447700900123', 'GB'],
    ['+55 11 98765-4321', '5511987654321', 'BR'],
    ['+62 812-3456-789', '628123456789', 'ID'],
    ['+49.151.1234.5678', '4915112345678', 'DE'],
  ])('%s → %s (%s)', (input, digits, country) => {
    const r = normalisePhone(input);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.digits).toBe(digits);
      expect(r.e164).toBe(`+${digits}`);
      expect(r.country).toBe(country);
    }
  });

  it('keeps fictional but possible numbers (sandbox demos) and says the range is not assigned', () => {
    const r = normalisePhone('+447700900123');
    expect(r).toMatchObject({ ok: true, digits: '447700900123', valid_range: false });
  });

  it('never guesses the US for a +1 number the library cannot place', () => {
    const r = normalisePhone('+1 555 010 0001');
    expect(r).toMatchObject({ ok: true, country: null });
  });

  it.each([
    ['abc', /letters/],
    ['', /empty/],
    ['123', /too short/],
    ['+1202555012345', /too long/],
    ['+999 1234 5678', /country calling code/],
    ['+1 650 555 1234 ext 5', /letters/],
  ])('refuses %j with the reason', (input, reason) => {
    const r = normalisePhone(input);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toMatch(reason);
      expect(r.fix).toMatch(/country code/);
    }
  });

  it('Brazil and Mexico: the old wa_id form and the number typed today are one key', () => {
    expect(normalisePhone('+55 11 8765-4321')).toMatchObject({ ok: true, digits: '5511987654321', country: 'BR' });
    expect(normalisePhone('+55 11 3333-4444')).toMatchObject({ ok: true, digits: '551133334444' }); // landline: unchanged
    expect(normalisePhone('+52 1 55 1234 5678')).toMatchObject({ ok: true, digits: '525512345678', country: 'MX' });
    expect(canonicalWaId('551187654321')).toBe('5511987654321');
    expect(canonicalWaId('5215512345678')).toBe('525512345678');
    expect(canonicalWaId('447700900123')).toBe('447700900123');
  });

  it('refuses non-strings clearly', () => {
    expect(normalisePhone(null)).toMatchObject({ ok: false, reason: expect.stringMatching(/null/) });
    expect(normalisePhone({})).toMatchObject({ ok: false, reason: expect.stringMatching(/object/) });
  });
});
