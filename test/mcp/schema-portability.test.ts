// The tool schemas wagate advertises are ones every MCP client takes (issue 12): `tools/list` through
// the real server has no construct that the MCP Inspector's `--strict` schema lint flags (a `type`
// array, a schema with no validation keyword such as a bare `additionalProperties: {}`, a boolean where
// a schema object belongs, a remote `$ref`), and the rewrite behind it changed only the shape: the
// advertised schema accepts and refuses the same values as zod's own JSON Schema, and the server still
// refuses the same invalid calls with the same codes (it validates with zod, not with what it lists).
// Real server (createMcpServer over a real wagate with the sandbox), real SDK client, in-memory pair.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { z } from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { createMcpServer, TOOLS } from '../../src/mcp/server.ts';
import { portableSchema } from '../../src/mcp/portable-schema.ts';
import { bodyOf, startWagate, TOOL_NAMES, type Running, type ToolCallResult } from './helpers.ts';

type Schema = Record<string, unknown>;
type Tool = { name: string; inputSchema: Schema; outputSchema?: Schema };

let w: Running;
let client: Client;
let tools: Tool[];

beforeAll(async () => {
  w = await startWagate({}, { workers: false });
  const server = createMcpServer(w.app.ctx);
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  client = new Client({ name: 'schema-portability', version: '1' });
  await client.connect(b);
  tools = (await client.listTools()).tools as Tool[];
}, 30_000);

afterAll(async () => {
  await client?.close().catch(() => {});
  await w?.close();
});

// ---------------------------------------------------------------------------------------------
// The rules of the Inspector's schema lint (@modelcontextprotocol/inspector 2.12, core/json/schemaLint.ts),
// written out: which keywords hold subschemas, which make a schema constrain anything, where a boolean
// schema is fine.

const SUB_ONE = [
  'items',
  'contains',
  'not',
  'propertyNames',
  'if',
  'then',
  'else',
  'additionalProperties',
  'unevaluatedProperties',
  'additionalItems',
  'unevaluatedItems',
  'contentSchema',
];
const SUB_LIST = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const SUB_MAP = ['properties', 'patternProperties', 'dependentSchemas', 'dependencies', '$defs', 'definitions'];
const BOOLEAN_OK = new Set(['additionalProperties', 'unevaluatedProperties', 'additionalItems', 'unevaluatedItems']);
const CONSTRAINING = new Set([
  'type',
  'enum',
  'const',
  'multipleOf',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'format',
  'contentMediaType',
  'contentEncoding',
  'contentSchema',
  'maxItems',
  'minItems',
  'uniqueItems',
  'maxContains',
  'minContains',
  'maxProperties',
  'minProperties',
  'required',
  'dependentRequired',
  'allOf',
  'anyOf',
  'oneOf',
  'not',
  'items',
  'prefixItems',
  'contains',
  'additionalItems',
  'unevaluatedItems',
  'properties',
  'patternProperties',
  'additionalProperties',
  'unevaluatedProperties',
  'propertyNames',
  'dependentSchemas',
  'dependencies',
  '$ref',
  '$dynamicRef',
  '$recursiveRef',
]);

const isObj = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every non-portable construct in a schema, as "path: rule". */
function unportable(schema: unknown, path = '', keyword?: string, out: string[] = []): string[] {
  if (typeof schema === 'boolean') {
    if (!keyword || !BOOLEAN_OK.has(keyword)) out.push(`${path || '(root)'}: boolean schema \`${schema}\``);
    return out;
  }
  if (!isObj(schema)) return out;
  const at = path || '(root)';
  if (Array.isArray(schema.type)) out.push(`${at}: type array ${JSON.stringify(schema.type)}`);
  if (typeof schema.$ref === 'string' && !schema.$ref.startsWith('#')) out.push(`${at}: remote $ref ${schema.$ref}`);
  if ('nullable' in schema) out.push(`${at}: OpenAPI "nullable" is not JSON Schema`);
  const constrains = Object.keys(schema).some((k) => CONSTRAINING.has(k)) || ('if' in schema && ('then' in schema || 'else' in schema));
  if (!constrains && keyword !== 'not')
    out.push(
      `${at}: schema with no validation keyword (accepts anything)${keyword === 'additionalProperties' ? ': use `additionalProperties: true`' : ''}`,
    );
  for (const k of SUB_ONE)
    if (k in schema) {
      const v = schema[k];
      if (k === 'items' && Array.isArray(v)) v.forEach((s, i) => unportable(s, `${path}.items[${i}]`, k, out));
      else unportable(v, `${path}.${k}`, k, out);
    }
  for (const k of SUB_LIST)
    if (Array.isArray(schema[k])) (schema[k] as unknown[]).forEach((s, i) => unportable(s, `${path}.${k}[${i}]`, k, out));
  for (const k of SUB_MAP)
    if (isObj(schema[k])) for (const [name, s] of Object.entries(schema[k] as Schema)) unportable(s, `${path}.${k}.${name}`, k, out);
  return out;
}

