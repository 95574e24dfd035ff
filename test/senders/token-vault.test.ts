import { describe, it, expect } from 'vitest';
import { openSealedToken, openToken, sealToken } from '../../src/senders/token-vault.ts';

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

  it('after a rotation opens with the previous secrets in order and seals again under the current one', () => {
    const underA = sealToken('EAAGtoken123456', 'secret-A');
    expect(openSealedToken(underA, 'secret-A', [])).toEqual({ token: 'EAAGtoken123456', resealed: null, opened_with: 'current' });
    const r = openSealedToken(underA, 'secret-C', ['secret-B', 'secret-A']);
    expect(r).toMatchObject({ token: 'EAAGtoken123456', opened_with: 'previous' });
    expect(openToken(r!.resealed!, 'secret-C')).toBe('EAAGtoken123456');
    expect(openToken(r!.resealed!, 'secret-A')).toBeNull();
    // No current secret: opened, but nothing to seal it under.
    expect(openSealedToken(underA, undefined, ['secret-A'])).toEqual({ token: 'EAAGtoken123456', resealed: null, opened_with: 'previous' });
    expect(openSealedToken(underA, 'secret-C', ['secret-B'])).toBeNull();
    expect(openSealedToken(underA, undefined, [])).toBeNull();
  });
});
