// The Redis gate: the shared case table and the contract suite (the same ones memory runs), the
// several-instances proof (two RedisGateState on one Redis at a cap), and fail-closed / recovery with
// a private redis-server this test starts and kills. Needs Redis on 127.0.0.1:6379 (shared: every
// gate here uses its own random prefix and wipes it on close); without it (or without redis-server)
// those parts skip (test/support/services.ts).
import { describe, it, expect, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { PoliciesSchema } from '../../src/domain/policies.ts';
import { RedisGateState, GateUnavailableError, type RedisGateOptions } from '../../src/gate/redis.ts';
import type { GateSeed } from '../../src/gate/port.ts';
import { runGateCases, makeReq, toSeed, SENDERS, T0, BR, BR2, BR3, PROMO_PARAMS, TEMPLATES, DAY_MS_EXPORT as DAY, MIN } from './cases.ts';
import { gateContract } from './contract.ts';
import { freePort, startPrivateRedis } from '../pacing/private-redis.ts';
import { REDIS_URL as URL, missing } from '../support/services.ts';

const noRedis = missing('redis');
const run = randomBytes(4).toString('hex');
let n = 0;
const prefix = () => `wgtest_${run}_${n++}`;

/** A gate that removes its keys when the test closes it. */
class TestGate extends RedisGateState {
  async close(): Promise<void> {
    await this.wipe().catch(() => undefined);
    await super.close();
  }
}
const make = (opts: Omit<RedisGateOptions, 'url' | 'prefix'>) => new TestGate({ url: URL, prefix: prefix(), ...opts });

describe.skipIf(noRedis)('on the shared Redis', () => {
  runGateCases('redis', make);
  gateContract('redis', make);
});

afterAll(async () => {
  if (noRedis) return;
  // Nothing of this run is left behind on the shared Redis.
  const r = new Redis(URL);
  const left = await r.keys(`wgtest_${run}_*`);
  r.disconnect();
  expect(left).toEqual([]);
});

const policies = PoliciesSchema.parse({ marketing_cap_per_24h: 5 });
const senders = Object.values(SENDERS);

describe.skipIf(noRedis)('Redis gate: several instances', () => {
  /** Two instances on one namespace; the first loads the seed and wipes the keys at the end. */
  async function twoInstances(seed: GateSeed, fn: (a: RedisGateState, b: RedisGateState, ns: string) => Promise<void>): Promise<void> {
    const ns = prefix();
    const a = new TestGate({ url: URL, prefix: ns, policies, senders });
    const b = new RedisGateState({ url: URL, prefix: ns, policies, senders });
    try {
      await a.load(seed);
      await fn(a, b, ns);
    } finally {
      await b.close();
      await a.close();
    }
  }

  it('two instances racing at the cap grant exactly the cap (marketing cap and tier)', () =>
    twoInstances(toSeed({}), async (a, b) => {
      const out = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          (i % 2 ? a : b).checkAndReserve(makeReq({ template: 'promo', components: PROMO_PARAMS }), T0),
        ),
      );
      expect(out.filter((o) => o.decision.allowed)).toHaveLength(5);
      expect(out.filter((o) => o.decision.reason_code === 'FREQUENCY_CAP')).toHaveLength(295);
      expect(await a.marketingCount(BR, T0)).toBe(5);
      expect(await b.marketingCount(BR, T0)).toBe(5);
      // Tier: sender "tiny" may reach 2 unique recipients; 200 distinct recipients race for them.
      const tier = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          (i % 2 ? a : b).checkAndReserve(
            makeReq({ sender: 'tiny', template: 'welcome', to: `5511987650${String(i).padStart(3, '0')}` }),
            T0,
          ),
        ),
      );
      expect(tier.filter((o) => o.decision.allowed)).toHaveLength(2);
      expect(await b.tierUsage('biz2', T0)).toBe(2);
    }));

  it('load: "if_empty" keeps a state another instance already loaded (a restart wipes nothing)', () =>
    twoInstances(toSeed({}), async (a, _b, ns) => {
      expect((await a.checkAndReserve(makeReq({ template: 'promo', components: PROMO_PARAMS }), T0)).decision.allowed).toBe(true);
      const late = new RedisGateState({ url: URL, prefix: ns, policies, senders, load: 'if_empty' });
      try {
        await late.load(toSeed({ templates: [] })); // a stale seed: ignored, the state is loaded
        expect(await late.marketingCount(BR, T0)).toBe(1);
        expect((await late.check(makeReq({ template: 'promo', components: PROMO_PARAMS }), T0)).decision.allowed).toBe(true);
      } finally {
        await late.close();
      }
    }));

  it('a reservation refused by a stateless rule is rolled back (no slot kept)', async () => {
    const g = make({ policies, senders });
    try {
      await g.load(toSeed({}));
      // Wrong parameter count: decide() refuses after the script took the slots.
      const bad = await g.checkAndReserve(makeReq({ template: 'promo', components: [] }), T0);
      expect(bad.decision.reason_code).toBe('TEMPLATE_PARAMS_MISMATCH');
      expect(await g.marketingCount(BR, T0)).toBe(0);
      expect(await g.tierUsage('biz1', T0)).toBe(0);
    } finally {
      await g.close();
    }
  });

  it('an instance sees at once what another fed (opt-out, template, sender pause)', () =>
    twoInstances(toSeed({ templates: [] }), async (a, b) => {
      expect((await b.check(makeReq({ template: 'promo', components: PROMO_PARAMS }), T0)).decision.reason_code).toBe('TEMPLATE_NOT_FOUND');
      await a.upsertTemplate(TEMPLATES[0]);
      expect((await b.check(makeReq({ template: 'promo', components: PROMO_PARAMS }), T0)).decision.allowed).toBe(true);
      await a.updateCustomer({ wa_id: BR, consent: { marketing: 'opted_out' }, consent_at: { marketing: T0 - 1 } });
      expect((await b.check(makeReq({ template: 'promo', components: PROMO_PARAMS }), T0)).decision.reason_code).toBe('OPTED_OUT');
      await a.setSenderStatus({
        sender_id: 'alt',
        state: 'paused',
        reason: 'test',
        reason_code: 'MANUAL',
        credentials_valid: true,
        since: T0,
      });
      expect(
        (await b.checkAndReserve(makeReq({ sender: 'alt', template: 'promo', components: PROMO_PARAMS, to: '5521987654321' }), T0)).decision
          .reason_code,
      ).toBe('SENDER_PAUSED');
    }));
});

