// The /v1 routes of campaigns and scheduled messages, registered in the one route registry
// (src/http/openapi.ts, through CAMPAIGN_API_ROUTES); handlers in routes/campaigns.ts. Schemas here
// only shape the OpenAPI document and the first check of the body: the engine validates every field
// again and says which row or field is wrong (src/campaigns/service.ts).
import { z } from 'zod';
import type { Role } from '../mcp/principal.ts';

/** RouteSpec of src/http/openapi.ts, restated here so this module does not import it back (no import circle). */
interface RouteSpec {
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  summary: string;
  description?: string;
  tag: string;
  role: Role | 'public';
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  responses: Record<number, { description: string; schema?: z.ZodType }>;
}

const Json = z.record(z.string(), z.unknown());
const Err = z.object({ error: z.object({ code: z.string(), message: z.string(), fix: z.string(), details: Json }) });
const ok = (description: string) => ({ description, schema: Json });
const E404 = { 404: { description: 'No such campaign (or one of a sender this key may not use)', schema: Err } };
const E409 = { 409: { description: 'Refused transition: details.status is the current state', schema: Err } };

export const CampaignIdParam = z.object({ id: z.string().min(1).max(100) });
const Time = z.union([z.string(), z.number()]).describe('RFC 3339, e.g. "2026-06-01T10:00:00Z" (or epoch ms)');

export const CampaignRecipientRow = z.looseObject({
  to: z.string().max(40).optional().describe('Phone number with country code'),
  recipient: z.string().max(140).optional().describe('Business-scoped user id, e.g. "US.13491208655302741918"'),
  variables: z
    .union([z.array(z.union([z.string(), z.number()])), z.record(z.string(), z.union([z.string(), z.number()])), z.string()])
    .optional()
    .describe("This recipient's template parameters: an array fills {{1}}..{{n}}, an object named parameters"),
});

export const CampaignCreateBody = z.looseObject({
  name: z.string().min(1).max(200),
  sender: z.string().min(1).max(100).optional().describe('Sender alias or phone_number_id (default sender when absent)'),
  template: z.looseObject({ name: z.string().min(1).max(512), language: z.string().min(1).max(20).optional() }),
  audience: z.union([
    z.looseObject({ recipients: z.array(z.unknown()).max(100_000).describe('Up to 100,000 here; upload more as CSV or JSON lines') }),
    z.looseObject({
      filter: z
        .looseObject({
          tags: z.array(z.string()).optional(),
          exclude_tags: z.array(z.string()).optional(),
          exclude_tag: z
            .union([z.string(), z.array(z.string())])
            .optional()
            .describe("The reference's name for exclude_tags"),
          consent: z
            .array(z.enum(['opted_in', 'unknown']))
            .optional()
            .describe("Consent for the template's category"),
          require_opt_in: z
            .union([z.boolean(), z.string()])
            .optional()
            .describe('true (or the campaign\'s category): consent ["opted_in"]'),
          country: z.array(z.string()).optional().describe('ISO 3166 alpha-2 codes, e.g. ["IN"]'),
          sender: z.string().optional().describe('Only customers who have written to this sender (alias or phone_number_id)'),
          last_inbound_since: Time.optional().describe("Wrote since then: to `sender` when given, else to the campaign's sender"),
          channel: z.string().optional().describe('Only "whatsapp"'),
        })
        .describe('Known customers; opted-out ones never match; an unknown key or value is refused'),
    }),
  ]),
  deliver_at: Time.optional().describe('Starts by itself at this time (status scheduled); absent: a draft to start'),
  options: z
    .looseObject({
      max_failure_rate: z.number().optional(),
      max_opt_out_rate: z.number().optional(),
      guard_min_sample: z.number().optional(),
      pause_on_quality: z
        .enum(['YELLOW', 'RED'])
        .optional()
        .describe("The guard pauses when the template's quality is this or worse (default YELLOW: any drop from GREEN)"),
      rate_mps: z.number().optional(),
      local_time: z.string().optional().describe('"HH:MM": send each recipient at this time in their zone'),
    })
    .optional(),
});

export const CampaignUploadQuery = z.strictObject({
  name: z.string().min(1).max(200),
  template: z.string().min(1).max(512),
  language: z.string().min(1).max(20).optional(),
  sender: z.string().min(1).max(100).optional(),
  deliver_at: z.string().optional(),
  variables: z.string().max(20_000).optional().describe('JSON: variables for rows without their own, e.g. ["Ana"]'),
  options: z.string().max(2_000).optional().describe('JSON: the options object, e.g. {"local_time":"10:00","rate_mps":50}'),
});

export const CampaignListQuery = z.strictObject({
  status: z.string().optional().describe('draft, scheduled, running, paused, completed, cancelled (comma-separated)'),
  limit: z.coerce.number().int().min(1).max(200).optional(),
  offset: z.coerce.number().int().min(0).optional(),
});
export const RecipientsQuery = z.strictObject({
  state: z.string().optional().describe('pending, claimed, queued, denied, cancelled (comma-separated)'),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  offset: z.coerce.number().int().min(0).optional(),
  after: z.coerce
    .number()
    .int()
    .min(-1)
    .optional()
    .describe("Key paging: the recipients after this seq (the previous page's next_after); cheap at any depth, unlike offset"),
});
export const InvalidRowsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  offset: z.coerce.number().int().min(0).optional(),
});
export const ReasonBody = z.strictObject({ reason: z.string().max(500).optional() }).optional();
export const ScheduleBody = z.looseObject({
  deliver_at: Time,
  sender: z.string().min(1).max(100).optional(),
  to: z.string().optional(),
  recipient: z.string().optional(),
  type: z.string(),
});

