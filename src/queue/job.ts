// Input checks shared by the queue adapters: a bad job is refused with what is wrong and the shape
// that is expected, before anything is written.
import type { DeliveryJob } from './port.ts';

export function checkJob(job: DeliveryJob): void {
  const bad = (what: string) =>
    new TypeError(`queue.enqueue: ${what}; a job needs {id: string, sender_id: string, attempts: number, enqueued_at: number}`);
  if (!job || typeof job !== 'object') throw bad('job is missing');
  if (typeof job.id !== 'string' || job.id.length === 0) throw bad('id is missing or empty');
  if (typeof job.sender_id !== 'string' || job.sender_id.length === 0) throw bad('sender_id is missing or empty');
  if (job.attempts !== undefined && (!Number.isInteger(job.attempts) || job.attempts < 0))
    throw bad(`attempts must be a non-negative integer, got ${String(job.attempts)}`);
}

export function checkPull(max: number, opts: { lease_ms: number; wait_ms?: number }): void {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`queue.pull: max must be a positive integer, got ${String(max)}`);
  if (!Number.isFinite(opts?.lease_ms) || opts.lease_ms <= 0)
    throw new RangeError(`queue.pull: lease_ms must be > 0, got ${String(opts?.lease_ms)}`);
  if (opts.wait_ms !== undefined && !(opts.wait_ms >= 0))
    throw new RangeError(`queue.pull: wait_ms must be >= 0, got ${String(opts.wait_ms)}`);
}
