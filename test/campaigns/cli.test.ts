// `wagate campaign …` against a running wagate over real HTTP: a streamed CSV upload (an invalid row
// reported by row number), preview, start, and status --watch's progress bar until the end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/campaign.ts';
import { cliIo, lostAndDuplicates, phone, startCampaignHarness, type CampaignHarness } from './helpers.ts';

let h: CampaignHarness;
let dir: string;
beforeAll(async () => {
  h = await startCampaignHarness({ mps: 80 });
  dir = mkdtempSync(join(tmpdir(), 'wagate-cli-'));
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

const io = () => cliIo();

describe('wagate campaign', () => {
  it('creates from a CSV upload, previews, starts and watches it to the end', async () => {
    const csv = join(dir, 'audience.csv');
    const lines = ['to,1', ...Array.from({ length: 15 }, (_, i) => `+${phone(500 + i)},N${i}`), 'nonsense,X', `+${phone(520)},`];
    writeFileSync(csv, `${lines.join('\n')}\n`);
    const c = io();
    expect(await run({ url: h.base, name: 'csv', template: 'spring_sale', language: 'en_US', recipients: csv }, ['create'], c)).toBe(0);
    const created = JSON.parse(c.out);
    expect(created.counts.total).toBe(15);
    // Row numbers count data rows from 1: "nonsense" is row 16; row 17 has no variable for {{1}}.
    expect(created.audience.invalid.map((r: { index: number }) => r.index)).toEqual([16, 17]);
    expect(created.audience.invalid[1].reason).toMatch(/variables do not fit/);

    const p = io();
    expect(await run({ url: h.base }, ['preview', created.id], p)).toBe(0);
    expect(JSON.parse(p.out)).toMatchObject({ total: 15, allowed: 15 });
    expect(await run({ url: h.base }, ['start', created.id], io())).toBe(0);
    const w = io();
    expect(await run({ url: h.base, watch: true, interval: '200' }, ['status', created.id], w)).toBe(0);
    const last = w.out.trim().split('\n').at(-1) ?? '';
    expect(last).toMatch(/^\[#{30}\] 100% {2}completed {2}sent 15\/15 · delivered \d+ · read \d+ · failed 0 · denied 0 · pending 0/);
    expect(
      lostAndDuplicates(
        Array.from({ length: 15 }, (_, i) => phone(500 + i)),
        await h.ledger(),
      ),
    ).toEqual({ lost: 0, duplicates: 0 });
  });

  it('says what is wrong and how to fix it: exit 1 for a refusal, 2 for bad input or no server', async () => {
    const a = io();
    expect(await run({ url: h.base }, ['pause', 'cmp_nope'], a)).toBe(1);
    expect(a.err).toMatch(/CAMPAIGN_NOT_FOUND: No campaign with id "cmp_nope"[\s\S]*fix: /);
    const b = io();
    expect(await run({ url: h.base }, ['explode'], b)).toBe(2);
    expect(b.err).toMatch(/unknown action "explode"/);
    const c = io();
    expect(await run({ url: 'http://127.0.0.1:9' }, ['status'], c)).toBe(2);
    expect(c.err).toMatch(/no wagate answers at http:\/\/127\.0\.0\.1:9/);
    const d = io();
    expect(await run({ url: h.base }, ['create'], d)).toBe(2);
    expect(d.err).toMatch(/--name and --template/);
  });
});
