// Probes the services and server binaries once per run (test/support/probe.ts) for the "services"
// project: each missing one gets one line here and its suites skip; with CI set, the run fails instead.
import type { TestProject } from 'vitest/node';
import { missingLines, probeAll } from './probe.ts';

export default async function setup(project: TestProject): Promise<void> {
  const status = await probeAll();
  project.provide('wagateServices', status);
  const ci = Boolean(process.env.CI) && !/^(0|false)$/i.test(process.env.CI ?? '');
  const lines = missingLines(status, ci);
  if (!lines.length) return;
  if (ci) throw new Error(`CI is set, and what these suites need is missing:\n${lines.join('\n')}`);
  for (const line of lines) console.log(line);
}