const campaign = (
  method: RouteSpec['method'],
  path: string,
  role: RouteSpec['role'],
  summary: string,
  extra: Partial<RouteSpec> = {},
): RouteSpec => ({
  method,
  path,
  tag: 'campaigns',
  role,
  summary,
  responses: { 200: ok('The campaign'), ...E404 },
  ...extra,
});

export const CAMPAIGN_API_ROUTES: RouteSpec[] = [
  campaign('post', '/v1/campaigns', 'send', 'Create a campaign (draft, or scheduled with deliver_at)', {
    description:
      'JSON body, or an upload: Content-Type text/csv (header row: to or recipient, then variable columns 1,2,… or names) or application/x-ndjson (one {to|recipient, variables} per line), with name, template, language, sender, deliver_at, variables (JSON) and options (JSON) in the query string. Invalid rows are reported by index (JSON) or row number (uploads) with the reason; the others are kept.',
    body: CampaignCreateBody,
    responses: {
      201: ok('Created: {id, status, counts, audience: {invalid_count, invalid}}'),
      400: ok('Invalid input'),
      404: ok('Unknown template or sender'),
    },
  }),
  campaign('get', '/v1/campaigns', 'read', 'List campaigns, newest first', {
    query: CampaignListQuery,
    responses: { 200: ok('Campaigns') },
  }),
  campaign('get', '/v1/campaigns/:id', 'read', 'A campaign with its counters and progress', { params: CampaignIdParam }),
  campaign('get', '/v1/campaigns/:id/recipients', 'read', "The campaign's recipients with their outcome", {
    params: CampaignIdParam,
    query: RecipientsQuery,
    responses: { 200: ok('{recipients, next_after}: next_after is the seq to pass as after for the next page (null: last page)'), ...E404 },
  }),
  campaign('get', '/v1/campaigns/:id/invalid-rows', 'read', "The audience's invalid rows with their reason (the first 1,000 kept)", {
    params: CampaignIdParam,
    query: InvalidRowsQuery,
    responses: {
      200: ok(
        '{invalid_count, kept, rows: [{index, reason}], next_offset}: index is the row number of an upload, or the 0-based index of a JSON list',
      ),
      ...E404,
    },
  }),
  campaign('post', '/v1/campaigns/:id/preview', 'read', 'Dry run of the gate for every recipient (reserves nothing, sends nothing)', {
    params: CampaignIdParam,
    responses: { 200: ok('{total, allowed, denied: {REASON: n}, cost, tier, eta_s}'), ...E404 },
  }),
  campaign('post', '/v1/campaigns/:id/start', 'send', 'Start now (draft or scheduled)', {
    params: CampaignIdParam,
    responses: { 200: ok('Running'), 422: ok('Not ready (template not approved, no recipient)'), ...E404, ...E409 },
  }),
  campaign('post', '/v1/campaigns/:id/pause', 'send', 'Pause: no new dispatch; queued-not-sent messages are held back', {
    params: CampaignIdParam,
    body: ReasonBody,
    responses: { 200: ok('Paused'), ...E404, ...E409 },
  }),
  campaign('post', '/v1/campaigns/:id/resume', 'send', 'Resume a paused campaign where it stopped', {
    params: CampaignIdParam,
    responses: { 200: ok('Running'), ...E404, ...E409 },
  }),
  campaign('post', '/v1/campaigns/:id/cancel', 'send', 'Cancel: unsent messages are withdrawn and their reservations released', {
    params: CampaignIdParam,
    body: ReasonBody,
    responses: { 200: ok('Cancelled'), ...E404, ...E409 },
  }),
  {
    method: 'post',
    path: '/v1/scheduled-messages',
    tag: 'campaigns',
    role: 'send',
    summary: 'Schedule one message (Meta body + deliver_at); the gate runs now and again when due',
    body: ScheduleBody,
    responses: { 201: ok('Scheduled'), 400: ok('Invalid input'), 422: { description: 'Refused now (e.g. opted out)', schema: Err } },
  },
  {
    method: 'get',
    path: '/v1/scheduled-messages/:id',
    tag: 'campaigns',
    role: 'read',
    summary: 'A scheduled message (message_id once handed to the queue)',
    params: CampaignIdParam,
    responses: { 200: ok('Scheduled message'), 404: { description: 'Not found', schema: Err } },
  },
  {
    method: 'delete',
    path: '/v1/scheduled-messages/:id',
    tag: 'campaigns',
    role: 'send',
    summary: 'Cancel a scheduled message not yet due',
    params: CampaignIdParam,
    responses: {
      200: ok('Cancelled'),
      404: { description: 'Not found', schema: Err },
      409: { description: 'Already handed over', schema: Err },
    },
  },
];
