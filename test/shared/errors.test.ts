// The error registry (src/shared/errors/registry.ts) against the code and the docs: docs/errors.md is
// what the registry generates; every error code written in src is registered (EngineError, appError,
// the `code` of a hand-built error body, a dead letter's reason_code and a message's last_error.code),
// with no code computed at run time outside the two documented families; the faces build their errors
// through appError(). The walk of every route and tool with bad input (test/http/error-codes.test.ts)
// checks the same of what they actually answer.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import {
  dispatchRecheckCode,
  ERROR_FAMILIES,
  ERRORS,
  errorSpec,
  isRegisteredCode,
  metaErrorCode,
  statusAllowed,
  type ErrorSpec,
} from '../../src/shared/errors/registry.ts';
import { appError, EngineError } from '../../src/shared/errors/app-error.ts';
import { ERRORS_DOC_PATH, renderErrorsDoc } from '../../src/shared/errors/doc.ts';
import { REASON_CODES } from '../../src/domain/decision.ts';
import { TOO_DEEP_FIX } from '../../src/shared/json-depth.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const p = posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

interface Site {
  where: string;
  /** How the code is written: a string literal, a template literal (its static head), or an expression. */
  kind: 'literal' | 'template' | 'expression';
  text: string;
}

const at = (file: string, sf: ts.SourceFile, node: ts.Node) => `${file}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}`;

function siteOf(file: string, sf: ts.SourceFile, node: ts.Expression): Site {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))
    return { where: at(file, sf, node), kind: 'literal', text: node.text };
  if (ts.isTemplateExpression(node)) return { where: at(file, sf, node), kind: 'template', text: node.head.text };
  return { where: at(file, sf, node), kind: 'expression', text: node.getText(sf).slice(0, 80) };
}

const CODE_LIKE = /^[A-Z][A-Z0-9_]*(:[A-Z0-9_]+)?$/;

