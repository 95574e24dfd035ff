import { configDefaults, defineConfig } from 'vitest/config';
import type { ServiceStatus } from './test/support/probe.ts';

/**
 * The files that test nothing but the PostgreSQL/Redis/NATS adapters and the production backends (the
 * service half of each contract suite; the embedded half is its own file). `npm run test:embedded`
 * (`--mode embedded`) leaves them out; files that mix both (test/alerts, test/senders) run their
 * embedded tests there and skip the rest.
 */
const SERVICE_SUITES = [
  'test/gate/redis.test.ts',
  'test/pacing/redis.test.ts',
  'test/queue/jetstream.test.ts',
  'test/queue/jetstream-chaos.test.ts',
  'test/store/postgres.test.ts',
  'test/production/**',
];

const notInThisRun = 'not used by `npm run test:embedded`';
const EMBEDDED_ONLY: ServiceStatus = {
  postgres: notInThisRun,
  redis: notInThisRun,
  nats: notInThisRun,
  'redis-server': notInThisRun,
  'nats-server': notInThisRun,
};

export default defineConfig(({ mode }) => {
  const embedded = mode === 'embedded';
  return {
    test: {
      include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
      exclude: [...configDefaults.exclude, ...(embedded ? SERVICE_SUITES : [])],
      // Probes the services once per run: a missing one skips its suites with one line saying how to
      // start it, or fails the run when CI is set (test/support/services.ts). The embedded subset
      // needs none and probes nothing.
      ...(embedded ? { provide: { wagateServices: EMBEDDED_ONLY } } : { globalSetup: ['test/support/global-setup.ts'] }),
      pool: 'forks',
      testTimeout: 30_000,
      hookTimeout: 30_000,
      // Two cores: keep parallelism modest so timing-sensitive delivery tests are not starved.
      poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    },
  };
});
