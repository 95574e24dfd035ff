// Property-based fuzzing of every documented /v1 route (fast-check over the OpenAPI registry): random
// path parameters, query strings and bodies never produce a 5xx, and every 4xx carries
// {error: {code, message, fix}} (or, for a denied message, the decision with its reason and action).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ROUTES } from '../../src/http/openapi.ts';
import { startWagate, type Running } from '../mcp/helpers.ts';
import { MAX_JSON_DEPTH } from '../../src/shared/json-depth.ts';

let w: Running;

beforeAll(async () => {
  w = await startWagate({}, { workers: false });
}, 30_000);

afterAll(async () => {
  await w?.close();
});

// What an attacker puts where a string is expected: objects with their own toString/valueOf (String()
// on them throws), arrays holding one, numbers past every range.
const hostile = fc.constantFrom<unknown>(
  { toString: 1 },
  { toString: 1, valueOf: 1 },
  [{ toString: 1 }],
  [[{ valueOf: 1 }]],
  { hasOwnProperty: 1 },
  1e308,
  -1e308,
  123456789012345678901234567890,
  2 ** 53 + 1,
  -0,
);
const scalar = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('main', '+447700900123', 'marketing', 'open', 'BR', 'msg_1', '190'),
  hostile,
);
// Prototype keys are spelled as placeholders here and become "__proto__"/"constructor" in the JSON
// text (an object literal cannot hold an own "__proto__" key safely).
const PROTO = '__PROTO_KEY__';
const CTOR = '__CTOR_KEY__';
const key = fc.constantFrom(
  'to',
  'type',
  'text',
  'template',
  'sender',
  'message_type',
  'recipient_country',
  'message_ids',
  'name',
  'language',
  'category',
  'components',
  'state',
  'source',
  'tags',
  'x',
  PROTO,
  CTOR,
  'toString',
  'valueOf',
);
const json = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.dictionary(
      key,
      fc.oneof(
        scalar,
        fc.array(scalar, { maxLength: 3 }),
        fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom(PROTO, CTOR, 'toString')), scalar, { maxKeys: 3 }),
      ),
      { maxKeys: 6 },
    ),
  },
  fc.anything({ maxDepth: 2 }),
);
const jsonText = (body: unknown) =>
  (JSON.stringify(body ?? null) ?? 'null').replaceAll(`"${PROTO}"`, '"__proto__"').replaceAll(`"${CTOR}"`, '"constructor"');
