// The delivery pipeline end to end: real app (createApp), embedded SQLite queue and store, memory gate
// and pacer, the in-process Meta sandbox and its ledger (Meta's own count of accepted sends).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startHarness, recipient, orderUpdate, waitFor, countLedger, approveSeedTemplates, type Harness } from './harness.ts';
import { recordInbound } from '../../src/engine/customers.ts';
import { STATUS_RANK } from '../../src/domain/types.ts';

let h: Harness;
let seq = 0;
const next = () => recipient(1000 + ++seq);

async function statusOf(id: string): Promise<string> {
  return (await h.get(`/v1/messages/${id}`)).json.status;
}

async function allSettled(ids: string[], timeoutMs = 15_000): Promise<void> {
  await waitFor(
    `${ids.length} messages accepted`,
    async () => {
      for (const id of ids) if (STATUS_RANK[(await h.ctx.store.getMessage(id))!.status] < STATUS_RANK.accepted) return false;
      return true;
    },
    timeoutMs,
  );
}

async function submitMany(n: number, key?: (i: number) => string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await h.post(orderUpdate(next(), i), key ? { 'idempotency-key': key(i) } : {});
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    ids.push(r.json.id);
  }
  return ids;
}

beforeAll(async () => {
  h = await startHarness({ mps: 80 });
});
afterAll(async () => {
  await h?.close();
});

describe('submit', () => {
  it('a reply within 24h of a click-to-WhatsApp message opens the 72h free-entry-point window once accepted', async () => {
    const to = next();
    await recordInbound(h.ctx, { sender_id: 'main', wa_id: to, at: h.ctx.now(), referral: true, source: 'test' });
    const r = await h.post({ to: `+${to}`, type: 'text', text: { body: 'Thanks for clicking our ad!' } });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    await allSettled([r.json.id]);
    const w = await waitFor('FEP window recorded', async () =>
      (await h.ctx.store.getWindows(to)).find((x) => x.sender_id === 'main' && x.fep_opened_at !== null),
    );
    expect(w.fep_opened_at).toBeGreaterThanOrEqual(w.referral_at!);
  });

  it('queues, sends once with our id in biz_opaque_callback_data, and records the full history', async () => {
    const to = next();
    const r = await h.post(orderUpdate(`+${to.slice(0, 2)} ${to.slice(2)}`));
    expect(r.status).toBe(202);
    expect(r.json.status).toBe('queued');
    expect(r.json.decision.allowed).toBe(true);
    const id = r.json.id as string;
    await allSettled([id]);
    const m = (await h.get(`/v1/messages/${id}`)).json;
    expect(m.id).toBe(id);
    expect(m.to).toBe(to);
    expect(m.wamid).toMatch(/^wamid\./);
    expect(m.payload).toMatchObject({ messaging_product: 'whatsapp', to, biz_opaque_callback_data: id });
    // The worker's own events, in order (status webhooks may interleave: Meta's times are in seconds).
    const own = m.history.filter((e: { source: string }) => e.source !== 'webhook').map((e: { status: string }) => e.status);
    expect(own).toEqual(['queued', 'accepted']);
    expect(m.attempts).toBe(1);
    expect(m.history.find((e: { status: string }) => e.status === 'accepted').wamid).toBe(m.wamid);
    expect(typeof m.history[0].at).toBe('string');
    const sends = (await h.ledger()).filter((s) => s.biz_opaque_callback_data === id);
    expect(sends).toHaveLength(1);
    expect(sends[0].to).toBe(to);
  });

  it('a denial answers 422 with the decision, stores no message and sends nothing', async () => {
    const before = (await h.ledger()).length;
    const to = next();
    // Free-form text with no customer-service window open.
    const r = await h.post({ to, type: 'text', text: { body: 'hello' } });
    expect(r.status).toBe(422);
    expect(r.json.decision.allowed).toBe(false);
    expect(r.json.decision.reason_code).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
    expect(await h.ctx.store.listMessages({ to })).toHaveLength(0);
    const audit = await h.ctx.store.listAudit({ action: 'message.denied', limit: 50 });
    expect(audit.some((a) => a.detail.reason_code === 'WINDOW_CLOSED_TEMPLATE_REQUIRED')).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect((await h.ledger()).length).toBe(before);
  });

  it('bad input gets a clear error, not a crash', async () => {
    const r = await h.post({ to: next(), type: 'template', template: { name: 'order_update' } });
    expect(r.status).toBe(422);
    expect(r.json.decision.reason_code).toBe('INVALID_MESSAGE');
    expect(r.json.decision.explanation).toMatch(/template\.language/);
    const nf = await h.get('/v1/messages/msg_nope');
    expect(nf.status).toBe(404);
    expect(nf.json.error).toMatchObject({ code: 'MESSAGE_NOT_FOUND' });
    expect(nf.json.error.fix).toBeTruthy();
    const bad = await h.get('/v1/messages?status=bogus');
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('INVALID_STATUS');
  });

  it('the same Idempotency-Key twice sends once; another body under that key is a 409', async () => {
    const body = orderUpdate(next(), 7);
    const key = `idem-${Date.now()}`;
    const [a, b] = await Promise.all([h.post(body, { 'idempotency-key': key }), h.post(body, { 'idempotency-key': key })]);
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.json.id).toBe(a.json.id);
    await allSettled([a.json.id]);
    const c = await h.post(body, { 'idempotency-key': key });
    expect(c.status).toBe(202);
    // The replay answers with the message's CURRENT status: accepted, or already sent/delivered when
    // the sandbox's status webhooks (20 ms and later) got in first.
    expect(c.json).toMatchObject({ id: a.json.id, replayed: true });
    expect(['accepted', 'sent', 'delivered', 'read']).toContain(c.json.status);
    expect(c.json.decision.allowed).toBe(true);
    const d = await h.post(orderUpdate(next(), 8), { 'idempotency-key': key });
    expect(d.status).toBe(409);
    expect(d.json.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    await new Promise((r) => setTimeout(r, 200));
    expect(countLedger([a.json.id], await h.ledger()).byId.get(a.json.id)).toBe(1);
  });

  it('lists messages by status', async () => {
    const r = await h.get('/v1/messages?status=accepted,sent,delivered,read&limit=5');
    expect(r.status).toBe(200);
    expect(r.json.messages.length).toBeGreaterThan(0);
    expect(r.json.messages.length).toBeLessThanOrEqual(5);
    for (const m of r.json.messages) expect(['accepted', 'sent', 'delivered', 'read']).toContain(m.status);
    const none = await h.get('/v1/messages?status=in_doubt');
    expect(none.json.messages).toEqual([]);
  });
});

