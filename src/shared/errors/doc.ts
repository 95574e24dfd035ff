// docs/errors.md, generated from the registry: `npx tsx src/shared/errors/doc.ts --write` rewrites it;
// test/shared/errors.test.ts fails when the file and the registry disagree.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_FAMILIES, ERRORS, SECTIONS, type ErrorSpec } from './registry.ts';

const FACE_NAMES: Record<string, string> = {
  http: 'HTTP',
  mcp: 'MCP',
  webhook: '/webhook',
  dead_letter: 'dead letter',
  last_error: 'last_error',
};

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function statusOf(spec: ErrorSpec): string {
  if (spec.status === null) return '-';
  if (spec.statuses === 'any_4xx') return `${spec.status} (any 4xx)`;
  return [spec.status, ...(spec.statuses ?? [])].join(', ');
}

export function renderErrorsDoc(): string {
  const rows = [
    ...Object.entries(ERRORS).map(([code, spec]) => ({ code, spec: spec as ErrorSpec })),
    ...Object.values(ERROR_FAMILIES).map((f) => ({ code: f.pattern, spec: f as ErrorSpec })),
  ];
  const out: string[] = [
    '# Error codes',
    '',
    '<!-- Generated from src/shared/errors/registry.ts by `npx tsx src/shared/errors/doc.ts --write`; do not edit by hand. -->',
    '',
    'Every error wagate answers with has the body `{"error": {"code", "message", "fix", "details"}}`: over HTTP',
    'with the status below, over MCP as a tool result with `isError: true` and that body as its text. The',
    '`code` is stable; `message` says what is wrong in the case at hand and `fix` what to do (the texts below',
    'are the general ones). Dead letters carry a `reason_code` and messages a `last_error.code` from the',
    'same list.',
    '',
    'A refusal by the compliance gate is not an error: it is a Decision with a `reason_code` (`OPTED_OUT`,',
    '`WINDOW_CLOSED_TEMPLATE_REQUIRED`, ...), listed in [reason-codes.md](reason-codes.md). A Meta error',
    'code inside `META_<code>` is explained by `GET /v1/errors/:code` (MCP `explain_error`).',
    '',
    `${rows.length} entries: ${Object.keys(ERRORS).length} codes and ${Object.keys(ERROR_FAMILIES).length} families (\`${Object.values(
      ERROR_FAMILIES,
    )
      .map((f) => f.pattern)
      .join('`, `')}\`).`,
  ];
  for (const [section, title] of Object.entries(SECTIONS)) {
    const inSection = rows.filter((r) => r.spec.section === section);
    if (!inSection.length) continue;
    out.push('', `## ${title}`, '', '| code | status | where | meaning | fix |', '| --- | --- | --- | --- | --- |');
    for (const { code, spec } of inSection) {
      const where = spec.faces.map((f) => FACE_NAMES[f] ?? f).join(', ');
      const meaning = spec.note ? `${spec.message} ${spec.note}` : spec.message;
      out.push(`| \`${code}\` | ${statusOf(spec)} | ${where} | ${cell(meaning)} | ${cell(spec.fix)} |`);
    }
  }
  return out.join('\n') + '\n';
}

export const ERRORS_DOC_PATH = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv.includes('--write')) {
  writeFileSync(ERRORS_DOC_PATH, renderErrorsDoc());
  process.stdout.write(`wrote ${ERRORS_DOC_PATH}\n`);
}
