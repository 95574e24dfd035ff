// The soak's verdict, counted at Meta's side (the sandbox ledger) against what the client was told
// (202 + id per Idempotency-Key), with wagate's dead letters and stored statuses for the rest.
// Pure: tested by test/bench/soak-count.test.ts.

export interface CountInput {
  /** Every message the client submitted. */
  messages: { id: string | null; to: string; outcome: string; first_at: number; accepted_at: number | null }[];
  /** The sandbox ledger: every send Meta accepted (biz_opaque_callback_data = wagate's id). */
  ledger: { to: string; biz_opaque_callback_data: string | null; at: number | string }[];
  deadLetters: { message_id: string; reason_code: string }[];
  /** wagate's stored status per message id (missing = not in the store). */
  statuses: Map<string, string>;
  /** Fault windows (ms, Date.now()), to say which fault a lost message ran into. */
  faults: { label: string; start: number; end: number }[];
}

export interface PhaseCounts {
  accepted: number;
  /** Definite refusals (a 422 decision, ...) of messages first tried then. */
  denied: number;
  lost: number;
  stuck: number;
  duplicates: number;
  dead_letters: number;
}

export interface CountResult {
  accepted: number;
  sent: number;
  /** Accepted (202), not in the ledger, not dead-lettered, and not stuck. */
  lost: number;
  /** Ledger entries beyond one per wagate id. */
  duplicates: number;
  /** Ledger entries beyond one per recipient (each message has its own recipient): also catches one key giving two ids. */
  duplicate_recipients: number;
  /** Accepted messages whose stored status is still queued or in_doubt. */
  stuck: number;
  /** Of the stuck, those not in the ledger either (never reached Meta). */
  stuck_unsent: number;
  dead_letters: Record<string, number>;
  /** Accepted ids the store does not know. */
  not_in_store: number;
  /** Ledger sends of ids the client never got a 2xx for (e.g. its retries gave up). */
  sent_unacknowledged: number;
  statuses: Record<string, number>;
  /** Per attribution label (see attribute()). */
  by_phase: Record<string, PhaseCounts>;
  /**
   * Each problem message under the faults it met (faultsMet): a duplicate between its 202 and its first
   * send at Meta (+1 s), a lost, stuck or dead-lettered one within `horizonMs` of its 202.
   */
  problems_by_faults: {
    duplicates: Record<string, number>;
    lost: Record<string, number>;
    stuck: Record<string, number>;
    dead_letters: Record<string, number>;
  };
  /** Up to 2 message ids per kind and fault combination of problems_by_faults (to look at their history). */
  problem_samples: { kind: string; faults: string; id: string }[];
  lost_ids: string[];
  stuck_ids: string[];
  duplicate_ids: string[];
  /** ms from the first try to the 2xx, and from the 2xx to Meta's ledger stamp (sorted). */
  accept_ms: number[];
  deliver_ms: number[];
}

const STUCK = new Set(['queued', 'in_doubt']);

/**
 * The label a message is counted under, from the time wagate accepted it (`at`): the fault running
 * then; else "before:<fault>" when the next fault started within `horizonMs` (it was still in flight
 * when that fault hit), else "after:<fault>" when one ended within 5 s before; else "none".
 */
export function attribute(at: number, faults: CountInput['faults'], horizonMs: number): string {
  const during = faults.find((f) => f.start <= at && at <= f.end);
  if (during) return during.label;
  const next = faults.filter((f) => f.start > at && f.start - at <= horizonMs).sort((a, b) => a.start - b.start)[0];
  if (next) return `before:${next.label}`;
  const prev = faults.filter((f) => f.end < at && at - f.end <= 5_000).sort((a, b) => b.end - a.end)[0];
  return prev ? `after:${prev.label}` : 'none';
}

/** The faults whose window overlaps [from, to], joined with "+" ("none" if none): the ones a message met. */
export function faultsMet(from: number, to: number, faults: CountInput['faults']): string {
  const met = faults.filter((f) => f.start <= to && f.end >= from).map((f) => f.label);
  return met.length ? met.join('+') : 'none';
}

