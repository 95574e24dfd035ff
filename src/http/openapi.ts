// The one registry of /v1 routes: method, path, role, and the zod schemas of params, query, body and
// responses. The OpenAPI 3 document (/openapi.json) is generated from it, the auth hook reads each
// route's role from it, and the route modules (src/http/routes/) validate their input with the same schemas.
import { z } from 'zod';
import type { Role } from '../mcp/principal.ts';
import { CAMPAIGN_API_ROUTES } from './campaign-api.ts';
import { DASHBOARD_API_ROUTES } from './dashboard-api.ts';

export type Access = Role | 'public';

export interface RouteSpec {
  method: 'get' | 'post' | 'put' | 'delete';
  /** Fastify form: /v1/messages/:id */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  role: Access;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  headers?: z.ZodObject;
  responses: Record<number, { description: string; schema?: z.ZodType }>;
}

// ---------------------------------------------------------------------------------------------
// Shared shapes

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().describe('Stable error code, e.g. INVALID_REQUEST, UNAUTHORIZED, FORBIDDEN_ROLE'),
      message: z.string().describe('What is wrong, naming the field'),
      fix: z.string().describe('How to fix it'),
      details: z.record(z.string(), z.unknown()),
    }),
  })
  .describe('Error');

export const DecisionSchema = z
  .object({
    allowed: z.boolean(),
    reason_code: z
      .string()
      .nullable()
      .describe('Stable reason code (null when allowed): OPTED_OUT, WINDOW_CLOSED_TEMPLATE_REQUIRED, FREQUENCY_CAP, ...'),
    explanation: z.string(),
    suggested_action: z.string(),
    retry_after_s: z.number().optional(),
    checks: z.array(z.object({ rule: z.string(), passed: z.boolean(), detail: z.string() })),
  })
  .describe('Decision');

/** Meta's message body for POST /{phone-number-id}/messages (validated in full by wagate; see README). */
export const MetaMessageSchema = z
  .looseObject({
    messaging_product: z.literal('whatsapp').optional(),
    recipient_type: z.literal('individual').optional(),
    to: z.string().describe('Recipient with country code, e.g. "+447700900123"'),
    type: z
      .enum(['text', 'image', 'audio', 'video', 'document', 'sticker', 'location', 'contacts', 'interactive', 'reaction', 'template'])
      .optional(),
    text: z.looseObject({ body: z.string(), preview_url: z.boolean().optional() }).optional(),
    template: z
      .looseObject({
        name: z.string(),
        language: z.looseObject({ code: z.string() }),
        components: z.array(z.record(z.string(), z.unknown())).optional(),
      })
      .optional(),
    interactive: z.record(z.string(), z.unknown()).optional(),
    context: z.object({ message_id: z.string() }).optional(),
    sender: z.string().optional().describe('Sender alias or phone_number_id (default sender when absent)'),
  })
  .describe("Meta's message body plus an optional sender");

const Json = z.record(z.string(), z.unknown());
const SenderQ = z.string().min(1).max(100).optional().describe('Sender alias or phone_number_id (default sender when absent)');
const Limit = z.coerce.number().int().min(1).max(500).optional();
const Offset = z.coerce.number().int().min(0).optional();
const IdParam = z.object({ id: z.string().min(1).max(140) });
const PhoneParam = z.object({ phone: z.string().min(1).max(40).describe('Customer phone number with country code') });
const Category = z.enum(['marketing', 'utility', 'authentication', 'service']);
const PricedType = z.enum(['marketing', 'utility', 'authentication', 'authentication_international', 'service']);

// ---------------------------------------------------------------------------------------------
// Input schemas the route modules validate with (these very objects)

