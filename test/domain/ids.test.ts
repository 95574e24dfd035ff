import { describe, it, expect } from 'vitest';
import { newId } from '../../src/domain/ids.ts';

describe('newId', () => {
  it('is prefix + 10 time characters + 16 random characters of Crockford base32', () => {
    expect(newId('msg', 0)).toMatch(/^msg_0000000000[0-9A-HJKMNP-TV-Z]{16}$/);
    expect(newId('dl')).toMatch(/^dl_[0-9A-HJKMNP-TV-Z]{26}$/);
  });

  it('sorts by creation time and does not repeat', () => {
    const a = newId('msg', 1_700_000_000_000);
    const b = newId('msg', 1_700_000_000_001);
    expect(a < b).toBe(true);
    const many = new Set(Array.from({ length: 20_000 }, () => newId('msg', 1_700_000_000_000)));
    expect(many.size).toBe(20_000);
  });

  it('uses every random bit: each of the 32 characters appears in every random position', () => {
    const seen = Array.from({ length: 16 }, () => new Set<string>());
    for (let i = 0; i < 3_000; i++) {
      const r = newId('x', 0).slice(12);
      for (let p = 0; p < 16; p++) seen[p].add(r[p]);
    }
    for (const s of seen) expect(s.size).toBe(32);
  });
});
