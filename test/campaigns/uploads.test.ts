// Audience uploads through the faces: CSV and JSON lines streamed over HTTP (and a JSON-lines file
// through `wagate campaign create`), each invalid row reported by its row number with the reason while
// every valid row is stored and, once started, sent exactly once (counted on the sandbox ledger).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/campaign.ts';
import { waitFor } from '../delivery/harness.ts';
import { cliIo, lostAndDuplicates, phone, startCampaignHarness, type CampaignHarness } from './helpers.ts';

let h: CampaignHarness;
let dir: string;
beforeAll(async () => {
  h = await startCampaignHarness({ mps: 200 });
  dir = mkdtempSync(join(tmpdir(), 'wagate-upload-'));
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function upload(type: string, query: Record<string, string>, body: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${h.base}/v1/campaigns?${new URLSearchParams(query)}`, {
    method: 'POST',
    headers: { 'content-type': type },
    body,
  });
  return { status: res.status, json: await res.json() };
}

const completed = (id: string) =>
  waitFor(
    'completed, nothing in flight',
    async () => {
      const r = await h.api('GET', `/v1/campaigns/${id}`);
      return r.json.status === 'completed' && r.json.counts.queued === 0 && r.json.counts.sent === 0 ? r.json : null;
    },
    20_000,
  );

/** The stored recipients of a campaign: recipient → variables. */
async function stored(id: string): Promise<Map<string, unknown>> {
  const rows = await h.campaigns.store.listRecipients(id, { limit: 1000, outcome: false });
  return new Map(rows.map((r) => [r.recipient, r.variables]));
}

describe('audience uploads over HTTP', () => {
  it('GET /v1/campaigns/:id/invalid-rows pages through the 1,000 invalid rows kept (the view shows 100) and says when more were refused', async () => {
    const lines = ['to,1', `+${phone(9000)},Ana`];
    for (let i = 0; i < 1200; i++) lines.push(`not-a-phone-${i},X`);
    const r = await upload('text/csv', { name: 'many bad rows', template: 'spring_sale', language: 'en_US' }, lines.join('\n'));
    expect(r.status, JSON.stringify(r.json).slice(0, 300)).toBe(201);
    expect(r.json.audience.invalid_count).toBe(1200);
    expect(r.json.audience.invalid).toHaveLength(100);
    const id = r.json.id as string;
    const seen: number[] = [];
    let offset: number | null = 0;
    let first: any = null;
    while (offset !== null) {
      const page = await h.api('GET', `/v1/campaigns/${id}/invalid-rows?limit=300&offset=${offset}`);
      expect(page.status).toBe(200);
      first ??= page.json;
      seen.push(...page.json.rows.map((x: { index: number }) => x.index));
      offset = page.json.next_offset;
    }
    expect(first).toMatchObject({ campaign_id: id, invalid_count: 1200, kept: 1000 });
    expect(first.note).toMatch(/first 1000 of 1200/);
    expect(first.rows[0]).toMatchObject({ index: 2, reason: expect.stringMatching(/^to: /) }); // data row 2: the first bad one
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i + 2));
    const bad = await h.api('GET', `/v1/campaigns/${id}/invalid-rows?limit=0`);
    expect(bad.status).toBe(400);
    expect((await h.api('GET', '/v1/campaigns/cmp_nope/invalid-rows')).status).toBe(404);
  });

  it('CSV: variable columns in any order, a "phone" column, invalid rows by data-row number with the reason, the rest stored and sent once', async () => {
    const good = Array.from({ length: 6 }, (_, i) => phone(700 + i));
    const lines = [
      'phone,2,1',
      `+${good[0]},A-0,Ana`,
      `+${good[1]},A-1,Bo`,
      'not-a-number,A-2,Cy', // row 3: not a phone
      `+${good[2]},A-3,Di`,
      `+${good[3]},,Ed`, // row 5: {{2}} empty
      `+${good[0]},A-9,Ana again`, // row 6: duplicate of row 1
      `+${good[4]},A-4,Fa`,
      `+${good[5]},A-5,"Gus, Jr."`,
    ];
    const r = await upload('text/csv', { name: 'csv upload', template: 'order_update', language: 'en_US' }, `${lines.join('\n')}\n`);
    expect(r.status).toBe(201);
    expect(r.json.status).toBe('draft');
    expect(r.json.template.category).toBe('utility');
    expect(r.json.counts.total).toBe(5);
    expect(r.json.audience.invalid_count).toBe(3);
    expect(r.json.audience.invalid.map((x: { index: number }) => x.index)).toEqual([3, 5, 6]);
    const [notPhone, emptyVar, dup] = r.json.audience.invalid.map((x: { reason: string }) => x.reason);
    expect(notPhone).toMatch(/^to: /);
    expect(emptyVar).toMatch(/variables do not fit template "order_update"/);
    expect(dup).toMatch(/duplicate/);
    const rows = await stored(r.json.id);
    expect([...rows.keys()].sort()).toEqual([good[0], good[1], good[2], good[4], good[5]].sort());
    // Columns "2","1" are positional: {{1}} is the name, {{2}} the order; a quoted comma stays in its field.
    expect(rows.get(good[0])).toEqual(['Ana', 'A-0']);
    expect(rows.get(good[5])).toEqual(['Gus, Jr.', 'A-5']);

    expect((await h.api('POST', `/v1/campaigns/${r.json.id}/start`)).status).toBe(200);
    const done = await completed(r.json.id);
    expect(done.counts.delivered + done.counts.read).toBe(5);
    expect(lostAndDuplicates([good[0], good[1], good[2], good[4], good[5]], await h.ledger())).toEqual({ lost: 0, duplicates: 0 });
    const sends = (await h.ledger()).filter((s) => s.to === good[3]);
    expect(sends).toHaveLength(0); // the invalid row was never sent
  });

  it('CSV: an unreadable record (a stray quote) is reported at its own data row, in file order, and the records around it are kept', async () => {
    const good = Array.from({ length: 4 }, (_, i) => phone(780 + i));
    const lines = [
      'to,1',
      `+${good[0]},Ana`,
      `+${phone(790)},B"o`, // row 2: a quote inside a field
      '',
      `+${good[1]},Cy`,
      `+${good[2]},"two`,
      `lines"`, // row 4 spans two lines: one record
      `x"y,Di`, // row 5
      `+${good[3]},Ed`,
    ];
    const r = await upload('text/csv', { name: 'stray quotes', template: 'spring_sale' }, `${lines.join('\n')}\n`);
    expect(r.status).toBe(201);
    expect(r.json.counts.total).toBe(4);
    expect(r.json.audience.invalid).toEqual([
      { index: 2, reason: expect.stringMatching(/^unreadable CSV: .*quote/i) },
      { index: 5, reason: expect.stringMatching(/^unreadable CSV: .*quote/i) },
    ]);
    const rows = await stored(r.json.id);
    expect([...rows.keys()].sort()).toEqual([...good].sort());
    expect(rows.get(good[2])).toEqual(['two\nlines']);
  });

  it('JSON lines: each line one row, invalid lines by line number (bad JSON, not an object, empty, bad phone, wrong variables), the rest stored', async () => {
    const good = Array.from({ length: 4 }, (_, i) => phone(720 + i));
    const lines = [
      JSON.stringify({ to: `+${good[0]}`, variables: ['Ana'] }),
      '{"to": "+9197', // line 2: cut short
      JSON.stringify({ to: `+${good[1]}`, variables: { 1: 'Bo' } }),
      '["+919700000001"]', // line 4: an array, not an object
      '', // line 5: empty
      JSON.stringify({ to: '12' }), // line 6: not a phone
      JSON.stringify({ recipient: `+${good[2]}`, variables: '["Cy"]' }), // phone in "recipient", variables as JSON text
      JSON.stringify({ to: `+${good[3]}`, variables: ['a', 'b', 'c'] }), // line 8: three values for one parameter
      JSON.stringify({ to: `+${good[3]}`, variables: ['Di'] }),
    ];
    for (const type of ['application/x-ndjson', 'application/jsonl']) {
      const r = await upload(type, { name: `jsonl ${type}`, template: 'spring_sale', language: 'en_US' }, `${lines.join('\n')}\n`);
      expect(r.status).toBe(201);
      expect(r.json.counts.total).toBe(4);
      expect(r.json.audience.invalid_count).toBe(5);
      const invalid = r.json.audience.invalid as { index: number; reason: string }[];
      expect(invalid.map((x) => x.index)).toEqual([2, 4, 5, 6, 8]);
      expect(invalid[0].reason).toMatch(/not valid JSON/);
      expect(invalid[1].reason).toMatch(/not an object/);
      expect(invalid[2].reason).toMatch(/empty line/);
      expect(invalid[3].reason).toMatch(/^to: /);
      expect(invalid[4].reason).toMatch(/variables do not fit template "spring_sale"/);
      const rows = await stored(r.json.id);
      expect([...rows.keys()].sort()).toEqual([...good].sort());
      expect(rows.get(good[2])).toEqual(['Cy']);
      expect(rows.get(good[3])).toEqual(['Di']);
    }
  });

  it('an upload takes options and default variables as JSON in the query string', async () => {
    const good = [phone(760), phone(761)];
    const body = `${[JSON.stringify({ to: `+${good[0]}` }), JSON.stringify({ to: `+${good[1]}`, variables: ['Own'] })].join('\n')}\n`;
    const r = await upload(
      'application/x-ndjson',
      {
        name: 'with options',
        template: 'spring_sale',
        variables: JSON.stringify(['Everyone']),
        options: JSON.stringify({ local_time: '10:00', rate_mps: 7, max_failure_rate: 0.1 }),
      },
      body,
    );
    expect(r.status).toBe(201);
    expect(r.json.options).toEqual({ local_time: '10:00', rate_mps: 7, max_failure_rate: 0.1 });
    expect(r.json.audience.invalid_count).toBe(0);
    const rows = await stored(r.json.id);
    expect(rows.get(good[0])).toEqual(['Everyone']);
    expect(rows.get(good[1])).toEqual(['Own']);
    const badJson = await upload('application/x-ndjson', { name: 'x', template: 'spring_sale', options: '{local_time:' }, body);
    expect(badJson.status).toBe(400);
    expect(badJson.json.error).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'options' } });
    const badOption = await upload('application/x-ndjson', { name: 'x', template: 'spring_sale', options: '{"local_time":"noon"}' }, body);
    expect(badOption.json.error).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'options.local_time' } });
    const badVars = await upload('application/x-ndjson', { name: 'x', template: 'spring_sale', variables: '[1,' }, body);
    expect(badVars.json.error).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'variables' } });
  });

  it('an upload with bad query parameters, an unknown template or no readable header is refused with the field and the fix, never a 500', async () => {
    const noName = await upload('application/x-ndjson', { template: 'spring_sale' }, '{"to": "+919700000001"}\n');
    expect(noName.status).toBe(400);
    expect(JSON.stringify(noName.json.error)).toMatch(/name/);
    const unknown = await upload('application/x-ndjson', { name: 'x', template: 'nope' }, '{"to": "+919700000001"}\n');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('TEMPLATE_NOT_FOUND');
    const extra = await upload('text/csv', { name: 'x', template: 'spring_sale', colour: 'red' }, 'to,1\n+919700000001,A\n');
    expect(extra.status).toBe(400);
    expect(extra.json.error.code).toBe('INVALID_REQUEST');
    const noRecipientColumn = await upload('text/csv', { name: 'x', template: 'spring_sale' }, 'name,1\nAna,A\n');
    expect(noRecipientColumn.status).toBe(201);
    expect(noRecipientColumn.json.counts.total).toBe(0);
    expect(noRecipientColumn.json.audience.invalid[0]).toMatchObject({ index: 1, reason: expect.stringMatching(/no recipient/) });
  });
});

