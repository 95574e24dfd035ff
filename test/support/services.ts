// The local services some suites need (PostgreSQL, Redis, NATS with JetStream) and the server binaries
// the chaos tests start privately (redis-server, nats-server). test/support/global-setup.ts probes them
// all once per run (test/support/probe.ts) and prints one line per missing one (which, at which
// address, how to start it); a suite that needs one is wrapped in `describe.skipIf(missing('redis'))`,
// so on a machine without it only that suite is skipped. With CI set, a missing one fails the run.
import { inject } from 'vitest';
import type { Need, ServiceStatus } from './probe.ts';

export { DATABASE_URL, NATS_URL, REDIS_URL, type Need } from './probe.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    wagateServices: ServiceStatus;
  }
}

/** True when any of these is missing: `describe.skipIf(missing('redis', 'redis-server'))(...)`. */
export function missing(...needs: Need[]): boolean {
  const status = inject('wagateServices');
  if (!status)
    throw new Error(
      'test/support/services.ts: no probe results; run the suite through vitest.config.ts (its "services" project probes them)',
    );
  return needs.some((n) => n in status);
}
