// `wagate check`: one compliance decision as JSON on stdout. Exit 0 allowed, 1 denied, 2 bad input
// (with a clear message on stderr). Same config and data as `wagate start` (the store under data_dir,
// or PostgreSQL/Redis when configured), but a light wiring: no HTTP server, no workers, no sandbox,
// so it runs beside a live `wagate start` without fighting over ports.
//
//   wagate check '{"to":"+447700900123","type":"text","text":{"body":"hi"}}'
//   wagate check --to +447700900123 --text "hi" --inbound-at now
//   wagate check --to 447700900123 --template order_update --language en_US --sender main
//   echo '{...}' | wagate check -
import { buildContext } from '../engine/build-context.ts';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Config } from '../config/schema.ts';
import { loadConfig, needsSandbox, resolveSenders } from '../config/load.ts';
import type { AppContext } from '../engine/context.ts';
import { EngineError } from '../engine/context.ts';
import { checkCompliance } from '../engine/compliance.ts';
import { recordInboundFromInput } from '../engine/customers.ts';
import { addressOf } from '../domain/identity.ts';
import type { GateState } from '../gate/port.ts';
import { MemoryGateState } from '../gate/memory.ts';
import type { Store } from '../store/port.ts';
import { createLogger } from '../observability/log.ts';
import type { SenderConfig } from '../domain/types.ts';

export class BadInput extends Error {}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The message body from a JSON argument (or '-' for stdin) or from flags. Throws BadInput. */
export async function messageFromArgs(opts: Record<string, unknown>, args: string[]): Promise<Record<string, unknown>> {
  const str = (k: string) => (typeof opts[k] === 'string' ? (opts[k] as string) : undefined);
  let body: Record<string, unknown>;
  if (args[0] !== undefined) {
    const text = args[0] === '-' ? await readStdin() : args[0];
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new BadInput(
        `the message is not valid JSON (${(err as Error).message}). Give Meta's message body, e.g. '{"to":"+14155550123","type":"text","text":{"body":"Hi"}}', or use --to with --text/--template.`,
      );
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new BadInput("the message must be a JSON object (Meta's message body).");
    if (str('text') !== undefined || str('template') !== undefined)
      throw new BadInput('give the message either as JSON or with --text/--template, not both.');
    body = parsed as Record<string, unknown>;
    if (str('to') !== undefined) {
      delete body.to;
      delete body.recipient;
      Object.assign(body, addressOf(str('to') as string));
    }
  } else {
    if (str('to') === undefined)
      throw new BadInput('--to is required (the recipient, e.g. --to +14155550123), or give the message as JSON.');
    if ((str('text') === undefined) === (str('template') === undefined))
      throw new BadInput('give exactly one of --text "<body>" or --template <name> (use JSON for template parameters).');
    body =
      str('text') !== undefined
        ? { ...addressOf(str('to') as string), type: 'text', text: { body: str('text') } }
        : {
            ...addressOf(str('to') as string),
            type: 'template',
            template: { name: str('template'), language: { code: str('language') ?? 'en_US' } },
          };
  }
  if (str('sender') !== undefined) body.sender = str('sender');
  return body;
}

function unwired(name: string): never {
  return new Proxy(
    {},
    {
      get(_t, prop) {
        if (prop === 'then') return undefined;
        throw new Error(`${name} is not available in \`wagate check\` (${String(prop)})`);
      },
    },
  ) as never;
}

