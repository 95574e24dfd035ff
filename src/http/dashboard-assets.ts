// The dashboard's files as the HTTP face serves them: the page (src/dashboard/index.html with its
// import map filled in), our modules and stylesheet (src/dashboard/assets/), and the libraries from
// their installed packages (preact, preact/hooks, htm, uPlot), each read once, compressed once (brotli
// and gzip, node:zlib) and kept in memory with its ETag. Nothing is fetched from the internet.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

export interface Asset {
  type: string;
  raw: Buffer;
  br: Buffer;
  gzip: Buffer;
  etag: string;
  /** Library files are served under a versioned URL and may be cached for good. */
  immutable: boolean;
}

const UI_DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));
const require = createRequire(import.meta.url);

const TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  html: 'text/html; charset=utf-8',
  svg: 'image/svg+xml',
};

/**
 * A file of an installed package, found the way Node resolves the package (works from any copy of the
 * tree): up from its entry point to the folder whose package.json names it (some packages do not
 * export ./package.json).
 */
function packageFile(pkg: string, file: string): string {
  let dir = dirname(require.resolve(pkg));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === pkg) return join(dir, file);
    const up = dirname(dir);
    if (up === dir) throw new Error(`dashboard: package ${pkg} not found (npm ci installs it)`);
    dir = up;
  }
}

const VENDOR: { name: string; pkg: string; file: string }[] = [
  { name: 'preact.mjs', pkg: 'preact', file: 'dist/preact.mjs' },
  { name: 'preact-hooks.mjs', pkg: 'preact', file: 'hooks/dist/hooks.mjs' },
  { name: 'htm.mjs', pkg: 'htm', file: 'dist/htm.module.js' },
  { name: 'uplot.js', pkg: 'uplot', file: 'dist/uPlot.iife.min.js' },
  { name: 'uplot.css', pkg: 'uplot', file: 'dist/uPlot.min.css' },
];

function asset(name: string, raw: Buffer, immutable: boolean): Asset {
  const ext = name.slice(name.lastIndexOf('.') + 1);
  return {
    type: TYPES[ext] ?? 'application/octet-stream',
    raw,
    br: brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length } }),
    gzip: gzipSync(raw, { level: 9 }),
    etag: `"${createHash('sha256').update(raw).digest('base64url').slice(0, 22)}"`,
    immutable,
  };
}

export interface DashboardBundle {
  /** /dashboard */
  page: Asset;
  /** /dashboard/assets/<name> (ours) and /dashboard/assets/vendor/<name> (libraries) */
  files: Map<string, Asset>;
  /** Every file the page loads at first, by URL (without the version query): what the first-load budget counts. */
  firstLoad: string[];
  /** The Content-Security-Policy of the page (the inline import map allowed by its hash). */
  csp: string;
}

let cached: DashboardBundle | null = null;

export function dashboardBundle(): DashboardBundle {
  if (cached) return cached;
  const files = new Map<string, Asset>();
  const version: Record<string, string> = {};
  for (const v of VENDOR) {
    const a = asset(v.name, readFileSync(packageFile(v.pkg, v.file)), true);
    files.set(`vendor/${v.name}`, a);
    version[v.name] = a.etag.slice(1, 9);
  }
  const assetsDir = join(UI_DIR, 'assets');
  for (const f of readdirSync(assetsDir)) {
    if (!/\.(js|css|svg)$/.test(f)) continue;
    files.set(f, asset(f, readFileSync(join(assetsDir, f)), false));
  }
  const vendorUrl = (n: string) => `/dashboard/assets/vendor/${n}?v=${version[n]}`;
  const importMap = JSON.stringify({
    imports: { preact: vendorUrl('preact.mjs'), 'preact/hooks': vendorUrl('preact-hooks.mjs'), htm: vendorUrl('htm.mjs') },
  });
  // Our files keep plain URLs (no-cache + ETag: a 304 after an upgrade-free reload): the modules import
  // each other by relative URL, which a version query would not follow, and a preload must match them.
  const own = (n: string) => `/dashboard/assets/${n}`;
  // Every module at once (no import waterfall): the page needs them all at first.
  const preload = [
    ...['preact.mjs', 'preact-hooks.mjs', 'htm.mjs'].map(vendorUrl),
    ...[...files.keys()].filter((n) => n.endsWith('.js') && !n.startsWith('vendor/')).map(own),
  ]
    .map((u) => `<link rel="modulepreload" href="${u}">`)
    .join('\n');
  const html = readFileSync(join(UI_DIR, 'index.html'), 'utf8')
    .replace('{{IMPORT_MAP}}', importMap)
    .replace('{{PRELOAD}}', preload)
    .replaceAll('{{UPLOT_JS}}', vendorUrl('uplot.js'))
    .replaceAll('{{UPLOT_CSS}}', vendorUrl('uplot.css'))
    .replaceAll(/\{\{ASSET:([a-z0-9.-]+)\}\}/g, (_m, n: string) => own(n));
  const mapHash = createHash('sha256').update(importMap).digest('base64');
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${mapHash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
  const page = asset('index.html', Buffer.from(html), false);
  // The page loads every one of these at first (our modules import each other at start): the budget counts them all.
  const firstLoad = [...files.keys()].map((n) => `/dashboard/assets/${n}`);
  cached = { page, files, firstLoad, csp };
  return cached;
}

/** The body to send for an Accept-Encoding header, and its Content-Encoding. */
export function encodingFor(a: Asset, acceptEncoding: string | undefined): { body: Buffer; encoding: 'br' | 'gzip' | null } {
  const accept = acceptEncoding ?? '';
  if (/\bbr\b/.test(accept)) return { body: a.br, encoding: 'br' };
  if (/\bgzip\b/.test(accept)) return { body: a.gzip, encoding: 'gzip' };
  return { body: a.raw, encoding: null };
}
