// The MCP server (official SDK): every tool in tools.ts registered with zod input and output schemas,
// annotations and structured content. Served over stdio by `wagate mcp` (src/cli/mcp.ts) and over
// Streamable HTTP at /mcp by the HTTP server (src/http/routes/mcp.ts), behind the same API keys.
//
// Results: success → structuredContent (matching the output schema) plus the same JSON as text.
// A denial or an error → isError: true with a JSON text {reason_code, explanation, suggested_action, ...}
// or {error: {code, message, fix, details}}; never a stack trace. (Error results carry no
// structuredContent: clients validate it against the success schema.)
// tools/list advertises each schema in a form every client takes (portable-schema.ts).
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { z, ZodError } from 'zod';
import type { AppContext } from '../engine/context.ts';
import { appError, EngineError, errorBodyOf, unknownSenderError } from '../shared/errors/app-error.ts';
import type { FixedCode } from '../shared/errors/registry.ts';
import { UnknownSenderError } from '../senders/registry.ts';
import { TOOLS, ToolDenial, type ToolDef, type ToolResult } from './tools.ts';
import { LOCAL_PRINCIPAL, requireRole, requireSender, type Principal } from './principal.ts';
import { MAX_JSON_DEPTH, tooDeepAt } from '../shared/json-depth.ts';
import { portableSchema } from './portable-schema.ts';

export { TOOLS } from './tools.ts';

export interface McpServerOptions {
  /** Who calls (HTTP: the API key; stdio: the local operator). */
  principal?: Principal;
  /** Audit actor prefix: "mcp" (stdio) or "mcp-http". */
  actor?: string;
}

const INSTRUCTIONS = `wagate is a WhatsApp Business compliance gate. Every send is checked against Meta's rules and the
business's policies before it is queued. Typical flow: check_conversation (is the 24 h window open?) →
reply_customer / send_message inside it, or send_template outside it (list_templates shows approved ones
and their parameters) → get_delivery_status with the returned message_id. A refusal comes back as an
error with reason_code, explanation and suggested_action: follow the suggested action rather than
retrying the same call. explain_error explains any Meta error code.`;

const INVALID = Symbol('invalid-arguments');
type Invalid = { [INVALID]: ZodError };

function text(v: unknown): { type: 'text'; text: string } {
  return { type: 'text', text: JSON.stringify(v, null, 1) };
}

export function errorResult(body: object): ToolResult {
  return { isError: true, content: [text(body)] };
}

/** Names each bad field, what is wrong, and what the field expects (from its description). */
function invalidArguments(def: ToolDef, err: ZodError): ToolResult {
  const issues = err.issues.map((i) => {
    const field = i.path.map(String).join('.') || '(arguments)';
    const top = String(i.path[0] ?? '');
    const expects = (def.input[top] as z.ZodType | undefined)?.description;
    return { field, problem: i.message, expects: expects ?? null };
  });
  const fix = issues
    .map((i) =>
      i.expects
        ? `${i.field}: ${i.expects}`
        : i.field === '(arguments)'
          ? 'pass the arguments as a JSON object'
          : `${i.field}: remove it or correct its type`,
    )
    .join(' ');
  const message = `Invalid arguments for ${def.name}: ${issues.map((i) => `${i.field}: ${i.problem}`).join('; ')}`;
  return errorResult(errorBodyOf(appError('INVALID_ARGUMENTS', message, { fix, details: { issues } })));
}

function toErrorResult(ctx: AppContext, tool: string, err: unknown): ToolResult {
  if (err instanceof ToolDenial) return errorResult(err.body);
  if (err instanceof EngineError) return errorResult(errorBodyOf(err));
  if (err instanceof UnknownSenderError) return errorResult(errorBodyOf(unknownSenderError(err)));
  ctx.log.error({ err, tool }, 'MCP tool failed');
  return errorResult(
    errorBodyOf(
      appError('INTERNAL', `${tool} failed with an internal error; it has been logged.`, {
        fix: 'Retry; if it persists, check the wagate logs and GET /ready.',
      }),
    ),
  );
}

// Built once: /mcp over HTTP creates a server per request.
const DEFS = new Map(TOOLS.map((def) => [def.name, { def, schema: z.object(def.input), output: z.looseObject(def.output) }]));

export function createMcpServer(ctx: AppContext, opts: McpServerOptions = {}): McpServer {
  const principal = opts.principal ?? LOCAL_PRINCIPAL;
  const actor = principal.name === 'local' ? (opts.actor ?? 'mcp') : `${opts.actor ?? 'mcp'}:${principal.name}`;
  const server = new McpServer({ name: 'wagate', version: '0.1.0' }, { instructions: INSTRUCTIONS, capabilities: { tools: {} } });

  // The SDK turns a failed input parse into a bare text error ("... at to"). Parse ourselves so a
  // rejection says which field, what is wrong and what it expects, in the same shape as every error.
  // (Overrides McpServer's input validation hook; pinned SDK 1.32, covered by test/mcp.)
  (server as unknown as { validateToolInput: (tool: unknown, args: unknown, name: string) => Promise<unknown> }).validateToolInput = async (
    _tool,
    args,
    name,
  ) => {
    const d = DEFS.get(name);
    if (!d) return args;
    const bad = shapeProblem(args);
    if (bad) return { [INVALID]: bad } satisfies Invalid;
    const r = d.schema.safeParse(args ?? {});
    return r.success ? r.data : ({ [INVALID]: r.error } satisfies Invalid);
  };

  for (const { def, schema, output } of DEFS.values()) {
    server.registerTool(
      def.name,
      {
        title: def.title,
        description: def.description,
        inputSchema: schema,
        outputSchema: output,
        annotations: { title: def.title, ...def.annotations },
      },
      (async (args: Record<string, unknown> & Partial<Invalid>): Promise<ToolResult> => {
        if (args?.[INVALID]) return invalidArguments(def, args[INVALID]);
        try {
          requireRole(principal, def.role, `the tool ${def.name}`);
          // A key limited to some senders that names none acts for its first one, not the global default.
          if (args.sender === undefined && !principal.senders.includes('*')) args.sender = principal.senders[0];
          requireSender(ctx, principal, typeof args.sender === 'string' ? args.sender : undefined);
          const implied = def.impliedSender?.(args);
          if (implied) requireSender(ctx, principal, implied);
          const out = await def.run(args, { ctx, actor, principal });
          return { content: [text(out)], structuredContent: out };
        } catch (err) {
          return toErrorResult(ctx, def.name, err);
        }
      }) as never,
    );
  }
  guardRequestParams(server);
  listPortableSchemas(server);
  return server;
}