export async function run(opts: Record<string, unknown>, args: string[]): Promise<number> {
  let body: Record<string, unknown>;
  let inboundAt: number | null = null;
  try {
    body = await messageFromArgs(opts, args);
    if (typeof opts.inboundAt === 'string') {
      inboundAt = opts.inboundAt === 'now' ? Date.now() : Date.parse(opts.inboundAt);
      if (!Number.isFinite(inboundAt))
        throw new BadInput(`--inbound-at "${opts.inboundAt}" is not a time; use ISO 8601 ("2026-06-15T12:00:00Z") or "now".`);
    }
  } catch (err) {
    if (err instanceof BadInput) {
      process.stderr.write(`wagate check: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  const { config } = loadConfig({ file: (opts.config as string | undefined) ?? null });
  let wired: LightContext;
  try {
    wired = await openLightContext(config);
  } catch (err) {
    if (err instanceof BadInput) {
      process.stderr.write(`wagate check: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const { ctx } = wired;
  try {
    if (inboundAt !== null) {
      const who = body.to ?? body.recipient;
      const to = typeof who === 'string' || typeof who === 'number' ? who : undefined;
      await recordInboundFromInput(ctx, to, { at: inboundAt, sender: body.sender }, 'cli');
    }
    const decision = await checkCompliance(ctx, { body });
    process.stdout.write(JSON.stringify(decision, null, 2) + '\n');
    if (decision.allowed) return 0;
    if (
      decision.reason_code === 'INVALID_MESSAGE' ||
      decision.reason_code === 'INVALID_RECIPIENT' ||
      decision.reason_code === 'UNKNOWN_SENDER'
    ) {
      process.stderr.write(`wagate check: bad input: ${decision.explanation} Fix: ${decision.suggested_action}\n`);
      return 2;
    }
    return 1;
  } catch (err) {
    if (err instanceof EngineError) {
      process.stderr.write(`wagate check: ${err.message} Fix: ${err.fix}\n`);
      return 2;
    }
    throw err;
  } finally {
    await wired.close();
  }
}

export interface LightContext {
  ctx: AppContext;
  close(): Promise<void>;
}

/**
 * The engine's context without HTTP, workers, queue or Meta client: store + gate + senders from the
 * same config as `wagate start`. Used by `wagate check` (and tests of the compliance faces).
 */
export async function openLightContext(config: Config, opts: { now?: () => number } = {}): Promise<LightContext> {
  const now = opts.now ?? Date.now;
  let senders: SenderConfig[] = resolveSenders(config);
  if (senders.length === 0 && needsSandbox(config, senders)) {
    // Same default sender as `wagate start` in sandbox mode.
    try {
      const { SANDBOX_DEFAULT_SENDER } = await import('../app.ts');
      senders = [SANDBOX_DEFAULT_SENDER];
    } catch (err) {
      throw new BadInput(
        `no sender is configured and the sandbox default could not be loaded (${(err as Error).message}). Add one under senders: in the config.`,
      );
    }
  }
  const ns = config.namespace;
  let store: Store;
  if (config.database_url) {
    const { createPostgresStore } = await import('../store/postgres.ts');
    store = await createPostgresStore(config.database_url, { schema: ns });
  } else {
    const { createSqliteStore } = await import('../store/sqlite.ts');
    mkdirSync(config.data_dir, { recursive: true });
    store = await createSqliteStore(join(config.data_dir, 'wagate.db'));
  }
  let gate: GateState;
  if (config.redis_url) {
    // The live state is in Redis: use it as is (never load(): that would replace what is there).
    const path = '../gate/redis.ts';
    const { RedisGateState } = (await import(path)) as { RedisGateState: new (o: Record<string, unknown>) => GateState };
    gate = new RedisGateState({ url: config.redis_url, prefix: ns, policies: config.policies, senders });
  } else {
    gate = new MemoryGateState({ policies: config.policies, senders });
  }
  const ctx = buildContext({
    config,
    senders,
    store,
    gate,
    queue: unwired('the delivery queue'),
    pacer: unwired('the pacer'),
    meta: unwired('the Meta client'),
    alerts: unwired('alerts'),
    log: createLogger('warn', { stderr: true }),
    now,
    backends: { gate: config.redis_url ? 'redis' : 'memory', store: config.database_url ? 'postgres' : 'sqlite' },
  });
  const close = async () => {
    await gate.close().catch(() => {});
    await store.close().catch(() => {});
  };
  try {
    const seed = await store.loadGateSeed(now());
    if (!config.redis_url) await gate.load(seed);
    for (const s of seed.senders) ctx.senders.restore(s);
  } catch (err) {
    await close();
    throw err;
  }
  return { ctx, close };
}
