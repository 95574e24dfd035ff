// The sender registry: every configured WhatsApp business number, looked up by alias or phone number id,
// with its live state (active / paused / halted). Changes of state go to the gate (so denials are
// immediate), to the store (so a restart keeps a pause) and to listeners (delivery workers, alerts).
import { EventEmitter } from 'node:events';
import type { SenderConfig, SenderState, SenderStatus } from '../domain/types.ts';

export class UnknownSenderError extends Error {
  constructor(
    readonly ref: string,
    readonly known: string[],
  ) {
    super(`Unknown sender "${ref}". Known senders: ${known.join(', ') || '(none configured)'}`);
    this.name = 'UnknownSenderError';
  }
}

export interface SenderStateSink {
  setSenderStatus(s: SenderStatus): Promise<void>;
}

export class SenderRegistry extends EventEmitter {
  private readonly byRef = new Map<string, SenderConfig>();
  private readonly statuses = new Map<string, SenderStatus>();

  constructor(
    private senders: SenderConfig[],
    private readonly defaultRef?: string,
  ) {
    super();
    for (const s of senders) this.index(s);
  }

  private index(s: SenderConfig): void {
    this.byRef.set(s.id, s);
    this.byRef.set(s.phone_number_id, s);
    if (!this.statuses.has(s.id)) {
      this.statuses.set(s.id, { sender_id: s.id, state: 'active', reason: null, reason_code: null, credentials_valid: true, since: null });
    }
  }

  list(): SenderConfig[] {
    return [...this.senders];
  }

  /** By alias or phone_number_id; no ref = the default sender. Throws UnknownSenderError. */
  resolve(ref?: string | null): SenderConfig {
    const key = ref ?? this.defaultRef ?? this.senders[0]?.id;
    const s = key ? this.byRef.get(key) : undefined;
    if (!s)
      throw new UnknownSenderError(
        String(ref ?? '(default)'),
        this.senders.map((x) => x.id),
      );
    return s;
  }

  find(ref: string): SenderConfig | undefined {
    return this.byRef.get(ref);
  }

  status(id: string): SenderStatus {
    const s = this.statuses.get(this.resolve(id).id);
    if (!s)
      throw new UnknownSenderError(
        id,
        this.senders.map((x) => x.id),
      );
    return s;
  }

  statusesList(): SenderStatus[] {
    return this.senders.map((s) => this.statuses.get(s.id)!);
  }

  /** Sets the state; emits "state" (SenderStatus) so workers pause/resume and alerts fire. */
  setState(
    id: string,
    state: SenderState,
    opts: { reason?: string | null; reason_code?: string | null; credentials_valid?: boolean; at: number },
  ): SenderStatus {
    const cur = this.status(id);
    const next: SenderStatus = {
      sender_id: cur.sender_id,
      state,
      reason: state === 'active' ? null : (opts.reason ?? cur.reason),
      reason_code: state === 'active' ? null : (opts.reason_code ?? cur.reason_code),
      credentials_valid: opts.credentials_valid ?? (state === 'active' ? true : cur.credentials_valid),
      since: opts.at,
    };
    this.statuses.set(cur.sender_id, next);
    this.emit('state', next, cur);
    return next;
  }

  /** Replaces a sender's token (API `PUT /v1/senders/:id/token`, config reload). */
  setToken(id: string, token: string): SenderConfig {
    const cur = this.resolve(id);
    const next = { ...cur, access_token: token };
    this.senders = this.senders.map((s) => (s.id === cur.id ? next : s));
    this.index(next);
    this.emit('token', next);
    return next;
  }

  /** Restores a persisted status on start (a pause survives a restart). */
  restore(s: SenderStatus): void {
    if (this.statuses.has(s.sender_id)) this.statuses.set(s.sender_id, s);
  }
}
