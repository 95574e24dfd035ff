// Property-based fuzzing of every MCP tool's input (fast-check): whatever the arguments, the server
// answers (no crash, no protocol error, no internal error), and every refusal names what is wrong and
// how to fix it; an argument-shape refusal names each bad field. Real server (createMcpServer over a
// real wagate context with the sandbox), connected to the real SDK client through the SDK's in-memory
// transport pair (the transport is not what is under test here; stdio and HTTP have their own tests).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { createMcpServer } from '../../src/mcp/server.ts';
import { bodyOf, startWagate, type Running, type ToolCallResult } from './helpers.ts';

let w: Running;
let client: Client;
let tools: { name: string; inputSchema: { properties?: Record<string, unknown> } }[];

beforeAll(async () => {
  w = await startWagate({}, { workers: false });
  const server = createMcpServer(w.app.ctx);
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  client = new Client({ name: 'fuzz', version: '1' });
  await client.connect(b);
  tools = (await client.listTools()).tools as never;
  await client.callTool({ name: 'sync_webhooks', arguments: {} });
}, 30_000);

afterAll(async () => {
  await client?.close().catch(() => {});
  await w?.close();
});

const phoneish = fc.oneof(
  fc.constantFrom('+447700900123', '5511912345678', '+1 (415) 555-0123', '', '+', '00', '12'),
  fc.string({ maxLength: 20 }),
);
// What an attacker sends where a string is expected: objects with their own toString/valueOf (String()
// on them throws), arrays holding one, own "__proto__"/"constructor" keys (JSON.parse makes them own
// properties), numbers past every range, and nesting past the limit (300 levels here: fast-check's own
// reporting recurses; test/mcp/bad-input.test.ts sends 50,000).
const deep = (n: number): unknown => {
  let v: unknown = 'x';
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { a: v };
  return v;
};
const hostile = fc.constantFrom<unknown>(
  { toString: 1 },
  { toString: 1, valueOf: 1 },
  [{ toString: 1 }],
  { hasOwnProperty: 1 },
  JSON.parse('{"__proto__":{"polluted":1},"type":"text"}'),
  JSON.parse('{"constructor":{"prototype":{"polluted":1}}}'),
  1e308,
  -1e308,
  2 ** 53 + 1,
  deep(70),
  deep(300),
  '{"a":'.repeat(5_000) + '1' + '}'.repeat(5_000),
);
const value = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 30 }) },
  hostile,
  { weight: 2, arbitrary: phoneish },
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 10 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 10 }), fc.integer()), { maxKeys: 3 }),
  fc.constantFrom(
    'marketing',
    'utility',
    'service',
    'order_update',
    'hello_world',
    'en_US',
    '["a","b"]',
    '{"x":1}',
    'main',
    '106540352242922',
    'msg_1',
    'dl_1',
    'main:447700900123',
    'wamid.HBgL',
    190,
    131047,
  ),
);

type JsonSchema = { type?: string; enum?: unknown[]; anyOf?: JsonSchema[]; items?: JsonSchema; minimum?: number; maximum?: number };

/** A value of the declared type most of the time (to reach the engine), anything otherwise. */
function typed(s: JsonSchema | undefined): fc.Arbitrary<unknown> {
  if (!s) return value;
  if (s.enum) return fc.constantFrom(...s.enum);
  if (s.anyOf) return fc.oneof(...s.anyOf.map(typed));
  switch (s.type) {
    case 'string':
      return fc.oneof(
        phoneish,
        fc.string({ maxLength: 40 }),
        fc.constantFrom('order_update', 'spring_sale', 'main', 'en_US', 'msg_x', '["Ana","#1"]'),
      );
    case 'integer':
      return fc.integer({ min: s.minimum ?? -5, max: Math.min(s.maximum ?? 1000, 1000) });
    case 'number':
      return fc.double({ noNaN: true, min: -10, max: 1e6 });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(typed(s.items), { maxLength: 3 });
    case 'object':
      return fc.dictionary(
        fc.constantFrom('type', 'body', 'text', 'action', 'to', 'x'),
        fc.oneof(value, hostile, fc.constantFrom('text', 'interactive', 'template')),
        { maxKeys: 3 },
      );
    default:
      return value;
  }
}

