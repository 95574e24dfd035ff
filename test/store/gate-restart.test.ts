// A restart loses no opt-out, no window, no pause and no cap: the durable store is written, the
// process "restarts" (store reopened from its file, a NEW gate loaded from store.loadGateSeed) and the
// gate decides exactly as the old state requires. Uses the real MemoryGateState and the gate's cases.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PoliciesSchema } from '../../src/domain/policies.ts';
import { MemoryGateState } from '../../src/gate/memory.ts';
import type { GateState } from '../../src/gate/port.ts';
import { createSqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/port.ts';
import { BR, BR2, BR3, H, PROMO_PARAMS, SENDERS, T0, TEMPLATES, makeReq } from '../gate/cases.ts';
import { message } from './fixtures.ts';

describe('store → gate seed → restart', () => {
  let dir: string;
  let gate: GateState;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wagate-store-seed-'));
  });
  afterEach(async () => {
    await gate?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function writeHistory(store: Store): Promise<void> {
    for (const t of TEMPLATES) await store.upsertTemplate(t);
    // BR: two live marketing sends and one failed in the last 24h (failed ones hold no slot).
    for (const [i, status] of (['accepted', 'delivered', 'failed'] as const).entries()) {
      const m = message({
        id: `prior_${i}`,
        to: BR,
        category: 'marketing',
        reserved_marketing: true,
        reserved_tier: true,
        created_at: T0 - H,
        updated_at: T0 - H,
        history: [],
      });
      await store.insertMessage(m);
      await store.applyStatus(m.id, { status, at: T0 - H + 1, source: 'worker' });
    }
    // BR2 wrote first, then opted out of service: the old window does not allow a free-form reply.
    await store.recordInbound('main', BR2, T0 - 3 * H);
    await store.setConsent(BR2, 'service', 'opted_out', 'api', T0 - 2 * H);
    // BR3 opted out, then wrote again: a free-form reply in that newer window is allowed.
    await store.setConsent(BR3, 'service', 'opted_out', 'webhook:keyword:STOP', T0 - 5 * H);
    await store.setConsent(BR3, 'marketing', 'opted_out', 'webhook:keyword:STOP', T0 - 5 * H);
    await store.recordInbound('main', BR3, T0 - 3 * H);
    await store.saveSenderStatus({
      sender_id: 'alt',
      state: 'paused',
      reason: 'spam rate limit',
      reason_code: 'META_131048',
      credentials_valid: true,
      since: T0 - H,
    });
  }

  it('the rebuilt gate decides as before: caps, opt-outs with their times, windows, paused senders', async () => {
    const path = join(dir, 'wagate.db');
    const before = await createSqliteStore(path);
    await writeHistory(before);
    await before.close();

    const store = await createSqliteStore(path);
    try {
      gate = new MemoryGateState({ policies: PoliciesSchema.parse({ marketing_cap_per_24h: 2 }), senders: Object.values(SENDERS) });
      await gate.load(await store.loadGateSeed(T0));

      const decide = async (r: Parameters<typeof makeReq>[0]) => (await gate.check(makeReq(r), T0)).decision.reason_code;
      expect(await gate.marketingCount(BR, T0)).toBe(2);
      expect(await decide({ to: BR, template: 'promo', components: PROMO_PARAMS })).toBe('FREQUENCY_CAP');
      expect(await decide({ to: BR2 })).toBe('OPTED_OUT');
      expect(await decide({ to: BR3 })).toBeNull();
      expect(await decide({ to: BR3, template: 'promo', components: PROMO_PARAMS })).toBe('OPTED_OUT');
      expect(await decide({ sender: 'alt', to: BR3 })).toBe('SENDER_PAUSED');
    } finally {
      await store.close();
    }
  });
});