export const ConversationsQuery = z.strictObject({
  sender: SenderQ,
  status_filter: z.enum(['all', 'open', 'closed', 'expiring_soon', 'archived']).optional(),
  limit: Limit,
  offset: Offset,
});
export const SenderQuery = z.strictObject({ sender: SenderQ });
export const TemplatesQuery = z.strictObject({
  sender: SenderQ,
  status: z.string().max(30).optional().describe('APPROVED, PENDING, REJECTED, PAUSED, ... (any case)'),
  category: z.string().max(30).optional(),
  language: z.string().max(15).optional(),
  name: z.string().max(512).optional(),
  limit: Limit,
  offset: Offset,
});
export const TemplateSyncBody = z.strictObject({
  sender: SenderQ,
  template_name: z.string().min(1).max(512).optional(),
  locale: z.string().min(2).max(15).optional(),
});
export const TemplateCreateBody = z.strictObject({
  sender: SenderQ,
  name: z
    .string()
    .min(1)
    .max(512)
    .regex(/^[a-z0-9_]+$/, 'lower-case letters, digits and "_" only'),
  language: z.string().min(2).max(15),
  category: z.string().min(1).max(30).describe('MARKETING, UTILITY or AUTHENTICATION (any case)'),
  components: z.array(Json).min(1).describe("Meta's template components (BODY required)"),
  parameter_format: z.enum(['POSITIONAL', 'NAMED']).optional(),
});
export const ErrorCodeParam = z.object({ code: z.string().min(1).max(20).describe('Meta error code, e.g. 131047') });
export const ErrorCodeQuery = z.strictObject({ subcode: z.string().max(20).optional() });
/** The day an estimate prices: Meta's rules change by date (service messages are charged from 1 Oct 2026). */
const SendAt = z
  .string()
  .min(10)
  .max(40)
  .optional()
  .describe('Send date, ISO 8601 ("2026-10-01" or "2026-10-01T09:00:00Z"); default now. The rules of that day apply.');
export const CostBody = z.strictObject({
  message_type: PricedType,
  recipient_country: z.string().min(2).max(40).optional().describe('ISO country code or a phone number'),
  quantity: z.number().int().min(1).max(10_000_000).optional(),
  customer_id: z.string().min(1).max(40).optional(),
  sender: SenderQ,
  send_at: SendAt,
});
export const PricingQuery = z.strictObject({
  conversation_type: PricedType,
  recipient_country: z.string().min(2).max(40),
  send_at: SendAt,
});
export const RetryBody = z.strictObject({ message_ids: z.array(z.string().min(1).max(100)).min(1).max(100) });
export const ReadBody = z.strictObject({
  message_id: z.string().min(1).max(256).describe('wamid of the inbound message'),
  sender: SenderQ,
});
export const WebhookSyncBody = z.strictObject({ sender: SenderQ, stale_after_min: z.number().int().min(1).max(10_080).optional() });
export const FailedWebhookId = z.object({
  id: z.string().min(1).max(100).describe('batch id (wh_…), as GET /v1/webhooks/failed lists it'),
});
export const FailedWebhooksQuery = z.strictObject({
  state: z.enum(['open', 'replayed', 'discarded']).optional(),
  limit: Limit,
  offset: Offset,
});
export const ConsentBody = z.strictObject({
  category: Category,
  state: z.enum(['opted_in', 'opted_out', 'unknown']),
  source: z.string().min(1).max(200).optional(),
});

// ---------------------------------------------------------------------------------------------
// The registry

const ok = (description: string, schema: z.ZodType = Json) => ({ description, schema });
const E400 = { 400: { description: 'Invalid input: the error names the field and the fix', schema: ErrorSchema } };
const E404 = { 404: { description: 'Not found', schema: ErrorSchema } };

