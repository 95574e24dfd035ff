// The soak's faults and their schedule. Each fault is applied, held, and undone; the soak runs them
// one after the other, spread over the run, so every loss can be put down to the fault it met.
import { http } from '../../test/delivery/harness.ts';

export interface SoakEnv {
  sandboxUrl: string;
  phoneNumberId: string;
  token: string;
  mps: number;
  instances: number;
  /** SIGKILL instance k (resolves once it is gone). */
  killInstance(k: number): Promise<void>;
  /** Starts instance k again (same config, port, namespace) and waits for /ready. */
  startInstance(k: number): Promise<void>;
  /** GET on instance k (a base-relative path). */
  get(k: number, path: string): Promise<{ status: number; json: any }>;
  post(k: number, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  redis: { kill(): Promise<void>; restart(): Promise<void> };
  nats: { kill(): Promise<void>; restart(): Promise<void> };
  pg: { stop(): Promise<void>; start(): Promise<void> };
  proxy: { cut(ms: number): void };
  log(line: string): void;
}

export interface FaultDef {
  name: string;
  /** About how long it takes (s), for the schedule. */
  seconds: number;
  /** Applies the fault, holds it, undoes it; returns what it saw. `round` counts from 0. */
  run(env: SoakEnv, round: number): Promise<Record<string, unknown>>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sandbox(env: SoakEnv, path: string, body: unknown, method: 'POST' | 'DELETE' = 'POST'): Promise<void> {
  const r = await http(method, `${env.sandboxUrl}/_sandbox/${path}`, body);
  if (r.status >= 300) throw new Error(`sandbox ${method} /_sandbox/${path}: ${r.status} ${JSON.stringify(r.json)}`);
}

/** Sender states per instance ("active", "halted", or "down" when it does not answer). */
async function senderStates(env: SoakEnv): Promise<string[]> {
  const out: string[] = [];
  for (let k = 0; k < env.instances; k++) {
    const r = await env.get(k, '/v1/senders').catch(() => ({ status: 0, json: null }));
    out.push(r.status === 200 ? String(r.json?.senders?.[0]?.state ?? 'unknown') : 'down');
  }
  return out;
}

export const FAULTS: Record<string, FaultDef> = {
  kill_instance: {
    name: 'kill_instance',
    seconds: 9,
    async run(env, round) {
      const k = round % env.instances;
      const t0 = Date.now();
      await env.killInstance(k);
      await sleep(3_000);
      await env.startInstance(k);
      return { instance: k, down_s: (Date.now() - t0) / 1000 };
    },
  },
  kill_other_instance: {
    name: 'kill_other_instance',
    seconds: 9,
    async run(env, round) {
      const k = (round + 1) % env.instances;
      const t0 = Date.now();
      await env.killInstance(k);
      await sleep(3_000);
      await env.startInstance(k);
      return { instance: k, down_s: (Date.now() - t0) / 1000 };
    },
  },
  redis_restart: {
    name: 'redis_restart',
    seconds: 4,
    async run(env) {
      await env.redis.kill();
      await sleep(3_000);
      await env.redis.restart();
      await sleep(1_000);
      return { down_s: 3, data: 'none (no persistence: the gate must reseed)' };
    },
  },
  nats_restart: {
    name: 'nats_restart',
    seconds: 5,
    async run(env) {
      const t0 = Date.now();
      await env.nats.kill();
      await sleep(3_000);
      await env.nats.restart();
      const down = (Date.now() - t0) / 1000;
      await sleep(1_000);
      return { down_s: down, store: 'kept (same store dir)' };
    },
  },
  pg_cut: {
    name: 'pg_cut',
    seconds: 4,
    async run(env) {
      env.proxy.cut(3_000);
      await sleep(4_000);
      return { refused_s: 3 };
    },
  },
  pg_stop: {
    name: 'pg_stop',
    seconds: 6,
    async run(env) {
      const t0 = Date.now();
      await env.pg.stop();
      await sleep(4_000);
      await env.pg.start();
      const down = (Date.now() - t0) / 1000;
      await sleep(1_000);
      return { down_s: down };
    },
  },
  meta_5xx: {
    name: 'meta_5xx',
    seconds: 8,
    async run(env) {
      await sandbox(env, 'faults', { status: 500, seconds: 4 });
      await sleep(4_000);
      await sandbox(env, 'faults', { status: 503, seconds: 4 });
      await sleep(4_000);
      return { burst_s: 8, statuses: [500, 503] };
    },
  },
  meta_130429: {
    name: 'meta_130429',
    seconds: 9,
    async run(env) {
      // A storm of Meta's throughput error on every send, then the number's throughput lowered so
      // wagate's own pacing (still at the tier) overruns Meta's bucket for real.
      await sandbox(env, 'faults', { status: 400, code: 130429, seconds: 4 });
      await sleep(4_000);
      await sandbox(env, `numbers/${env.phoneNumberId}`, { throughput_mps: Math.max(1, Math.round(env.mps / 10)) });
      await sleep(5_000);
      await sandbox(env, `numbers/${env.phoneNumberId}`, { throughput_mps: env.mps });
      return { storm_s: 4, throttled_s: 5, throttled_mps: Math.max(1, Math.round(env.mps / 10)) };
    },
  },
  token_revoke: {
    name: 'token_revoke',
    seconds: 22,
    async run(env) {
      await sandbox(env, 'tokens', { token: env.token, state: 'revoked' });
      const revokedAt = Date.now();
      await sleep(5_000);
      const halted = await senderStates(env);
      await sandbox(env, 'tokens', { token: env.token, state: 'valid' });
      const renewedAt = Date.now();
      // The health monitor re-checks halted senders' tokens (every ~15 s) and resumes them; wait for
      // that, and only after 45 s resume by hand (POST /v1/senders/:id/resume), which the report says.
      let states = await senderStates(env);
      while (states.some((s) => s !== 'active') && Date.now() - renewedAt < 45_000) {
        await sleep(500);
        states = await senderStates(env);
      }
      const manual: number[] = [];
      for (let k = 0; k < env.instances; k++) {
        if (states[k] === 'active') continue;
        manual.push(k);
        await env.post(k, '/v1/senders/main/resume', {}).catch(() => null);
      }
      if (manual.length) states = await senderStates(env);
      return {
        revoked_s: (renewedAt - revokedAt) / 1000,
        states_while_revoked: halted,
        resumed_after_s: (Date.now() - renewedAt) / 1000,
        manual_resume: manual,
        states_after: states,
      };
    },
  },
};

export const DEFAULT_FAULTS = [
  'meta_5xx',
  'kill_instance',
  'redis_restart',
  'meta_130429',
  'nats_restart',
  'pg_cut',
  'token_revoke',
  'pg_stop',
  'kill_other_instance',
];

/** Undo every sandbox-side fault (the end of the run, or an aborted fault). */
export async function clearSandboxFaults(env: Pick<SoakEnv, 'sandboxUrl' | 'phoneNumberId' | 'token' | 'mps'>): Promise<void> {
  await sandbox(env as SoakEnv, 'faults', undefined, 'DELETE');
  await sandbox(env as SoakEnv, `numbers/${env.phoneNumberId}`, { throughput_mps: env.mps });
  await sandbox(env as SoakEnv, 'tokens', { token: env.token, state: 'valid' });
}

/**
 * Start times (ms from the run's start) for `names` repeated `rounds` times, spread evenly over the
 * middle of the run (10%..85% of it) so the start is clean and the end has time to recover; a fault
 * never starts before the previous one's expected end.
 */
export function schedule(names: string[], rounds: number, durationMs: number): { name: string; round: number; at: number }[] {
  const list: { name: string; round: number }[] = [];
  for (let r = 0; r < rounds; r++) for (const name of names) list.push({ name, round: r });
  const from = durationMs * 0.1;
  const to = durationMs * 0.85;
  const step = list.length > 1 ? (to - from) / list.length : 0;
  return list.map((f, i) => ({ ...f, at: Math.round(from + i * step) }));
}
