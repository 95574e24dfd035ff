// Record builders shared by the store tests (no vitest import: the crash test's child uses them too).
import type { MessageRecord, TemplateRecord } from '../../src/domain/types.ts';
import type { AlertRecord, DeadLetter } from '../../src/store/port.ts';

export const T0 = 1_750_000_000_000;

export function message(over: Partial<MessageRecord> = {}): MessageRecord {
  const id = over.id ?? `msg_${Math.random().toString(36).slice(2, 12)}`;
  return {
    id,
    sender_id: 'main',
    to: '5511999990001',
    category: 'utility',
    type: 'template',
    template_name: 'order_update',
    template_language: 'en_US',
    payload: {
      messaging_product: 'whatsapp',
      to: '5511999990001',
      type: 'template',
      template: { name: 'order_update', language: { code: 'en_US' } },
    },
    status: 'queued',
    wamid: null,
    attempts: 0,
    idempotency_key: null,
    request_hash: null,
    last_error: null,
    pricing: null,
    reserved_marketing: false,
    reserved_tier: true,
    created_at: T0,
    updated_at: T0,
    history: [{ status: 'queued', at: T0, source: 'gate' }],
    ...over,
  };
}

export function template(over: Partial<TemplateRecord> = {}): TemplateRecord {
  return {
    waba_id: 'waba1',
    name: 'order_update',
    language: 'en_US',
    category: 'utility',
    status: 'APPROVED',
    quality: 'GREEN',
    components: [{ type: 'BODY', text: 'Order {{1}} shipped', example: { body_text: [['123']] } }],
    meta_id: '1234567890',
    updated_at: T0,
    ...over,
  };
}

export function deadLetter(over: Partial<DeadLetter> = {}): DeadLetter {
  return {
    id: `dl_${Math.random().toString(36).slice(2, 10)}`,
    message_id: 'm1',
    sender_id: 'main',
    reason_code: 'META_131047',
    explanation: 'More than 24 hours have passed since the customer last replied.',
    fix: 'Send an approved template instead.',
    meta_error: { code: 131047, title: 'Re-engagement message' },
    attempts: 1,
    created_at: T0,
    state: 'open',
    ...over,
  };
}

export function alert(over: Partial<AlertRecord> = {}): AlertRecord {
  return {
    id: `al_${Math.random().toString(36).slice(2, 10)}`,
    kind: 'sender_paused',
    severity: 'warning',
    dedupe_key: 'paused:main:META_131048',
    sender_id: 'main',
    title: 'Sender main paused',
    body: 'Spam rate limit hit',
    detail: { code: 131048 },
    created_at: T0,
    last_sent_at: null,
    resolved_at: null,
    ...over,
  };
}
