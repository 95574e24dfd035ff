// `wagate campaign status <id> --watch` as an operator runs it: the real CLI (bin/wagate.js, a child
// process) against a running wagate. Its live progress bar moves while the campaign sends, it stops
// with the reason when the campaign is paused, and a second watch after resume ends at 100% completed.
// On a terminal it redraws one line in place (checked on the same code in-process, with a TTY stream).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { run } from '../../src/cli/campaign.ts';
import { waitFor } from '../delivery/harness.ts';
import { cliIo, lostAndDuplicates, phone, startCampaignHarness, type CampaignHarness } from './helpers.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
let h: CampaignHarness;
beforeAll(async () => {
  h = await startCampaignHarness({ mps: 80 });
});
afterAll(async () => {
  await h?.close();
});

interface Watch {
  lines: string[];
  err: () => string;
  exit: Promise<number | null>;
  kill: () => void;
}

function watch(id: string): Watch {
  const proc = spawn(
    process.execPath,
    [join(root, 'bin/wagate.js'), 'campaign', 'status', id, '--watch', '--interval', '200', '--url', h.base],
    { cwd: root, env: { ...process.env, WAGATE_API_KEY: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let err = '';
  createInterface({ input: proc.stdout }).on('line', (l) => lines.push(l));
  proc.stderr.on('data', (d) => (err += String(d)));
  const exit = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  return { lines, err: () => err, exit, kill: () => proc.kill('SIGKILL') };
}

const BAR = /^\[([#-]{30})\] +(\d+)% {2}(\w+) {2}sent (\d+)\/(\d+) · delivered \d+ · read \d+ · failed \d+ · denied \d+ · pending (\d+)/;
const parse = (l: string) => {
  const m = BAR.exec(l);
  return m ? { percent: Number(m[2]), status: m[3], sent: Number(m[4]), total: Number(m[5]), pending: Number(m[6]), line: l } : null;
};

type Bar = NonNullable<ReturnType<typeof parse>>;
/** The first progress line the watch printed that satisfies `ok`, once it has. */
const lineWhere = (w: Watch, what: string, ok: (x: Bar) => boolean) =>
  waitFor(what, async () => w.lines.map(parse).find((x): x is Bar => x !== null && ok(x)) ?? null, 20_000);

describe('wagate campaign status --watch (child process)', () => {
  it('shows live progress, stops with the reason on pause, and a watch after resume ends at 100% completed', async () => {
    const N = 40;
    const recipients = Array.from({ length: N }, (_, i) => phone(1500 + i));
    const c = await h.api('POST', '/v1/campaigns', {
      name: 'watched',
      template: { name: 'spring_sale', language: 'en_US' },
      audience: { recipients: recipients.map((p) => ({ to: `+${p}` })) },
      variables: ['Ana'],
      options: { rate_mps: 4 },
      // Scheduled for later, so the watch is up (a child process takes a while to start) before it sends.
      deliver_at: new Date(Date.now() + 3_600_000).toISOString(),
    });
    expect(c.status).toBe(201);
    const id = c.json.id as string;

    const a = watch(id);
    try {
      const waiting = await waitFor('a first progress line', async () => a.lines.map(parse).find((x) => x) ?? null, 30_000);
      expect(waiting).toMatchObject({ status: 'scheduled', sent: 0, total: N, percent: 0 });
      expect((await h.api('POST', `/v1/campaigns/${id}/start`)).status).toBe(200);
      // Live: the bar is redrawn (one line per refresh off a terminal) and the count moves.
      const first = await lineWhere(a, 'a line while it sends', (x) => x.status === 'running' && x.sent > 0);
      const later = await lineWhere(a, 'progress moving', (x) => x.sent > first.sent && x.percent > first.percent);
      expect(later.line).toMatch(/ · \d+(\.\d)?\/s/); // the rate
      expect(later.line).toMatch(/ · ETA \d+/); // and how long is left
      const pct = a.lines
        .map(parse)
        .filter((x) => x !== null)
        .map((x) => x.percent);
      expect([...pct].sort((x, y) => x - y)).toEqual(pct); // never goes back

      expect((await h.api('POST', `/v1/campaigns/${id}/pause`, { reason: 'checking the copy' })).status).toBe(200);
      expect(await a.exit).toBe(0);
      expect(a.err()).toBe('');
      const tail = a.lines.slice(-2);
      expect(parse(tail[0])?.status).toBe('paused');
      expect(tail[1]).toBe('checking the copy');
    } finally {
      a.kill();
    }

    expect((await h.api('POST', `/v1/campaigns/${id}/resume`)).status).toBe(200);
    const b = watch(id);
    try {
      expect(await b.exit).toBe(0);
      expect(b.err()).toBe('');
      const last = parse(b.lines.at(-1) ?? '');
      expect(last).toMatchObject({ percent: 100, status: 'completed', sent: N, total: N, pending: 0 });
      expect(last?.line.startsWith(`[${'#'.repeat(30)}] 100%`)).toBe(true);
    } finally {
      b.kill();
    }
    expect(lostAndDuplicates(recipients, await h.ledger())).toEqual({ lost: 0, duplicates: 0 });
  });

  it('exits 1 with the reason for an unknown campaign and 2 when no wagate answers', async () => {
    const unknown = watch('cmp_nope');
    expect(await unknown.exit).toBe(1);
    expect(unknown.err()).toMatch(/CAMPAIGN_NOT_FOUND/);
    const proc = spawn(
      process.execPath,
      [join(root, 'bin/wagate.js'), 'campaign', 'status', 'cmp_x', '--watch', '--url', 'http://127.0.0.1:9'],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    proc.stderr.on('data', (d) => (err += String(d)));
    expect(await new Promise((res) => proc.once('exit', res))).toBe(2);
    expect(err).toMatch(/no wagate answers at http:\/\/127\.0\.0\.1:9/);
  });

  it('on a terminal redraws one line in place and ends it with a newline', async () => {
    const c = await h.api('POST', '/v1/campaigns', {
      name: 'tty',
      template: { name: 'spring_sale', language: 'en_US' },
      audience: { recipients: [0, 1, 2].map((i) => ({ to: `+${phone(1600 + i)}` })) },
      variables: ['Bo'],
    });
    await h.api('POST', `/v1/campaigns/${c.json.id}/start`);
    const io = cliIo({ tty: true });
    expect(await run({ url: h.base, watch: true, interval: '200' }, ['status', c.json.id], io)).toBe(0);
    expect(io.out.startsWith('\r\x1b[2K[')).toBe(true);
    expect(io.out.endsWith('\n')).toBe(true);
    expect(io.out.slice(0, -1)).not.toMatch(/\n/); // every refresh overwrote the same line
    expect(io.out.split('\r\x1b[2K').at(-1)).toMatch(/100% {2}completed {2}sent 3\/3/);
  });
});
