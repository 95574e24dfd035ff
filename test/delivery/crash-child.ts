// Child process for crash.test.ts: a full wagate (workers on) over a given data dir and an external
// sandbox. Prints one JSON line {"base": URL} when ready, then runs until killed (kill -9 by the test).
import { startHarness } from './harness.ts';

const dataDir = process.env.CRASH_DATA_DIR!;
const sandboxUrl = process.env.CRASH_SANDBOX_URL!;
const h = await startHarness({
  dataDir,
  sandboxUrl,
  mps: 80,
  delivery: { lease_ms: 1_500, in_doubt_grace_ms: 3_000, concurrency_per_sender: 8 },
});
process.stdout.write(JSON.stringify({ base: h.base }) + '\n');
setInterval(() => {}, 60_000);
