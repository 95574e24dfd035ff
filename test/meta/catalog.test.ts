// The catalog covers every code of shared/meta/cloud-api.md §3: the list is read from the markdown itself,
// so a code added there and missing here fails this test. Then one table-driven pass over every entry.
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CATALOG, SUBCODES_190, TOKEN_FIX_STEPS, lookup, explain, classify, type CatalogEntry } from '../../src/domain/errors/index.ts';
import type { GraphError } from '../../src/meta/types.ts';
import { ConfigSchema } from '../../src/config/schema.ts';

const DEFAULT_MAX_ATTEMPTS = ConfigSchema.parse({}).delivery.max_attempts;

const DOC_CANDIDATES = [
  process.env.WAGATE_META_DOC,
  '/work/shared/meta/cloud-api.md',
  fileURLToPath(new URL('../../../shared/meta/cloud-api.md', import.meta.url)),
].filter(Boolean) as string[];
const DOC = DOC_CANDIDATES.find((p) => existsSync(p));

/** "200–299" → 200..299; "133001–133003, 133007" → 133001, 133002, 133003, 133007. */
function expand(cell: string): number[] {
  const out: number[] = [];
  for (const part of cell.split(/[,/]/)) {
    const m = part.trim().match(/^(\d+)\s*[–-]\s*(\d+)$/);
    if (m) for (let c = Number(m[1]); c <= Number(m[2]); c++) out.push(c);
    else if (/^\d+$/.test(part.trim())) out.push(Number(part.trim()));
  }
  return out;
}

/** Every code named in §3: first column of each table, `backticked` codes in bullets, code lists in §3.8. */
function codesFromSection3(md: string): Set<number> {
  const start = md.indexOf('\n## 3. Error-code table');
  const end = md.indexOf('\n## 4.', start);
  const sec = md.slice(start, end);
  const codes = new Set<number>();
  for (const line of sec.split('\n')) {
    const cell = line.match(/^\|\s*([\d–\-, ]+?)\s*\|/);
    if (cell) expand(cell[1]!).forEach((c) => codes.add(c));
    if (/^\s*\*/.test(line)) {
      for (const m of line.matchAll(/`(\d{3,7})`/g)) codes.add(Number(m[1]));
      for (const m of line.matchAll(/\bcode \*\*(\d+)\*\*/g)) codes.add(Number(m[1]));
      const list = line.match(/^\* \*\*[^*]+:\*\*\s*([\d, –\-/()a-z]+?)(?:, plus|\.|$)/i);
      if (list) list[1]!.split(',').forEach((p) => expand(p.replace(/\(.*?\)/g, '')).forEach((c) => codes.add(c)));
      const sub = line.match(/^\s+\* ([\d /]+):/);
      if (sub) expand(sub[1]!).forEach((c) => codes.add(c));
    }
  }
  return codes;
}

describe('catalog vs cloud-api.md §3', () => {
  it.skipIf(!DOC)('contains every code listed in §3 (all subsections)', () => {
    const codes = codesFromSection3(readFileSync(DOC!, 'utf8'));
    // Guard against a parser that silently finds nothing: §3 lists well over 80 distinct codes.
    expect(codes.size).toBeGreaterThan(80);
    for (const c of [0, 190, 130429, 131056, 2388040, 2494100, 134101, 1752041, 250, 133012, 200002, 192])
      expect(codes.has(c), `parser missed ${c}`).toBe(true);
    const missing = [...codes].filter((c) => !lookup(c));
    expect(missing).toEqual([]);
  });

  it('has each 190 subcode of §8.3 with a fix that names both scopes and the resume path', () => {
    expect(SUBCODES_190.map((s) => s.subcode).sort()).toEqual([458, 459, 460, 463, 464, 467, 492]);
    for (const s of SUBCODES_190) {
      expect(s.fix).toContain('whatsapp_business_messaging');
      expect(s.fix).toContain('whatsapp_business_management');
      expect(s.fix).toContain('PUT /v1/senders/:id/token');
      expect(s.meaning.length).toBeGreaterThan(20);
    }
    expect(TOKEN_FIX_STEPS).toHaveLength(4);
  });
});

function sample(e: CatalogEntry): GraphError {
  return {
    code: e.code,
    subcode: null,
    message: `(#${e.code}) ${e.title}`,
    title: e.title,
    details: null,
    fbtrace_id: 'T',
    http_status: e.http_status,
    source: 'sync',
  };
}

describe.each(CATALOG.map((e) => [e.code_to ? `${e.code}-${e.code_to}` : String(e.code), e] as const))('catalog entry %s', (_label, e) => {
  it('is complete and consistent', () => {
    for (const field of ['title', 'meaning', 'explanation', 'fix'] as const) expect(e[field].trim().length, field).toBeGreaterThan(5);
    expect(e.fix).not.toEqual(e.explanation);
    // Retry-after codes must say how long; other actions must not carry a delay they would ignore.
    if (e.action === 'retry_after') expect(e.delay, 'retry_after needs a delay rule').toBeDefined();
    if (e.max_attempts !== undefined) expect(e.exhausted).toBeDefined();
    // One budget per kind of failure: a catalog cap never promises more than delivery.max_attempts
    // (default 8) allows, and an outage code (HTTP 5xx in Meta's table) is never capped by a count.
    for (const r of [e, ...(e.variants ?? [])])
      if (r.max_attempts !== undefined) expect(r.max_attempts).toBeLessThanOrEqual(DEFAULT_MAX_ATTEMPTS);
    if (e.http_status !== null && e.http_status >= 500 && (e.action === 'retry' || e.action === 'retry_after'))
      expect(e.max_attempts, 'a 5xx code is transient').toBeUndefined();
    // Every code of the entry (each code of a range) resolves to it.
    for (const c of [e.code, e.code_to ?? e.code]) expect(lookup(c)).toBe(e);
  });

  it('classifies by code, whatever the HTTP status', () => {
    const base = classify(sample(e));
    expect(base.known).toBe(true);
    expect(base.entry).toBe(e);
    expect(base.action).toBe(e.action);
    expect(base.scope).toBe(e.scope);
    if (e.action === 'retry_after') expect(base.retry_after_ms).toBeGreaterThan(0);
    // Meta: never classify a known code by HTTP status.
    for (const http_status of [200, 400, 500, null]) expect(classify({ ...sample(e), http_status }).action).toBe(e.action);
    // Transient (never counted, bounded by delivery.retry_max_age_h) exactly when it is an uncapped retry or wait.
    const transient = (e.action === 'retry' || e.action === 'retry_after') && e.max_attempts === undefined;
    for (const http_status of [200, 400, 500, null])
      expect(classify({ ...sample(e), http_status }, { attempt: 50 }).transient).toBe(transient);
  });

  it('explains itself through explain()', () => {
    const x = explain(e.code);
    expect(x.known).toBe(true);
    expect(x.title).toBe(e.title);
    expect(x.fix).toBe(e.fix);
    expect(x.action).toBe(e.action);
    expect(x.category).not.toBe('unexpected');
    expect(x.can_retry).toBe(e.action === 'retry' || e.action === 'retry_after');
  });
});

describe('no duplicate codes', () => {
  it('each code belongs to exactly one entry', () => {
    const seen = new Map<number, number>();
    for (const e of CATALOG) for (let c = e.code; c <= (e.code_to ?? e.code); c++) seen.set(c, (seen.get(c) ?? 0) + 1);
    expect([...seen].filter(([, n]) => n > 1)).toEqual([]);
  });
});
