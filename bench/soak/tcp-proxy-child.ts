// The soak's TCP proxy in its own process (startTcpProxyProcess in servers.ts): every byte of the
// instances' PostgreSQL traffic crosses it, so it must not share the client's event loop. IPC:
// {cut: ms} cuts, {stats: true} answers {stats}; it sends {port} once listening.
import { startTcpProxy } from '../../test/support/tcp-proxy.ts';

const proxy = await startTcpProxy({ port: Number(process.env.SOAK_PROXY_TARGET) });
process.on('message', (m: { cut?: number; stats?: boolean }) => {
  if (typeof m.cut === 'number') void proxy.cut(m.cut);
  if (m.stats) process.send!({ stats: proxy.stats });
});
process.on('disconnect', () => void proxy.close().then(() => process.exit(0)));
process.send!({ port: proxy.port });
