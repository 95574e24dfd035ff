// Accepted means delivered (issue 17, defects 1 and 2): a backend outage between the store and the
// queue must never lose or strand a message wagate answered 202 for, whatever the client does when it
// retries (the README's advice: same Idempotency-Key, on 503 and on a dropped connection).
// - NATS killed -9 three times while messages are submitted: the store holds the message, the
//   outbox relay hands it to the queue once NATS is back.
// - PostgreSQL connections cut (a TCP proxy this test owns) three times: a batched insert may commit
//   while wagate sees "Connection terminated"; the retry with the same key gets the stored message,
//   and the relay sends it without a restart.
// Counted at the sandbox ledger (Meta's own count): every 202 sent exactly once, nothing left queued.
import { describe, expect, it } from 'vitest';
import { countLedger, orderUpdate, recipient, startHarness, waitFor, type Harness } from '../delivery/harness.ts';
import { DATABASE_URL, dropNamespace, startPrivateNats, useServers } from './backends.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { missing } from '../support/services.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A client as the README tells it to be: the same key again on 503 or a failed connection, until a definite answer. */
async function submitWithRetries(h: Harness, i: number, answers: Record<string, number>): Promise<string> {
  const key = `outbox-${i}`;
  for (let tries = 0; tries < 400; tries++) {
    let r: { status: number; json: any };
    try {
      r = await h.post(orderUpdate(recipient(i), i), { 'idempotency-key': key });
    } catch {
      answers.connection_error = (answers.connection_error ?? 0) + 1;
      await sleep(100);
      continue;
    }
    answers[r.status] = (answers[r.status] ?? 0) + 1;
    if (r.status === 202) return r.json.id as string;
    if (r.status !== 503) throw new Error(`submit ${i}: ${r.status} ${JSON.stringify(r.json)}`);
    await sleep(100);
  }
  throw new Error(`submit ${i}: no 202 after 400 tries`);
}

/** Submits n messages over 8 lanes, spread over about 6 s, while `chaos` runs; the 202'd ids and the answers seen. */
async function submitDuring(
  h: Harness,
  n: number,
  chaos: () => Promise<void>,
): Promise<{ ids: string[]; answers: Record<string, number> }> {
  const ids: string[] = [];
  const answers: Record<string, number> = {};
  let next = 0;
  const lanes = Array.from({ length: 8 }, async () => {
    while (next < n) {
      const i = next++;
      ids.push(await submitWithRetries(h, i, answers));
      await sleep((6_000 * 8) / n);
    }
  });
  await Promise.all([...lanes, chaos()]);
  return { ids, answers };
}

async function expectAllSentOnce(h: Harness, ids: string[]): Promise<void> {
  expect(new Set(ids).size).toBe(ids.length);
  await waitFor(`all ${ids.length} in the ledger`, async () => (await h.ledger()).length >= ids.length, 60_000, 250);
  await sleep(1_000); // a late duplicate would show up here
  const { lost, duplicates } = countLedger(ids, await h.ledger());
  const statuses = await Promise.all(ids.map(async (id) => (await h.get(`/v1/messages/${id}`)).json.status as string));
  const stuck = statuses.filter((s) => s === 'queued' || s === 'in_doubt' || s === 'failed').length;
  expect({ lost, duplicates, stuck }).toEqual({ lost: 0, duplicates: 0, stuck: 0 });
}

describe.skipIf(missing('postgres', 'redis', 'nats'))('outbox: accepted messages survive backend outages', () => {
  it.skipIf(missing('nats-server'))(
    'NATS killed -9 three times during submits: every 202 is sent exactly once, none replayed unsent',
    async () => {
      const nats = await startPrivateNats();
      let h: Harness | null = null;
      try {
        h = await useServers({ nats: nats.url }, () => startHarness({ production: true, mps: 500, delivery: { relay_interval_ms: 200 } }));
        const hh = h;
        const { ids, answers } = await submitDuring(hh, 300, async () => {
          for (let k = 0; k < 3; k++) {
            await sleep(400);
            await nats.kill();
            await sleep(1_500);
            await nats.restart();
          }
        });
        console.log(JSON.stringify({ outage: 'nats kill -9 x3', answers, relayed: hh.ctx.outbox.relayed }));
        // The outage really hit submits: some were stored while the queue was away.
        expect(hh.ctx.outbox.relayed).toBeGreaterThan(0);
        await expectAllSentOnce(hh, ids);
      } finally {
        if (h) await h.close();
        await nats.stop();
      }
    },
    180_000,
  );

  it('PostgreSQL connections cut three times during submits: no 500, every 202 sent exactly once, none stranded', async () => {
    const u = new URL(DATABASE_URL);
    const proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
    u.port = String(proxy.port);
    let h: Harness | null = null;
    try {
      h = await startHarness({ production: true, mps: 500, database_url: u.toString(), delivery: { relay_interval_ms: 200 } });
      const hh = h;
      const { ids, answers } = await submitDuring(hh, 300, async () => {
        for (let k = 0; k < 3; k++) {
          await sleep(400);
          await proxy.cut(1_500);
        }
      });
      console.log(JSON.stringify({ outage: 'postgres connections cut x3', answers, cuts: proxy.cuts }));
      expect(proxy.cuts).toBeGreaterThan(0);
      expect(answers[500] ?? 0).toBe(0);
      await expectAllSentOnce(hh, ids);
    } finally {
      if (h) {
        await h.close({ keepData: false }).catch(() => {});
        await dropNamespace(h.namespace).catch(() => {});
      }
      await proxy.close();
    }
  }, 180_000);
});
