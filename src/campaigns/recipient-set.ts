// The set of recipients an audience upload has seen, to refuse a second row for one recipient. An
// upload holds up to 1,000,000 of them: a Set of strings costs ~60 bytes each plus its rehash copies
// (a 1M-row upload grew the process by 270 MB at its peak, 117 MB of it this set). A phone number is
// at most 15 digits (E.164) and never starts with 0, so it is kept as a double in an open-addressed
// table, 16 bytes a number at the worst load; anything else (business-scoped user ids) in a plain Set.

const EMPTY = 0; // no E.164 number is 0
const MAX_DIGITS = 15; // E.164; and below 2^53, so the double is exact

export class RecipientSet {
  private table = new Float64Array(1024);
  private count = 0;
  private readonly others = new Set<string>();

  get size(): number {
    return this.count + this.others.size;
  }

  has(recipient: string): boolean {
    const n = asNumber(recipient);
    if (n === null) return this.others.has(recipient);
    return this.table[this.slot(this.table, n)] === n;
  }

  /** Adds the recipient; false when it was already there. */
  add(recipient: string): boolean {
    const n = asNumber(recipient);
    if (n === null) {
      if (this.others.has(recipient)) return false;
      this.others.add(recipient);
      return true;
    }
    const i = this.slot(this.table, n);
    if (this.table[i] === n) return false;
    this.table[i] = n;
    if (++this.count * 2 > this.table.length) this.grow();
    return true;
  }

  /** The slot holding n, or the empty one where it would go (linear probing). */
  private slot(table: Float64Array, n: number): number {
    const mask = table.length - 1;
    // Fibonacci hashing of both halves of the number: the top bits of the product (the numbers of one
    // list are close together, and their low bits alone would fill neighbouring slots).
    const h = Math.imul((n % 0x1_0000_0000) ^ Math.floor(n / 0x1_0000_0000), 0x9e37_79b1);
    let i = (h >>> (Math.clz32(table.length) + 1)) & mask; // the top log2(length) bits
    while (table[i] !== EMPTY && table[i] !== n) i = (i + 1) & mask;
    return i;
  }

  private grow(): void {
    const old = this.table;
    const next = new Float64Array(old.length * 2);
    for (const n of old) if (n !== EMPTY) next[this.slot(next, n)] = n;
    this.table = next;
  }
}

/** The recipient as a number when it is a phone number's digits, else null. */
function asNumber(recipient: string): number | null {
  const len = recipient.length;
  if (len === 0 || len > MAX_DIGITS) return null;
  const first = recipient.charCodeAt(0);
  if (first < 49 || first > 57) return null; // 1-9: a leading 0 would fold "0123" into "123"
  for (let k = 1; k < len; k++) {
    const c = recipient.charCodeAt(k);
    if (c < 48 || c > 57) return null;
  }
  return Number(recipient);
}
