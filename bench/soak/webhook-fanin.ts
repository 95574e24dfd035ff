// The load balancer in front of the wagate instances for Meta's webhooks: the sandbox takes one
// webhook URL, this takes each POST (raw body and signature untouched) to the instances in turn and
// fails over to the next one when an instance does not answer (killed). The instance's status code
// and body go back to the sandbox, which retries any non-2xx or connection error with backoff.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Agent, request } from 'undici';
import { freePort } from '../../test/pacing/private-redis.ts';

export interface WebhookFanIn {
  url: string;
  stats: { posts: number; forwarded: number[]; failovers: number; non_2xx: number; unreachable: number };
  close(): Promise<void>;
}

const FORWARDED = ['content-type', 'x-hub-signature-256', 'user-agent'];

function body(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** `bases()` gives the instances' base URLs (http://127.0.0.1:PORT), read on every request. */
export async function startWebhookFanIn(bases: () => string[]): Promise<WebhookFanIn> {
  const port = await freePort();
  const agent = new Agent({ connections: 16, keepAliveTimeout: 10_000, connect: { timeout: 1_000 } });
  const stats = { posts: 0, forwarded: [] as number[], failovers: 0, non_2xx: 0, unreachable: 0 };
  let next = 0;
  const server: Server = createServer(async (req, res) => {
    try {
      const raw = await body(req);
      if (req.method === 'POST') stats.posts++;
      const headers: Record<string, string> = {};
      for (const h of FORWARDED) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h] as string;
      const targets = bases();
      const first = next++ % targets.length;
      for (let t = 0; t < targets.length; t++) {
        const k = (first + t) % targets.length;
        try {
          const r = await request(`${targets[k]}${req.url ?? '/webhook'}`, {
            method: req.method as 'POST',
            headers,
            body: raw.length ? raw : undefined,
            dispatcher: agent,
            headersTimeout: 15_000,
            bodyTimeout: 15_000,
          });
          const out = Buffer.from(await r.body.arrayBuffer());
          stats.forwarded[k] = (stats.forwarded[k] ?? 0) + 1;
          if (r.statusCode >= 300) stats.non_2xx++;
          res.writeHead(r.statusCode, { 'content-type': String(r.headers['content-type'] ?? 'text/plain') });
          res.end(out);
          return;
        } catch {
          // connection refused or reset: that instance is down, the next one gets it
          stats.failovers++;
        }
      }
      stats.unreachable++;
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('no wagate instance answered');
    } catch {
      res.writeHead(400);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    stats,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await agent.close();
    },
  };
}
