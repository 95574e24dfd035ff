// wagate ids: sortable by creation time (48-bit ms timestamp + 80 random bits, Crockford base32),
// prefixed by kind ("msg_", "dl_", "al_"). Stable for life; also carried in biz_opaque_callback_data.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function newId(prefix: string, now = Date.now()): string {
  let ts = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    ts = ALPHABET[t % 32] + ts;
    t = Math.floor(t / 32);
  }
  const rnd = randomBytes(10);
  let r = '';
  for (let i = 0; i < 16; i++) r += ALPHABET[rnd[i % 10] >> (i < 10 ? 0 : 3) & 31];
  return `${prefix}_${ts}${r}`;
}