/** zod's own JSON Schema for a tool, as the SDK produces it before wagate's rewrite. */
const zodSchema = (name: string, kind: 'input' | 'output'): Schema => {
  const def = TOOLS.find((t) => t.name === name)!;
  return z.toJSONSchema(kind === 'input' ? z.object(def.input) : z.looseObject(def.output), { target: 'draft-7', io: kind }) as Schema;
};

describe('advertised tool schemas', () => {
  it("the walker catches what the Inspector flags: zod's raw schemas have type arrays and bare {}", () => {
    const raw = TOOLS.flatMap((t) => [...unportable(zodSchema(t.name, 'input')), ...unportable(zodSchema(t.name, 'output'))]);
    // (66 when this was written, as many as `inspector --cli --strict ... --method tools/list` reported.)
    expect(raw.filter((f) => f.includes(': type array ["string","null"]')).length).toBeGreaterThan(0);
    expect(raw.filter((f) => f.includes('.additionalProperties: schema with no validation keyword')).length).toBeGreaterThan(0);
  });

  it('tools/list through the real server: every inputSchema and outputSchema is portable', () => {
    expect(tools.map((t) => t.name).sort()).toEqual([...TOOL_NAMES].sort());
    const findings = tools.flatMap((t) => [
      ...unportable(t.inputSchema).map((f) => `${t.name} inputSchema${f}`),
      ...(t.outputSchema ? unportable(t.outputSchema).map((f) => `${t.name} outputSchema${f}`) : [`${t.name}: no outputSchema`]),
    ]);
    expect(findings).toEqual([]);
  });

  it("the listed schema is what portableSchema() makes of zod's (nothing else changed)", () => {
    for (const t of tools) {
      expect(t.inputSchema, t.name).toEqual(portableSchema(zodSchema(t.name, 'input')));
      expect(t.outputSchema, t.name).toEqual(portableSchema(zodSchema(t.name, 'output')));
    }
  });

  it('nullable outputs are anyOf with {type: "null"}, loose objects say additionalProperties: true', () => {
    const out = (name: string) => tools.find((t) => t.name === name)!.outputSchema as Schema & { properties: Record<string, Schema> };
    expect(out('get_account_quality').properties.quality_rating).toEqual({ anyOf: [{ type: 'string' }, { type: 'null' }] });
    expect(out('check_frequency_cap').properties.reason_code).toEqual({ anyOf: [{ type: 'string' }, { type: 'null' }] });
    expect(out('get_delivery_status').additionalProperties).toBe(true);
    expect((out('get_delivery_status').properties.history.items as Schema).additionalProperties).toBe(true);
    const input = tools.find((t) => t.name === 'send_interactive')!.inputSchema as { properties: Record<string, { anyOf: Schema[] }> };
    expect(input.properties.interactive.anyOf).toEqual([
      { type: 'object', propertyNames: { type: 'string' }, additionalProperties: true },
      { type: 'string' },
    ]);
  });
});

describe('portableSchema()', () => {
  it('splits a type array into anyOf branches, each with the keywords of its type', () => {
    const s = { description: 'd', type: ['string', 'integer', 'null'], minLength: 1, maximum: 9, enum: ['a', 1, null] };
    expect(portableSchema(s)).toEqual({
      description: 'd',
      enum: ['a', 1, null],
      anyOf: [{ type: 'string', minLength: 1 }, { type: 'integer', maximum: 9 }, { type: 'null' }],
    });
    expect(s.type).toEqual(['string', 'integer', 'null']); // input untouched
  });

  it('keeps an anyOf already there (both must hold), and a one-element type array is just a type', () => {
    expect(portableSchema({ type: ['string', 'null'], anyOf: [{ minLength: 2 }, { const: null }] })).toEqual({
      anyOf: [{ minLength: 2 }, { const: null }],
      allOf: [{ anyOf: [{ type: 'string' }, { type: 'null' }] }],
    });
    expect(portableSchema({ type: ['number'], minimum: 0 })).toEqual({ type: 'number', minimum: 0 });
  });

  it('turns an unconstrained additionalProperties into true, deep inside, and leaves a typed one alone', () => {
    const s = {
      type: 'object',
      properties: { a: { type: 'array', items: { type: 'object', additionalProperties: { description: 'x' } } } },
      additionalProperties: { type: 'string' },
    };
    expect(portableSchema(s)).toEqual({
      type: 'object',
      properties: { a: { type: 'array', items: { type: 'object', additionalProperties: true } } },
      additionalProperties: { type: 'string' },
    });
  });

  it('does not hide an untyped schema where true would not be portable (items, a property): the walker still sees it', () => {
    const s = portableSchema({ type: 'object', properties: { any: {} }, additionalProperties: false });
    expect(unportable(s)).toEqual(['.properties.any: schema with no validation keyword (accepts anything)']);
  });
});