describe('an upload cut short', () => {
  it('a client gone mid-upload leaves no draft that looks finished: the campaign is cancelled with the reason, the rows read are not sent', async () => {
    const u = new URL(`${h.base}/v1/campaigns?${new URLSearchParams({ name: 'cut short', template: 'spring_sale' })}`);
    const req = request({
      host: u.hostname,
      port: u.port,
      path: `${u.pathname}${u.search}`,
      method: 'POST',
      headers: { 'content-type': 'text/csv', 'content-length': '1000000' },
    });
    req.on('error', () => {}); // we end it ourselves
    let head = 'to,1\n';
    for (let i = 0; i < 2000; i++) head += `+${phone(5000 + i)},N${i}\n`;
    req.write(head);
    await new Promise((r) => setTimeout(r, 300));
    req.destroy(); // 40 KB of the 1,000,000 announced
    const c = await waitFor(
      'the campaign cancelled',
      async () => (await h.campaigns.store.listCampaigns()).find((x) => x.name === 'cut short' && x.status === 'cancelled') ?? null,
      10_000,
    );
    expect(c.status_reason).toMatch(/audience not stored whole: .*could not be read to its end/);
    expect((await h.campaigns.store.listCampaigns()).filter((x) => x.name === 'cut short' && x.status === 'draft')).toEqual([]);
    const left = await h.campaigns.store.listRecipients(c.id, { state: ['pending', 'claimed'], limit: 1000, outcome: false });
    expect(left).toEqual([]);
  });
});

