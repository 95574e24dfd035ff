// What this process remembers of its own recent submits, held by the AppContext (one per app, never
// module state: two apps in one process, as in tests, share nothing).
// - The hand-off to the worker of the same process: the GateRequest the submit was decided on (the
//   dispatch-time re-check skips re-validating a payload that cannot have changed) and the record it
//   stored (the first attempt skips reading it back; Store.claimAttempt re-checks it is still queued
//   and untouched in the same write that marks the send). Each is taken once; bounded; a miss (a
//   restart, another instance) only costs a read.
// - Submits with the same Idempotency-Key run one after the other in this process (the store's unique
//   key covers several processes: a second insert fails and the answer comes from the first).
import type { MessageRecord } from '../domain/types.ts';
import type { GateRequest } from '../domain/decide.ts';

const REQUESTS_MAX = 50_000;
const RECORDS_MAX = 10_000;

export class Submissions {
  private readonly requests = new Map<string, GateRequest>();
  private readonly records = new Map<string, MessageRecord>();
  private readonly keys = new Map<string, Promise<unknown>>();

  /** A message just stored as queued, for this process's worker. */
  remember(id: string, req: GateRequest, record: MessageRecord): void {
    bounded(this.requests, REQUESTS_MAX).set(id, req);
    bounded(this.records, RECORDS_MAX).set(id, record);
  }

  takeRecord(id: string): MessageRecord | undefined {
    return take(this.records, id);
  }

  takeRequest(id: string): GateRequest | undefined {
    return take(this.requests, id);
  }

  /** Runs `fn` once no other submit with this key is running in this process. */
  async withKey<T>(key: string, fn: () => Promise<T>): Promise<T> {
    while (this.keys.has(key)) await this.keys.get(key)!.catch(() => {});
    const p = fn();
    this.keys.set(key, p);
    try {
      return await p;
    } finally {
      if (this.keys.get(key) === p) this.keys.delete(key);
    }
  }
}

function bounded<K, V>(m: Map<K, V>, max: number): Map<K, V> {
  if (m.size >= max) m.delete(m.keys().next().value as K);
  return m;
}

function take<V>(m: Map<string, V>, id: string): V | undefined {
  const v = m.get(id);
  if (v !== undefined) m.delete(id);
  return v;
}
