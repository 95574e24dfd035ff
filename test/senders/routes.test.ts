// /v1/senders and /v1/alerts over HTTP (Fastify with the shared error handler) against the sandbox.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import senderRoutes from '../../src/http/routes/senders.ts';
import { installErrorHandler } from '../../src/http/errors.ts';
import type { Services } from '../../src/http/server.ts';
import { HealthMonitor } from '../../src/senders/health.ts';
import { startReceivers, type HttpReceiver, type SmtpReceiver, type Receivers } from '../alerts/receivers.ts';
import { makeHarness, SENDER, type Harness } from './harness.ts';

let http: HttpReceiver;
let smtp: SmtpReceiver;
let h: Harness;
let monitor: HealthMonitor;
let app: FastifyInstance;
let base: string;

let rx: Receivers;
beforeAll(async () => void ({ http, smtp } = rx = await startReceivers()));
afterAll(() => rx.close());
beforeEach(async () => {
  h = await makeHarness({ http, smtp });
  monitor = new HealthMonitor(h.ctx, { halted_recheck_ms: 3_600_000, ops_check_ms: 3_600_000 });
  await monitor.start();
  app = Fastify({ logger: false });
  installErrorHandler(app, h.ctx.log);
  await senderRoutes(app, h.ctx, { monitor } as unknown as Services);
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});
afterEach(async () => {
  await app.close();
  await monitor.stop();
  await h.close();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, any> }> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

describe('sender routes', () => {
  it('GET /v1/senders and /v1/senders/:id/health (by alias or phone number id), never the token', async () => {
    const list = await call('GET', '/v1/senders');
    expect(list.status).toBe(200);
    expect(list.json.senders).toEqual([expect.objectContaining({ id: 'main', phone_number_id: SENDER.phone_number_id, state: 'active' })]);
    const health = await call('GET', `/v1/senders/${SENDER.phone_number_id}/health`);
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({ id: 'main', state: 'active', quality_rating: 'GREEN', token: { valid: true } });
    expect(JSON.stringify([list.json, health.json])).not.toContain(SENDER.access_token);
    const unknown = await call('GET', '/v1/senders/nope/health');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatchObject({ code: 'UNKNOWN_SENDER' });
    expect(unknown.json.error.fix).toMatch(/GET \/v1\/senders/);
  });

  it('pause → resume; a revoked token keeps the halt (409) until PUT token with a valid one', async () => {
    const paused = await call('POST', '/v1/senders/main/pause', { reason: 'campaign review' });
    expect(paused.json).toMatchObject({ state: 'paused', reason: 'campaign review', reason_code: 'MANUAL' });
    const resumed = await call('POST', '/v1/senders/main/resume');
    expect(resumed.json).toMatchObject({ state: 'active' });

    await h.control('/tokens', { token: SENDER.access_token, state: 'revoked', subcode: 458 });
    await call('POST', '/v1/senders/main/check');
    expect(h.ctx.senders.status('main').state).toBe('halted');
    const stays = await call('POST', '/v1/senders/main/resume');
    expect(stays.status).toBe(409);
    expect(stays.json.error).toMatchObject({ code: 'CREDENTIALS_INVALID', details: { state: 'halted' } });
    expect(stays.json.error.message).toMatch(/App Not Installed/);

    const missing = await call('PUT', '/v1/senders/main/token', {});
    expect(missing.status).toBe(400);
    expect(missing.json.error.message).toMatch(/access_token/);
    const invalid = await call('PUT', '/v1/senders/main/token', { access_token: 'sandbox-token-unknown' });
    expect(invalid.status).toBe(422);
    expect(invalid.json.error.code).toBe('TOKEN_INVALID');

    await h.control('/tokens', { token: 'sandbox-token-fresh', state: 'valid' });
    const ok = await call('PUT', '/v1/senders/main/token', { access_token: 'sandbox-token-fresh' });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ id: 'main', state: 'active', token: { valid: true } });
    expect(JSON.stringify(ok.json)).not.toContain('sandbox-token-fresh');

    await h.alerts.flush();
    const alerts = await call('GET', '/v1/alerts');
    expect(alerts.json.alerts.map((a: { kind: string }) => a.kind).sort()).toEqual(['credentials_invalid', 'sender_paused']);
    const open = await call('GET', '/v1/alerts?unresolved=true');
    expect(open.json.alerts).toEqual([]); // resume resolved the pause alert, the new token the 190 alert
    const bad = await call('GET', '/v1/alerts?limit=0');
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('INVALID_REQUEST');
  });
});
