import { randomBytes } from 'node:crypto';
import { createJetStreamQueue, deleteJetStreamQueue } from '../../src/queue/jetstream.ts';
import { queueContract } from './contract.ts';

const url = 'nats://127.0.0.1:4222';

queueContract('jetstream (NATS 2.9)', async () => {
  const run = randomBytes(4).toString('hex');
  const stream = `wagate_test_${run}`;
  const subject_prefix = `wagate_test_${run}.delivery`;
  return {
    open: () => createJetStreamQueue({ url, stream, subject_prefix, senders: ['main'] }),
    destroy: () => deleteJetStreamQueue({ url, stream }),
  };
});
