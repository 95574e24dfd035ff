// Transient failures are bounded by time, never by a count (issue 17, defect 6): a Meta outage of
// HTTP 500 / 131000 (then 503 / code 2) that outlasts max_attempts × backoff dead-letters nothing, and
// each message goes out once after it; a message that keeps failing transiently for
// delivery.retry_max_age_h since its first failure is dead-lettered with a reason that says how long it
// was tried; time spent waiting before its first failure (a paused sender) does not eat that budget.
// Against the real sandbox (POST /_sandbox/faults) and its ledger.
import { afterEach, describe, expect, it } from 'vitest';
import { countLedger, orderUpdate, recipient, startHarness, waitFor, type Harness } from './harness.ts';
import { STATUS_RANK } from '../../src/domain/types.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const sendsWith = async (hh: Harness, code: string) =>
  (await hh.ctx.metrics.sends.get()).values.filter((v) => v.labels.code === code).reduce((a, v) => a + v.value, 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('transient failures', () => {
  it('a 500/131000 then 503 outage far longer than max_attempts: nothing dead-lettered, each message sent once afterwards', async () => {
    h = await startHarness({ delivery: { max_attempts: 2, backoff_base_ms: 10, backoff_max_ms: 50 } });
    const n = 40;
    // The report's fault, HTTP 500 (the sandbox answers 131000 for it), then Meta's 503 (code 2): 4
    // refusals per message on average, twice max_attempts. Counted by refusals, not by seconds, so a
    // loaded machine sees the same outage; the old worker dead-lettered each message at its 2nd.
    await h.sandbox('POST', '/_sandbox/faults', { status: 500, count: 2 * n });
    await h.sandbox('POST', '/_sandbox/faults', { status: 503, count: 2 * n });
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await h.post(orderUpdate(recipient(9100 + i), i));
      expect(r.status, JSON.stringify(r.json)).toBe(202);
      ids.push(r.json.id);
    }
    const deadLetters = async () => (await h!.ctx.store.listDeadLetters({})).map((d) => `${d.reason_code}: ${d.explanation}`);
    await waitFor(
      'all sent (or, the defect, a dead letter)',
      async () => (await deadLetters()).length > 0 || countLedger(ids, await h!.ledger()).lost === 0,
      30_000,
    );
    expect(await deadLetters()).toEqual([]);
    // The whole outage was consumed: every refusal was retried, none ended a message.
    expect(await sendsWith(h, '131000')).toBe(2 * n);
    expect(await sendsWith(h, '2')).toBe(2 * n);
    expect(countLedger(ids, await h.ledger())).toMatchObject({ lost: 0, duplicates: 0 });
    for (const id of ids) {
      const m = (await h.ctx.store.getMessage(id))!;
      expect(STATUS_RANK[m.status]).toBeGreaterThanOrEqual(STATUS_RANK.accepted);
      expect(m.attempts).toBe(1); // refusals were not attempts
    }
  }, 60_000);

  it('past delivery.retry_max_age_h of failures in a row a message is dead-lettered RETRY_AGE_EXCEEDED, saying how long it was tried', async () => {
    // 0.0005 h = 1.8 s of trying.
    h = await startHarness({ delivery: { retry_max_age_h: 0.0005, backoff_base_ms: 50, backoff_max_ms: 200 } });
    await h.sandbox('POST', '/_sandbox/faults', { status: 500, code: 131000, seconds: 60 });
    const r = await h.post(orderUpdate(recipient(9200), 1));
    expect(r.status).toBe(202);
    const dl = await waitFor('dead-lettered', async () => (await h!.ctx.store.listDeadLetters({}))[0], 20_000);
    expect(dl.message_id).toBe(r.json.id);
    expect(dl.reason_code).toBe('RETRY_AGE_EXCEEDED');
    // How long, how many failures, which budget, and the last failure.
    expect(dl.explanation).toMatch(/tried for \d+(\.\d)? s \(\d+ failures in a row since /);
    expect(dl.explanation).toMatch(/delivery\.retry_max_age_h \(0\.0005 h\)/);
    expect(dl.explanation).toMatch(/131000/);
    expect(dl.fix).toMatch(/retry_max_age_h/);
    expect(Number(dl.meta_error?.transient_failures)).toBeGreaterThan(2);
    expect(dl.attempts).toBe(0); // transient failures are not attempts
    expect((await h.ctx.store.getMessage(r.json.id))!.status).toBe('dead_lettered');
    expect(await sendsWith(h, '131000')).toBeGreaterThan(2);
    expect(countLedger([r.json.id], await h.ledger()).lost).toBe(1);
  });

  it('a message older than the budget (it waited behind a paused sender) still rides out a short outage', async () => {
    // 0.001 h = 3.6 s. Meta pauses the sender (131048) on the first send; the message waits 4.5 s
    // for the resume, then Meta fails it three times with 500.
    h = await startHarness({ delivery: { retry_max_age_h: 0.001, backoff_base_ms: 20, backoff_max_ms: 100 } });
    await h.sandbox('POST', '/_sandbox/faults', { status: 400, code: 131048, count: 1 });
    const r = await h.post(orderUpdate(recipient(9300), 1));
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    await waitFor('sender paused', async () => h!.ctx.senders.status('main').state === 'paused');
    await sleep(4_500);
    expect((await h.ctx.store.getMessage(r.json.id))!.status).toBe('queued');
    await h.sandbox('POST', '/_sandbox/faults', { status: 500, count: 3 });
    h.ctx.senders.setState('main', 'active', { at: Date.now() });
    await waitFor('sent', async () => countLedger([r.json.id], await h!.ledger()).lost === 0, 20_000);
    expect(await sendsWith(h, '131000')).toBe(3);
    expect(await h.ctx.store.listDeadLetters({})).toEqual([]);
    expect(countLedger([r.json.id], await h.ledger())).toMatchObject({ lost: 0, duplicates: 0 });
  }, 60_000);
});
