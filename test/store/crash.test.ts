// Durability: a writer killed with SIGKILL mid-stream loses nothing it had acknowledged
// (WAL + synchronous=NORMAL survives a process crash; only an OS crash may lose the last commits).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite.ts';

const WRITER = fileURLToPath(new URL('./crash-writer.ts', import.meta.url));

describe('sqlite store: crash durability', () => {
  it('keeps every acknowledged insert and status change after kill -9 of the writer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wagate-store-crash-'));
    const path = join(dir, 'wagate.db');
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', WRITER, path], { stdio: ['ignore', 'pipe', 'pipe'] });
      const acked: string[] = [];
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, sig) => res(sig)));
      await new Promise<void>((resolve, reject) => {
        let buf = '';
        const timer = setTimeout(() => reject(new Error(`writer too slow; stderr: ${stderr}`)), 20_000);
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          const lines = buf.split('\n');
          buf = lines.pop() ?? '';
          acked.push(...lines.filter(Boolean));
          if (acked.length >= 300) {
            clearTimeout(timer);
            child.kill('SIGKILL'); // mid-stream: it keeps writing until the signal lands
            resolve();
          }
        });
        child.on('exit', () => {
          clearTimeout(timer);
          if (acked.length < 300) reject(new Error(`writer exited early; stderr: ${stderr}`));
        });
      });
      expect(await exited).toBe('SIGKILL');

      const store = await createSqliteStore(path);
      try {
        for (const id of acked) {
          const m = await store.getMessage(id);
          expect(m?.status, id).toBe('accepted');
          expect(m?.wamid).toBe(`wamid.${id.slice('crash_'.length)}`);
        }
        // Whatever was in flight is either absent or whole, never half-written.
        const all = await store.listMessages({ limit: 1000 });
        expect(all.length).toBeGreaterThanOrEqual(acked.length);
        for (const m of all) expect(m.history[0].status).toBe('queued');
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
