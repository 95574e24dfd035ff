// Media as Cloud API serves it (§1.3 "Media by link vs ID"): POST /{pnid}/media (multipart upload)
// → {id}; GET /{media_id} → {url, mime_type, sha256, file_size, id}; the URL downloads the bytes with
// the bearer token and expires after 5 minutes; DELETE /{media_id}. Inbound media ids resolve too.
import { createHash, randomBytes } from 'node:crypto';

export interface MediaItem {
  id: string;
  mime_type: string;
  bytes: Buffer;
  sha256: string;
  phone_number_id: string;
}

const URL_TTL_MS = 5 * 60_000;
export const MAX_MEDIA_BYTES = 16 * 1024 * 1024;

export class MediaStore {
  items = new Map<string, MediaItem>();
  /** Download tickets: url key → media id and expiry. */
  private tickets = new Map<string, { id: string; until: number }>();
  private seq = 0;

  add(pnid: string, mime: string, bytes: Buffer, id?: string): MediaItem {
    const mediaId = id ?? String(2_000_000_000_000_000 + ++this.seq * 104_729 + Math.floor(Math.random() * 1000));
    const item: MediaItem = {
      id: mediaId,
      mime_type: mime,
      bytes,
      sha256: createHash('sha256').update(bytes).digest('base64'),
      phone_number_id: pnid,
    };
    this.items.set(mediaId, item);
    return item;
  }

  /** The JSON of GET /{media_id}, with a fresh 5-minute download URL. */
  describe(item: MediaItem, baseUrl: string, now: number): Record<string, unknown> {
    const key = randomBytes(12).toString('hex');
    this.tickets.set(key, { id: item.id, until: now + URL_TTL_MS });
    if (this.tickets.size > 10_000) for (const [k, t] of this.tickets) if (t.until < now) this.tickets.delete(k);
    return {
      messaging_product: 'whatsapp',
      url: `${baseUrl}/_sandbox/media/${item.id}?ticket=${key}`,
      mime_type: item.mime_type,
      sha256: item.sha256,
      file_size: item.bytes.length,
      id: item.id,
    };
  }

  /** Resolves a download: the media, or why not (unknown, expired). */
  download(id: string, ticket: string | null, now: number): MediaItem | 'unknown' | 'expired' {
    const item = this.items.get(id);
    if (!item) return 'unknown';
    const t = ticket ? this.tickets.get(ticket) : undefined;
    if (!t || t.id !== id || t.until < now) return 'expired';
    return item;
  }

  clear(): void {
    this.items.clear();
    this.tickets.clear();
  }
}

/** The parts of a multipart/form-data body: name → {filename?, type?, data}. */
export function parseMultipart(body: Buffer, contentType: string): Map<string, { filename?: string; type?: string; data: Buffer }> | null {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!m) return null;
  const boundary = Buffer.from(`--${m[1] ?? m[2]}`);
  const out = new Map<string, { filename?: string; type?: string; data: Buffer }>();
  let pos = body.indexOf(boundary);
  while (pos !== -1) {
    const start = pos + boundary.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headEnd = body.indexOf('\r\n\r\n', start);
    if (headEnd === -1) return null;
    const head = body.subarray(start, headEnd).toString('utf8');
    const next = body.indexOf(boundary, headEnd + 4);
    if (next === -1) return null;
    const data = body.subarray(headEnd + 4, next - 2); // minus the CRLF before the boundary
    const name = /name="([^"]*)"/i.exec(head)?.[1];
    if (name !== undefined)
      out.set(name, { filename: /filename="([^"]*)"/i.exec(head)?.[1], type: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1]?.trim(), data });
    pos = next;
  }
  return out;
}
