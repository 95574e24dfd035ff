// `wagate campaign create|preview|start|pause|resume|cancel|status [--watch]`: an operator's client of a
// running wagate's /v1/campaigns (the state machine and the dispatcher live in the server, so the CLI
// never races them). The server is --url (default http://127.0.0.1:$WAGATE_PORT), the key --api-key
// or $WAGATE_API_KEY. Exit 0 done, 1 refused by the server (the error says why and how to fix it),
// 2 bad input or no server.
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';

export interface CampaignCliOptions {
  url?: string;
  apiKey?: string;
  name?: string;
  template?: string;
  language?: string;
  sender?: string;
  deliverAt?: string;
  recipients?: string;
  filter?: string;
  variables?: string;
  options?: string;
  reason?: string;
  watch?: boolean;
  interval?: string;
  json?: boolean;
}

type Out = { write(s: string): unknown; isTTY?: boolean };

export interface CliIo {
  stdout: Out;
  stderr: Out;
  env: Record<string, string | undefined>;
  fetch: typeof fetch;
  sleep: (ms: number) => Promise<void>;
}

const defaultIo = (): CliIo => ({
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  fetch: globalThis.fetch,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
});

class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export async function run(opts: Record<string, unknown>, args: string[], io: CliIo = defaultIo()): Promise<number> {
  const o = opts as CampaignCliOptions;
  const [action, id] = args;
  try {
    const base = (o.url ?? `http://127.0.0.1:${io.env.WAGATE_PORT ?? '8080'}`).replace(/\/$/, '');
    const key = o.apiKey ?? io.env.WAGATE_API_KEY;
    // biome-ignore lint/suspicious/noExplicitAny: the server's JSON, read field by field
    const api = async (method: string, path: string, body?: unknown, type = 'application/json'): Promise<any> => {
      let res: Response;
      try {
        res = await io.fetch(`${base}${path}`, {
          method,
          headers: { ...(body !== undefined ? { 'content-type': type } : {}), ...(key ? { authorization: `Bearer ${key}` } : {}) },
          body: body === undefined ? undefined : type === 'application/json' ? JSON.stringify(body) : (body as ReadableStream),
          ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
        } as RequestInit);
      } catch (err) {
        throw new CliError(`no wagate answers at ${base} (${(err as Error).message}): start it with \`wagate start\`, or pass --url.`, 2);
      }
      const text = await res.text();
      // biome-ignore lint/suspicious/noExplicitAny: the server's JSON
      let json: any = {};
      try {
        json = text ? JSON.parse(text) : {};
      } catch {
        throw new CliError(`${base}${path} answered ${res.status} with something that is not JSON: is --url a wagate?`, 2);
      }
      if (res.status >= 400) {
        const e = json.error ?? {};
        throw new CliError(`${e.code ?? res.status}: ${e.message ?? text}${e.fix ? `\n  fix: ${e.fix}` : ''}`, res.status >= 500 ? 2 : 1);
      }
      return json;
    };
    const need = (v: string | undefined, what: string): string => {
      if (!v) throw new CliError(`${what} is required: wagate campaign ${action} <campaign id>.`, 2);
      return v;
    };
    const print = (v: unknown) => io.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
    const json = (v: string | undefined, flag: string, example: string): unknown => {
      if (v === undefined) return undefined;
      try {
        return JSON.parse(v);
      } catch {
        throw new CliError(`${flag} must be JSON, e.g. '${example}'.`, 2);
      }
    };

    switch (action) {
      case 'create': {
        if (!o.name || !o.template)
          throw new CliError('create needs --name and --template (and --recipients <file> or --filter <json>).', 2);
        const options = json(o.options, '--options', '{"local_time":"10:00","rate_mps":50}');
        const variables = json(o.variables, '--variables', '["Ana"]');
        if (o.recipients) {
          const file = o.recipients;
          try {
            statSync(file);
          } catch {
            throw new CliError(`--recipients ${file}: no such file.`, 2);
          }
          const q = new URLSearchParams({ name: o.name, template: o.template });
          if (o.language) q.set('language', o.language);
          if (o.sender) q.set('sender', o.sender);
          if (o.deliverAt) q.set('deliver_at', o.deliverAt);
          if (options !== undefined) q.set('options', JSON.stringify(options));
          if (variables !== undefined) q.set('variables', JSON.stringify(variables));
          if (file.endsWith('.json')) {
            // A JSON array (or {recipients: [...]}) goes as the JSON body.
            let parsed: unknown;
            try {
              parsed = JSON.parse(readFileSync(file, 'utf8'));
            } catch (err) {
              throw new CliError(
                `--recipients ${file}: not valid JSON (${(err as Error).message}); give a JSON list, or a .csv / .jsonl file.`,
                2,
              );
            }
            const recipients = Array.isArray(parsed) ? parsed : (parsed as { recipients?: unknown }).recipients;
            const r = await api('POST', '/v1/campaigns', {
              name: o.name,
              template: { name: o.template, language: o.language },
              sender: o.sender,
              deliver_at: o.deliverAt,
              audience: { recipients },
              variables,
              options,
            });
            print(r);
            return 0;
          }
          const type = file.endsWith('.csv') ? 'text/csv' : 'application/x-ndjson';
          const stream = Readable.toWeb(createReadStream(file)) as unknown as ReadableStream;
          print(await api('POST', `/v1/campaigns?${q}`, stream, type));
          return 0;
        }
        let filter: unknown = {};
        if (o.filter) {
          try {
            filter = JSON.parse(o.filter);
          } catch {
            throw new CliError('--filter must be JSON, e.g. \'{"tags":["vip"],"country":["IN"]}\'.', 2);
          }
        }
        print(
          await api('POST', '/v1/campaigns', {
            name: o.name,
            template: { name: o.template, language: o.language },
            sender: o.sender,
            deliver_at: o.deliverAt,
            audience: { filter },
            variables,
            options,
          }),
        );
        return 0;
      }
      case 'preview':
        print(await api('POST', `/v1/campaigns/${encodeURIComponent(need(id, 'the campaign id'))}/preview`));
        return 0;
      case 'start':
      case 'resume':
        print(await api('POST', `/v1/campaigns/${encodeURIComponent(need(id, 'the campaign id'))}/${action}`));
        return 0;
      case 'pause':
      case 'cancel':
        print(
          await api(
            'POST',
            `/v1/campaigns/${encodeURIComponent(need(id, 'the campaign id'))}/${action}`,
            o.reason ? { reason: o.reason } : {},
          ),
        );
        return 0;
      case 'status': {
        if (!id) {
          const r = await api('GET', '/v1/campaigns');
          for (const c of r.campaigns ?? []) io.stdout.write(`${c.id}  ${c.status.padEnd(9)}  ${progressLine(c)}  ${c.name}\n`);
          return 0;
        }
        const path = `/v1/campaigns/${encodeURIComponent(id)}`;
        if (!o.watch) {
          const c = await api('GET', path);
          if (o.json) print(c);
          else io.stdout.write(`${c.status}  ${progressLine(c)}\n`);
          return 0;
        }
        const every = Math.max(200, Number(o.interval ?? 1000));
        const tty = io.stdout.isTTY === true;
        for (;;) {
          const c = await api('GET', path);
          const line = `${bar(c)}  ${c.status}  ${progressLine(c)}`;
          io.stdout.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
          const settled = c.terminal && c.counts.queued === 0 && c.counts.sent === 0;
          if (settled || c.status === 'paused' || c.status === 'draft') {
            if (tty) io.stdout.write('\n');
            if (c.status_reason) io.stdout.write(`${c.status_reason}\n`);
            return 0;
          }
          await io.sleep(every);
        }
      }
      default:
        throw new CliError(`unknown action "${action ?? ''}": use create, preview, start, pause, resume, cancel or status.`, 2);
    }
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr.write(`wagate campaign: ${err.message}\n`);
      return err.code;
    }
    throw err;
  }
}

interface ViewLike {
  counts: Record<string, number>;
  progress: { percent: number; rate_mps: number | null; eta_s: number | null };
  waiting_until?: string | null;
}

/** sent / delivered / read / failed / denied, rate and ETA, in one line. */
export function progressLine(c: ViewLike): string {
  const n = c.counts;
  const parts = [
    `sent ${n.sent + n.delivered + n.read}/${n.total}`,
    `delivered ${n.delivered + n.read}`,
    `read ${n.read}`,
    `failed ${n.failed}`,
    `denied ${n.denied}`,
    `pending ${n.pending}`,
  ];
  if (c.progress.rate_mps !== null) parts.push(`${c.progress.rate_mps}/s`);
  if (c.progress.eta_s !== null && n.pending > 0) parts.push(`ETA ${fmtDuration(c.progress.eta_s)}`);
  if (c.waiting_until) parts.push(`waiting until ${c.waiting_until}`);
  return parts.join(' · ');
}

export function bar(c: ViewLike, width = 30): string {
  const filled = Math.max(0, Math.min(width, Math.round((c.progress.percent / 100) * width)));
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(c.progress.percent)).padStart(3)}%`;
}

function fmtDuration(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
