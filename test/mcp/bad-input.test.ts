// Bad input over MCP never gets an internal error or a raw schema dump (issue 17, defect 4): a
// tools/call whose `arguments` is not an object gets INVALID_ARGUMENTS like any other bad argument;
// arguments nested far deeper than any message are refused naming the limit; objects with their own
// toString/valueOf where strings are expected; a malformed tools/call (no name) gets -32602 in words.
// Real server (createMcpServer over a real wagate with the sandbox), over the SDK's in-memory pair
// (raw JSON-RPC, so nothing client-side cleans the request up) and over Streamable HTTP at /mcp.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { createMcpServer } from '../../src/mcp/server.ts';
import { MAX_JSON_DEPTH } from '../../src/shared/json-depth.ts';
import { expectExplainedRefusal, startWagate, type Running, type ToolCallResult } from './helpers.ts';

let w: Running;
let peer: InMemoryTransport;
let nextId = 1;
const pending = new Map<number, (m: Record<string, any>) => void>();

beforeAll(async () => {
  w = await startWagate({}, { workers: false });
  const server = createMcpServer(w.app.ctx);
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  peer = b;
  peer.onmessage = (m) => pending.get((m as { id: number }).id)?.(m as Record<string, any>);
  await peer.start();
}, 30_000);

afterAll(async () => {
  await peer?.close().catch(() => {});
  await w?.close();
});

/** One raw JSON-RPC request over the in-memory pair; the whole response message. */
function rpc(method: string, params: unknown): Promise<Record<string, any>> {
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    void peer.send({ jsonrpc: '2.0', id, method, params } as JSONRPCMessage);
  });
}

/** The same over Streamable HTTP (stateless /mcp), from JSON text. */
async function rpcHttp(text: string): Promise<{ status: number; json: Record<string, any> }> {
  const r = await fetch(`${w.base}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: text,
  });
  return { status: r.status, json: (await r.json()) as Record<string, any> };
}

function expectInvalidArguments(
  res: Record<string, any>,
  field: string,
): { message: string; fix: string; details: { issues: { field: string; problem: string }[] } } {
  expect(res.error, JSON.stringify(res).slice(0, 400)).toBeUndefined();
  const b = expectExplainedRefusal(res.result as ToolCallResult);
  const e = b.error as { code: string; message: string; fix: string; details: { issues: { field: string; problem: string }[] } };
  expect(e.code).toBe('INVALID_ARGUMENTS');
  expect(
    e.details.issues.some((i) => i.field === field || i.field.startsWith(`${field}.`)),
    JSON.stringify(e.details.issues),
  ).toBe(true);
  expect(e.message).toContain(field);
  return e;
}

const NOT_OBJECTS: unknown[] = [[1], ['+447700900123'], 'to=+447700900123', 5, true, null];

describe('arguments that are not an object', () => {
  it.each(NOT_OBJECTS.map((v) => [JSON.stringify(v), v]))(
    'tools/call with arguments %s → INVALID_ARGUMENTS, not -32603',
    async (_label, args) => {
      const e = expectInvalidArguments(await rpc('tools/call', { name: 'send_message', arguments: args }), '(arguments)');
      expect(e.message).toMatch(/object/);
      expect(e.fix).toMatch(/JSON object/);
      expect(e.message).not.toMatch(/invalid_type|"path"/); // no schema dump
    },
  );

  it('the same over Streamable HTTP', async () => {
    for (const args of NOT_OBJECTS) {
      const r = await rpcHttp(
        JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'check_compliance', arguments: args } }),
      );
      expect(r.status).toBe(200);
      expectInvalidArguments(r.json, '(arguments)');
    }
  });

  it('an unknown tool with bad arguments is still "unknown tool", explained', async () => {
    const r = await rpc('tools/call', { name: 'no_such_tool', arguments: [1] });
    expect(r.error, JSON.stringify(r)).toBeUndefined();
    expect(r.result.isError).toBe(true);
    expect(JSON.stringify(r.result)).toMatch(/no_such_tool/);
    expect(JSON.stringify(r.result)).not.toMatch(/invalid_type/);
  });

  it('a tools/call without a tool name is -32602 Invalid params, in words', async () => {
    // (params that are not an object at all are not a JSON-RPC request to the SDK's transports: stdio
    // drops them, Streamable HTTP answers 400 -32700; neither reaches this server.)
    for (const params of [{ arguments: {} }, { name: 5 }, { name: ['send_message'] }, { name: { toString: 1 } }, undefined]) {
      const r = await rpc('tools/call', params);
      expect(r.error?.code, JSON.stringify(r)).toBe(-32602);
      expect(r.error.message).toMatch(/params\.name|params/);
      expect(r.error.message).not.toMatch(/^\s*\[|"code":|invalid_type/); // no raw zod issue dump
      expect(r.error.data?.error?.code).toBe('INVALID_PARAMS');
      expect(String(r.error.data?.error?.fix).length).toBeGreaterThan(10);
    }
  });

  it('other methods with malformed params are -32602 too, not -32603', async () => {
    const r = await rpc('tools/list', { cursor: { toString: 1 } });
    expect(r.error?.code, JSON.stringify(r)).toBe(-32602);
    expect(r.error.message).toMatch(/cursor/);
  });
});

describe('arguments nested deeper than any message', () => {
  const deep = (n: number): unknown => {
    let v: unknown = 'x';
    for (let i = 0; i < n; i++) v = { a: v };
    return v;
  };

  it('an object argument 50,000 levels deep is refused naming the limit', async () => {
    for (const [name, field, args] of [
      ['send_interactive', 'interactive', { to: '+447700900123', interactive: deep(50_000) }],
      ['check_compliance', 'message', { to: '+447700900123', message: deep(50_000) }],
      ['send_message', 'x', { to: '+447700900123', text: 'hi', x: [deep(50_000)] }],
    ] as const) {
      const e = expectInvalidArguments(await rpc('tools/call', { name, arguments: args }), field);
      expect(e.message).toContain(String(MAX_JSON_DEPTH));
    }
  });

  it('a JSON string argument 50,000 levels deep is refused, not an internal error', async () => {
    const text = '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000);
    // check_compliance answers a denial as a normal result (allowed: false); send_message refuses.
    const check = await rpc('tools/call', { name: 'check_compliance', arguments: { to: '+447700900123', message: text } });
    expect(check.result?.structuredContent, JSON.stringify(check).slice(0, 500)).toMatchObject({
      allowed: false,
      reason_code: 'INVALID_MESSAGE',
    });
    expect(check.result.structuredContent.explanation).toContain(String(MAX_JSON_DEPTH));
    const send = await rpc('tools/call', { name: 'send_interactive', arguments: { to: '+447700900123', interactive: text } });
    expect(send.result?.isError, JSON.stringify(send).slice(0, 500)).toBe(true);
    expect(JSON.stringify(expectExplainedRefusal(send.result as ToolCallResult))).toContain(String(MAX_JSON_DEPTH));
  });

  it('over Streamable HTTP the body parser refuses it first, in our error body', async () => {
    const text = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"send_message","arguments":{"to":"+447700900123","text":${'['.repeat(50_000)}${']'.repeat(50_000)}}}}`;
    const r = await rpcHttp(text);
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('BODY_TOO_DEEP');
  });
});