export const ROUTES: RouteSpec[] = [
  // messages (src/http/routes/messages.ts)
  {
    method: 'post',
    path: '/v1/messages',
    tag: 'messages',
    role: 'send',
    summary: 'Submit a message (checked, then queued)',
    description:
      "Meta's own message body plus an optional `sender`. 202 when queued, 422 with the decision when denied. `Idempotency-Key` makes a retry safe.",
    body: MetaMessageSchema,
    headers: z.object({ 'idempotency-key': z.string().max(255).optional() }),
    responses: {
      202: ok('Queued', z.object({ id: z.string(), status: z.string(), decision: DecisionSchema })),
      422: ok('Denied', z.object({ decision: DecisionSchema })),
      409: ok('Idempotency-Key reused for another request', ErrorSchema),
      ...E400,
    },
  },
  {
    method: 'get',
    path: '/v1/messages/:id',
    tag: 'messages',
    role: 'read',
    summary: 'A message with its status history',
    params: IdParam,
    responses: { 200: ok('The message'), ...E404 },
  },
  {
    method: 'get',
    path: '/v1/messages',
    tag: 'messages',
    role: 'read',
    summary: 'List messages',
    query: z.object({ status: z.string().optional(), sender: SenderQ, to: z.string().optional(), limit: Limit, offset: Offset }),
    responses: { 200: ok('Messages'), ...E400 },
  },
  {
    method: 'post',
    path: '/v1/messages/retry',
    tag: 'messages',
    role: 'send',
    summary: 'Retry failed or dead-lettered messages through the gate',
    body: RetryBody,
    responses: { 200: ok('Per-message results'), ...E400 },
  },
  {
    method: 'post',
    path: '/v1/messages/read',
    tag: 'messages',
    role: 'send',
    summary: 'Mark an inbound message as read',
    body: ReadBody,
    responses: { 200: ok('Marked'), ...E400 },
  },
  // compliance (src/http/routes/compliance.ts) and customers (src/http/routes/customers.ts)
  {
    method: 'post',
    path: '/v1/compliance/check',
    tag: 'compliance',
    role: 'read',
    summary: 'Dry-run decision (nothing reserved)',
    body: MetaMessageSchema,
    responses: { 200: ok('The decision', DecisionSchema) },
  },
  {
    method: 'get',
    path: '/v1/customers/:phone',
    tag: 'customers',
    role: 'read',
    summary: 'Consent, windows, tags, time zone',
    params: PhoneParam,
    responses: { 200: ok('The customer'), ...E400 },
  },
  {
    method: 'put',
    path: '/v1/customers/:phone',
    tag: 'customers',
    role: 'send',
    summary: 'Set tags / time zone',
    params: PhoneParam,
    body: z.object({
      tags: z.array(z.string()).optional(),
      time_zone: z.string().nullable().optional(),
      undeliverable_at: z.null().optional(),
    }),
    responses: { 200: ok('The customer'), ...E400 },
  },
  {
    method: 'put',
    path: '/v1/customers/:phone/consent',
    tag: 'customers',
    role: 'send',
    summary: 'Record an opt-in or opt-out for one category',
    params: PhoneParam,
    body: ConsentBody,
    responses: { 200: ok('The customer'), ...E400 },
  },
  {
    method: 'post',
    path: '/v1/customers/:phone/inbound',
    tag: 'customers',
    role: 'send',
    summary: 'Record an inbound message (opens the care window)',
    params: PhoneParam,
    body: z.object({
      sender: SenderQ,
      at: z.union([z.string(), z.number()]).optional(),
      referral: z.boolean().optional(),
      profile_name: z.string().optional(),
    }),
    responses: { 200: ok('The customer'), ...E400 },
  },
  {
    method: 'get',
    path: '/v1/customers/:phone/context',
    tag: 'customers',
    role: 'read',
    summary: 'Customer with eligibility per category',
    params: PhoneParam,
    query: SenderQuery,
    responses: { 200: ok('Context'), ...E400 },
  },
  {
    method: 'get',
    path: '/v1/customers/:phone/frequency-cap',
    tag: 'customers',
    role: 'read',
    summary: 'Marketing count and cap',
    params: PhoneParam,
    query: SenderQuery,
    responses: { 200: ok('Cap status'), ...E400 },
  },
  // conversations (src/http/routes/conversations.ts)
  {
    method: 'get',
    path: '/v1/conversations',
    tag: 'conversations',
    role: 'read',
    summary: 'List conversations (care windows)',
    query: ConversationsQuery,
    responses: { 200: ok('Conversations'), ...E400 },
  },
  {
    method: 'get',
    path: '/v1/conversations/:id',
    tag: 'conversations',
    role: 'read',
    summary: 'One conversation ("<sender>:<customer digits>")',
    params: IdParam,
    responses: { 200: ok('The conversation'), ...E400 },
  },
  {
    method: 'post',
    path: '/v1/conversations/:id/archive',
    tag: 'conversations',
    role: 'send',
    summary: 'Archive a closed conversation',
    params: IdParam,
    responses: { 200: ok('Archived'), 409: ok('Window still open, or already archived', ErrorSchema), ...E404 },
  },
  // templates (src/http/routes/templates.ts)
  {
    method: 'get',
    path: '/v1/templates',
    tag: 'templates',
    role: 'read',
    summary: 'List templates',
    query: TemplatesQuery,
    responses: { 200: ok('Templates') },
  },
  {
    method: 'post',
    path: '/v1/templates/sync',
    tag: 'templates',
    role: 'admin',
    summary: "Sync templates from Meta (one template's status with template_name)",
    body: TemplateSyncBody,
    responses: { 200: ok('Synced'), ...E400 },
  },
  {
    method: 'post',
    path: '/v1/templates',
    tag: 'templates',
    role: 'admin',
    summary: 'Create a template at Meta',
    body: TemplateCreateBody,
    responses: { 201: ok('Created'), ...E400 },
  },
  // senders (src/http/routes/senders.ts)
  {
    method: 'get',
    path: '/v1/senders',
    tag: 'senders',
    role: 'read',
    summary: 'List senders and their state',
    responses: { 200: ok('Senders') },
  },
  {
    method: 'get',
    path: '/v1/senders/:id/health',
    tag: 'senders',
    role: 'read',
    summary: 'Sender health',
    params: IdParam,
    responses: { 200: ok('Health'), ...E404 },
  },
  {
    method: 'post',
    path: '/v1/senders/:id/check',
    tag: 'senders',
    role: 'admin',
    summary: 'Run a health check now',
    params: IdParam,
    responses: { 200: ok('Health'), ...E404 },
  },
  {
    method: 'post',
    path: '/v1/senders/:id/pause',
    tag: 'senders',
    role: 'admin',
    summary: 'Pause a sender',
    params: IdParam,
    body: z.object({ reason: z.string().optional() }),
    responses: { 200: ok('Sender'), ...E404 },
  },
  {
    method: 'post',
    path: '/v1/senders/:id/resume',
    tag: 'senders',
    role: 'admin',
    summary: 'Resume a sender (token checked first)',
    params: IdParam,
    responses: { 200: ok('Sender'), 409: ok('Token still invalid', ErrorSchema), ...E404 },
  },
  {
    method: 'put',
    path: '/v1/senders/:id/token',
    tag: 'senders',
    role: 'admin',
    summary: "Replace a sender's access token",
    params: IdParam,
    body: z.object({ access_token: z.string() }),
    responses: { 200: ok('Sender'), 422: ok('Token invalid', ErrorSchema) },
  },
  {
    method: 'get',
    path: '/v1/senders/:id/rate-limit',
    tag: 'senders',
    role: 'read',
    summary: 'Throughput, pair limit, messaging-limit usage, queue',
    params: IdParam,
    responses: { 200: ok('Limits'), ...E404 },
  },
  {
    method: 'get',
    path: '/v1/senders/:id/quality',
    tag: 'senders',
    role: 'read',
    summary: 'Quality rating and messaging limit (live from Meta)',
    params: IdParam,
    responses: { 200: ok('Quality'), ...E404 },
  },
  {
    method: 'get',
    path: '/v1/alerts',
    tag: 'senders',
    role: 'read',
    summary: 'Alerts',
    query: z.object({ limit: Limit, unresolved: z.enum(['true', 'false', '1', '0']).optional() }),
    responses: { 200: ok('Alerts') },
  },
  // dead letters (src/http/routes/dead-letters.ts)
  {
    method: 'get',
    path: '/v1/dead-letters',
    tag: 'dead letters',
    role: 'read',
    summary: 'List dead letters',
    query: z.object({ state: z.enum(['open', 'replayed', 'discarded']).optional(), sender: SenderQ, limit: Limit, offset: Offset }),
    responses: { 200: ok('Dead letters') },
  },
  {
    method: 'get',
    path: '/v1/dead-letters/:id',
    tag: 'dead letters',
    role: 'read',
    summary: 'One dead letter with its message',
    params: IdParam,
    responses: { 200: ok('Dead letter'), ...E404 },
  },
  {
    method: 'post',
    path: '/v1/dead-letters/:id/replay',
    tag: 'dead letters',
    role: 'admin',
    summary: 'Replay through the gate as a new message',
    params: IdParam,
    responses: { 202: ok('Queued'), 422: ok('Denied now'), ...E404 },
  },
  {
    method: 'delete',
    path: '/v1/dead-letters/:id',
    tag: 'dead letters',
    role: 'admin',
    summary: 'Discard a dead letter',
    params: IdParam,
    responses: { 200: ok('Discarded'), ...E404 },
  },
  // Meta error catalog (src/http/routes/error-catalog.ts), pricing (src/http/routes/pricing.ts)
  {
    method: 'get',
    path: '/v1/errors/:code',
    tag: 'errors',
    role: 'read',
    summary: 'Explain a Meta error code (meaning, retry, fix)',
    params: ErrorCodeParam,
    query: ErrorCodeQuery,
    responses: { 200: ok('Explanation'), ...E400 },
  },
  {
    method: 'post',
    path: '/v1/pricing/estimate',
    tag: 'pricing',
    role: 'read',
    summary: 'Estimate the cost of messages',
    body: CostBody,
    responses: { 200: ok('Estimate'), ...E400, ...E404 },
  },
  {
    method: 'get',
    path: '/v1/pricing',
    tag: 'pricing',
    role: 'read',
    summary: 'Rate per message for a category and market',
    query: PricingQuery,
    responses: { 200: ok('Rate'), ...E400, ...E404 },
  },
  // webhook batches set aside (src/http/routes/failed-webhooks.ts): admin, a raw body holds every sender's customers
  {
    method: 'get',
    path: '/v1/webhooks/failed',
    tag: 'webhooks',
    role: 'admin',
    summary: 'Webhook batches set aside (could not be read or applied), newest first',
    query: FailedWebhooksQuery,
    responses: { 200: ok('Set-aside batches, without their bodies'), ...E400 },
  },
  {
    method: 'get',
    path: '/v1/webhooks/failed/:id',
    tag: 'webhooks',
    role: 'admin',
    summary: 'One set-aside webhook batch with its raw body',
    params: FailedWebhookId,
    responses: { 200: ok('The batch'), ...E404 },
  },
  {
    method: 'post',
    path: '/v1/webhooks/failed/:id/replay',
    tag: 'webhooks',
    role: 'admin',
    summary: 'Apply a set-aside batch again (replayed, or still set aside with the new error)',
    params: FailedWebhookId,
    responses: {
      200: ok('Replayed'),
      409: ok('Not open (replayed or discarded)', ErrorSchema),
      422: ok('Failed again', ErrorSchema),
      503: ok('Store unavailable', ErrorSchema),
      ...E404,
    },
  },
  {
    method: 'delete',
    path: '/v1/webhooks/failed/:id',
    tag: 'webhooks',
    role: 'admin',
    summary: 'Discard a set-aside batch (kept for the record, never applied)',
    params: FailedWebhookId,
    responses: { 200: ok('Discarded'), 409: ok('Not open', ErrorSchema), ...E404 },
  },
  // status and template re-sync (src/http/routes/webhook-sync.ts)
  {
    method: 'post',
    path: '/v1/webhooks/sync',
    tag: 'webhooks',
    role: 'admin',
    summary: 'Re-sync templates; list messages with overdue status webhooks',
    body: WebhookSyncBody,
    responses: { 200: ok('Report') },
  },
  // campaigns and scheduled messages (src/http/routes/campaigns.ts)
  ...CAMPAIGN_API_ROUTES,
  // the dashboard's views (src/http/routes/dashboard.ts)
  ...DASHBOARD_API_ROUTES,
];

