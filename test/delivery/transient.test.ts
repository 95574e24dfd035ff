// Transient failures are bounded by age, never by a count (issue 17, defect 6): a Meta outage of
// HTTP 500 / 131000 that outlasts max_attempts × backoff dead-letters nothing, and each message goes
// out once after it; a message that keeps failing past delivery.retry_max_age_h is dead-lettered with a
// reason that says so. Against the real sandbox (POST /_sandbox/faults) and its ledger.
import { afterEach, describe, expect, it } from 'vitest';
import { countLedger, orderUpdate, recipient, startHarness, waitFor, type Harness } from './harness.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const sendsWith = async (hh: Harness, code: string) => (await hh.ctx.metrics.sends.get()).values.filter((v) => v.labels.code === code).reduce((a, v) => a + v.value, 0);

describe('transient failures', () => {
  it('a 131000 outage far longer than max_attempts: nothing dead-lettered, each message sent once afterwards', async () => {
    h = await startHarness({ delivery: { max_attempts: 2, backoff_base_ms: 10, backoff_max_ms: 50 } });
    await h.sandbox('POST', '/_sandbox/faults', { status: 500, code: 131000, seconds: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await h.post(orderUpdate(recipient(9100 + i), i))).json.id);
    // Each message is refused many more times than max_attempts (2) while the outage lasts.
    await waitFor('many refusals', async () => (await sendsWith(h!, '131000')) >= 5 * 4, 20_000);
    expect(await h.ctx.store.listDeadLetters({})).toEqual([]);
    await waitFor('all sent', async () => countLedger(ids, await h!.ledger()).lost === 0, 20_000);
    expect(countLedger(ids, await h.ledger())).toMatchObject({ lost: 0, duplicates: 0 });
    expect(await h.ctx.store.listDeadLetters({})).toEqual([]);
  });

  it('past delivery.retry_max_age_h a message that keeps failing transiently is dead-lettered RETRY_AGE_EXCEEDED', async () => {
    // 0.0005 h = 1.8 s of trying.
    h = await startHarness({ delivery: { retry_max_age_h: 0.0005, backoff_base_ms: 50, backoff_max_ms: 200 } });
    await h.sandbox('POST', '/_sandbox/faults', { status: 500, code: 131000, seconds: 60 });
    const r = await h.post(orderUpdate(recipient(9200), 1));
    expect(r.status).toBe(202);
    const dl = await waitFor('dead-lettered', async () => (await h!.ctx.store.listDeadLetters({}))[0], 20_000);
    expect(dl.message_id).toBe(r.json.id);
    expect(dl.reason_code).toBe('RETRY_AGE_EXCEEDED');
    expect(dl.explanation).toMatch(/131000/);
    expect(dl.fix).toMatch(/retry_max_age_h/);
    expect((await h.ctx.store.getMessage(r.json.id))!.status).toBe('dead_lettered');
    expect(await sendsWith(h, '131000')).toBeGreaterThan(2);
  });
});