describe('wagate campaign create --recipients <file.jsonl>', () => {
  it('streams the file, reports the invalid lines and keeps the rest', async () => {
    const file = join(dir, 'audience.jsonl');
    const good = Array.from({ length: 3 }, (_, i) => phone(740 + i));
    writeFileSync(
      file,
      `${[
        JSON.stringify({ to: `+${good[0]}`, variables: ['A'] }),
        'nonsense',
        JSON.stringify({ to: `+${good[1]}`, variables: ['B'] }),
        JSON.stringify({ to: `+${good[2]}` }), // line 4: no value for {{1}}
        JSON.stringify({ to: `+${good[2]}`, variables: ['C'] }),
      ].join('\n')}\n`,
    );
    const o = cliIo();
    expect(await run({ url: h.base, name: 'cli jsonl', template: 'spring_sale', language: 'en_US', recipients: file }, ['create'], o)).toBe(
      0,
    );
    const c = JSON.parse(o.out);
    expect(c.counts.total).toBe(3);
    expect(c.audience.invalid.map((x: { index: number }) => x.index)).toEqual([2, 4]);
    expect(c.audience.invalid[1].reason).toMatch(/variables do not fit/);
    expect([...(await stored(c.id)).keys()].sort()).toEqual([...good].sort());
  });

  it('--variables and --options go with an upload, a .json list and a filter alike; bad JSON is exit 2 with an example', async () => {
    const file = join(dir, 'plain.jsonl');
    writeFileSync(file, `${JSON.stringify({ to: `+${phone(770)}` })}\n`);
    const opts = {
      url: h.base,
      name: 'flags',
      template: 'spring_sale',
      variables: '["Dee"]',
      options: '{"local_time":"09:30","rate_mps":3}',
    };
    const up = cliIo();
    expect(await run({ ...opts, recipients: file }, ['create'], up)).toBe(0);
    const a = JSON.parse(up.out);
    expect(a.options).toEqual({ local_time: '09:30', rate_mps: 3 });
    expect(a.counts.total).toBe(1); // {{1}} filled by --variables
    expect((await stored(a.id)).get(phone(770))).toEqual(['Dee']);

    const list = join(dir, 'list.json');
    writeFileSync(list, JSON.stringify([{ to: `+${phone(771)}` }]));
    const js = cliIo();
    expect(await run({ ...opts, recipients: list }, ['create'], js)).toBe(0);
    expect(JSON.parse(js.out)).toMatchObject({ options: { local_time: '09:30' }, counts: { total: 1 } });

    await h.app.ctx.store.upsertCustomer(phone(772), { tags: ['flagged'] }, h.app.ctx.now());
    const f = cliIo();
    expect(await run({ ...opts, filter: '{"tags":["flagged"]}' }, ['create'], f)).toBe(0);
    expect(JSON.parse(f.out)).toMatchObject({ options: { rate_mps: 3 }, counts: { total: 1 }, audience: { invalid_count: 0 } });

    for (const bad of [{ options: '{rate' }, { variables: '[' }]) {
      const e = cliIo();
      expect(await run({ ...opts, ...bad, recipients: file }, ['create'], e)).toBe(2);
      expect(e.err).toMatch(/must be JSON, e\.g\./);
    }
    writeFileSync(list, '[{"to":');
    const e = cliIo();
    expect(await run({ ...opts, recipients: list }, ['create'], e)).toBe(2);
    expect(e.err).toMatch(/list\.json: not valid JSON/);
  });
});