/** Routes outside /v1 that the auth hook lets through without a key. */
export const PUBLIC_PATHS = new Set(['/health', '/ready', '/metrics', '/webhook', '/openapi.json', '/docs']);

const index = new Map(ROUTES.map((r) => [`${r.method.toUpperCase()} ${r.path}`, r]));

/** The registry entry of a matched route, if documented. */
export function routeSpec(method: string, routeUrl: string | undefined): RouteSpec | undefined {
  return routeUrl ? index.get(`${method.toUpperCase()} ${routeUrl}`) : undefined;
}

/** Where a route takes `sender` (so a key limited to some senders gets its own by default). */
export function senderField(spec: RouteSpec | undefined): 'body' | 'query' | null {
  if (!spec) return null;
  const shapeHas = (s: z.ZodType | undefined) => !!s && s instanceof z.ZodObject && 'sender' in s.shape;
  if (shapeHas(spec.body)) return 'body';
  if (shapeHas(spec.query)) return 'query';
  return null;
}

/** The role a request needs, by its matched route (Fastify's routeOptions.url). */
export function accessFor(method: string, routeUrl: string | undefined): Access {
  if (!routeUrl) return 'read';
  // Keys guard the API and MCP; everything else (health, metrics, webhook, docs, static assets) is open.
  if (PUBLIC_PATHS.has(routeUrl) || !(routeUrl.startsWith('/v1/') || routeUrl === '/v1' || routeUrl === '/mcp')) return 'public';
  if (routeUrl === '/mcp') return 'read'; // each tool then checks its own role
  const spec = index.get(`${method.toUpperCase()} ${routeUrl}`);
  if (spec) return spec.role;
  // Undocumented routes: reads need read, anything that changes state needs admin.
  return method === 'GET' || method === 'HEAD' ? 'read' : 'admin';
}

