// /mcp: the MCP server (src/mcp/server.ts) over Streamable HTTP, stateless: one server and transport
// per request, acting as the API key's principal (set by the auth hook, src/http/auth.ts).
import type { FastifyReply } from 'fastify';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpServer } from '../../mcp/server.ts';
import { LOCAL_PRINCIPAL } from '../../mcp/principal.ts';
import type { AuthedRequest } from '../auth.ts';
import type { RouteModule } from '../types.ts';

const mcpRoutes: RouteModule = async (app, ctx) => {
  const mcp = async (req: AuthedRequest, reply: FastifyReply) => {
    if (req.method !== 'POST') {
      return reply
        .status(405)
        .header('allow', 'POST')
        .send({
          jsonrpc: '2.0',
          error: { code: -32000, message: 'Method not allowed: this MCP endpoint is stateless; send JSON-RPC with POST.' },
          id: null,
        });
    }
    const server = createMcpServer(ctx, { principal: req.principal ?? LOCAL_PRINCIPAL, actor: 'mcp-http' });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    reply.raw.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    reply.hijack();
    await transport.handleRequest(req.raw, reply.raw, req.body);
  };
  app.post('/mcp', mcp);
  app.get('/mcp', mcp);
  app.delete('/mcp', mcp);
};

export default mcpRoutes;