/** Every place in src that writes an error code. */
function codeSites(): { constructed: (Site & { via: string })[]; properties: (Site & { property: string })[] } {
  const constructed: (Site & { via: string })[] = [];
  const properties: (Site & { property: string })[] = [];
  for (const file of sourceFiles('src')) {
    if (file.startsWith('src/meta/sandbox/')) continue; // Meta's emulator: Meta's codes, not wagate's
    const sf = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isNewExpression(node) && node.expression.getText(sf) === 'EngineError' && node.arguments?.[0])
        constructed.push({ via: 'new EngineError', ...siteOf(file, sf, node.arguments[0]) });
      if (ts.isCallExpression(node) && ['appError'].includes(node.expression.getText(sf)) && node.arguments[0])
        constructed.push({ via: 'appError', ...siteOf(file, sf, node.arguments[0]) });
      if (ts.isPropertyAssignment(node) && ts.isIdentifier(node.name) && ['code', 'reason_code'].includes(node.name.text)) {
        const s = siteOf(file, sf, node.initializer);
        if (s.kind !== 'expression') properties.push({ property: node.name.text, ...s });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return { constructed, properties };
}

const familyPrefixes: string[] = Object.values(ERROR_FAMILIES).map((f) => f.prefix);

describe('the error registry', () => {
  it('is well formed: stable-looking codes, a message and a fix each, statuses an HTTP face can send', () => {
    const all = [...Object.entries(ERRORS), ...Object.values(ERROR_FAMILIES).map((f) => [f.pattern, f] as const)] as [string, ErrorSpec][];
    for (const [code, spec] of all) {
      if (!code.includes('<')) expect(code, code).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(spec.message.length, code).toBeGreaterThan(10);
      expect(spec.fix.length, code).toBeGreaterThan(10);
      expect(spec.faces.length, code).toBeGreaterThan(0);
      if (spec.status !== null) expect(spec.status >= 400 && spec.status < 600, code).toBe(true);
      if (spec.status === null)
        expect(
          spec.faces.some((f) => f === 'dead_letter' || f === 'last_error' || f === 'mcp'),
          code,
        ).toBe(true);
    }
    expect(ERRORS.BODY_TOO_DEEP.fix).toBe(TOO_DEEP_FIX);
  });

  it('knows the families: META_<code> and DISPATCH_RECHECK:<gate reason code>, and nothing near them', () => {
    expect(metaErrorCode(131047)).toBe('META_131047');
    expect(metaErrorCode(-1)).toBe('META_UNREACHABLE');
    for (const r of REASON_CODES) expect(isRegisteredCode(dispatchRecheckCode(r)), r).toBe(true);
    for (const code of ['META_131047', 'META_190', 'META_UNREACHABLE', 'DISPATCH_RECHECK:OPTED_OUT', 'UNKNOWN_SENDER', 'MAX_ATTEMPTS'])
      expect(isRegisteredCode(code), code).toBe(true);
    for (const code of [
      'META_',
      'META_abc',
      'DISPATCH_RECHECK:',
      'DISPATCH_RECHECK:opted out',
      'NOPE',
      'constructor',
      'toString',
      '__proto__',
      '',
    ])
      expect(isRegisteredCode(code), code).toBe(false);
    expect(errorSpec('META_131047')).toMatchObject({ family: 'META', status: 502 });
  });

  it('appError takes the status and the default fix from the registry, and only a declared other status', () => {
    const e = appError('DEAD_LETTER_NOT_FOUND', 'No dead letter with id "dl_x".');
    expect(e).toBeInstanceOf(EngineError);
    expect(e).toMatchObject({ code: 'DEAD_LETTER_NOT_FOUND', status: 404, fix: ERRORS.DEAD_LETTER_NOT_FOUND.fix, details: {} });
    expect(appError('MESSAGE_NOT_FOUND', 'x', { status: 409 }).status).toBe(409);
    expect(appError('META_131047', 'x', { status: 503 }).status).toBe(503);
    expect(appError('BAD_REQUEST', 'x', { status: 406 }).status).toBe(406);
    expect(appError('INTERNAL').message).toBe(ERRORS.INTERNAL.message);
    // A code that slipped past the types (built at run time) is never answered as it is.
    expect(appError('NOT_REGISTERED' as 'INTERNAL', 'x')).toMatchObject({ code: 'INTERNAL', status: 500 });
    expect(statusAllowed(ERRORS.MESSAGE_NOT_FOUND, 500)).toBe(false);
  });

  it('docs/errors.md is the registry, generated (npx tsx src/shared/errors/doc.ts --write)', () => {
    const doc = readFileSync(ERRORS_DOC_PATH, 'utf8');
    expect(doc, 'docs/errors.md differs from the registry: run `npx tsx src/shared/errors/doc.ts --write`').toBe(renderErrorsDoc());
    for (const code of Object.keys(ERRORS)) expect(doc).toContain(`| \`${code}\` |`);
    expect(readFileSync(join(ROOT, 'docs/reason-codes.md'), 'utf8')).toContain('(errors.md)');
  });
});

describe('error codes written in src', () => {
  const { constructed, properties } = codeSites();

  it('every code an EngineError or appError is built with is registered; none is computed outside the families', () => {
    expect(constructed.length).toBeGreaterThan(50);
    const bad: string[] = [];
    for (const s of constructed) {
      if (s.kind === 'literal' && !isRegisteredCode(s.text)) bad.push(`${s.where}: ${s.via}('${s.text}') is not in the registry`);
      if (s.kind === 'template' && !familyPrefixes.includes(s.text))
        bad.push(`${s.where}: ${s.via}(\`${s.text}…\`) builds a code at run time outside META_<code> / DISPATCH_RECHECK:<reason>`);
    }
    // Computed first arguments: appError's own pass-through, and the family builders' results.
    const computed = constructed.filter((s) => s.kind === 'expression').map((s) => `${s.where.replace(/:\d+$/, '')} ${s.text}`);
    for (const c of computed)
      if (!/^src\/shared\/errors\/app-error\.ts /.test(c) && !/metaErrorCode\(|NOT_FOUND\[what\]/.test(c))
        bad.push(`${c}: a computed error code; use a registered literal or a family builder (metaErrorCode, dispatchRecheckCode)`);
    expect(bad).toEqual([]);
  });

  it('every code written into an error body, a dead letter or a last_error is registered', () => {
    const bad: string[] = [];
    for (const s of properties) {
      // `code` of error bodies (faces, delivery's last_error); `reason_code` of dead letters (delivery:
      // elsewhere a reason_code is a gate decision's or a sender state's, documented in docs/reason-codes.md).
      if (s.property === 'code' && !/^src\/(http|mcp|delivery|shared\/errors)\//.test(s.where)) continue;
      if (s.property === 'reason_code' && !s.where.startsWith('src/delivery/')) continue;
      if (s.kind === 'literal' && CODE_LIKE.test(s.text) && !isRegisteredCode(s.text))
        bad.push(`${s.where}: ${s.property}: '${s.text}' is not in the registry`);
      if (s.kind === 'template' && s.property === 'reason_code' && !familyPrefixes.includes(s.text))
        bad.push(`${s.where}: reason_code \`${s.text}…\` is not a registered family`);
    }
    expect(bad).toEqual([]);
  });

  it('the faces (src/http, src/mcp, src/engine) build errors with appError, not new EngineError', () => {
    // Not faces, or not this change's: the webhook processor's codes (src/webhooks) and
    // engine/conversations.ts are registered (checked above) but still written as new EngineError.
    const allowed = (where: string) => /^src\/(shared\/errors\/app-error|engine\/conversations|webhooks\/processor)\.ts:/.test(where);
    const direct = constructed
      .filter((s) => s.via === 'new EngineError' && /^src\/(http|mcp|engine)\//.test(s.where) && !allowed(s.where))
      .map((s) => `${s.where}: new EngineError('${s.text}')`);
    expect(direct).toEqual([]);
  });
});

describe('src/http', () => {
  it('has no import circle (route modules take their types from src/http/types.ts, not server.ts)', () => {
    const files = sourceFiles('src/http');
    const edges = new Map<string, string[]>();
    for (const file of files) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      edges.set(
        file,
        ts
          .preProcessFile(text, true, true)
          .importedFiles.map((i) => i.fileName)
          .filter((f) => f.startsWith('.'))
          .map((f) => posix.normalize(posix.join(posix.dirname(file), f)))
          .filter((t) => t.startsWith('src/http/')),
      );
    }
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const walk = (f: string, path: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const t of edges.get(f) ?? []) walk(t, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of files) walk(f, []);
    expect(cycles).toEqual([]);
  });
});