function jsonSchema(s: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(s, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any', reused: 'inline' }) as Record<string, unknown>;
}

function parametersOf(where: 'path' | 'query' | 'header', obj: z.ZodObject | undefined): Record<string, unknown>[] {
  if (!obj) return [];
  const js = jsonSchema(obj) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, schema]) => ({
    name,
    in: where,
    required: where === 'path' || (js.required ?? []).includes(name),
    ...(schema.description ? { description: schema.description } : {}),
    schema,
  }));
}

let cached: Record<string, unknown> | null = null;

/** The OpenAPI 3.0 document for every /v1 route, plus /mcp. */
export function openApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const p = r.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    const security = r.role === 'public' ? [] : [{ bearer: [] }, { apiKey: [] }];
    const responses: Record<string, unknown> = {};
    for (const [code, res] of Object.entries(r.responses)) {
      responses[code] = {
        description: res.description,
        ...(res.schema ? { content: { 'application/json': { schema: jsonSchema(res.schema) } } } : {}),
      };
    }
    if (r.role !== 'public') {
      responses['401'] = { description: 'No or unknown API key', content: { 'application/json': { schema: jsonSchema(ErrorSchema) } } };
      responses['403'] = {
        description: `Key lacks role ${r.role} or the sender`,
        content: { 'application/json': { schema: jsonSchema(ErrorSchema) } },
      };
      responses['429'] = {
        description: 'Ingress rate limit per API key',
        content: { 'application/json': { schema: jsonSchema(ErrorSchema) } },
      };
    }
    (paths[p] ??= {})[r.method] = {
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: [r.tag],
      'x-wagate-role': r.role,
      parameters: [...parametersOf('path', r.params), ...parametersOf('query', r.query), ...parametersOf('header', r.headers)],
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body) } } } } : {}),
      responses,
      security,
    };
  }
  paths['/mcp'] = {
    post: {
      summary: 'MCP over Streamable HTTP (JSON-RPC); see src/mcp/README.md for the tools',
      tags: ['mcp'],
      requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
      responses: { 200: { description: 'JSON-RPC response' }, 401: { description: 'No or unknown API key' } },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
  };
  cached = {
    openapi: '3.0.3',
    info: {
      title: 'wagate API',
      version: '0.1.0',
      description:
        'WhatsApp Business compliance gate and delivery gateway. Every error has the body {error: {code, message, fix, details}}. Auth: `Authorization: Bearer <key>` or `X-API-Key: <key>` (keys in config api.keys; none configured = open).',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
    },
    paths,
  };
  return cached;
}

