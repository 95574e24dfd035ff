// bench:sandbox — sustained accept rate of the Meta sandbox with validation on (template sends with
// parameters, token check, buckets, ledger, status webhooks batched to a real receiver).
// The load generator (autocannon) and the webhook receiver run in a child process (the gateway's
// side) so they do not share the sandbox's event loop. The throughput bucket is raised high for the bench; the pair limit stays on (recipients rotate).
// Options: --duration <s> (default 10), --connections <n> (default 64), --no-statuses (sends only).
// LAST line: {"sends_per_s":…, "p50_ms":…, "p99_ms":…, ..., "sandbox_event_loop_utilization":…}
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};

const PNID = '106540352242922';
const TOKEN = 'sandbox-token-main';

/** Child process: the gateway's side. A real webhook receiver (checks every signature, counts the
 *  changes) and the load generator, so neither shares the sandbox's event loop. */
async function client(url: string, duration: number, connections: number, secret: string, statuses: boolean): Promise<void> {
  interface AcResult {
    requests: { total: number; average: number };
    latency: { p50: number; p99: number };
    '2xx': number;
    non2xx: number;
    errors: number;
    timeouts: number;
    duration: number;
  }
  // autocannon ships no type declarations: import it untyped and describe what is read.
  const mod = 'autocannon';
  const { default: autocannon } = (await import(mod)) as { default: (o: Record<string, unknown>) => Promise<AcResult> };

  let posts = 0;
  let changes = 0;
  let badSig = 0;
  const rx = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const sig = 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex');
      if (sig !== req.headers['x-hub-signature-256']) badSig++;
      posts++;
      // Count changes without a full parse: this process is the load generator too.
      const text = raw.toString();
      for (let i = text.indexOf('"field":"'); i !== -1; i = text.indexOf('"field":"', i + 9)) changes++;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', () => r()));
  const rxUrl = `http://127.0.0.1:${(rx.address() as AddressInfo).port}/webhook`;
  await fetch(`${url}/_sandbox/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url: rxUrl }),
  });

  // Bodies built up front and handed out round-robin across connections: 5,000 recipients, so no
  // recipient nears the pair limit's 45-message burst during the run.
  const body = (i: number) =>
    JSON.stringify({
      messaging_product: 'whatsapp',
      to: `4477${String(10_000_000 + i)}`,
      type: 'template',
      biz_opaque_callback_data: `msg_${i}`,
      template: {
        name: 'order_update',
        language: { code: 'en_US' },
        components: [
          {
            type: 'body',
            parameters: [
              { type: 'text', text: 'Ann' },
              { type: 'text', text: `A-${i}` },
            ],
          },
        ],
      },
    });
  const bodies = Array.from({ length: 5000 }, (_, i) => body(i));
  let n = 0;
  const result = await autocannon({
    url: `${url}/v23.0/${PNID}/messages`,
    method: 'POST',
    connections,
    duration,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies[n++ % bodies.length] }) }],
  });
  // Wait for the status webhooks (3 per accepted send) to stop arriving.
  let last = -1;
  const t0 = Date.now();
  while (statuses && changes !== last && Date.now() - t0 < 30_000) {
    last = changes;
    await new Promise((r) => setTimeout(r, 1000));
  }
  rx.close();
  process.stdout.write(
    JSON.stringify({
      requests: result.requests.total,
      ok: result['2xx'],
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      p50_ms: result.latency.p50,
      p99_ms: result.latency.p99,
      rps: result.requests.average,
      duration_s: result.duration,
      posts,
      changes,
      badSig,
    }) + '\n',
  );
}

async function main(): Promise<void> {
  const duration = opt('duration', 10);
  const connections = opt('connections', 64);
  const statuses = !args.includes('--no-statuses');
  const { startSandbox } = await import('../src/meta/sandbox/server.ts');
  const secret = 'bench-secret';
  const sb = await startSandbox({
    port: 0,
    app_secret: secret,
    numbers: [{ phone_number_id: PNID, waba_id: '102290129340398', display_phone_number: '+1 555 010 0001' }],
    tokens: [TOKEN],
    rules: { max_throughput_mps: 1_000_000, marketing_cap: 0 },
    statuses: { sent_ms: 50, delivered_ms: 100, read_ms: 200, enabled: statuses },
  });
  // The bucket is raised above any rate the machine can reach, so 130429 never fires.
  sb.state.updateNumber(PNID, { throughput_mps: 1_000_000 });

  // Event-loop utilisation of the sandbox's process during the run: below 1.0 = the sandbox had room
  // to spare (the load generator or the machine set the rate, not the sandbox).
  const elu0 = performance.eventLoopUtilization();
  const self = fileURLToPath(import.meta.url);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', self, '--client', sb.url, String(duration), String(connections), secret, String(statuses)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code: number = await new Promise((r) => child.on('exit', (c) => r(c ?? 1)));
  if (code !== 0) throw new Error(`load generator exited with ${code}`);
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const res = JSON.parse(out.trim().split('\n').pop()!);
  const accepted = sb.state.counters.accepted;
  const summary = {
    sends_per_s: Math.round(accepted / res.duration_s),
    p50_ms: res.p50_ms,
    p99_ms: res.p99_ms,
    requests: res.requests,
    accepted,
    non2xx: res.non2xx,
    errors: res.errors,
    ledger: sb.state.ledger.length,
    statuses,
    webhook_posts: res.posts,
    webhook_changes: res.changes,
    expected_changes: statuses ? accepted * 3 : 0,
    changes_per_post: res.posts ? Math.round(res.changes / res.posts) : 0,
    bad_signatures: res.badSig,
    duration_s: res.duration_s,
    connections,
    sandbox_event_loop_utilization: Math.round(elu * 100) / 100,
    // Rate the sandbox could take at a fully busy event loop (rough: assumes cost grows linearly).
    sandbox_capacity_estimate_per_s: elu > 0 ? Math.round(accepted / res.duration_s / elu) : null,
  };
  await sb.close();
  process.stdout.write(JSON.stringify(summary) + '\n');
}

if (args[0] === '--client') {
  await client(args[1], Number(args[2]), Number(args[3]), args[4], args[5] === 'true');
} else {
  await main();
}