describe.skipIf(noRedis)('Redis gate: storage layout (checkAndReserve-6.lua / releaseReservation-1.lua)', () => {
  /** A raw client on the gate's own namespace, to look at what the scripts left behind. */
  async function withRaw(fn: (g: RedisGateState, r: Redis, ns: string) => Promise<void>): Promise<void> {
    const ns = prefix();
    const g = new TestGate({ url: URL, prefix: ns, policies, senders });
    const r = new Redis(URL);
    try {
      await g.load(toSeed({}));
      await fn(g, r, ns);
    } finally {
      r.disconnect();
      await g.close();
    }
  }
  const tu = (ns: string) => `${ns}:gate:{${ns}}:TU:biz2`;

  it('tier members older than 24 h left unpruned change no count, and the budget frees after 24 h', () =>
    withRaw(async (g, r, ns) => {
      // Ids ending in "1" (byte 49, not a multiple of 8) never prune: the stale members stay.
      const welcome = (to: string, id: string) => makeReq({ sender: 'tiny', template: 'welcome', to, message_id: id });
      expect((await g.checkAndReserve(welcome(BR, 'msg_a1'), T0)).decision.allowed).toBe(true);
      expect((await g.checkAndReserve(welcome(BR2, 'msg_b1'), T0)).decision.allowed).toBe(true);
      expect((await g.checkAndReserve(welcome(BR3, 'msg_c1'), T0 + MIN)).decision.reason_code).toBe('TIER_LIMIT');
      const later = T0 + DAY + MIN;
      expect((await g.checkAndReserve(welcome(BR3, 'msg_d1'), later)).decision.allowed).toBe(true);
      expect(await r.zcard(tu(ns))).toBe(3); // BR and BR2 are stale but still there
      expect(await g.tierUsage('biz2', later)).toBe(1);
      expect((await g.check(welcome('5541987654321', 'msg_e1'), later)).decision.allowed).toBe(true);
      // An id ending in "0" (byte 48) prunes them.
      expect((await g.checkAndReserve(welcome('5541987654321', 'msg_f0'), later)).decision.allowed).toBe(true);
      expect(await r.zrange(tu(ns), 0, -1)).toEqual([BR3, '5541987654321']);
      expect(await g.tierUsage('biz2', later)).toBe(2);
    }));

  it('a message reserved again after 24 h gets a fresh reservation (the old one no longer counts)', () =>
    withRaw(async (g) => {
      const a = makeReq({ template: 'promo', components: PROMO_PARAMS, message_id: 'msg_again' });
      expect((await g.checkAndReserve(a, T0)).reservation?.at).toBe(T0);
      expect((await g.checkAndReserve(a, T0 + MIN)).reservation?.at).toBe(T0); // held: the first one
      const again = await g.checkAndReserve(a, T0 + DAY + MIN);
      expect(again.reservation).toMatchObject({ at: T0 + DAY + MIN, marketing_slot: true, tier_slot: true });
      expect(await g.marketingCount(BR, T0 + DAY + MIN)).toBe(1);
      await g.release(a.message_id);
      expect(await g.marketingCount(BR, T0 + DAY + MIN)).toBe(0);
      expect(await g.tierUsage('biz1', T0 + DAY + MIN)).toBe(0);
    }));

  it('one decision touches only its six keys; release rebuilds the counter keys from the reservation', () =>
    withRaw(async (g, r, ns) => {
      const before = new Set(await r.keys(`${ns}:*`));
      const a = makeReq({ sender: 'tiny', template: 'welcome', message_id: 'msg_keys' });
      expect((await g.checkAndReserve(a, T0)).decision.allowed).toBe(true);
      const added = (await r.keys(`${ns}:*`))
        .filter((k) => !before.has(k))
        .map((k) => k.slice(`${ns}:gate:{${ns}}:`.length))
        .sort();
      expect(added).toEqual(['R:msg_keys', 'TU:biz2', `Z:${BR}`]);
      expect(await r.get(`${ns}:gate:{${ns}}:R:msg_keys`)).toBe(`utility|0|1|${T0}|0|biz2|${BR}|tiny`);
      await g.release('msg_keys');
      expect(await r.exists(`${ns}:gate:{${ns}}:R:msg_keys`, `${ns}:gate:{${ns}}:Z:${BR}`)).toBe(0);
      expect(await r.zcard(tu(ns))).toBe(0);
    }));
});