function argsFor(props: Record<string, JsonSchema>) {
  const keys = Object.keys(props);
  const shaped = fc.record(Object.fromEntries(keys.map((k) => [k, typed(props[k])])), { requiredKeys: [] });
  const wild = fc.dictionary(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...keys) }, fc.string({ maxLength: 6 })), value, {
    maxKeys: keys.length + 2,
  });
  return fc.oneof({ weight: 3, arbitrary: shaped }, { weight: 2, arbitrary: wild });
}

const seen = { ok: 0, refused_args: 0, refused_engine: 0, denied: 0 };

function checkAnswer(name: string, args: unknown, r: ToolCallResult): void {
  const where = `${name} ${JSON.stringify(args)}`;
  expect(Array.isArray(r.content), where).toBe(true);
  if (!r.isError) {
    seen.ok++;
    expect(r.structuredContent, where).toBeTruthy();
    return;
  }
  const b = bodyOf(r);
  expect(JSON.stringify(b), where).not.toMatch(/\bat .+:\d+:\d+\)/);
  if (b.error) {
    const e = b.error as { code: string; message: string; fix: string; details: { issues?: { field: string }[]; field?: string } };
    expect(e.code, where).not.toBe('INTERNAL');
    if (e.code === 'INVALID_ARGUMENTS') seen.refused_args++;
    else seen.refused_engine++;
    expect(e.message.length, where).toBeGreaterThan(5);
    expect(e.fix.length, where).toBeGreaterThan(5);
    if (e.code === 'INVALID_ARGUMENTS' && e.details.issues) {
      for (const i of e.details.issues) {
        expect(i.field.length, where).toBeGreaterThan(0);
        expect(e.message, where).toContain(i.field);
        if (i.field !== '(arguments)') expect(e.fix, where).toContain(i.field.split('.')[0]);
      }
    }
  } else {
    seen.denied++;
    expect(typeof b.reason_code, where).toBe('string');
    expect(String(b.explanation).length, where).toBeGreaterThan(5);
    expect(String(b.suggested_action).length, where).toBeGreaterThan(5);
  }
}

describe('fuzzing every tool', () => {
  it('answers every argument object with a result or an explained refusal', async () => {
    expect(tools.length).toBe(36); // every tool, the campaign tools (issue 15) included: a new one joins this walk
    for (const t of tools) {
      await fc.assert(
        fc.asyncProperty(argsFor((t.inputSchema.properties ?? {}) as Record<string, JsonSchema>), async (args) => {
          const r = (await client.callTool({ name: t.name, arguments: args })) as ToolCallResult;
          checkAnswer(t.name, args, r);
        }),
        { numRuns: 40, seed: 42 + t.name.length },
      );
    }
    // The generator reaches every layer: schema refusals, engine refusals, gate denials and successes.
    expect(seen.ok).toBeGreaterThan(50);
    expect(seen.refused_args).toBeGreaterThan(50);
    expect(seen.refused_engine).toBeGreaterThan(20);
    expect(seen.denied).toBeGreaterThan(5);
  }, 90_000);

  it('arguments that are not an object get INVALID_ARGUMENTS from every tool', async () => {
    for (const t of tools) {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.array(value, { maxLength: 3 }),
            fc.string({ maxLength: 20 }),
            fc.integer(),
            fc.boolean(),
            fc.constant(null),
            hostile.filter((v) => Array.isArray(v) || typeof v !== 'object'),
          ),
          async (args) => {
            const r = (await client.callTool({ name: t.name, arguments: args as never })) as ToolCallResult;
            checkAnswer(t.name, args, r);
            expect((bodyOf(r).error as { code: string }).code, `${t.name} ${JSON.stringify(args)}`).toBe('INVALID_ARGUMENTS');
          },
        ),
        { numRuns: 4, seed: 3 + t.name.length },
      );
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('non-object arguments and unknown tools are refused by the protocol, not by a crash', async () => {
    const r = (await client.callTool({
      name: 'send_message',
      arguments: { to: ['+447700900123'], text: { body: 'x' } },
    })) as ToolCallResult;
    const e = bodyOf(r).error as { details: { issues: { field: string }[] } };
    expect(e.details.issues.map((i) => i.field).sort()).toEqual(['text', 'to']);
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).resolves.toMatchObject({ isError: true });
  });
});
