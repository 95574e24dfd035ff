// audienceRows (src/campaigns/service.ts) on its own: the CSV reader hands the parser its input in
// small byte slices, so a file much larger than one slice must come out whole, in order, with each
// row's number, whatever the chunks it arrived in.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { audienceRows } from '../../src/campaigns/service.ts';

const ROWS = 3000; // ~100 KB: several of the reader's 16 KB slices
const name = (i: number) => `Zoë 😀 ${i} ✓`; // multi-byte characters land on slice boundaries

function csv(): string {
  let text = 'to,first_name\n';
  for (let i = 0; i < ROWS; i++) {
    text += i === 1500 ? `+9198"0000,broken\n` : `+91980${String(i).padStart(7, '0')},${name(i)}\n`; // one unreadable record (a stray quote)
  }
  return text;
}

async function read(input: Readable) {
  const out: { to?: string; variables?: unknown; __row: number; __invalid?: string }[] = [];
  for await (const r of audienceRows(input, 'csv')) out.push(r as (typeof out)[number]);
  return out;
}

function expectWhole(rows: Awaited<ReturnType<typeof read>>) {
  expect(rows).toHaveLength(ROWS);
  rows.forEach((r, i) => {
    expect(r.__row).toBe(i + 1);
    if (i === 1500) expect(r.__invalid).toMatch(/^unreadable CSV: .*quote/i);
    else expect(r).toMatchObject({ to: `+91980${String(i).padStart(7, '0')}`, variables: { first_name: name(i) } });
  });
}

describe('audienceRows: a CSV larger than the parser is given at once', () => {
  it('string chunks of odd sizes (cut inside surrogate pairs): every row whole, numbered, the unreadable one in its place', async () => {
    const text = csv();
    // Cut between the two halves of every 50th emoji, and in between at odd places.
    const cuts: number[] = [];
    for (let i = text.indexOf('\uD83D'), k = 0; i >= 0; i = text.indexOf('\uD83D', i + 1), k++)
      if (k % 50 === 0) cuts.push(i + 1, i + 1 + (k % 7919));
    const chunks: string[] = [];
    let at = 0;
    for (const c of [...new Set(cuts)].sort((a, b) => a - b)) {
      chunks.push(text.slice(at, c));
      at = c;
    }
    chunks.push(text.slice(at));
    expect(chunks.filter((c) => /[\uD800-\uDBFF]$/.test(c)).length).toBeGreaterThan(10);
    expectWhole(await read(Readable.from(chunks)));
  });

  it('one large buffer, and bytes cut inside multi-byte characters', async () => {
    const bytes = Buffer.from(csv());
    expectWhole(await read(Readable.from([bytes])));
    const pieces: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 40_001) pieces.push(bytes.subarray(i, i + 40_001));
    expectWhole(await read(Readable.from(pieces)));
  });
});

describe('audienceRows: an upload that stops before its end (the client went away)', () => {
  function cutShort(first: string): Readable {
    let sent = false;
    return new Readable({
      read() {
        if (sent) this.destroy(new Error('aborted'));
        else {
          sent = true;
          this.push(first);
        }
      },
    });
  }

  for (const [format, first] of [
    ['csv', 'to,1\n+919800000001,Ana\n+919800000002,Bo\n'],
    ['jsonl', '{"to":"+919800000001"}\n{"to":"+919800000002"}\n'],
  ] as const) {
    it(`${format}: the rows read so far come out, then a clear error, never a wait for an end that does not come`, async () => {
      const got: unknown[] = [];
      const err = await (async () => {
        for await (const r of audienceRows(cutShort(first), format)) got.push(r);
      })().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/could not be read to its end: aborted/) });
      expect(got.length).toBeLessThanOrEqual(2);
    });
  }
});