describe('Meta errors', () => {
  it('a burst of 5xx is retried with backoff: every message accepted, none lost, none twice', async () => {
    await h.sandbox('POST', '/_sandbox/faults', { status: 500, count: 8 });
    const ids = await submitMany(10);
    await allSettled(ids);
    const { lost, duplicates } = countLedger(ids, await h.ledger());
    expect(lost).toBe(0);
    expect(duplicates).toBe(0);
    // Retried (Meta refused sends with a 5xx), but a transient failure is not a counted attempt (it is
    // bounded by time, delivery.retry_max_age_h of failures in a row): each accepted send is attempt 1.
    const refused = (await h.ctx.metrics.sends.get()).values.filter((v) => v.labels.outcome === 'retry').reduce((a, v) => a + v.value, 0);
    expect(refused).toBeGreaterThanOrEqual(8);
    const retried = await Promise.all(ids.map((id) => h.ctx.store.getMessage(id)));
    expect(retried.every((m) => m!.attempts === 1)).toBe(true);
  });

  it('throttling (130429) never loses a message and slows the sender', async () => {
    // Meta allows this number 10 mps; wagate believes 80: Meta throttles, wagate must back off.
    await h.sandbox('POST', `/_sandbox/numbers/${h.ctx.senders.resolve('main').phone_number_id}`, { throughput_mps: 10 });
    try {
      const ids = await submitMany(40);
      await allSettled(ids, 25_000);
      const { lost, duplicates } = countLedger(ids, await h.ledger());
      expect(lost).toBe(0);
      expect(duplicates).toBe(0);
      const throttled = (await h.ctx.metrics.sends.get()).values.filter((v) => v.labels.code === '130429').reduce((a, v) => a + v.value, 0);
      expect(throttled).toBeGreaterThan(0);
    } finally {
      await h.sandbox('POST', `/_sandbox/numbers/${h.ctx.senders.resolve('main').phone_number_id}`, { throughput_mps: 80 });
    }
  });

  it("132000 goes to dead letters with Meta's error and an explanation; discard closes it", async () => {
    // The gate's copy of spring_sale has no variable; Meta's has one: Meta refuses with 132000.
    await approveSeedTemplates(h.ctx, { spring_sale: [{ type: 'BODY', text: 'Our spring sale starts today.' }] });
    const r = await h.post({ to: next(), type: 'template', template: { name: 'spring_sale', language: { code: 'en_US' } } });
    expect(r.status, JSON.stringify(r.json)).toBe(202);
    const id = r.json.id as string;
    await waitFor('dead letter', async () => (await statusOf(id)) === 'dead_lettered');
    const list = (await h.get('/v1/dead-letters?state=open')).json.dead_letters as any[];
    const dl = list.find((d) => d.message_id === id);
    expect(dl).toBeTruthy();
    expect(dl.reason_code).toBe('META_132000');
    expect(dl.explanation.length).toBeGreaterThan(20);
    expect(dl.fix).toBeTruthy();
    expect(dl.meta_error).toMatchObject({ code: 132000 });
    const one = await h.get(`/v1/dead-letters/${dl.id}`);
    expect(one.json.message.id).toBe(id);
    expect(countLedger([id], await h.ledger()).lost).toBe(1);
    const discarded = await fetch(`${h.base}/v1/dead-letters/${dl.id}`, { method: 'DELETE' });
    expect(discarded.status).toBe(200);
    expect((await h.get(`/v1/dead-letters/${dl.id}`)).json.state).toBe('discarded');
    const again = await fetch(`${h.base}/v1/dead-letters/${dl.id}`, { method: 'DELETE' });
    expect(again.status).toBe(409);
    await approveSeedTemplates(h.ctx);
  });

  it('131047 (window closed at Meta) goes to dead letters with the explanation', async () => {
    const to = next();
    // wagate saw an inbound (its window is open); Meta did not: Meta refuses the free-form message.
    await recordInbound(h.ctx, { sender_id: 'main', wa_id: to, at: Date.now(), source: 'test' });
    await h.sandbox('POST', '/_sandbox/rules', { window_mode: 'sync' });
    try {
      const r = await h.post({ to, type: 'text', text: { body: 'hello again' } });
      expect(r.status, JSON.stringify(r.json)).toBe(202);
      await waitFor('dead letter', async () => (await statusOf(r.json.id)) === 'dead_lettered');
      const dl = ((await h.get('/v1/dead-letters')).json.dead_letters as any[]).find((d) => d.message_id === r.json.id);
      expect(dl.reason_code).toBe('META_131047');
      expect(dl.explanation).toMatch(/24/);
      expect(dl.fix).toMatch(/template/i);
      const m = (await h.get(`/v1/messages/${r.json.id}`)).json;
      expect(m.last_error.code).toBe(131047);
    } finally {
      await h.sandbox('POST', '/_sandbox/rules', { window_mode: 'async' });
    }
  });

  it('131048 pauses the sender; the message waits in the queue and goes out once after resume', async () => {
    await h.sandbox('POST', '/_sandbox/faults', { status: 400, code: 131048, count: 1 });
    const r = await h.post(orderUpdate(next()));
    await waitFor('sender paused', async () => h.ctx.senders.status('main').state === 'paused');
    expect(h.ctx.senders.status('main').reason_code).toBe('META_131048');
    await new Promise((res) => setTimeout(res, 200));
    expect(STATUS_RANK[(await h.ctx.store.getMessage(r.json.id))!.status]).toBeLessThan(STATUS_RANK.accepted);
    h.ctx.senders.setState('main', 'active', { at: Date.now() });
    await allSettled([r.json.id]);
    expect(countLedger([r.json.id], await h.ledger()).byId.get(r.json.id)).toBe(1);
  });

  it('in doubt: an answer lost after Meta accepted is resolved by the status webhook, never resent', async () => {
    const inDoubtSends = async () =>
      (await h.ctx.metrics.sends.get()).values.filter((v) => v.labels.outcome === 'in_doubt').reduce((a, v) => a + v.value, 0);
    const before = await inDoubtSends();
    await h.sandbox('POST', '/_sandbox/faults', { status: 'hang', accept: true, hang_ms: 200, count: 1 });
    const r = await h.post(orderUpdate(next()));
    await waitFor('the lost answer', async () => (await inDoubtSends()) > before);
    await allSettled([r.json.id]);
    const m = (await h.ctx.store.getMessage(r.json.id))!;
    expect(m.history.some((e) => e.source === 'webhook')).toBe(true);
    // Past the grace period (2 s in the harness): still exactly one send.
    await new Promise((res) => setTimeout(res, 2_500));
    expect(countLedger([r.json.id], await h.ledger()).byId.get(r.json.id)).toBe(1);
  });

  it('in doubt: a send Meta never got is resent once after the grace period', async () => {
    await h.sandbox('POST', '/_sandbox/faults', { status: 'hang', accept: false, hang_ms: 200, count: 1 });
    const r = await h.post(orderUpdate(next()));
    await waitFor('in doubt', async () => (await h.ctx.store.getMessage(r.json.id))!.status === 'in_doubt');
    expect(countLedger([r.json.id], await h.ledger()).lost).toBe(1);
    await allSettled([r.json.id]);
    expect(countLedger([r.json.id], await h.ledger()).byId.get(r.json.id)).toBe(1);
  });

  it('in doubt: the resend waits while a stored webhook batch is still unapplied (its status may be in it)', async () => {
    // A batch another instance stored 10 s ago and has not applied (too young to adopt: 30 s).
    await h.ctx.store.saveWebhookBatch(
      'wh_behind',
      JSON.stringify({ object: 'whatsapp_business_account', entry: [] }),
      Date.now() - 10_000,
    );
    try {
      await h.sandbox('POST', '/_sandbox/faults', { status: 'hang', accept: false, hang_ms: 200, count: 1 });
      const r = await h.post(orderUpdate(next()));
      await waitFor('in doubt', async () => (await h.ctx.store.getMessage(r.json.id))!.status === 'in_doubt');
      // Past the 2 s grace: no resend while the batch waits.
      await new Promise((res) => setTimeout(res, 3_000));
      expect(countLedger([r.json.id], await h.ledger()).lost).toBe(1);
      await h.ctx.store.deleteWebhookBatch('wh_behind');
      await allSettled([r.json.id]);
      expect(countLedger([r.json.id], await h.ledger()).byId.get(r.json.id)).toBe(1);
    } finally {
      await h.ctx.store.deleteWebhookBatch('wh_behind');
    }
  });
});

