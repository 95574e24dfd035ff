// `wagate mcp` as a real process (node bin/wagate.js mcp), driven by the real SDK client over stdio:
// nothing but protocol on stdout (logs at info level all go to stderr), every tool listed with its
// schemas, and a template sent through the tools is delivered by the sandbox and seen as delivered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer, type Server } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { expectExplainedRefusal, expectToolList, waitFor, type ToolCallResult } from './helpers.ts';

let dir: string;
let client: Client;
let transport: StdioClientTransport;
const stdoutErrors: Error[] = [];
let stderr = '';
let squatter: Server;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wagate-mcp-stdio-'));
  // Something already holds WAGATE_PORT (as a running `wagate start` would): the MCP session still starts.
  squatter = createServer();
  await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
  const busyPort = String((squatter.address() as { port: number }).port);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('WAGATE_')) env[k] = v;
  transport = new StdioClientTransport({
    command: process.execPath,
    args: [resolve('bin/wagate.js'), 'mcp'],
    cwd: dir, // no ./wagate.yaml there: defaults + env only
    env: { ...env, WAGATE_DATA_DIR: join(dir, 'data'), WAGATE_SANDBOX_PORT: '0', WAGATE_PORT: busyPort, WAGATE_LOG_LEVEL: 'info' },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  // A line on stdout that is not JSON-RPC surfaces here (the client keeps this handler when it connects).
  transport.onerror = (e) => stdoutErrors.push(e);
  client = new Client({ name: 'stdio-test', version: '1.0.0' });
  await client.connect(transport);
}, 30_000);

afterAll(async () => {
  await client?.close().catch(() => {});
  squatter?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args }) as Promise<ToolCallResult>;

describe('wagate mcp (stdio)', () => {
  it('lists every tool with its schemas', async () => {
    const { tools } = await client.listTools();
    expectToolList(tools as never);
  });

  it('sends a template that the sandbox delivers, and a closed-window text is refused', async () => {
    const denied = await call('reply_customer', { customer_id: '+5511912345678', message_text: 'Olá' });
    expect(expectExplainedRefusal(denied).reason_code).toBe('WINDOW_CLOSED_TEMPLATE_REQUIRED');
    // Templates were synced from the sandbox when the server started.
    const r = await call('send_template', { to: '+5511912345678', template_name: 'hello_world' });
    expect(r.isError).toBeFalsy();
    const id = r.structuredContent!.message_id as string;
    const done = await waitFor(async () => {
      const s = await call('get_delivery_status', { message_id: id });
      return ['delivered', 'read'].includes(s.structuredContent?.status as string) ? s : null;
    }, 15_000);
    expect(done.structuredContent).toMatchObject({ message_id: id, customer_id: '5511912345678', category: 'utility' });
  });

  it('kept stdout clean: no non-protocol line, while logs went to stderr', () => {
    expect(stdoutErrors).toEqual([]);
    expect(stderr).toContain('"app":"wagate"');
    expect(stderr).toContain('MCP server on stdio');
    expect(stderr).toContain('port in use');
  });
});