/** /docs: renders /openapi.json in the browser with no external script or stylesheet (no CDN). */
export const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wagate API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:960px;padding:1em;color:#222}
h1{margin-bottom:.2em}.op{border:1px solid #ddd;border-radius:6px;margin:.6em 0}
.op summary{cursor:pointer;padding:.5em .7em;list-style:none}.m{display:inline-block;width:4.5em;font-weight:700;text-transform:uppercase}
.get{color:#0a6}.post{color:#06c}.put{color:#a60}.delete{color:#c22}.role{float:right;color:#777;font-size:.85em}
.body{padding:0 .8em .8em}pre{background:#f6f6f6;padding:.6em;overflow:auto;font-size:12px}h2{margin-top:1.4em;text-transform:capitalize}
</style></head><body>
<h1>wagate API</h1><p id="desc"></p><p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.0).</p>
<div id="ops">Loading…</div>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
fetch('/openapi.json').then((r) => r.json()).then((doc) => {
  document.getElementById('desc').textContent = doc.info.description;
  const byTag = {};
  for (const [path, ops] of Object.entries(doc.paths)) for (const [m, op] of Object.entries(ops)) (byTag[(op.tags || ['other'])[0]] ||= []).push([m, path, op]);
  let html = '';
  for (const [tag, ops] of Object.entries(byTag)) {
    html += '<h2>' + esc(tag) + '</h2>';
    for (const [m, path, op] of ops) {
      html += '<details class="op"><summary><span class="m ' + m + '">' + m + '</span><code>' + esc(path) + '</code> ' + esc(op.summary || '') +
        (op['x-wagate-role'] ? '<span class="role">role: ' + esc(op['x-wagate-role']) + '</span>' : '') + '</summary><div class="body">' +
        (op.description ? '<p>' + esc(op.description) + '</p>' : '') +
        ((op.parameters || []).length ? '<h4>Parameters</h4><pre>' + esc(JSON.stringify(op.parameters, null, 2)) + '</pre>' : '') +
        (op.requestBody ? '<h4>Body</h4><pre>' + esc(JSON.stringify(op.requestBody.content['application/json'].schema, null, 2)) + '</pre>' : '') +
        '<h4>Responses</h4><pre>' + esc(JSON.stringify(op.responses, null, 2)) + '</pre></div></details>';
    }
  }
  document.getElementById('ops').innerHTML = html;
}).catch((e) => { document.getElementById('ops').textContent = 'Could not load /openapi.json: ' + e; });
</script></body></html>`;
