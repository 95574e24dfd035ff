// Child process for crash.test.ts: a full wagate (workers and the campaign dispatcher on) over a given
// data dir and an external sandbox. Prints {"base": URL} when ready, then runs until killed (kill -9).
import { startCampaignHarness } from './helpers.ts';

const h = await startCampaignHarness({
  dataDir: process.env.CRASH_DATA_DIR!,
  sandboxUrl: process.env.CRASH_SANDBOX_URL!,
  mps: 80,
  delivery: { lease_ms: 1_500, in_doubt_grace_ms: 3_000, concurrency_per_sender: 8 },
});
process.stdout.write(`${JSON.stringify({ base: h.base })}\n`);
setInterval(() => {}, 60_000);
