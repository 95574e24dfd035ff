// The upload's set of recipients seen (src/campaigns/recipient-set.ts): phone numbers in a typed
// table, anything else in a Set; checked against a plain Set of strings.
import { describe, expect, it } from 'vitest';
import { RecipientSet } from '../../src/campaigns/recipient-set.ts';

describe('RecipientSet', () => {
  it('answers like a Set of strings for 200,000 phone numbers, close together and scattered, through every growth', () => {
    const s = new RecipientSet();
    const ref = new Set<string>();
    let x = 12345;
    const rnd = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
    for (let i = 0; i < 100_000; i++) {
      const close = String(447700900000 + i); // one list: consecutive numbers
      const far = String(10_000_000 + (rnd() % 900_000_000) * 1_000_000 + (rnd() % 1_000_000)); // 8 to 15 digits
      for (const r of [close, far]) {
        expect(s.add(r)).toBe(!ref.has(r));
        ref.add(r);
      }
      if (i % 997 === 0) expect(s.add(close)).toBe(false); // a repeat
    }
    expect(s.size).toBe(ref.size);
    for (const r of ref) expect(s.has(r)).toBe(true);
    for (let i = 0; i < 1000; i++) expect(s.has(String(447700800000 + i))).toBe(false);
  });

  it('keeps what is not a phone number apart, exactly: BSUIDs, a leading 0, over 15 digits', () => {
    const s = new RecipientSet();
    for (const r of ['US.13491208655302741918', 'US.ENT.1181', '0123', '123', '1234567890123456', '999999999999999'])
      expect(s.add(r)).toBe(true);
    expect(s.has('0123')).toBe(true);
    expect(s.has('123')).toBe(true);
    expect(s.has('00123')).toBe(false);
    expect(s.has('1234567890123457')).toBe(false); // 16 digits: a string, never rounded into its neighbour
    expect(s.add('US.13491208655302741918')).toBe(false);
    expect(s.add('999999999999999')).toBe(false);
    expect(s.size).toBe(6);
  });
});
