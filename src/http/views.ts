// How records look at the HTTP face: times are epoch ms inside wagate and ISO 8601 here.
import type { MessageRecord } from '../domain/types.ts';
import type { DeadLetter } from '../store/port.ts';

const iso = (t: number | null | undefined) => (typeof t === 'number' ? new Date(t).toISOString() : null);

export function messageView(m: MessageRecord): Record<string, unknown> {
  return {
    id: m.id,
    status: m.status,
    sender: m.sender_id,
    to: m.to,
    category: m.category,
    type: m.type,
    template: m.template_name ? { name: m.template_name, language: m.template_language } : null,
    wamid: m.wamid,
    attempts: m.attempts,
    idempotency_key: m.idempotency_key,
    last_error: m.last_error,
    pricing: m.pricing,
    payload: m.payload,
    created_at: iso(m.created_at),
    updated_at: iso(m.updated_at),
    history: m.history.map((h) => ({ ...(h.detail ?? {}), status: h.status, at: iso(h.at), source: h.source })),
  };
}

export function deadLetterView(d: DeadLetter): Record<string, unknown> {
  return { ...d, created_at: iso(d.created_at) };
}
