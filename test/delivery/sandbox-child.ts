// The Meta sandbox in its own process (as Meta is remote): used by bench/delivery.ts so the emulator
// does not compete with wagate for the same event loop. Prints {"url": ...} when listening.
import { startSandbox } from '../../src/meta/sandbox/server.ts';
import { PHONE_NUMBER_ID, WABA_ID } from './harness.ts';

const mps = Number(process.env.SANDBOX_MPS ?? 80);
const s = await startSandbox({
  port: 0,
  host: '127.0.0.1',
  app_secret: 'sandbox-app-secret',
  numbers: [{ phone_number_id: PHONE_NUMBER_ID, waba_id: WABA_ID, display_phone_number: '+1 555 010 0001', throughput_mps: mps }],
  tokens: ['sandbox-token-main'],
});
process.stdout.write(JSON.stringify({ url: s.url }) + '\n');
process.on('SIGTERM', () => void s.close().then(() => process.exit(0)));
