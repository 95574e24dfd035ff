// options.local_time: each recipient gets the campaign at that wall-clock time in their own zone (the
// customer's stored time zone, else the zone of their number's country). On a real embedded wagate whose clock the test moves forward: the
// recipients of two zones are held until their own local time, waiting_until says when the next ones
// are due, and each zone is sent (once) only when its time comes.
import { afterEach, describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { waitFor } from '../delivery/harness.ts';
import { lostAndDuplicates, phone, sendsByRecipient, startCampaignHarness, type CampaignHarness } from './helpers.ts';

let h: CampaignHarness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const ZONES = { IN: 'Asia/Kolkata', GB: 'Europe/London' } as const;
const india = Array.from({ length: 3 }, (_, i) => phone(800 + i));
// Two UK numbers and an Indian number whose customer lives in London (its time_zone is stored):
// the customer's own zone wins over the number's country, as it does for quiet hours.
const traveller = phone(850);
const uk = [...Array.from({ length: 2 }, (_, i) => `4474001234${String(60 + i)}`), traveller];

/** A daytime hour that is not the current hour (nor the next, so the test has time) in either zone. */
function targetHour(now: number): number {
  for (const hour of [10, 12, 14, 16]) {
    const busy = Object.values(ZONES).some((z) => {
      const cur = DateTime.fromMillis(now, { zone: z }).hour;
      return cur === hour || cur === hour - 1;
    });
    if (!busy) return hour;
  }
  throw new Error('no free hour'); // unreachable: the two zones are 5.5 h apart
}

/** The next time it is hour:00 in zone after now. */
function nextLocal(now: number, zone: string, hour: number): number {
  const d = DateTime.fromMillis(now, { zone });
  let t = d.set({ hour, minute: 0, second: 0, millisecond: 0 });
  if (t.toMillis() <= now) t = t.plus({ days: 1 });
  return t.toMillis();
}

describe('options.local_time', () => {
  it('sends each recipient at that local time in their own zone and says in waiting_until when the next ones are due', async () => {
    h = await startCampaignHarness({ mps: 80 });
    const ctx = h.app.ctx;
    const hour = targetHour(ctx.now());
    const local_time = `${String(hour).padStart(2, '0')}:00`;
    expect((await h.api('PUT', `/v1/customers/${traveller}`, { time_zone: ZONES.GB })).status).toBe(200);
    const recipients = [...india, ...uk].map((p, i) => ({ to: `+${p}`, variables: [`N${i}`] }));
    const created = await h.api('POST', '/v1/campaigns', {
      name: 'local time',
      template: { name: 'spring_sale', language: 'en_US' },
      audience: { recipients },
      options: { local_time },
    });
    expect(created.status).toBe(201);
    expect(created.json.options.local_time).toBe(local_time);
    const id = created.json.id as string;
    const at = { IN: nextLocal(ctx.now(), ZONES.IN, hour), GB: nextLocal(ctx.now(), ZONES.GB, hour) };
    const [first, second] = at.IN < at.GB ? (['IN', 'GB'] as const) : (['GB', 'IN'] as const);
    const group = { IN: india, GB: uk };

    expect((await h.api('POST', `/v1/campaigns/${id}/start`)).status).toBe(200);
    const held = await waitFor('every recipient held for its local time', async () => {
      const r = await h!.api('GET', `/v1/campaigns/${id}/recipients`);
      return r.json.recipients.every((x: { not_before: string | null }) => x.not_before) ? r.json.recipients : null;
    });
    for (const x of held as { recipient: string; state: string; not_before: string }[]) {
      expect(x.state).toBe('pending');
      const zone = india.includes(x.recipient) ? 'IN' : 'GB';
      // The local minute is the target's; the seconds are those of the moment it was deferred.
      expect(Math.abs(Date.parse(x.not_before) - at[zone])).toBeLessThan(60_000);
      expect(DateTime.fromISO(x.not_before, { zone: ZONES[zone] }).toFormat('HH:mm')).toBe(local_time);
    }
    const waiting = await waitFor('waiting_until set', async () => {
      const r = await h!.api('GET', `/v1/campaigns/${id}`);
      return r.json.waiting_until ? r.json : null;
    });
    expect(waiting.status).toBe('running');
    expect(Math.abs(Date.parse(waiting.waiting_until) - at[first])).toBeLessThan(60_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(await h.ledger()).toHaveLength(0); // nobody's local time yet

    // The first zone's time comes: its recipients only; waiting_until moves to the second zone's.
    h.advance(at[first] - ctx.now() + 60_000);
    await waitFor(`${first} sent`, async () => (await h!.ledger()).length === 3);
    const next = await waitFor('waiting_until moved on', async () => {
      const r = await h!.api('GET', `/v1/campaigns/${id}`);
      return r.json.waiting_until && Math.abs(Date.parse(r.json.waiting_until) - at[second]) < 60_000 ? r.json : null;
    });
    expect(next.status).toBe('running');
    expect(next.counts.pending).toBe(3);
    const byTo = sendsByRecipient(await h.ledger());
    for (const p of group[first]) expect(byTo.get(p)).toBe(1);
    for (const p of group[second]) expect(byTo.get(p)).toBeUndefined();

    h.advance(at[second] - ctx.now() + 60_000);
    const done = await waitFor(
      'completed',
      async () => {
        const r = await h!.api('GET', `/v1/campaigns/${id}`);
        return r.json.status === 'completed' && r.json.counts.queued === 0 && r.json.counts.sent === 0 ? r.json : null;
      },
      20_000,
    );
    expect(done.waiting_until).toBeNull();
    expect(lostAndDuplicates([...india, ...uk], await h.ledger())).toEqual({ lost: 0, duplicates: 0 });
  });

  it('preview judges each recipient at its local send time: quiet hours now do not deny what goes out at 10:00 there', async () => {
    const nowIst = DateTime.now().setZone(ZONES.IN);
    h = await startCampaignHarness({
      workers: false,
      policies: {
        quiet_hours: [
          {
            start: nowIst.minus({ hours: 1 }).toFormat('HH:mm'),
            end: nowIst.plus({ hours: 2 }).toFormat('HH:mm'),
            categories: ['marketing'],
            senders: ['*'],
            time_zone: ZONES.IN,
          },
        ],
      },
    });
    const body = (options: Record<string, unknown>) => ({
      name: 'preview',
      template: { name: 'spring_sale', language: 'en_US' },
      audience: { recipients: india.map((p) => ({ to: `+${p}`, variables: ['A'] })) },
      options,
    });
    const now = await h.api('POST', '/v1/campaigns', body({}));
    expect((await h.api('POST', `/v1/campaigns/${now.json.id}/preview`)).json).toMatchObject({
      allowed: 0,
      denied: { POLICY_QUIET_HOURS: 3 },
    });
    // Five hours from now in India is outside the quiet hours (they end in two).
    const later = nowIst.plus({ hours: 5 }).toFormat('HH:00');
    const local = await h.api('POST', '/v1/campaigns', body({ local_time: later }));
    const p = (await h.api('POST', `/v1/campaigns/${local.json.id}/preview`)).json;
    expect(p).toMatchObject({ allowed: 3, denied: {}, local_time: { time: later } });
    // When they go out, and so how long it takes: until the local time comes.
    const sendAt = Date.parse(p.local_time.last_send_at);
    expect(DateTime.fromMillis(sendAt, { zone: ZONES.IN }).toFormat('HH:mm')).toBe(later);
    expect(p.local_time.first_send_at).toBe(p.local_time.last_send_at); // one zone
    expect(Math.abs(p.eta_s - (sendAt - h.app.ctx.now()) / 1000)).toBeLessThan(60);
    expect(p.eta_s).toBeGreaterThan(3 * 3600);
  });

  it('refuses a local_time that is not HH:MM, with the field and an example', async () => {
    h = await startCampaignHarness({ workers: false });
    for (const bad of ['10am', '24:00', '9:00', 10]) {
      const r = await h.api('POST', '/v1/campaigns', {
        name: 'x',
        template: { name: 'spring_sale' },
        audience: { recipients: [{ to: `+${phone(1)}`, variables: ['A'] }] },
        options: { local_time: bad },
      });
      expect(r.status).toBe(400);
      expect(r.json.error).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'options.local_time' } });
      expect(r.json.error.fix).toMatch(/10:00/);
    }
  });
});