describe('Redis gate: outage', () => {
  it('fails closed quickly with GATE_UNAVAILABLE when Redis is unreachable', async () => {
    const port = await freePort(); // nothing listens here
    const g = new RedisGateState({ url: `redis://127.0.0.1:${port}`, prefix: prefix(), policies, senders, connect_timeout_ms: 300 });
    try {
      const t = Date.now();
      const out = await g.checkAndReserve(makeReq({ template: 'promo', components: PROMO_PARAMS }), T0);
      expect(Date.now() - t).toBeLessThan(3_000);
      expect(out.decision.allowed).toBe(false);
      expect(out.decision.reason_code).toBe('GATE_UNAVAILABLE');
      expect(out.reservation).toBeUndefined();
      expect(out.decision.suggested_action).toMatch(/WAGATE_REDIS_URL/);
      await expect(g.recordInbound('main', BR, T0)).rejects.toBeInstanceOf(GateUnavailableError);
      expect(await g.ping()).toBe(false);
    } finally {
      await g.close();
    }
  });

  it.skipIf(missing('redis-server'))(
    'a killed Redis denies at once; when it returns EMPTY the gate fails closed and reloads by itself',
    async () => {
      const server = await startPrivateRedis();
      const seed = toSeed({ customers: [{ wa_id: BR2, consent: { marketing: 'opted_out' }, consent_at: { marketing: T0 - 1 } }] });
      const g = new RedisGateState({ url: server.url, prefix: prefix(), policies, senders, reseed: async () => seed });
      const promo = (to = BR) => makeReq({ template: 'promo', components: PROMO_PARAMS, to });
      try {
        await g.load(seed);
        expect((await g.checkAndReserve(promo(), T0)).decision.allowed).toBe(true);
        expect((await g.check(promo(BR2), T0)).decision.reason_code).toBe('OPTED_OUT');
        await server.kill();
        expect((await g.checkAndReserve(promo(), T0)).decision.reason_code).toBe('GATE_UNAVAILABLE');
        await server.restart(); // no persistence: it comes back with nothing, the opt-out included
        const seen: string[] = [];
        for (let i = 0; i < 100; i++) {
          const out = await g.checkAndReserve(promo(BR2), T0);
          seen.push(out.decision.reason_code ?? 'ALLOWED');
          if (out.decision.reason_code !== 'GATE_UNAVAILABLE') break;
          await new Promise((r) => setTimeout(r, 50));
        }
        // Never allowed on the empty state: unavailable until reloaded, then the opt-out is back.
        expect(seen.at(-1)).toBe('OPTED_OUT');
        expect(seen.slice(0, -1).every((c) => c === 'GATE_UNAVAILABLE')).toBe(true);
        // NOSCRIPT on the new server is handled (the script is sent again) and sends resume.
        expect((await g.checkAndReserve(promo(), T0)).decision.allowed).toBe(true);
      } finally {
        await g.close();
        await server.stop();
      }
    },
  );

  it.skipIf(noRedis)('a state never loaded (or wiped) is not decided on', async () => {
    const g = make({ policies, senders });
    try {
      expect((await g.checkAndReserve(makeReq({ template: 'promo', components: PROMO_PARAMS }), T0)).decision.reason_code).toBe(
        'GATE_UNAVAILABLE',
      );
      await g.load(toSeed({}));
      expect((await g.checkAndReserve(makeReq({ template: 'promo', components: PROMO_PARAMS }), T0)).decision.allowed).toBe(true);
    } finally {
      await g.close();
    }
  });
});