// ---------------------------------------------------------------------------------------------
// Same verdicts: a client validating against the listed schema accepts and refuses what zod's schema
// (and so the server) does.

const SAMPLES: [tool: string, args: Record<string, unknown>][] = [
  ['send_message', { to: '+447700900123', text: 'hi' }],
  ['send_message', { to: '+447700900123' }],
  ['send_message', { to: '+447700900123', text: '' }],
  ['send_message', { to: 5, text: 'hi' }],
  ['send_message', { to: '+447700900123', text: 'hi', preview_url: 'yes' }],
  ['send_template', { to: '+447700900123', template_name: 'order_update', variables: ['Ana', '#1'] }],
  ['send_template', { to: '+447700900123', template_name: 'order_update', variables: { name: 'Ana' } }],
  ['send_template', { to: '+447700900123', template_name: 'order_update', variables: '["Ana"]' }],
  ['send_template', { to: '+447700900123', template_name: 'order_update', variables: 5 }],
  ['send_template', { to: '+447700900123', template_name: 'order_update', variables: [1] }],
  ['send_template', { to: '+447700900123', template_name: 'order_update', components: [{ type: 'body' }] }],
  ['send_template', { to: '+447700900123', template_name: 'order_update', components: [5] }],
  ['send_template', { to: '+447700900123', template_name: 'order_update', components: { type: 'body' } }],
  ['send_interactive', { to: '+447700900123', interactive: { type: 'button' } }],
  ['send_interactive', { to: '+447700900123', interactive: '{"type":"button"}' }],
  ['send_interactive', { to: '+447700900123', interactive: [1] }],
  ['send_interactive', { to: '+447700900123', interactive: null }],
  ['check_compliance', { to: '+447700900123', message: { type: 'text' } }],
  ['check_compliance', { to: '+447700900123', message: 123 }],
  ['check_compliance', { to: '+447700900123', message_type: 'MARKETING' }],
  ['check_compliance', { to: '+447700900123', message_type: 'Marketing' }],
  ['explain_error', { code: 131047 }],
  ['explain_error', { code: '#131047' }],
  ['explain_error', { code: 1.5 }],
  ['explain_error', { code: null }],
  ['list_conversations', { limit: 500, offset: 0 }],
  ['list_conversations', { limit: 0 }],
  ['list_conversations', { limit: 501 }],
  ['list_conversations', { status_filter: 'expiring_soon' }],
  ['list_conversations', { status_filter: 'soon' }],
  ['set_consent', { customer_id: '+447700900123', category: 'marketing', state: 'opted_out' }],
  ['set_consent', { customer_id: '+447700900123', category: 'marketing', state: 'maybe' }],
  ['retry_failed_messages', { message_ids: ['msg_1'] }],
  ['retry_failed_messages', { message_ids: '["msg_1"]' }],
  ['retry_failed_messages', { message_ids: [] }],
  ['retry_failed_messages', { message_ids: [7] }],
  ['create_template', { name: 'x', category: 'UTILITY', language: 'en_US', examples: ['a'] }],
  ['create_template', { name: 'x', category: 'UTILITY', language: 'en_US', examples: [1] }],
  ['estimate_pricing', { conversation_type: 'bogus', recipient_country: 'BR' }],
];

describe('the rewrite keeps every verdict', () => {
  it("the listed inputSchema and zod's accept and refuse the same arguments", () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    const verdicts = SAMPLES.map(([name, args]) => {
      const listed = ajv.compile(tools.find((t) => t.name === name)!.inputSchema)(args);
      const zods = ajv.compile(zodSchema(name, 'input'))(args);
      return { name, args, listed, zods };
    });
    for (const v of verdicts) expect(v.listed, `${v.name} ${JSON.stringify(v.args)}`).toBe(v.zods);
    expect(verdicts.filter((v) => v.listed).length).toBeGreaterThan(10);
    expect(verdicts.filter((v) => !v.listed).length).toBeGreaterThan(10);
  });

  it('a nullable output field still takes its type or null and nothing else', () => {
    const ajv = new Ajv({ strict: false });
    const check = ajv.compile(tools.find((t) => t.name === 'get_account_quality')!.outputSchema!);
    const base = { sender: 'main', phone_number_id: '1', messaging_limit_tier: null, source: 'meta', extra: { any: 1 } };
    expect(check({ ...base, quality_rating: 'GREEN' })).toBe(true);
    expect(check({ ...base, quality_rating: null })).toBe(true);
    expect(check({ ...base, quality_rating: 5 })).toBe(false);
    expect(check({ ...base, quality_rating: undefined })).toBe(false); // absent is not null: still required
  });
});

