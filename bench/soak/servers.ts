// Servers the soak owns (never the machine's shared ones): a private PostgreSQL cluster (initdb +
// pg_ctl from Debian's postgresql package, own port, own temp dir) and a TCP proxy in front of it
// that can cut every connection. Private Redis and NATS come from the test helpers
// (test/pacing/private-redis.ts, test/production/backends.ts).
import { execFile, execFileSync, fork } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/pacing/private-redis.ts';
import type { TcpProxyStats } from '../../test/support/tcp-proxy.ts';

/** Where initdb and pg_ctl live: `pg_config --bindir`, else the newest /usr/lib/postgresql/N/bin. */
function pgBinDir(): string {
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {
    // no pg_config: look in Debian's layout
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions.length)
    throw new Error("initdb not found: install Debian's postgresql package (pg_config --bindir or /usr/lib/postgresql/*/bin)");
  return join(root, versions[0], 'bin');
}

function run(cmd: string, args: string[], opts: { asUser?: string; cwd: string; timeoutMs?: number }): Promise<string> {
  const [file, argv] = opts.asUser ? ['runuser', ['-u', opts.asUser, '--', cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:PORT/postgres (direct, not through a proxy). */
  url: string;
  port: number;
  /** pg_ctl stop -m fast (clients see their connections closed, then connection refused). */
  stop(): Promise<void>;
  /** pg_ctl start on the same port and data directory. */
  start(): Promise<void>;
  /** The postmaster's PID while it runs (from postmaster.pid), else null. */
  pid(): number | null;
  /** Stops it (immediate) and removes its directory. */
  destroy(): Promise<void>;
}

/**
 * A private PostgreSQL cluster on a free port in a temp dir. initdb and postgres refuse to run as
 * root: as root they run as the `postgres` OS user (runuser), the directory chowned to it.
 * fsync is off (the soak stops it with pg_ctl's fast mode, a clean shutdown, never a crash).
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = pgBinDir();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'wagate-soak-pg-'));
  const data = join(dir, 'data');
  const asUser = process.getuid?.() === 0 ? 'postgres' : undefined;
  if (asUser) {
    const uid = Number(execFileSync('id', ['-u', asUser], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', asUser], { encoding: 'utf8' }));
    chownSync(dir, uid, gid);
  } else {
    mkdirSync(data, { recursive: true });
  }
  const opts = { asUser, cwd: dir };
  await run(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale', '--no-sync'], opts);
  const serverOpts = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    '-c fsync=off',
    '-c max_connections=100',
  ].join(' ');
  const pgCtl = (args: string[]) => run(join(bin, 'pg_ctl'), ['-D', data, ...args], { ...opts, timeoutMs: 90_000 });
  const pid = () => {
    try {
      return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]) || null;
    } catch {
      return null;
    }
  };
  const start = async () => {
    await pgCtl(['-l', join(dir, 'log'), '-o', serverOpts, '-w', '-t', '60', 'start']);
  };
  const stop = async () => {
    await pgCtl(['-m', 'fast', '-w', '-t', '60', 'stop']);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    pid,
    async destroy() {
      if (pid()) await pgCtl(['-m', 'immediate', '-w', '-t', '30', 'stop']).catch(() => killPostmaster(pid()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function killPostmaster(pid: number | null): void {
  if (!pid) return;
  try {
    process.kill(pid, 'SIGQUIT'); // postgres's immediate shutdown
  } catch {
    // already gone
  }
}

export interface TcpProxyProcess {
  port: number;
  pid: number | undefined;
  cut(ms: number): void;
  stats(): Promise<TcpProxyStats | null>;
  close(): Promise<void>;
}

/** startTcpProxy in a child process (bench/soak/tcp-proxy-child.ts), off the soak's event loop. */
export function startTcpProxyProcess(targetPort: number): Promise<TcpProxyProcess> {
  const child = fork(fileURLToPath(new URL('./tcp-proxy-child.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, SOAK_PROXY_TARGET: String(targetPort) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`TCP proxy process exited with ${code}`)));
    child.once('message', (m: { port: number }) =>
      resolve({
        port: m.port,
        pid: child.pid,
        cut: (ms) => void child.send({ cut: ms }),
        stats: () =>
          new Promise((res) => {
            if (!child.connected) return res(null);
            const t = setTimeout(() => res(null), 2_000);
            child.once('message', (r: { stats?: TcpProxyStats }) => {
              clearTimeout(t);
              res(r.stats ?? null);
            });
            child.send({ stats: true });
          }),
        async close() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGKILL');
          await exited;
        },
      }),
    );
  });
}
