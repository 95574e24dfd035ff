// The /v1 routes the dashboard's views need beyond the per-resource ones (registered in the one route
// registry, src/http/openapi.ts, through DASHBOARD_API_ROUTES; handlers in routes/dashboard.ts).
// Typed by openapi.ts where they join its RouteSpec[] (literals kept `as const`): this module does not
// import it back, so the HTTP face has no import circle.
import { z } from 'zod';

const Json = z.record(z.string(), z.unknown());
const ok = (description: string) => ({ 200: { description, schema: Json } });

export const OverviewQuery = z.strictObject({});
export const SeriesQuery = z.strictObject({
  minutes: z.coerce
    .number()
    .int()
    .min(5)
    .max(7 * 24 * 60)
    .optional()
    .describe('How far back (default 60); past 6 h the points are summed per step'),
});
export const SearchQuery = z.strictObject({
  q: z.string().min(1).max(200).describe('A message id (msg_…), a wamid, a phone number or a business-scoped user id'),
  limit: z.coerce.number().int().min(1).max(200).optional(),
});
export const TimelineQuery = z.strictObject({ format: z.enum(['json', 'csv']).optional() });
export const AlertIdParam = z.object({ id: z.string().min(1).max(100) });
export const TimelineParam = z.object({ phone: z.string().min(1).max(140) });
export const BulkDeadLettersBody = z.strictObject({
  action: z.enum(['replay', 'discard']),
  sender: z.string().min(1).max(100).optional().describe('Only this sender’s open dead letters'),
  reason_code: z.string().min(1).max(100).optional().describe('Only this reason, e.g. META_131047'),
  ids: z.array(z.string().min(1).max(100)).min(1).max(500).optional().describe('Only these dead letters'),
  limit: z.number().int().min(1).max(500).optional().describe('At most this many (default 100)'),
});

export const DASHBOARD_API_ROUTES = [
  {
    method: 'get' as const,
    path: '/v1/overview',
    tag: 'dashboard',
    role: 'read' as const,
    summary: 'Every sender (state, reason and fix, token, quality, messaging-limit use, throughput), queue, dead letters, alerts',
    query: OverviewQuery,
    responses: ok('Overview'),
  },
  {
    method: 'get' as const,
    path: '/v1/stats/series',
    tag: 'dashboard',
    role: 'read' as const,
    summary: 'Per-minute series: sends by outcome, decisions by reason, Meta errors by code, delivery latency',
    query: SeriesQuery,
    responses: ok('Series (t: unix seconds per point)'),
  },
  {
    method: 'get' as const,
    path: '/v1/messages/search',
    tag: 'messages',
    role: 'read' as const,
    summary: 'Find messages by id, wamid, phone number or business-scoped user id, with their decision and statuses',
    query: SearchQuery,
    responses: ok('Messages, newest first'),
  },
  {
    method: 'get' as const,
    path: '/v1/customers/:phone/timeline',
    tag: 'customers',
    role: 'read' as const,
    summary: "The customer's audit trail: inbound, outbound and statuses, decisions, consent and profile changes (JSON or CSV)",
    params: TimelineParam,
    query: TimelineQuery,
    responses: ok('Timeline, newest first'),
  },
  {
    method: 'post' as const,
    path: '/v1/alerts/:id/acknowledge',
    tag: 'senders',
    role: 'admin' as const,
    summary: 'Acknowledge an alert (it stays open until its cause is resolved)',
    params: AlertIdParam,
    responses: { ...ok('The acknowledgement'), 404: { description: 'No such alert', schema: Json } },
  },
  {
    method: 'post' as const,
    path: '/v1/dead-letters/bulk',
    tag: 'dead-letters',
    role: 'admin' as const,
    summary: 'Replay (through the gate) or discard the open dead letters matching a filter',
    body: BulkDeadLettersBody,
    responses: ok('Per dead letter: ok, state, the new message id or the error'),
  },
];
