// wagate ids: sortable by creation time (48-bit ms timestamp + 80 random bits, Crockford base32, like a
// ULID), prefixed by kind ("msg_", "dl_", "al_"). Stable for life; also carried in biz_opaque_callback_data.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function newId(prefix: string, now = Date.now()): string {
  let ts = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    ts = ALPHABET[t % 32] + ts;
    t = Math.floor(t / 32);
  }
  // 80 random bits = 16 base32 characters, read 5 bits at a time.
  const rnd = randomBytes(10);
  let r = '';
  let acc = 0;
  let bits = 0;
  for (const byte of rnd) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      r += ALPHABET[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return `${prefix}_${ts}${r}`;
}