/** Wrapped in `levels` arrays/objects (alternating by `mix`), as text. */
const nested = (inner: string, levels: number, mix: number) => {
  let open = '';
  let close = '';
  for (let i = 0; i < levels; i++) {
    const obj = (i + mix) % 3 === 0;
    open += obj ? '{"a":' : '[';
    close = (obj ? '}' : ']') + close;
  }
  return open + inner + close;
};

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
          fc.array(
            fc.oneof(
              fc.string({ maxLength: 24 }),
              fc.constantFrom(
                'main',
                '447700900123',
                'main:447700900123',
                '190',
                'msg_x',
                'a'.repeat(101),
                '%',
                '%zz',
                '__proto__',
                'constructor',
              ),
            ),
            { minLength: 3, maxLength: 3 },
          ),
          fc.dictionary(
            fc.oneof(fc.constantFrom(...(queryKeys.length ? queryKeys : ['x'])), fc.string({ maxLength: 5 })),
            fc.string({ maxLength: 20 }),
            { maxKeys: 4 },
          ),
          json,
          async (params, query, body) => {
            const qs = new URLSearchParams(query as Record<string, string>).toString();
            const url = pathFor(route.path, params) + (qs ? `?${qs}` : '');
            const method = route.method.toUpperCase() as 'GET';
            const r = await w.app.http.inject({
              method,
              url,
              ...(method === 'GET' || method === 'DELETE'
                ? {}
                : { payload: jsonText(body), headers: { 'content-type': 'application/json' } }),
            });
            const where = `${method} ${url} ${jsonText(body).slice(0, 200)} → ${r.statusCode} ${r.body.slice(0, 300)}`;
            expectExplained(r, where);
          },
        ),
        { numRuns: 20, seed: 7 },
      );
    }
  }, 90_000);

  it('message bodies with hostile values in any field: a decision or an error naming it, never 5xx', async () => {
    const field = (valid: fc.Arbitrary<unknown>) => fc.oneof(valid, hostile, scalar);
    const message = fc.record(
      {
        to: field(fc.constantFrom('+447700900123', '447700900123')),
        type: field(fc.constantFrom('text', 'interactive', 'template', 'image', 'toString', '__proto__', 'constructor')),
        text: field(fc.record({ body: field(fc.constant('hi')) })),
        interactive: field(
          fc.record({
            type: field(fc.constantFrom('button', 'list', 'product', 'hasOwnProperty')),
            body: field(fc.record({ text: field(fc.constant('hi')) })),
          }),
        ),
        template: field(
          fc.record({ name: field(fc.constant('hello_world')), language: field(fc.record({ code: field(fc.constant('en_US')) })) }),
        ),
        sender: field(fc.constant('main')),
        [PROTO]: scalar,
        [CTOR]: fc.oneof(scalar, fc.constant({ prototype: { polluted: 1 } })),
      },
      { requiredKeys: [] },
    );
    for (const url of ['/v1/messages', '/v1/compliance/check']) {
      await fc.assert(
        fc.asyncProperty(message, async (body) => {
          const r = await w.app.http.inject({
            method: 'POST',
            url,
            payload: jsonText(body),
            headers: { 'content-type': 'application/json' },
          });
          const where = `POST ${url} ${jsonText(body).slice(0, 300)} → ${r.statusCode} ${r.body.slice(0, 300)}`;
          expectExplained(r, where);
        }),
        { numRuns: 60, seed: 5 },
      );
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 90_000);

  it('refuses nesting past the limit on every route with a body, before anything recurses', async () => {
    for (const route of ROUTES.filter((r) => r.method !== 'get' && r.method !== 'delete')) {
      await fc.assert(
        fc.asyncProperty(
          json,
          fc.oneof(fc.integer({ min: 1, max: MAX_JSON_DEPTH + 2 }), fc.integer({ min: MAX_JSON_DEPTH, max: 30_000 })),
          fc.nat(2),
          async (body, levels, mix) => {
            const url = pathFor(route.path, ['main', '447700900123', 'x']);
            const payload = nested(jsonText(body), levels, mix);
            const r = await w.app.http.inject({
              method: route.method.toUpperCase() as 'POST',
              url,
              payload,
              headers: { 'content-type': 'application/json' },
            });
            const where = `${route.method} ${url} ${levels} levels → ${r.statusCode} ${r.body.slice(0, 300)}`;
            expectExplained(r, where);
            const depth = levels + depthOf(body);
            if (depth > MAX_JSON_DEPTH) expect((r.json() as { error?: { code: string } }).error?.code, where).toBe('BODY_TOO_DEEP');
          },
        ),
        { numRuns: 6, seed: 11 },
      );
    }
  }, 90_000);
});

/** How many objects/arrays deep a generated value is. */
function depthOf(v: unknown): number {
  if (!v || typeof v !== 'object') return 0;
  const kids = Array.isArray(v) ? v : Object.values(v);
  return 1 + kids.reduce<number>((m, k) => Math.max(m, depthOf(k)), 0);
}

function expectExplained(r: { statusCode: number; body: string; json: () => unknown }, where: string): void {
  expect(r.statusCode, where).toBeLessThan(500);
  // Every body sent here is valid JSON (built by JSON.stringify, "__proto__" keys and all).
  expect(r.body, where).not.toMatch(/not valid JSON|INVALID_JSON/);
  if (r.statusCode >= 400) {
    const j = r.json() as {
      error?: { code: string; message: string; fix: string };
      decision?: { reason_code: string; suggested_action: string };
    };
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
        const named =
          (d.issues?.length ?? 0) > 0 ||
          typeof d.field === 'string' ||
          /\b(body|to|type|sender|code|id|phone|message_ids?|status|state|limit|offset|name|language|category|components|template|text|quantity|recipient_country|message_type|conversation_type|JSON)\b/.test(
            j.error!.message,
          );
        expect(named, where).toBe(true);
      }
    }
  }
}
