import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { connect } from 'nats';
import { createJetStreamQueue, deleteJetStreamQueue } from '../../src/queue/jetstream.ts';
import { queueContract } from './contract.ts';
import { NATS_URL as url, missing } from '../support/services.ts';

// The shared NATS with JetStream (WAGATE_NATS_URL); without it these skip (test/support/services.ts).
const noNats = missing('nats');

describe.skipIf(noNats)('on the shared NATS', () => {
  queueContract('jetstream (NATS 2.9)', async () => {
    const run = randomBytes(4).toString('hex');
    const stream = `wagate_test_${run}`;
    const subject_prefix = `wagate_test_${run}.delivery`;
    return {
      open: () => createJetStreamQueue({ url, stream, subject_prefix, senders: ['main'] }),
      destroy: () => deleteJetStreamQueue({ url, stream }),
    };
  });
});

describe('JetStream queue setup', () => {
  it.skipIf(noNats)('two instances creating the same stream and consumers at once both succeed and share the work', async () => {
    const run = randomBytes(4).toString('hex');
    const stream = `wagate_test_${run}`;
    const o = { url, stream, subject_prefix: `wagate_test_${run}.delivery`, senders: ['main', 'b@x.y z'] };
    try {
      const [a, b] = await Promise.all([createJetStreamQueue(o), createJetStreamQueue(o)]);
      // A sender id with characters NATS subjects forbid still gets its own subject and consumer.
      expect(await a.enqueue({ id: 'm1', sender_id: 'b@x.y z', attempts: 0, enqueued_at: Date.now() })).toBe(true);
      expect(await b.enqueue({ id: 'm1', sender_id: 'b@x.y z', attempts: 0, enqueued_at: Date.now() })).toBe(false);
      const got = await b.pull('b@x.y z', 5, { lease_ms: 5_000, wait_ms: 1_000 });
      expect(got.map((l) => l.job.id)).toEqual(['m1']);
      await b.ack(got[0]);
      expect((await a.stats('main')).depth).toBe(0);
      await Promise.all([a.close(), b.close()]);
    } finally {
      await deleteJetStreamQueue({ url, stream });
    }
  });

  it.skipIf(noNats)('refuses an existing stream of another kind with a clear error', async () => {
    const run = randomBytes(4).toString('hex');
    const stream = `wagate_test_${run}`;
    const nc = await connect({ servers: url });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({ name: stream, subjects: [`other_${run}.>`] });
    try {
      await expect(createJetStreamQueue({ url, stream, subject_prefix: `wagate_test_${run}.delivery`, senders: [] })).rejects.toThrow(
        /not a work-queue stream .* delete it/,
      );
    } finally {
      await jsm.streams.delete(stream);
      await nc.close();
    }
  });

  it('says clearly when NATS is not there', async () => {
    await expect(createJetStreamQueue({ url: 'nats://127.0.0.1:1', stream: 'x', subject_prefix: 'x.d', senders: [] })).rejects.toThrow(
      /cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/,
    );
  });
});
