// The dependency rules of the tree (README "Architecture", issue 12), checked on the import statements
// of src/**/*.ts: static imports, `import type`, `export … from`, and dynamic or type-level `import()`.
// Specifiers that are not relative (npm packages, node: builtins) are not project modules and pass.
// A failure names the file, the line and the import, and says which rule it breaks.
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Import {
  /** The importing file, relative to the repository root ("src/domain/decide.ts"). */
  file: string;
  line: number;
  /** As written ("../gate/port.ts"). */
  specifier: string;
  /** Resolved against the importing file ("src/gate/port.ts"); null for packages and builtins. */
  target: string | null;
}

interface Rule {
  name: string;
  /** The files the rule applies to (path prefix). */
  from: string;
  /** True when this import breaks the rule. */
  breaks: (target: string) => boolean;
}

const RULES: Rule[] = [
  {
    name: 'src/domain/ imports nothing outside src/domain/ (the rules are pure)',
    from: 'src/domain/',
    breaks: (t) => !t.startsWith('src/domain/'),
  },
  {
    name: 'src/delivery/ does not import src/webhooks/ (both sit over src/engine/)',
    from: 'src/delivery/',
    breaks: (t) => t.startsWith('src/webhooks/'),
  },
  {
    name: 'src/meta/sandbox/ imports nothing of wagate outside itself (it emulates Meta, not wagate)',
    from: 'src/meta/sandbox/',
    breaks: (t) => !t.startsWith('src/meta/sandbox/'),
  },
];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const p = posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every import of one file, as TypeScript's own pre-processor reads it (comments and strings skipped). */
function importsOf(file: string, text: string): Import[] {
  return ts.preProcessFile(text, true, true).importedFiles.map(({ fileName, pos }) => {
    const relativePath = fileName.startsWith('./') || fileName.startsWith('../');
    return {
      file,
      line: text.slice(0, pos).split('\n').length,
      specifier: fileName,
      target: relativePath ? posix.normalize(posix.join(posix.dirname(file), fileName)) : null,
    };
  });
}

function violations(imports: Import[], rules: Rule[] = RULES): string[] {
  const out: string[] = [];
  for (const imp of imports) {
    if (imp.target === null) continue;
    for (const r of rules) {
      if (imp.file.startsWith(r.from) && r.breaks(imp.target))
        out.push(`${imp.file}:${imp.line} imports '${imp.specifier}' (${imp.target}): breaks "${r.name}"`);
    }
  }
  return out;
}

const files = sourceFiles('src');
const all = files.flatMap((f) => importsOf(f, readFileSync(join(ROOT, f), 'utf8')));

describe('architecture: import rules', () => {
  it('the scanner sees the tree (so the rules below cannot pass on nothing)', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(files).toContain('src/domain/decide.ts');
    // A known import of each form is found and resolved.
    expect(all).toContainEqual(expect.objectContaining({ file: 'src/domain/decide.ts', target: 'src/domain/decision.ts' }));
    expect(all.some((i) => i.file.startsWith('src/delivery/') && i.target?.startsWith('src/engine/'))).toBe(true);
  });

  it('the checker names the file, line and import of a breach (import, import type, export from, import())', () => {
    const text = [
      "import { a } from './ok.ts';",
      "import type { B } from '../gate/port.ts';",
      "export { c } from '../meta/types.ts';",
      "// import { no } from '../commented.ts';",
      "const d = await import('../webhooks/fep.ts');",
      "import { z } from 'zod';",
    ].join('\n');
    expect(violations(importsOf('src/domain/x.ts', text))).toEqual([
      `src/domain/x.ts:2 imports '../gate/port.ts' (src/gate/port.ts): breaks "${RULES[0].name}"`,
      `src/domain/x.ts:3 imports '../meta/types.ts' (src/meta/types.ts): breaks "${RULES[0].name}"`,
      `src/domain/x.ts:5 imports '../webhooks/fep.ts' (src/webhooks/fep.ts): breaks "${RULES[0].name}"`,
    ]);
    expect(violations(importsOf('src/delivery/x.ts', text))).toEqual([
      `src/delivery/x.ts:5 imports '../webhooks/fep.ts' (src/webhooks/fep.ts): breaks "${RULES[1].name}"`,
    ]);
  });

  for (const r of RULES) {
    it(r.name, () => {
      expect(violations(all, [r])).toEqual([]);
    });
  }
});
