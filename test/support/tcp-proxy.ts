// A TCP proxy on 127.0.0.1 that a test (or the soak) owns: wagate talks to a server through it, and
// the owner cuts every connection (as a network blip or a server restart would: the client side is
// reset) and refuses new ones for a while, without touching the server itself (the machine's shared
// PostgreSQL stays up for everyone else). The one proxy of the chaos tests and of bench/soak.
import { createServer, connect, type Socket } from 'node:net';

export interface TcpProxyStats {
  connections: number;
  cut_connections: number;
  refused: number;
  upstream_errors: number;
}

export interface TcpProxy {
  port: number;
  /** Resets every open connection and refuses (resets) new ones for `ms`; resolves once `ms` is over. */
  cut(ms: number): Promise<void>;
  /** Connections cut so far. */
  readonly cuts: number;
  readonly stats: TcpProxyStats;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1';
  const pairs = new Set<[Socket, Socket]>();
  const stats: TcpProxyStats = { connections: 0, cut_connections: 0, refused: 0, upstream_errors: 0 };
  let refuseUntil = 0;
  const server = createServer((client) => {
    client.on('error', () => {});
    if (Date.now() < refuseUntil) {
      stats.refused++;
      client.resetAndDestroy();
      return;
    }
    stats.connections++;
    const upstream = connect(target.port, host);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    upstream.on('error', () => {
      stats.upstream_errors++;
      client.destroy();
    });
    const done = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', done);
    upstream.on('close', done);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    stats,
    get cuts() {
      return stats.cut_connections;
    },
    cut(ms) {
      refuseUntil = Date.now() + ms;
      for (const [c, u] of pairs) {
        stats.cut_connections++;
        c.resetAndDestroy();
        u.destroy();
      }
      pairs.clear();
      return new Promise((r) => setTimeout(r, ms));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const [c, u] of pairs) {
          c.destroy();
          u.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
