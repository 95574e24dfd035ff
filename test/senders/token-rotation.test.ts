// Rotating the app secret never drops a token set through the API (issue 17, defect 8). The token is
// sealed under meta.app_secret; after a rotation wagate opens it with meta.app_secrets_previous and
// seals it again under the new secret. When no secret opens it, the sealed row is kept (never deleted
// silently), an alert and the sender's health say how to get it back, and the configured token is used
// meanwhile. Against the sandbox, the real SQLite store and the real AlertService.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HealthMonitor } from '../../src/senders/health.ts';
import { setSenderToken } from '../../src/engine/senders.ts';
import { openToken } from '../../src/senders/token-vault.ts';
import { startReceivers, type Receivers } from '../alerts/receivers.ts';
import { makeHarness, SENDER, type Harness } from './harness.ts';

const QUIET = { halted_recheck_ms: 3_600_000, ops_check_ms: 3_600_000, persist_every_ms: 3_600_000 };
const A = 'sandbox-app-secret';
const B = 'the-new-app-secret';

let rx: Receivers;
let h: Harness | null = null;
const monitors: HealthMonitor[] = [];
beforeAll(async () => void (rx = await startReceivers()));
afterAll(() => rx.close());
afterEach(async () => {
  for (const m of monitors.splice(0)) await m.stop();
  await h?.close();
  h = null;
});

async function started(of: Harness): Promise<HealthMonitor> {
  const m = new HealthMonitor(of.ctx, QUIET);
  monitors.push(m);
  await m.start();
  return m;
}

/** A token set through the API under secret A, then a restart with `meta`. */
async function rotate(meta: Record<string, unknown>): Promise<Harness> {
  h = await makeHarness({ http: rx.http, smtp: rx.smtp });
  await started(h);
  await h.control('/tokens', { token: 'sandbox-token-api', state: 'valid' });
  await setSenderToken(h.ctx, 'main', 'sandbox-token-api');
  for (const m of monitors.splice(0)) await m.stop();
  h = await h.restart({ meta });
  return h;
}

describe('app secret rotation and the token set through the API', () => {
  it('opens it with app_secrets_previous, seals it again under the new secret, and a later start needs no previous', async () => {
    const h2 = await rotate({ app_secret: B, app_secrets_previous: [A] });
    await started(h2);
    expect(h2.ctx.senders.resolve('main').access_token).toBe('sandbox-token-api');
    const saved = JSON.parse((await h2.store.getSetting('sender_token:main'))!) as { sealed: string };
    expect(openToken(saved.sealed, B)).toBe('sandbox-token-api');
    for (const m of monitors.splice(0)) await m.stop();
    h = await h2.restart({ meta: { app_secret: B } });
    await started(h);
    expect(h.ctx.senders.resolve('main').access_token).toBe('sandbox-token-api');
  });

  it('no secret opens it: the sealed token is kept and an alert says how to fix it; with the old secret back it is used again', async () => {
    const h2 = await rotate({ app_secret: B });
    const sealedUnderA = await h2.store.getSetting('sender_token:main');
    const m2 = await started(h2);
    expect(h2.ctx.senders.resolve('main').access_token).toBe(SENDER.access_token);
    expect(await h2.store.getSetting('sender_token:main')).toBe(sealedUnderA); // kept as it was
    // The sender's health says it too, with the fix.
    expect(m2.get('main')?.stored_token_error).toMatch(/app_secrets_previous/);
    expect((await h2.store.getSenderHealth('main'))?.data.stored_token_error).toMatch(/PUT \/v1\/senders\/main\/token/);
    await h2.alerts.flush();
    const alerts = await h2.store.listAlerts({ unresolved: true });
    const a = alerts.find((x) => x.kind === 'stored_token_unreadable');
    expect(a?.sender_id).toBe('main');
    expect(a?.body).toMatch(/app_secrets_previous/);
    expect(a?.body).toMatch(/not deleted/);
    for (const m of monitors.splice(0)) await m.stop();
    h = await h2.restart({ meta: { app_secret: B, app_secrets_previous: [A] } });
    const m3 = await started(h);
    expect(h.ctx.senders.resolve('main').access_token).toBe('sandbox-token-api');
    expect(m3.get('main')?.stored_token_error).toBeNull();
    await h.alerts.flush();
    expect((await h.store.listAlerts({ unresolved: true })).filter((x) => x.kind === 'stored_token_unreadable')).toEqual([]);
    const saved = JSON.parse((await h.store.getSetting('sender_token:main'))!) as { sealed: string };
    expect(openToken(saved.sealed, B)).toBe('sandbox-token-api');
  });

  it('a stored value that is not a sealed token is kept too, with an alert that says to set the token again', async () => {
    h = await makeHarness({ http: rx.http, smtp: rx.smtp });
    await h.store.setSetting('sender_token:main', 'not json');
    await started(h);
    expect(h.ctx.senders.resolve('main').access_token).toBe(SENDER.access_token);
    expect(await h.store.getSetting('sender_token:main')).toBe('not json');
    await h.alerts.flush();
    const a = (await h.store.listAlerts({ unresolved: true })).find((x) => x.kind === 'stored_token_unreadable');
    expect(a?.detail).toMatchObject({ reason: 'malformed' });
    expect(a?.body).toMatch(/set the token again/);
  });
});
