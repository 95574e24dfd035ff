// bench:campaign — campaigns end to end, per backend (embedded: SQLite + memory gate + embedded queue;
// production: PostgreSQL + Redis + NATS), against the Meta sandbox in its own process:
//  - preview_per_s: recipients previewed per second (the whole gate as a dry run, reserving nothing);
//  - dispatch_mps: a campaign of --recipients at the 1,000 mps tier, start → the last send at Meta;
//    lost and duplicates from the sandbox ledger (Meta's own count); cpu_ms_per_recipient: wagate's CPU;
//  - rss_mb_per_100k: wagate's memory growth while a streamed CSV upload of --upload recipients is stored
//    (upload_rss_growth_mb: the growth itself; goal for 1,000,000 recipients: under 200 MB).
//   npm run bench:campaign [-- --backend embedded|production|both] [-- --recipients 100000] [-- --upload 200000]
// LAST line: {"backends": [{backend, recipients, preview_per_s, dispatch_mps, lost, duplicates, rss_mb_per_100k,
//   upload_rss_growth_mb, cpu_ms_per_recipient, upload_recipients, upload_s}]}
import { parseArgs } from 'node:util';
import { Readable } from 'node:stream';
import { startSandboxProcess, http, PHONE_NUMBER_ID, type LedgerSend } from '../test/delivery/harness.ts';
import { startCampaignHarness, lostAndDuplicates } from '../test/campaigns/helpers.ts';
import { audienceRows } from '../src/campaigns/service.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'both' },
    recipients: { type: 'string', default: '100000' },
    upload: { type: 'string', default: '200000' },
    mps: { type: 'string', default: '1000' },
  },
});
const N = Math.max(100, Number(values.recipients) || 100_000);
const UPLOAD = Math.max(1000, Number(values.upload) || 200_000);
const MPS = Math.max(1, Number(values.mps) || 1000);
const backends = values.backend === 'both' ? ['embedded', 'production'] : [values.backend === 'production' ? 'production' : 'embedded'];

const phoneOf = (i: number) => `91${9000000000 + i}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function csvStream(n: number, from: number, onRead: () => void = () => {}): Readable {
  let i = 0;
  return new Readable({
    read() {
      onRead();
      if (i === 0) this.push('to,1\n');
      let chunk = '';
      for (let k = 0; k < 5000 && i < n; k++, i++) chunk += `+${phoneOf(from + i)},N${i}\n`;
      this.push(chunk || null);
      if (i >= n && chunk) this.push(null);
    },
  });
}

async function runBackend(backend: string) {
  const sandbox = await startSandboxProcess(MPS);
  const h = await startCampaignHarness({
    mps: MPS,
    sandboxUrl: sandbox.url,
    production: backend === 'production',
    delivery: { concurrency_per_sender: 256, backoff_base_ms: 200, lease_ms: 10_000, in_doubt_grace_ms: 10_000 },
  });
  const s = h.campaigns;
  try {
    // Memory of a streamed upload: RSS sampled while the CSV is parsed and stored.
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    // Sampled on a timer and at every chunk read: the embedded store answers synchronously, so during
    // the upload the timer may never fire (its peak read as 0 growth before).
    const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));
    const sampler = setInterval(sample, 50);
    const u0 = performance.now();
    const up = await s.create(
      { name: 'upload', template: { name: 'spring_sale', language: 'en_US' }, audience: {} },
      'bench',
      audienceRows(csvStream(UPLOAD, 5_000_000, sample), 'csv'),
    );
    const uploadS = (performance.now() - u0) / 1000;
    clearInterval(sampler);
    const growthMb = (peak - rss0) / 1024 / 1024;
    const uploadGrowthMb = Math.round(growthMb);
    const rssMbPer100k = Math.round((growthMb * 100_000 * 10) / UPLOAD) / 10;
    if (up.counts.total !== UPLOAD) throw new Error(`upload stored ${up.counts.total} of ${UPLOAD}`);

    // Preview of the uploaded audience (the gate as a dry run for each recipient).
    const p0 = performance.now();
    const prev = await s.preview(up.id);
    const previewPerS = Math.round(UPLOAD / ((performance.now() - p0) / 1000));
    if (prev.total !== UPLOAD) throw new Error(`preview saw ${String(prev.total)} of ${UPLOAD}`);
    await s.cancel(up.id, 'bench');

    // Dispatch at the tier: start → the last recipient accepted by Meta (the sandbox ledger).
    const recipients = Array.from({ length: N }, (_, i) => ({ to: `+${phoneOf(i)}`, variables: [`N${i}`] }));
    const c = await s.create({ name: 'dispatch', template: { name: 'spring_sale', language: 'en_US' }, audience: { recipients } }, 'bench');
    const ledger = async () =>
      (await http('GET', `${sandbox.url}/_sandbox/ledger?phone_number_id=${PHONE_NUMBER_ID}`)).json.sends as LedgerSend[];
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    await s.start(c.id, 'bench');
    let last = 0;
    let stalled = 0;
    for (;;) {
      await sleep(1000);
      const v = await s.get(c.id);
      const done = v.counts.total - v.counts.pending - v.counts.queued;
      if (v.status === 'completed' && v.counts.queued === 0) break;
      stalled = done === last ? stalled + 1 : 0;
      last = done;
      if (stalled > 60) throw new Error(`dispatch stalled at ${done}/${N}: ${JSON.stringify(v.counts)}`);
    }
    const cpu = process.cpuUsage(cpu0);
    const sends = await ledger();
    const lastAt = Math.max(...sends.map((x) => (typeof x.at === 'number' ? x.at : Date.parse(x.at))));
    const seconds = Math.max(0.001, (lastAt - t0) / 1000);
    const { lost, duplicates } = lostAndDuplicates(
      recipients.map((r) => r.to.slice(1)),
      sends,
    );
    return {
      backend,
      recipients: N,
      preview_per_s: previewPerS,
      dispatch_mps: Math.round((N / seconds) * 10) / 10,
      lost,
      duplicates,
      rss_mb_per_100k: rssMbPer100k,
      upload_rss_growth_mb: uploadGrowthMb,
      cpu_ms_per_recipient: Math.round(((cpu.user + cpu.system) / 1000 / N) * 1000) / 1000,
      upload_recipients: UPLOAD,
      upload_s: Math.round(uploadS * 10) / 10,
      dispatch_s: Math.round(seconds * 10) / 10,
    };
  } finally {
    await h.close();
    await sandbox.stop();
  }
}

const out = [];
for (const b of backends) {
  try {
    out.push(await runBackend(b));
  } catch (err) {
    console.error(`${b}: ${(err as Error).message}`);
    out.push({ backend: b, error: (err as Error).message });
  }
  console.error(JSON.stringify(out.at(-1)));
}
console.log(JSON.stringify({ backends: out }));
process.exit(0);
