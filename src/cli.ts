// The `wagate` command line. Each command lives in src/cli/<name>.ts and returns an exit code.
// Bad config or input → a clear message on stderr and exit 2, never a bare stack trace.
import { Command } from 'commander';
import { ConfigError } from './config/load.ts';

const program = new Command();
program
  .name('wagate')
  .description('WhatsApp Business compliance gate, delivery gateway and MCP server')
  .option('-c, --config <file>', 'config file (default: $WAGATE_CONFIG or ./wagate.yaml)');

async function run(
  load: () => Promise<{ run: (opts: Record<string, unknown>, args: string[]) => Promise<number> }>,
  opts: Record<string, unknown>,
  args: string[] = [],
): Promise<void> {
  try {
    const mod = await load();
    const code = await mod.run({ ...program.opts(), ...opts }, args);
    if (code !== -1) process.exitCode = code; // -1: long-running, exits on signal
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`wagate: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`wagate: ${(err as Error).message ?? String(err)}\n`);
    process.exitCode = 2;
  }
}

program
  .command('start')
  .description('HTTP API, webhooks, workers (and the sandbox when no Meta credentials are set)')
  .action((o) => run(() => import('./cli/start.ts'), o));
program
  .command('mcp')
  .description('MCP server over stdio (logs go to stderr)')
  .action((o) => run(() => import('./cli/mcp.ts'), o));
program
  .command('sandbox')
  .description('the Meta Graph API sandbox alone')
  .option('-p, --port <port>', 'port (default $WAGATE_SANDBOX_PORT or 8081)')
  .option('--webhook-url <url>', 'where to send webhooks')
  .option('--app-secret <secret>', 'webhook signing secret')
  .action((o) => run(() => import('./cli/sandbox.ts'), o));
program
  .command('check')
  .description('one compliance decision as JSON; exit 0 allowed, 1 denied, 2 bad input')
  .argument('[message]', "Meta message body as JSON (or '-' for stdin)")
  .option('--to <phone|bsuid>', 'recipient: a phone number, or a business-scoped user id (sent as `recipient`)')
  .option('--text <body>', 'free-form text message')
  .option('--template <name>', 'template name')
  .option('--language <code>', 'template language', 'en_US')
  .option('--sender <ref>', 'sender alias or phone_number_id')
  .option('--inbound-at <iso>', 'record an inbound message from the recipient at this time before deciding (demo)')
  .action((message, o) => run(() => import('./cli/check.ts'), o, message ? [message] : []));
program
  .command('hash-key')
  .description('print the SHA-256 of an API key, for api.keys[].key_sha256 in the config (the key itself is never stored)')
  .argument('<key>', 'the API key to hash')
  .action(async (key: string) => {
    const { createHash } = await import('node:crypto');
    process.stdout.write(createHash('sha256').update(key).digest('hex') + '\n');
  });
program
  .command('campaign')
  .description('campaigns on a running wagate: create, preview, start, pause, resume, cancel, status [--watch]')
  .argument('<action>', 'create | preview | start | pause | resume | cancel | status')
  .argument('[id]', 'campaign id (all but create; status without one lists them)')
  .option('--url <url>', 'the wagate to talk to (default http://127.0.0.1:$WAGATE_PORT)')
  .option('--api-key <key>', 'API key (default $WAGATE_API_KEY)')
  .option('--name <name>', 'create: campaign name')
  .option('--template <name>', 'create: template name')
  .option('--language <code>', 'create: template language')
  .option('--sender <ref>', 'create: sender alias or phone_number_id')
  .option('--recipients <file>', 'create: .csv (to/recipient + variable columns), .jsonl, or .json list')
  .option('--filter <json>', 'create: known customers instead, e.g. \'{"tags":["vip"]}\'')
  .option('--variables <json>', 'create: variables for recipients without their own, e.g. \'["Ana"]\'')
  .option('--options <json>', 'create: campaign options, e.g. \'{"local_time":"10:00","rate_mps":50,"max_failure_rate":0.2}\'')
  .option('--deliver-at <iso>', 'create: start by itself at this time')
  .option('--reason <text>', 'pause, cancel: why')
  .option('--watch', 'status: a live progress bar until the campaign ends or pauses')
  .option('--interval <ms>', 'status --watch: refresh every ms (default 1000)')
  .option('--json', 'status: the whole campaign as JSON')
  .action((action, id, o) => run(() => import('./cli/campaign.ts'), o, id ? [action, id] : [action]));
program
  .command('doctor')
  .description('check config, backends and senders; say what is wrong and how to fix it')
  .action((o) => run(() => import('./cli/doctor.ts'), o));

await program.parseAsync(process.argv);
