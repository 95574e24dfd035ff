// Loads the config: YAML file (WAGATE_CONFIG or ./wagate.yaml) → ${VAR} interpolation → env overrides
// → ConfigSchema. A bad config throws ConfigError whose message names the key, the file:line:col, what
// is wrong and how to fix it; callers print it and exit 2, never a bare stack trace.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, parseDocument, isMap, isSeq, type Node as YamlNode } from 'yaml';
import { ConfigSchema, type Config } from './schema.ts';
import type { SenderConfig } from '../domain/types.ts';

export interface ConfigProblem {
  key: string; // dotted path, e.g. "senders.0.phone_number_id"
  where: string | null; // "wagate.yaml:12:5"
  problem: string;
  fix: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(
      'Invalid configuration:\n' +
        problems.map((p) => `  - ${p.key}${p.where ? ` (${p.where})` : ''}: ${p.problem}. Fix: ${p.fix}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

/** Environment variables that override config keys (CONTRACT.md). */
const ENV_OVERRIDES: { env: string; path: string[]; type: 'string' | 'number' }[] = [
  { env: 'WAGATE_PORT', path: ['port'], type: 'number' },
  { env: 'WAGATE_DATA_DIR', path: ['data_dir'], type: 'string' },
  { env: 'WAGATE_REDIS_URL', path: ['redis_url'], type: 'string' },
  { env: 'WAGATE_NATS_URL', path: ['nats_url'], type: 'string' },
  { env: 'WAGATE_DATABASE_URL', path: ['database_url'], type: 'string' },
  { env: 'WAGATE_DATABASE_POOL_MAX', path: ['database_pool_max'], type: 'number' },
  { env: 'WAGATE_SANDBOX_PORT', path: ['sandbox', 'port'], type: 'number' },
  { env: 'WAGATE_APP_SECRET', path: ['meta', 'app_secret'], type: 'string' },
  { env: 'WAGATE_VERIFY_TOKEN', path: ['meta', 'verify_token'], type: 'string' },
  { env: 'WAGATE_LOG_LEVEL', path: ['log_level'], type: 'string' },
  { env: 'WAGATE_NAMESPACE', path: ['namespace'], type: 'string' },
];

type Env = Record<string, string | undefined>;

/** Replaces ${VAR} and ${VAR:-default} in every string; an unset VAR without default becomes undefined. */
function interpolate(value: unknown, env: Env): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?\}$/.exec(value);
    if (whole) return env[whole[1]] ?? whole[2] ?? undefined;
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}/g, (_m, name: string, def?: string) => env[name] ?? def ?? '');
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const iv = interpolate(v, env);
      if (iv !== undefined) out[k] = iv;
    }
    return out;
  }
  return value;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const key of path.slice(0, -1)) {
    if (!cur[key] || typeof cur[key] !== 'object') cur[key] = {};
    cur = cur[key] as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = value;
}

function locate(doc: ReturnType<typeof parseDocument> | null, lc: LineCounter, file: string, path: PropertyKey[]): string | null {
  if (!doc) return null;
  // Walk down as far as the path exists in the document; point at the deepest node found.
  let node: unknown = doc.contents;
  let found: YamlNode | null = null;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown })?.value === key);
      if (!pair) break;
      found = (pair.key as YamlNode) ?? found;
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
      if (!node) break;
      found = node as YamlNode;
    } else break;
    if (node && typeof node === 'object' && 'range' in node) found = node as YamlNode;
  }
  if (!found?.range) return null;
  const pos = lc.linePos(found.range[0]);
  return `${file}:${pos.line}:${pos.col}`;
}

function fixFor(issue: { code: string; path: PropertyKey[]; message: string; [k: string]: unknown }): string {
  const key = issue.path.join('.');
  if (issue.code === 'invalid_type') return `set ${key} to a ${String(issue.expected)} (see README "Configuration")`;
  if (issue.code === 'invalid_value' && Array.isArray(issue.values)) return `use one of: ${(issue.values as unknown[]).join(', ')}`;
  if (issue.code === 'unrecognized_keys') return 'remove or rename the unknown key (check its spelling against the README)';
  if (issue.code === 'too_small' || issue.code === 'too_big') return `change ${key}: ${issue.message}`;
  if (issue.code === 'invalid_format') return `change ${key} to a valid value (see README "Configuration")`;
  return `correct ${key}: ${issue.message}`;
}

export interface LoadedConfig {
  config: Config;
  file: string | null;
}

/** Parses and validates. `text` lets tests and `wagate check --config` pass YAML directly. */
export function loadConfig(opts: { file?: string | null; text?: string; env?: Env } = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  let file: string | null = opts.file ?? env.WAGATE_CONFIG ?? null;
  if (!file && opts.text === undefined && existsSync('wagate.yaml')) file = 'wagate.yaml';
  let text = opts.text ?? '';
  if (file && opts.text === undefined) {
    const abs = resolve(file);
    if (!existsSync(abs)) {
      throw new ConfigError([
        {
          key: 'WAGATE_CONFIG',
          where: null,
          problem: `config file ${file} does not exist`,
          fix: 'point WAGATE_CONFIG at an existing YAML file, or unset it to use defaults',
        },
      ]);
    }
    text = readFileSync(abs, 'utf8');
  }
  const label = file ?? '<config>';
  const lc = new LineCounter();
  const doc = text.trim() ? parseDocument(text, { lineCounter: lc, prettyErrors: false }) : null;
  if (doc?.errors.length) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const p = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
        return {
          key: '(yaml)',
          where: p ? `${label}:${p.line}:${p.col}` : label,
          problem: e.message.split('\n')[0],
          fix: 'fix the YAML syntax at that position (indentation, quotes, colons)',
        };
      }),
    );
  }
  const raw = (doc?.toJS() ?? {}) as unknown;
  if (raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new ConfigError([
      {
        key: '(root)',
        where: label,
        problem: 'the config must be a YAML mapping of keys',
        fix: 'start the file with keys such as `port:` and `senders:`',
      },
    ]);
  }
  const data = interpolate(raw ?? {}, env) as Record<string, unknown>;
  const envProblems: ConfigProblem[] = [];
  for (const o of ENV_OVERRIDES) {
    const v = env[o.env];
    if (v === undefined || v === '') continue;
    if (o.type === 'number') {
      const n = Number(v);
      if (!Number.isInteger(n)) {
        envProblems.push({
          key: o.env,
          where: 'environment',
          problem: `"${v}" is not a whole number`,
          fix: `set ${o.env} to a number such as 8080`,
        });
        continue;
      }
      setPath(data, o.path, n);
    } else setPath(data, o.path, v);
  }
  if (envProblems.length) throw new ConfigError(envProblems);
  const parsed = ConfigSchema.safeParse(data);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => ({
        key: i.path.join('.') || '(root)',
        where: locate(doc, lc, label, i.path),
        problem: i.message,
        fix: fixFor(i as unknown as { code: string; path: PropertyKey[]; message: string }),
      })),
    );
  }
  const config = parsed.data;
  const problems = crossCheck(config, env);
  if (problems.length) throw new ConfigError(problems);
  return { config, file };
}

function crossCheck(config: Config, env: Env): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  config.senders.forEach((s, i) => {
    for (const k of [s.id, s.phone_number_id]) {
      if (seen.has(k))
        problems.push({
          key: `senders.${i}`,
          where: null,
          problem: `"${k}" is used by two senders`,
          fix: 'give every sender a unique id and phone_number_id',
        });
      seen.add(k);
    }
    if (s.access_token_env && env[s.access_token_env] === undefined) {
      problems.push({
        key: `senders.${i}.access_token_env`,
        where: null,
        problem: `environment variable ${s.access_token_env} is not set`,
        fix: `export ${s.access_token_env}=<System User token>`,
      });
    }
  });
  if (
    config.default_sender &&
    !config.senders.some((s) => s.id === config.default_sender || s.phone_number_id === config.default_sender) &&
    config.senders.length
  ) {
    problems.push({
      key: 'default_sender',
      where: null,
      problem: `no sender has id or phone_number_id "${config.default_sender}"`,
      fix: 'name one of the configured senders',
    });
  }
  return problems;
}

/** Resolves each sender's token (inline or from its env var). */
export function resolveSenders(config: Config, env: Env = process.env): SenderConfig[] {
  return config.senders.map((s) => ({
    id: s.id,
    phone_number_id: s.phone_number_id,
    waba_id: s.waba_id,
    business_id: s.business_id,
    display_phone_number: s.display_phone_number,
    access_token: s.access_token ?? (s.access_token_env ? (env[s.access_token_env] ?? '') : ''),
    throughput_mps: s.throughput_mps,
    messaging_limit: s.messaging_limit,
    default_time_zone: s.default_time_zone,
  }));
}

/** True when no sender has a Meta token: wagate then runs the built-in sandbox. */
export function needsSandbox(config: Config, senders: SenderConfig[]): boolean {
  if (config.sandbox.mode === 'always') return true;
  if (config.sandbox.mode === 'never') return false;
  return senders.length === 0 || senders.every((s) => !s.access_token);
}
