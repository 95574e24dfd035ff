// Property-based fuzzing of every documented /v1 route (fast-check over the OpenAPI registry): random
// path parameters, query strings and bodies never produce a 5xx, and every 4xx carries
// {error: {code, message, fix}} (or, for a denied message, the decision with its reason and action).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ROUTES } from '../../src/http/openapi.ts';
import { startWagate, type Running } from '../mcp/helpers.ts';

let w: Running;

beforeAll(async () => {
  w = await startWagate({}, { workers: false });
}, 30_000);

afterAll(async () => {
  await w?.close();
});

const scalar = fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.boolean(), fc.constant(null), fc.constantFrom('main', '+447700900123', 'marketing', 'open', 'BR', 'msg_1', '190'));
const json = fc.oneof(
  { weight: 2, arbitrary: fc.dictionary(fc.constantFrom('to', 'type', 'text', 'template', 'sender', 'message_type', 'recipient_country', 'message_ids', 'name', 'language', 'category', 'components', 'state', 'source', 'tags', 'x'), fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 6 }), scalar, { maxKeys: 3 })), { maxKeys: 6 }) },
  fc.anything({ maxDepth: 2 }),
);

function pathFor(template: string, values: string[]): string {
  let i = 0;
  return template.replace(/:([A-Za-z_]+)/g, () => encodeURIComponent(values[i++] ?? 'x') || 'x');
}

describe('fuzzing every /v1 route', () => {
  it('never answers 5xx; every refusal explains itself', async () => {
    for (const route of ROUTES) {
      const queryKeys = Object.keys(route.query?.shape ?? {});
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.oneof(fc.string({ maxLength: 24 }), fc.constantFrom('main', '447700900123', 'main:447700900123', '190', 'msg_x')), { minLength: 3, maxLength: 3 }),
          fc.dictionary(fc.oneof(fc.constantFrom(...(queryKeys.length ? queryKeys : ['x'])), fc.string({ maxLength: 5 })), fc.string({ maxLength: 20 }), { maxKeys: 4 }),
          json,
          async (params, query, body) => {
            const qs = new URLSearchParams(query as Record<string, string>).toString();
            const url = pathFor(route.path, params) + (qs ? `?${qs}` : '');
            const method = route.method.toUpperCase() as 'GET';
            const r = await w.app.http.inject({ method, url, ...(method === 'GET' || method === 'DELETE' ? {} : { payload: JSON.stringify(body ?? null), headers: { 'content-type': 'application/json' } }) });
            const where = `${method} ${url} ${JSON.stringify(body)?.slice(0, 200)} → ${r.statusCode} ${r.body.slice(0, 300)}`;
            expect(r.statusCode, where).toBeLessThan(500);
            if (r.statusCode >= 400) {
              const j = r.json() as { error?: { code: string; message: string; fix: string }; decision?: { reason_code: string; suggested_action: string } };
              if (j.decision) {
                expect(typeof j.decision.reason_code, where).toBe('string');
                expect(j.decision.suggested_action.length, where).toBeGreaterThan(3);
              } else {
                expect(typeof j.error?.code, where).toBe('string');
                expect(j.error!.message.length, where).toBeGreaterThan(3);
                expect(j.error!.fix.length, where).toBeGreaterThan(3);
                if (r.statusCode === 400) {
                  // A bad input names what is wrong: a field in details, or the field in the message.
                  const d = (j.error as unknown as { details: { issues?: { field: string }[]; field?: string } }).details ?? {};
                  const named = (d.issues?.length ?? 0) > 0 || typeof d.field === 'string' || /\b(body|to|type|sender|code|id|phone|message_ids?|status|state|limit|offset|name|language|category|components|template|text|quantity|recipient_country|message_type|conversation_type|JSON)\b/.test(j.error!.message);
                  expect(named, where).toBe(true);
                }
              }
            }
          },
        ),
        { numRuns: 20, seed: 7 },
      );
    }
  }, 90_000);
});