describe('in doubt while webhooks are refused', () => {
  it('the resend waits while a webhook POST was refused (503) lately: Meta still holds the statuses', async () => {
    await h.ctx.store.setSetting('webhooks.refused_at', String(Date.now()));
    try {
      await h.sandbox('POST', '/_sandbox/faults', { status: 'hang', accept: false, hang_ms: 200, count: 1 });
      const r = await h.post(orderUpdate(next()));
      await waitFor('in doubt', async () => (await h.ctx.store.getMessage(r.json.id))!.status === 'in_doubt');
      await new Promise((res) => setTimeout(res, 3_000)); // past the 2 s grace
      expect(countLedger([r.json.id], await h.ledger()).lost).toBe(1);
      await h.ctx.store.setSetting('webhooks.refused_at', String(Date.now() - 120_000)); // refusals are over
      await allSettled([r.json.id]);
      expect(countLedger([r.json.id], await h.ledger()).byId.get(r.json.id)).toBe(1);
    } finally {
      await h.ctx.store.setSetting('webhooks.refused_at', null);
    }
  });
});

describe('graceful shutdown', () => {
  it('stop() finishes or releases in-flight sends: nothing lost, nothing in limbo, nothing sent twice after restart', async () => {
    // 60 queued, then workers run for 50 ms: the 80 mps bucket's burst is 16, so most of them are
    // in flight waiting for tokens when stop() lands.
    await h.app.delivery.stop();
    const posted = await Promise.all(Array.from({ length: 60 }, (_, i) => h.post(orderUpdate(next(), i))));
    const ids = posted.map((r) => r.json.id as string);
    await h.app.delivery.start();
    await new Promise((r) => setTimeout(r, 50));
    await h.app.delivery.stop();
    const stats = await h.ctx.queue.stats(h.ctx.senders.resolve('main').id);
    expect(stats.in_flight).toBe(0);
    let waiting = 0;
    for (const id of ids) {
      const m = (await h.ctx.store.getMessage(id))!;
      if (STATUS_RANK[m.status] >= STATUS_RANK.accepted) continue;
      waiting++;
      // Released, not half-sent: no attempt is left marked on a message that went back.
      expect(m.attempts).toBe(0);
    }
    expect(waiting).toBeGreaterThan(0);
    expect(stats.depth).toBe(waiting);
    await h.app.delivery.start();
    await allSettled(ids);
    const { lost, duplicates } = countLedger(ids, await h.ledger());
    expect(lost).toBe(0);
    expect(duplicates).toBe(0);
  });
});
