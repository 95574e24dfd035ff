// wagate ids: sortable by creation time (48-bit ms timestamp + 80 random bits, Crockford base32, like a
// ULID), prefixed by kind ("msg_", "dl_", "al_"). Stable for life; also carried in biz_opaque_callback_data.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Random bytes drawn 4 KiB at a time (one getrandom call per ~400 ids instead of one per id, as
 * crypto.randomUUID caches its entropy); each id still takes 10 bytes no other id gets. */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolAt = 0;

export function newId(prefix: string, now = Date.now()): string {
  let ts = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    ts = ALPHABET[t % 32] + ts;
    t = Math.floor(t / 32);
  }
  // 80 random bits = 16 base32 characters, read 5 bits at a time.
  if (poolAt + 10 > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolAt = 0;
  }
  let r = '';
  let acc = 0;
  let bits = 0;
  for (let k = poolAt, end = poolAt + 10; k < end; k++) {
    const byte = pool[k];
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      r += ALPHABET[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  poolAt += 10;
  return `${prefix}_${ts}${r}`;
}
