// Port DeliveryQueue: durable, at-least-once delivery jobs. Adapters: embedded.ts (SQLite-backed, in
// process) and jetstream.ts (NATS JetStream work-queue stream, durable pull consumers).
// One contract suite (test/queue/contract.ts) runs against both.

export interface DeliveryJob {
  /** wagate message id: the dedupe key (JetStream Nats-Msg-Id). */
  id: string;
  sender_id: string;
  /** Real send attempts that failed so far. Pacing waits never count. */
  attempts: number;
  enqueued_at: number;
}

export interface Lease {
  job: DeliveryJob;
  /** Adapter-private handle (row lease token, JetStream message). */
  handle: unknown;
  /** How many times the queue handed this job out (including pacing waits and crashes). */
  deliveries: number;
}

export interface QueueStats {
  depth: number; // waiting + in flight
  ready: number;
  in_flight: number;
  oldest_age_ms: number; // age of the oldest job not yet acked
}

export interface DeliveryQueue {
  /** Returns false when a job with this id was already enqueued (dedupe). */
  enqueue(job: DeliveryJob, opts?: { not_before?: number }): Promise<boolean>;
  /** Up to `max` ready jobs for this sender, leased for `lease_ms`; waits at most `wait_ms` for one. */
  pull(sender_id: string, max: number, opts: { lease_ms: number; wait_ms?: number }): Promise<Lease[]>;
  /** Done: remove for good. */
  ack(lease: Lease): Promise<void>;
  /** Put back to become ready at `at`. `count_attempt` false for pacing waits and halts. */
  retry(lease: Lease, at: number, opts: { count_attempt: boolean; reason: string }): Promise<void>;
  /** Remove for good as undeliverable (the caller writes the dead-letter record in the Store first). */
  deadLetter(lease: Lease, reason: string): Promise<void>;
  /** Keep the lease alive during a slow send. */
  extendLease(lease: Lease, lease_ms: number): Promise<void>;
  stats(sender_id?: string): Promise<QueueStats>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
