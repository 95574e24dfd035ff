import { describe, it, expect } from 'vitest';
import { openToken, sealToken } from '../../src/senders/token-vault.ts';

describe('token vault', () => {
  it('seals a token so it opens only with the same secret and is never stored in clear', () => {
    const sealed = sealToken('EAAGtoken123456', 'app-secret');
    expect(sealed).not.toContain('EAAGtoken123456');
    expect(openToken(sealed, 'app-secret')).toBe('EAAGtoken123456');
    expect(openToken(sealed, 'another-secret')).toBeNull();
    expect(sealToken('EAAGtoken123456', 'app-secret')).not.toBe(sealed); // a fresh IV each time
  });

  it('refuses tampered or malformed values', () => {
    const sealed = sealToken('EAAGtoken123456', 'app-secret');
    const parts = sealed.split('.');
    const flipped = parts[3].startsWith('A') ? `B${parts[3].slice(1)}` : `A${parts[3].slice(1)}`;
    expect(openToken([parts[0], parts[1], parts[2], flipped].join('.'), 'app-secret')).toBeNull();
    expect(openToken('garbage', 'app-secret')).toBeNull();
    expect(openToken('v1.x.y', 'app-secret')).toBeNull();
  });
});
