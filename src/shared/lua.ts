// Lua scripts loaded the way BullMQ loads its own (src/commands/*.lua): a script is named
// `<verb><Noun>-<numKeys>.lua`, so its name says what it does and how many KEYS it takes, and a line
// `--- @include "includes/<name>"` is replaced by that file (beside the script, `.lua` added), so
// scripts that share a step (reading the gate's state, releasing a reservation, the bucket
// arithmetic) state it once. One script, one operation; the shared step inlined keeps it atomic.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface LuaScript {
  /** File name, e.g. "checkAndReserve-6.lua". */
  name: string;
  /** The script with its includes inlined: what EVAL sends. */
  lua: string;
  /** SHA-1 of `lua`: what EVALSHA sends. */
  sha: string;
  /** From the name's `-<numKeys>` suffix. */
  numberOfKeys: number;
}

const INCLUDE = /^--- @include "([^"]+)"[ \t]*$/gm;

/** Loads `name` from the folder `dir` (a file: URL ending in "/", e.g. new URL('./', import.meta.url)). */
export function loadLua(dir: URL, name: string): LuaScript {
  const m = /^[a-z][A-Za-z]*-(\d+)\.lua$/.exec(name);
  if (!m) throw new Error(`Lua script name "${name}" is not <verb><Noun>-<numKeys>.lua`);
  const lua = inline(dir, name, new Set());
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex'), numberOfKeys: Number(m[1]) };
}

/** The file's text with each include inlined once (an include met again is left out). */
function inline(dir: URL, file: string, seen: Set<string>): string {
  seen.add(file);
  const text = readFileSync(new URL(file, dir), 'utf8');
  return text.replace(INCLUDE, (_line, path: string) => {
    const inc = `${path}.lua`;
    if (seen.has(inc)) return `-- (${inc} already included)`;
    return inline(dir, inc, seen).trimEnd();
  });
}
