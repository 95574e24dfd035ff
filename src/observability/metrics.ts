// Prometheus metrics (/metrics). Defined once here so every concern increments the same series.
import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'wagate_process_' });
  const m = {
    registry,
    decisions: new Counter({
      name: 'wagate_decisions_total',
      help: 'Gate decisions by outcome and reason',
      labelNames: ['allowed', 'reason'] as const,
      registers: [registry],
    }),
    sends: new Counter({
      name: 'wagate_sends_total',
      help: 'Send attempts to Meta by outcome and Meta error code',
      labelNames: ['sender', 'outcome', 'code'] as const,
      registers: [registry],
    }),
    unknownErrors: new Counter({
      name: 'wagate_meta_unknown_errors_total',
      help: 'Meta error codes not in the catalog',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    pacingWaits: new Counter({
      name: 'wagate_pacing_waits_total',
      help: 'Times a message waited for a pacing token',
      labelNames: ['sender', 'bucket'] as const,
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'wagate_queue_depth',
      help: 'Messages waiting or in flight',
      labelNames: ['sender'] as const,
      registers: [registry],
    }),
    queueAge: new Gauge({
      name: 'wagate_queue_oldest_age_seconds',
      help: 'Age of the oldest queued message',
      labelNames: ['sender'] as const,
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'wagate_dead_letters_total',
      help: 'Messages dead-lettered by reason',
      labelNames: ['sender', 'reason'] as const,
      registers: [registry],
    }),
    sendLatency: new Histogram({
      name: 'wagate_send_latency_seconds',
      help: 'Enqueue to Meta accept',
      labelNames: ['sender'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
      registers: [registry],
    }),
    webhookEvents: new Counter({
      name: 'wagate_webhook_events_total',
      help: 'Webhook events by kind and result',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    senderState: new Gauge({
      name: 'wagate_sender_state',
      help: '0 active, 1 paused, 2 halted',
      labelNames: ['sender'] as const,
      registers: [registry],
    }),
    tokenExpiry: new Gauge({
      name: 'wagate_token_seconds_to_expiry',
      help: 'Seconds until the sender token expires (-1 never)',
      labelNames: ['sender'] as const,
      registers: [registry],
    }),
    alertsSent: new Counter({
      name: 'wagate_alerts_sent_total',
      help: 'Alerts delivered by kind and channel',
      labelNames: ['kind', 'channel', 'result'] as const,
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
