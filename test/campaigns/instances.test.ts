// Two wagate instances on the production backends (one PostgreSQL schema, one Redis prefix, one NATS
// stream: the same namespace) dispatch one campaign together, with no coordinator but the store's
// atomic claims: both take part, and every recipient is sent exactly once (the sandbox's ledger).
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startSandbox, type SandboxHandle } from '../../src/meta/sandbox/server.ts';
import { http, PHONE_NUMBER_ID, WABA_ID, waitFor } from '../delivery/harness.ts';
import { missing } from '../support/services.ts';
import { lostAndDuplicates, phone, startCampaignHarness, type CampaignHarness } from './helpers.ts';

const apps: CampaignHarness[] = [];
let sandbox: SandboxHandle | null = null;
afterAll(async () => {
  for (const a of apps.reverse()) await a.close().catch(() => {});
  await sandbox?.close();
});

describe.skipIf(missing('postgres', 'redis', 'nats'))('two instances share a campaign', () => {
  it('both dispatch, each recipient once', async () => {
    sandbox = await startSandbox({
      port: 0,
      host: '127.0.0.1',
      app_secret: 'sandbox-app-secret',
      numbers: [{ phone_number_id: PHONE_NUMBER_ID, waba_id: WABA_ID, display_phone_number: '+1 555 010 0001', throughput_mps: 200 }],
      tokens: ['sandbox-token-main'],
    });
    const namespace = `cmpi_${randomBytes(4).toString('hex')}`;
    const claimed = [0, 0];
    for (const i of [0, 1]) {
      const a = await startCampaignHarness({ production: true, namespace, sandboxUrl: sandbox.url, mps: 200 });
      apps.push(a);
      const store = a.campaigns.store;
      const claim = store.claimRecipients.bind(store);
      store.claimRecipients = async (...args) => {
        const r = await claim(...args);
        claimed[i] += r.length;
        return r;
      };
    }
    sandbox.setWebhookUrl(`${apps[0].base}/webhook`);
    const N = 300;
    const recipients = Array.from({ length: N }, (_, i) => ({ to: `+${phone(1000 + i)}`, variables: [`N${i}`] }));
    const c = await apps[0].api('POST', '/v1/campaigns', {
      name: 'shared',
      template: { name: 'spring_sale', language: 'en_US' },
      audience: { recipients },
    });
    expect(c.status, JSON.stringify(c.json)).toBe(201);
    // Started on the other instance: the state is in the shared store.
    expect((await apps[1].api('POST', `/v1/campaigns/${c.json.id}/start`)).status).toBe(200);
    const done = await waitFor(
      'completed and settled',
      async () => {
        const v = (await apps[1].api('GET', `/v1/campaigns/${c.json.id}`)).json;
        return v.status === 'completed' && v.counts.queued === 0 && v.counts.sent === 0 ? v : null;
      },
      90_000,
      100,
    );
    const sends = (await http('GET', `${sandbox.url}/_sandbox/ledger?phone_number_id=${PHONE_NUMBER_ID}`)).json.sends;
    expect(
      lostAndDuplicates(
        recipients.map((r) => r.to.slice(1)),
        sends,
      ),
    ).toEqual({ lost: 0, duplicates: 0 });
    expect(done.counts.delivered + done.counts.read).toBe(N);
    expect(claimed[0]).toBeGreaterThan(0);
    expect(claimed[1]).toBeGreaterThan(0);
    expect(claimed[0] + claimed[1]).toBe(N); // no recipient claimed twice (no claim expired)
  }, 120_000);
});
