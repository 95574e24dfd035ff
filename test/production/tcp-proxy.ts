// A TCP proxy on 127.0.0.1 that a test owns: wagate talks to a server through it, and the test cuts
// every connection (as a network blip or a server restart would) and refuses new ones for a while,
// without touching the server itself (the machine's shared PostgreSQL stays up for everyone else).
import { createServer, connect, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Destroys every open connection and refuses new ones for `ms`. */
  cut(ms: number): Promise<void>;
  /** Connections cut so far. */
  readonly cuts: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let refuseUntil = 0;
  let cuts = 0;
  const server = createServer((client) => {
    if (Date.now() < refuseUntil) {
      client.destroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    get cuts() {
      return cuts;
    },
    async cut(ms) {
      refuseUntil = Date.now() + ms;
      for (const s of [...open]) {
        s.destroy();
        cuts++;
      }
      open.clear();
      await new Promise((r) => setTimeout(r, ms));
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