type RequestHandler = (request: { method: string; params?: unknown }, extra: unknown) => Promise<unknown>;
const requestHandlers = (server: McpServer) =>
  (server.server as unknown as { _requestHandlers: Map<string, RequestHandler> })._requestHandlers;

/**
 * tools/list advertises each schema as portableSchema() rewrites the SDK's zod conversion: no `type`
 * arrays, no bare `{}` (see portable-schema.ts; checked by test/mcp/schema-portability.test.ts). Only
 * the listed shape changes; calls are still validated with the zod schemas (validateToolInput above).
 */
function listPortableSchemas(server: McpServer): void {
  const handlers = requestHandlers(server);
  const list = handlers.get('tools/list');
  if (!list) throw new Error('MCP SDK: no tools/list handler to wrap (pinned SDK 1.32)');
  handlers.set('tools/list', async (request, extra) => {
    const r = (await list(request, extra)) as { tools: { inputSchema: unknown; outputSchema?: unknown }[] };
    return {
      ...r,
      tools: r.tools.map((t) => ({
        ...t,
        inputSchema: portableSchema(t.inputSchema),
        ...(t.outputSchema ? { outputSchema: portableSchema(t.outputSchema) } : {}),
      })),
    };
  });
}

/**
 * Arguments the tool schemas must never see: not an object (the SDK's request schema would answer a
 * raw -32603 dump), or nested deeper than any message (every later walk would recurse that deep).
 */
function shapeProblem(args: unknown): ZodError | null {
  if (args !== undefined && (args === null || typeof args !== 'object' || Array.isArray(args))) {
    const got = args === null ? 'null' : Array.isArray(args) ? 'an array' : `a ${typeof args}`;
    return new ZodError([{ code: 'custom', path: [], message: `must be a JSON object of named arguments, got ${got}`, input: args }]);
  }
  const deep = tooDeepAt(args, MAX_JSON_DEPTH);
  if (deep)
    return new ZodError([
      {
        code: 'custom',
        path: deep.slice(0, 8),
        message: `nests more than ${MAX_JSON_DEPTH} objects/arrays, the limit; send a flatter value`,
        input: undefined,
      },
    ]);
  return null;
}

/**
 * The SDK parses each request's params with its own schema before our code runs; a mismatch leaves as
 * -32603 "internal error" carrying the zod issues as raw JSON. Wrapped here (pinned SDK 1.32, covered
 * by test/mcp/bad-input.test.ts): a tools/call whose arguments are not an object, or nest too deep, is
 * answered here with INVALID_ARGUMENTS like any bad argument (an unknown tool still gets the SDK's
 * "not found"), and any other params mismatch is -32602 Invalid params naming the field, with our error
 * body as data. (validateToolInput checks the same shape again for the SDK's other call paths.)
 */
function guardRequestParams(server: McpServer): void {
  const handlers = requestHandlers(server);
  for (const [method, handle] of handlers) {
    handlers.set(method, async (request, extra) => {
      const p = request.params as { name?: unknown; arguments?: unknown } | undefined;
      if (method === 'tools/call' && p && typeof p === 'object' && typeof p.name === 'string') {
        const bad = shapeProblem(p.arguments);
        const d = DEFS.get(p.name);
        if (bad && d) return invalidArguments(d.def, bad);
        if (bad) request = { ...request, params: { ...p, arguments: {} } }; // an unknown tool: let the SDK say so
      }
      try {
        return await handle(request, extra);
      } catch (err) {
        // The SDK parses with zod/v4-mini, whose errors are not our ZodError class: judged by shape.
        const issues0 = (err as { issues?: unknown }).issues;
        if (!Array.isArray(issues0)) throw err;
        const issues = (issues0 as { path: PropertyKey[]; message: string }[]).map((i) => ({
          field: i.path.map(String).join('.') || '(params)',
          problem: i.message,
        }));
        const message = `Invalid params for ${method}: ${issues.map((i) => `${i.field}: ${i.problem}`).join('; ')}`;
        const fix =
          method === 'tools/call'
            ? 'Send params {"name": "<tool>", "arguments": {...}}; tools/list names every tool and its arguments.'
            : `Send ${method} with the params the MCP specification defines for it.`;
        throw new McpError(ErrorCode.InvalidParams, message, {
          error: { code: 'INVALID_PARAMS' satisfies FixedCode, message, fix, details: { issues } },
        });
      }
    });
  }
}
