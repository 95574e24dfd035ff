// The Lua scripts are named as BullMQ names its own (`<verb><Noun>-<numKeys>.lua`), one operation
// each, with shared steps in includes/ (src/shared/lua.ts inlines them). The name's key count must be
// the keys the script reads, since the loader passes it to EVAL.
import { describe, it, expect } from 'vitest';
import { readdirSync } from 'node:fs';
import { loadLua } from '../../src/shared/lua.ts';

const DIRS = ['../../src/gate/', '../../src/pacing/'].map((d) => new URL(d, import.meta.url));

describe('Lua scripts', () => {
  const scripts = DIRS.flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.lua'))
      .map((f) => ({ dir, f })),
  );

  it('every script beside the adapters is named <verb><Noun>-<numKeys>.lua', () => {
    expect(scripts.map((s) => s.f).sort()).toEqual([
      'acquireTokens-2.lua',
      'checkAndReserve-6.lua',
      'checkGate-5.lua',
      'mergeIdentities-0.lua',
      'penalizeBucket-1.lua',
      'recordInbound-2.lua',
      'releaseReservation-1.lua',
      'rollbackReservation-1.lua',
      'upsertTemplate-3.lua',
    ]);
    for (const { dir, f } of scripts) expect(() => loadLua(dir, f)).not.toThrow();
  });

  it.each(scripts.map((s) => [s.f, s] as const))('%s: includes inlined, and it reads exactly the keys its name says', (_f, { dir, f }) => {
    const s = loadLua(dir, f);
    expect(s.lua).not.toMatch(/^--- @include/m);
    expect(s.sha).toMatch(/^[0-9a-f]{40}$/);
    // A script with no KEYS (its keys built from the namespace base, like removeReservation) reads none.
    const highest = Math.max(0, ...[...s.lua.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1])));
    expect(highest).toBe(s.numberOfKeys);
  });

  it('a name without its key count is refused', () => {
    expect(() => loadLua(DIRS[0], 'decide.lua')).toThrow(/<verb><Noun>-<numKeys>\.lua/);
  });
});