export function countSoak(input: CountInput, horizonMs = 15_000): CountResult {
  const perId = new Map<string, number>();
  const firstAt = new Map<string, number>();
  const perTo = new Map<string, number>();
  for (const s of input.ledger) {
    perTo.set(s.to, (perTo.get(s.to) ?? 0) + 1);
    const id = s.biz_opaque_callback_data;
    if (!id) continue;
    perId.set(id, (perId.get(id) ?? 0) + 1);
    const at = new Date(s.at).getTime();
    if (!firstAt.has(id) || at < firstAt.get(id)!) firstAt.set(id, at);
  }
  const dlById = new Map<string, string>();
  for (const d of input.deadLetters) dlById.set(d.message_id, d.reason_code);

  const out: CountResult = {
    accepted: 0,
    sent: 0,
    lost: 0,
    duplicates: 0,
    duplicate_recipients: 0,
    stuck: 0,
    stuck_unsent: 0,
    dead_letters: {},
    not_in_store: 0,
    sent_unacknowledged: 0,
    statuses: {},
    by_phase: {},
    problems_by_faults: { duplicates: {}, lost: {}, stuck: {}, dead_letters: {} },
    problem_samples: [],
    lost_ids: [],
    stuck_ids: [],
    duplicate_ids: [],
    accept_ms: [],
    deliver_ms: [],
  };
  const ours = new Set<string>();
  const phase = (label: string) => (out.by_phase[label] ??= { accepted: 0, denied: 0, lost: 0, stuck: 0, duplicates: 0, dead_letters: 0 });
  for (const m of input.messages) {
    const dupTo = (perTo.get(m.to) ?? 0) - 1;
    if (dupTo > 0) out.duplicate_recipients += dupTo;
    if (m.outcome === 'denied') phase(attribute(m.first_at, input.faults, horizonMs)).denied++;
    if (m.outcome !== 'accepted' || !m.id) continue;
    ours.add(m.id);
    out.accepted++;
    const p = phase(attribute(m.accepted_at ?? m.first_at, input.faults, horizonMs));
    p.accepted++;
    if (m.accepted_at !== null) out.accept_ms.push(m.accepted_at - m.first_at);
    const n = perId.get(m.id) ?? 0;
    const status = input.statuses.get(m.id);
    if (status === undefined) out.not_in_store++;
    else out.statuses[status] = (out.statuses[status] ?? 0) + 1;
    const acceptedAt = m.accepted_at ?? m.first_at;
    const problem = (kind: keyof CountResult['problems_by_faults'], to: number, k = 1) => {
      const combo = faultsMet(acceptedAt, to, input.faults);
      const seen = out.problems_by_faults[kind][combo] ?? 0;
      out.problems_by_faults[kind][combo] = seen + k;
      if (seen === 0 || out.problem_samples.filter((x) => x.kind === kind && x.faults === combo).length < 2)
        out.problem_samples.push({ kind, faults: combo, id: m.id! });
    };
    const dl = dlById.get(m.id);
    if (dl) {
      out.dead_letters[dl] = (out.dead_letters[dl] ?? 0) + 1;
      p.dead_letters++;
      problem('dead_letters', acceptedAt + horizonMs);
    }
    if (n > 0) {
      out.sent++;
      if (m.accepted_at !== null) out.deliver_ms.push(firstAt.get(m.id)! - m.accepted_at);
    }
    if (n > 1) {
      out.duplicates += n - 1;
      p.duplicates += n - 1;
      problem('duplicates', firstAt.get(m.id)! + 1_000, n - 1);
      if (out.duplicate_ids.length < 20) out.duplicate_ids.push(m.id);
    }
    if (status !== undefined && STUCK.has(status)) {
      out.stuck++;
      p.stuck++;
      problem('stuck', acceptedAt + horizonMs);
      if (n === 0) out.stuck_unsent++;
      if (out.stuck_ids.length < 20) out.stuck_ids.push(m.id);
    } else if (n === 0 && !dl) {
      out.lost++;
      p.lost++;
      problem('lost', acceptedAt + horizonMs);
      if (out.lost_ids.length < 20) out.lost_ids.push(m.id);
    }
  }
  for (const id of perId.keys()) if (!ours.has(id)) out.sent_unacknowledged++;
  out.accept_ms.sort((a, b) => a - b);
  out.deliver_ms.sort((a, b) => a - b);
  return out;
}