// ---------------------------------------------------------------------------------------------
// The server refuses as before: the same codes for the same invalid calls (recorded before the rewrite).

const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args }) as Promise<ToolCallResult>;
const code = (r: ToolCallResult) =>
  r.isError ? ((bodyOf(r).error as { code?: string } | undefined)?.code ?? String(bodyOf(r).reason_code)) : 'OK';

const REFUSED: [tool: string, args: Record<string, unknown>, code: string, field?: string][] = [
  ['send_message', { to: '+447700900123' }, 'INVALID_ARGUMENTS', 'text'],
  ['send_message', { to: '+447700900123', text: '' }, 'INVALID_ARGUMENTS', 'text'],
  ['send_message', { to: '+447700900123', text: 'hi', preview_url: 'yes' }, 'INVALID_ARGUMENTS', 'preview_url'],
  ['send_template', { to: '+447700900123', template_name: 'order_update', variables: 5 }, 'INVALID_ARGUMENTS', 'variables'],
  ['send_template', { to: '+447700900123', template_name: 'order_update', variables: 'not json' }, 'INVALID_ARGUMENTS', 'variables'],
  [
    'send_template',
    { to: '+447700900123', template_name: 'order_update', components: '{"type":"body"}' },
    'INVALID_ARGUMENTS',
    'components',
  ],
  ['send_interactive', { to: '+447700900123', interactive: '[1]' }, 'INVALID_ARGUMENTS', 'interactive'],
  ['send_interactive', { to: '+447700900123', interactive: null }, 'INVALID_ARGUMENTS', 'interactive'],
  ['check_compliance', { to: '+447700900123', message: 123 }, 'INVALID_ARGUMENTS', 'message'],
  ['check_compliance', { message_type: 'service' }, 'INVALID_ARGUMENTS', 'customer_id'],
  ['explain_error', { code: null }, 'INVALID_ARGUMENTS', 'code'],
  ['list_conversations', { limit: 501 }, 'INVALID_ARGUMENTS', 'limit'],
  ['set_consent', { customer_id: '+447700900123', category: 'marketing', state: 'maybe' }, 'INVALID_ARGUMENTS', 'state'],
  ['retry_failed_messages', { message_ids: '[7]' }, 'INVALID_ARGUMENTS', 'message_ids'],
  ['estimate_pricing', { conversation_type: 'bogus', recipient_country: 'BR' }, 'INVALID_ARGUMENTS', 'conversation_type'],
  ['get_rate_limit', { sender: 'no_such_sender' }, 'UNKNOWN_SENDER', 'sender'],
  ['send_message', { to: '+447700900123', text: 'hi' }, 'WINDOW_CLOSED_TEMPLATE_REQUIRED'],
];

describe('invalid calls are refused as before', () => {
  it.each(REFUSED.map((r) => [`${r[0]} ${JSON.stringify(r[1])}`, ...r] as const))(
    '%s → %s',
    async (_label, name, args, expected, field) => {
      const r = await call(name, args);
      expect(code(r), JSON.stringify(r).slice(0, 400)).toBe(expected);
      if (field) {
        const e = bodyOf(r).error as { details?: { field?: string; issues?: { field: string }[] } };
        const fields = [e.details?.field, ...(e.details?.issues ?? []).map((i) => i.field)].filter(Boolean).map(String);
        expect(
          fields.some((f) => f === field || f.startsWith(`${field}.`)),
          JSON.stringify(e),
        ).toBe(true);
      }
    },
  );

  it('the JSON-inside-a-string form is still accepted', async () => {
    const msg = await call('check_compliance', { to: '+447700900123', message: '{"type":"text","text":{"body":"hi"}}' });
    expect(msg.structuredContent, JSON.stringify(msg).slice(0, 400)).toMatchObject({
      allowed: false,
      reason_code: 'WINDOW_CLOSED_TEMPLATE_REQUIRED',
    });
    const ids = await call('retry_failed_messages', { message_ids: '["msg_nope"]' });
    expect(ids.isError, JSON.stringify(ids).slice(0, 400)).toBeFalsy();
    expect(ids.structuredContent?.results).toHaveLength(1);
    const vars = await call('check_compliance', { to: '+447700900123', template_name: 'order_update', variables: '["Ana", "#1234"]' });
    expect(vars.isError, JSON.stringify(vars).slice(0, 400)).toBeFalsy();
    expect(vars.structuredContent).toMatchObject({ template: { name: 'order_update' } });
  });
});