describe('objects with their own toString/valueOf where strings are expected', () => {
  const odd: unknown[] = [{ toString: 1 }, { toString: 1, valueOf: 1 }, [{ toString: 1 }], Object.assign(Object.create(null), { a: 1 })];

  it('check_compliance with such a message type is a denial (allowed: false) naming the field', async () => {
    for (const type of odd) {
      const r = await rpc('tools/call', { name: 'check_compliance', arguments: { to: '+447700900123', message: { type } } });
      expect(r.result?.structuredContent, JSON.stringify(r).slice(0, 500)).toMatchObject({
        allowed: false,
        reason_code: 'INVALID_MESSAGE',
      });
      expect(r.result.structuredContent.explanation).toMatch(/^type: /);
    }
  });

  it('any tool given such values for its arguments answers an explained refusal', async () => {
    const { result } = await rpc('tools/list', {});
    for (const t of result.tools as { name: string; inputSchema: { properties?: Record<string, unknown> } }[]) {
      for (const v of odd) {
        const args = Object.fromEntries(Object.keys(t.inputSchema.properties ?? {}).map((k) => [k, v]));
        const r = await rpc('tools/call', { name: t.name, arguments: args });
        expect(r.error, `${t.name} ${JSON.stringify(r).slice(0, 300)}`).toBeUndefined();
        if (r.result.isError) expectExplainedRefusal(r.result as ToolCallResult);
      }
    }
  });

  it('__proto__ and constructor keys in arguments pollute nothing', async () => {
    const text =
      '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"check_compliance","arguments":{"to":"+447700900123","__proto__":{"polluted":1},"message":{"type":"text","text":{"body":"hi"},"constructor":{"prototype":{"polluted":1}}}}}}';
    const overHttp = await rpcHttp(text);
    expect(overHttp.status).toBe(200);
    expect(overHttp.json.result.structuredContent?.reason_code ?? JSON.stringify(overHttp.json)).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
    const parsed = JSON.parse(text) as { params: unknown };
    const inMemory = await rpc('tools/call', parsed.params);
    expect(inMemory.error, JSON.stringify(inMemory)).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
