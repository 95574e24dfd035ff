// A private redis-server for chaos tests: own port, no persistence; killed with SIGKILL, never the shared one.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/**
 * A free port BELOW Linux's ephemeral range (32768-60999), for servers a test stops and starts again on
 * the same port (chaos tests, the outage test). A port from the ephemeral range can be handed, between
 * the stop and the restart, to any other test's listener or outgoing connection, and the restart then
 * fails with EADDRINUSE (seen once in CI-like runs). Ports below the range are only ever taken on
 * purpose, so once checked free here they stay free.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  return listenOn(0);
}

function canListen(port: number): Promise<boolean> {
  return listenOn(port).then(
    () => true,
    () => false,
  );
}

function listenOn(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      const got = (s.address() as { port: number }).port;
      s.close(() => resolve(got));
    });
  });
}

export async function startPrivateRedis(): Promise<{
  url: string;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--enable-debug-command', 'yes'],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 50; i++) {
      const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => {});
      const up = await r.connect().then(
        () => r.ping(),
        () => null,
      );
      r.disconnect();
      if (up === 'PONG') return;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error(`private redis-server on ${port} did not start`);
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((res) => {
      c.once('exit', () => res());
      c.kill('SIGKILL');
    });
  };
  await start();
  return { url, kill, restart: start, stop: kill };
}
