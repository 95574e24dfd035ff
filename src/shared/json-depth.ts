// How deep a request may nest. No message, template, customer update or MCP call nests more than a
// dozen levels; a body nested thousands of levels deep is an attack on every recursive walk after the
// parse (hashing, validation, serialising), so it is refused first, with the limit named, by one rule
// shared by every face: the HTTP body parser checks the raw text before parsing it, and the engine and
// the MCP server check the parsed value (a JSON string inside an argument, a CLI or campaign body).

export const MAX_JSON_DEPTH = 64;

/** The first place a value nests deeper than `max` objects/arrays, as a path, or null. Iterative. */
export function tooDeepAt(value: unknown, max = MAX_JSON_DEPTH): (string | number)[] | null {
  if (!value || typeof value !== 'object') return null;
  // Depth-first over an explicit stack: each entry knows its depth and its parent's entry (for the path).
  type Node = { v: object; depth: number; key: string | number | null; up: Node | null };
  const stack: Node[] = [{ v: value, depth: 1, key: null, up: null }];
  while (stack.length) {
    const n = stack.pop()!;
    if (n.depth > max) {
      const path: (string | number)[] = [];
      for (let p: Node | null = n; p && p.key !== null; p = p.up) path.unshift(p.key);
      return path;
    }
    const entries: [string | number, unknown][] = Array.isArray(n.v) ? n.v.map((x, i) => [i, x]) : Object.entries(n.v);
    for (const [k, x] of entries) if (x && typeof x === 'object') stack.push({ v: x, depth: n.depth + 1, key: k, up: n });
  }
  return null;
}

/**
 * The first character offset at which JSON text opens more than `max` nested objects/arrays, or -1.
 * A linear scan that skips strings (brackets inside them do not count); it does not validate the JSON
 * (the parser does that next), so malformed text only gets its usual parse error.
 */
export function tooDeepOffset(text: string, max = MAX_JSON_DEPTH): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return i;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return -1;
}

/** A path for a message: the first segments, then "…" (a refused path can be thousands long). */
export function shortPath(path: (string | number)[], root = ''): string {
  const shown = path.slice(0, 8).map(String).join('.');
  return [root, shown].filter(Boolean).join('.') + (path.length > 8 ? '…' : '');
}

export const TOO_DEEP_FIX = `Send a flatter body: no message or argument needs more than ${MAX_JSON_DEPTH} nested objects/arrays.`;
