// Poison webhooks (issue 17, defect 3): a signed body whose content cannot be read or applied must
// never throw out of extraction, never block the batches after it, and never make the route answer
// anything but 200 (Meta retries non-200 for days). What cannot be applied is set aside: kept with
// its error, listed, replayable. A real store outage is still a 503 / a retry.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { installErrorHandler } from '../../src/http/errors.ts';
import webhookRoutes from '../../src/http/routes/webhooks.ts';
import { extractEvents } from '../../src/webhooks/events.ts';
import { WebhookProcessor } from '../../src/webhooks/processor.ts';
import type { Services } from '../../src/http/server.ts';
import type { Store } from '../../src/store/port.ts';
import { makeCtx, envelope, messagesValue, signed, statusBody, st, textMsg, message, waitFor, CUSTOMER, type TestCtx } from './helpers.ts';
import { deepBodyText, deepJson, toStringBody } from './poison-bodies.ts';

let t: TestCtx;
let proc: WebhookProcessor;
const T0 = () => t.clock.t;

beforeEach(async () => {
  t = await makeCtx();
});
afterEach(async () => {
  await proc?.stop();
  await t.close();
});

/** The real store, with one method failing (store still up: ping answers) while `when` holds. */
function failing(real: Store, method: keyof Store, when: (args: unknown[]) => boolean, error = 'CHECK constraint failed: poison'): Store {
  return new Proxy(real, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv);
      if (prop === method) {
        return async (...args: unknown[]) => {
          if (when(args)) throw new Error(error);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('extraction reads any shape without throwing', () => {
  it('an `object` that is an object with a toString key is an unknown event, not a TypeError', () => {
    const evs = extractEvents(toStringBody());
    expect(evs.length).toBe(1);
    expect(evs[0]).toMatchObject({ kind: 'unknown' });
    expect(() => extractEvents({ object: { toString: 'x' }, entry: 'nope' })).not.toThrow();
    expect(() => extractEvents({ object: { valueOf: 1, toString: [] } })).not.toThrow();
  });

  it('a change value nested 50,000 levels is one bounded unknown event with a stable key', () => {
    const body = JSON.parse(deepBodyText());
    const evs = extractEvents(body);
    expect(evs).toHaveLength(1);
    expect(evs[0]).toMatchObject({ kind: 'unknown', field: 'messages:too_deep' });
    expect(() => JSON.stringify(evs[0])).not.toThrow(); // what is stored is bounded
    expect(extractEvents(JSON.parse(deepBodyText()))[0].key).toBe(evs[0].key); // a retry is a duplicate
    expect(extractEvents(JSON.parse(deepBodyText(50_001)))[0].key).not.toBe(evs[0].key);
    // Deep garbage anywhere else (an entry, the top level) is bounded too.
    expect(() =>
      JSON.stringify(extractEvents({ object: 'whatsapp_business_account', entry: [JSON.parse(deepJson(50_000))] })),
    ).not.toThrow();
    expect(() => JSON.stringify(extractEvents(JSON.parse(deepJson(50_000))))).not.toThrow();
  });

  it('a huge or control-character event id gives a short, storable dedupe key', () => {
    const long = extractEvents(statusBody([st('wamid.' + 'x'.repeat(100_000), 'sent', 1)]))[0];
    expect(long.key.length).toBeLessThan(200);
    const nul = extractEvents(statusBody([st('wamid.\u0000A', 'sent', 1)]))[0];
    expect(nul.key).not.toMatch(/[\u0000-\u001f]/);
    expect(nul.key).not.toBe(extractEvents(statusBody([st('wamid.\u0000B', 'sent', 1)]))[0].key);
  });
});

describe('the processor never blocks on a poison batch', () => {
  it('accept() of a poison body resolves and the batches after it are applied', async () => {
    proc = new WebhookProcessor(t.ctx);
    await proc.start();
    const poison = toStringBody();
    await expect(proc.accept(JSON.stringify(poison), poison)).resolves.toMatchObject({ batch_id: expect.stringMatching(/^wh_/) });
    const deepRaw = deepBodyText();
    await expect(proc.accept(deepRaw, JSON.parse(deepRaw))).resolves.toBeTruthy();
    const next = textMsg('wamid.AFTER', 'hello', T0() - 1000);
    await proc.accept(JSON.stringify(next), next);
    await proc.whenIdle();
    expect((await t.ctx.store.getWindows(CUSTOMER)).length).toBe(1);
    expect(await t.ctx.store.listPendingWebhookBatches(10)).toEqual([]);
    expect((await t.ctx.store.listAudit({ action: 'webhook.unknown' })).length).toBe(2); // both kept, readable
  });

  it('a poison batch persisted before a restart does not make start() throw', async () => {
    await t.ctx.store.saveWebhookBatch('wh_poison_1', JSON.stringify(toStringBody()), T0() - 2);
    await t.ctx.store.saveWebhookBatch('wh_poison_2', deepBodyText(), T0() - 1);
    await t.ctx.store.saveWebhookBatch('wh_not_json', '{"object": "whatsapp_business_acc', T0());
    await t.ctx.store.saveWebhookBatch('wh_good', JSON.stringify(textMsg('wamid.GOOD', 'hello', T0() - 1000)), T0() + 1);
    proc = new WebhookProcessor(t.ctx);
    await proc.start();
    expect((await t.ctx.store.getWindows(CUSTOMER)).length).toBe(1);
    expect(await t.ctx.store.listPendingWebhookBatches(10)).toEqual([]);
    const failed = await proc.listFailed();
    expect(failed.map((f) => f.id)).toEqual(['wh_not_json']);
    expect(failed[0]).toMatchObject({ state: 'open', attempts: 1, error: expect.stringMatching(/not valid JSON/) });
  });

  it('a batch that keeps failing with the store up is set aside with its error; the next batch is applied; replay applies it once the cause is gone', async () => {
    const real = t.ctx.store;
    let poisoned = true;
    // The real store, refusing (store up) the window write of one customer: a batch-level failure that
    // no retry cures, as a constraint or an encoding error would be.
    (t.ctx as { store: Store }).store = failing(real, 'markEventsSeen', (a) => poisoned && (a[0] as string[]).includes('m:wamid.POISON'));
    proc = new WebhookProcessor(t.ctx, { poison_retries: 1 });
    await proc.start();
    const poison = envelope(
      'messages',
      messagesValue({
        contacts: [{ profile: { name: 'P' }, wa_id: '16505550001' }],
        messages: [
          {
            from: '16505550001',
            id: 'wamid.POISON',
            timestamp: String(Math.floor((T0() - 1000) / 1000)),
            type: 'text',
            text: { body: 'hi' },
          },
          {
            from: '16505550001',
            id: 'wamid.POISON2',
            timestamp: String(Math.floor((T0() - 900) / 1000)),
            type: 'text',
            text: { body: 'hi' },
          },
        ],
      }),
    );
    const { batch_id } = await proc.accept(JSON.stringify(poison), poison);
    const good = textMsg('wamid.AFTER2', 'hello', T0() - 1000);
    await proc.accept(JSON.stringify(good), good);
    await proc.whenIdle();
    expect((await real.getWindows(CUSTOMER)).length).toBe(1); // the batch after the poison one
    expect(await real.getWindows('16505550001')).toEqual([]);
    expect(await real.listPendingWebhookBatches(10)).toEqual([]);
    const [f] = await proc.listFailed();
    expect(f).toMatchObject({ id: batch_id, state: 'open', error: expect.stringContaining('CHECK constraint failed: poison') });
    expect((await real.listAudit({ action: 'webhook.batch_set_aside' }))[0]).toMatchObject({ subject: batch_id });

    // Replay while the cause is still there: set aside again, one more attempt.
    const again = await proc.replayFailed(batch_id, 'test');
    expect(again).toMatchObject({ replayed: false, batch: { state: 'open', attempts: 2 } });
    poisoned = false;
    const ok = await proc.replayFailed(batch_id, 'test');
    expect(ok).toMatchObject({ replayed: true, batch: { state: 'replayed' } });
    expect((await real.getWindows('16505550001')).length).toBe(1);
    await expect(proc.replayFailed(batch_id, 'test')).rejects.toMatchObject({ code: 'WEBHOOK_BATCH_NOT_OPEN', status: 409 });
    await expect(proc.replayFailed('wh_nope', 'test')).rejects.toMatchObject({ code: 'WEBHOOK_BATCH_NOT_FOUND', status: 404 });
    (t.ctx as { store: Store }).store = real;
  });

  it('a store outage is not poison: the batch waits and is applied, never set aside', async () => {
    const real = t.ctx.store;
    let down = true;
    (t.ctx as { store: Store }).store = new Proxy(real, {
      get(target, prop, recv) {
        if (down && (prop === 'markEventSeen' || prop === 'markEventsSeen')) {
          return async () => {
            setTimeout(() => (down = false), 1_500); // longer than every poison retry
            throw new Error('SQLITE_BUSY: database is locked');
          };
        }
        if (down && prop === 'ping') return async () => false;
        const v = Reflect.get(target, prop, recv);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    proc = new WebhookProcessor(t.ctx, { poison_retries: 0 });
    await proc.start();
    const body = textMsg('wamid.OUTAGE', 'hello', T0() - 1000);
    await proc.accept(JSON.stringify(body), body);
    await proc.whenIdle();
    (t.ctx as { store: Store }).store = real;
    expect((await real.getWindows(CUSTOMER)).length).toBe(1);
    expect(await real.listFailedWebhookBatches()).toEqual([]);
  });

  it('a group of batches with one poison in it: the others are applied, only the poison one is set aside', async () => {
    const real = t.ctx.store;
    (t.ctx as { store: Store }).store = failing(real, 'markEventsSeen', (a) => (a[0] as string[]).some((k) => k.includes('wamid.BAD')));
    await real.insertMessage(message('msg_g1', { wamid: 'wamid.G1' }));
    // Left stored before a start: start() schedules them together, so they are applied as ONE group.
    // Each batch holds statuses and a customer message (statuses carry no dedupe key of their own;
    // the messages' keys are recorded for the whole group in one statement, which the poison fails).
    const said = (id: string, ts: number) => ({
      from: CUSTOMER,
      id,
      timestamp: String(Math.floor(ts / 1000)),
      type: 'text',
      text: { body: 'hi' },
    });
    const both = (statuses: Record<string, unknown>[], ...messages: Record<string, unknown>[]) =>
      envelope('messages', messagesValue({ statuses, messages }));
    const bodies = [
      both([st('wamid.G1', 'sent', T0() - 3000), st('wamid.G1x', 'sent', T0() - 3000)], said('wamid.T1', T0() - 3000)),
      both([st('wamid.S2', 'sent', T0() - 2000)], said('wamid.BAD', T0() - 2000), said('wamid.BAD2', T0() - 2000)),
      both([st('wamid.G1', 'delivered', T0() - 1000), st('wamid.G1y', 'sent', T0() - 1000)], said('wamid.T3', T0() - 1000)),
    ];
    const ids = ['wh_g1', 'wh_g2', 'wh_g3'];
    for (let i = 0; i < 3; i++) await real.saveWebhookBatch(ids[i], JSON.stringify(bodies[i]), T0() + i);
    let groupCalls = 0;
    const inner = t.ctx.store;
    (t.ctx as { store: Store }).store = new Proxy(inner, {
      get(target, prop, recv) {
        if (prop === 'markEventsSeen')
          return async (keys: string[], at: number) => (keys.length === 4 && groupCalls++, target.markEventsSeen!(keys, at));
        return Reflect.get(target, prop, recv);
      },
    });
    proc = new WebhookProcessor(t.ctx, { poison_retries: 0 });
    await proc.start();
    expect(groupCalls).toBe(1); // the group was tried whole first
    (t.ctx as { store: Store }).store = real;
    expect((await real.getMessage('msg_g1'))?.status).toBe('delivered');
    expect((await real.listFailedWebhookBatches()).map((f) => f.id)).toEqual([ids[1]]);
    expect(await real.listPendingWebhookBatches(10)).toEqual([]);
  });
});

describe('POST /webhook answers 200 to every correctly signed body', () => {
  let app: FastifyInstance;
  let base: string;

  async function serve() {
    proc = new WebhookProcessor(t.ctx, { poison_retries: 0 });
    await proc.start();
    app = Fastify({ logger: false });
    installErrorHandler(app, t.ctx.log);
    await webhookRoutes(app, t.ctx, { webhooks: proc } as unknown as Services);
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  }
  afterEach(async () => {
    await app?.close();
  });

  async function post(raw: string) {
    const { sig } = signed(raw);
    const res = await fetch(`${base}/webhook`, {
      method: 'POST',
      body: raw,
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': sig },
    });
    return { status: res.status, json: (await res.json()) as any };
  }

  it('toString object, 50,000 levels deep, not JSON: 200, kept, the next body still applied', async () => {
    await serve();
    expect((await post(JSON.stringify(toStringBody()))).status).toBe(200);
    expect((await post(deepBodyText())).status).toBe(200);
    const bad = await post('{"object": "whatsapp_business_account", "entry": [');
    expect(bad.status).toBe(200);
    expect(bad.json).toMatchObject({
      received: true,
      batch_id: expect.stringMatching(/^wh_/),
      unusable: expect.stringMatching(/not valid JSON/),
    });
    expect((await post(JSON.stringify(textMsg('wamid.R1', 'hello', T0() - 1000)))).status).toBe(200);
    await waitFor('window', async () => (await t.ctx.store.getWindows(CUSTOMER)).length > 0);
    await proc.whenIdle();
    const failed = await t.ctx.store.listFailedWebhookBatches();
    expect(failed.map((f) => f.id)).toEqual([bad.json.batch_id]);
    expect((await t.ctx.store.getFailedWebhookBatch(bad.json.batch_id))?.body).toBe('{"object": "whatsapp_business_account", "entry": [');
  });

  it('a store that cannot save the batch is still a 503 (Meta retries)', async () => {
    const real = t.ctx.store;
    (t.ctx as { store: Store }).store = new Proxy(real, {
      get(target, prop, recv) {
        if (prop === 'saveWebhookBatch' || prop === 'saveWebhookBatches')
          return async () => {
            throw new Error('connection refused');
          };
        const v = Reflect.get(target, prop, recv);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    await serve();
    const r = await post(JSON.stringify(toStringBody()));
    expect(r.status).toBe(503);
    expect(r.json.error.code).toBe('STORE_UNAVAILABLE');
    const nj = await post('not json at all');
    expect(nj.status).toBe(503);
    (t.ctx as { store: Store }).store = real;
  });
});
