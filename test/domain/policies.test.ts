import { describe, it, expect } from 'vitest';
import { loadConfig, ConfigError } from '../../src/config/load.ts';
import { PoliciesSchema, defaultPolicies } from '../../src/domain/policies.ts';
import {
  formatMinute,
  inDailyWindow,
  localMinuteOfDay,
  minutesUntil,
  parseHHMM,
  recipientZones,
  zonesOfCountry,
} from '../../src/domain/timezone.ts';

function problems(yaml: string) {
  try {
    loadConfig({ text: yaml, env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('policies: defaults and validation with file:line:col', () => {
  it('an empty config gives the documented defaults', () => {
    expect(defaultPolicies()).toEqual({
      marketing_cap_per_24h: 2,
      quiet_hours: [],
      exclude_tags: [],
      vip_tags: [],
      deny_categories: { by_sender: {}, by_country: {} },
      require_opt_in: [],
      block_us_marketing: true,
      undeliverable_hold_h: 168,
    });
    expect(loadConfig({ text: '', env: {} }).config.policies).toEqual(defaultPolicies());
  });

  it('a bad quiet-hours time names the key, the position and the fix', () => {
    const p = problems('policies:\n  quiet_hours:\n    - start: "9pm"\n      end: "08:00"\n');
    expect(p[0].key).toBe('policies.quiet_hours.0.start');
    expect(p[0].where).toBe('<config>:3:14');
    expect(p[0].problem).toMatch(/HH:MM, 24-hour/);
  });

  it('an empty quiet period is refused', () => {
    const p = problems('policies:\n  quiet_hours:\n    - start: "21:00"\n      end: "21:00"\n');
    expect(p[0].key).toBe('policies.quiet_hours.0.end');
    expect(p[0].problem).toMatch(/equal/);
  });

  it('unknown categories, bad country codes and bad zones are named', () => {
    expect(problems('policies:\n  require_opt_in: [MARKETING]\n')[0]).toMatchObject({
      key: 'policies.require_opt_in.0',
      where: '<config>:2:20',
    });
    expect(problems('policies:\n  deny_categories:\n    by_country:\n      usa: [marketing]\n')[0].problem).toMatch(/alpha-2/);
    expect(problems('policies:\n  quiet_hours:\n    - {start: "21:00", end: "08:00", time_zone: "Mars/Base"}\n')[0].problem).toMatch(
      /IANA/,
    );
    expect(problems('policies:\n  marketing_cap_per_24h: two\n')[0].problem).toMatch(/whole number/);
  });

  it('quiet hours default to marketing from every sender', () => {
    expect(PoliciesSchema.parse({ quiet_hours: [{ start: '21:00', end: '08:00' }] }).quiet_hours[0]).toEqual({
      start: '21:00',
      end: '08:00',
      categories: ['marketing'],
      senders: ['*'],
    });
  });
});

describe('quiet-hours arithmetic and time zones', () => {
  const s = parseHHMM('21:00');
  const e = parseHHMM('08:00');
  it.each([
    ['20:59', false],
    ['21:00', true],
    ['23:59', true],
    ['00:00', true],
    ['07:59', true],
    ['08:00', false],
    ['12:00', false],
  ])('21:00–08:00 wraps midnight: %s quiet=%s', (t, quiet) => {
    expect(inDailyWindow(parseHHMM(t), s, e)).toBe(quiet);
  });
  it('a same-day window', () => {
    expect(inDailyWindow(parseHHMM('13:00'), parseHHMM('12:00'), parseHHMM('14:00'))).toBe(true);
    expect(inDailyWindow(parseHHMM('14:00'), parseHHMM('12:00'), parseHHMM('14:00'))).toBe(false);
  });
  it('minutes until the end, across midnight', () => {
    expect(minutesUntil(parseHHMM('23:00'), e)).toBe(9 * 60);
    expect(minutesUntil(parseHHMM('07:30'), e)).toBe(30);
    expect(formatMinute(parseHHMM('07:05'))).toBe('07:05');
  });
  it('local time follows DST (Berlin summer UTC+2, winter UTC+1)', () => {
    expect(formatMinute(localMinuteOfDay('Europe/Berlin', Date.UTC(2026, 6, 1, 12, 0)))).toBe('14:00');
    expect(formatMinute(localMinuteOfDay('Europe/Berlin', Date.UTC(2026, 0, 15, 12, 0)))).toBe('13:00');
    expect(formatMinute(localMinuteOfDay('Asia/Kolkata', Date.UTC(2026, 0, 15, 12, 0)))).toBe('17:30');
  });
  it('zone order: customer, then country, then the sender default', () => {
    expect(recipientZones({ customer_tz: 'Asia/Tokyo', country: 'BR', fallback: 'UTC' })).toEqual({
      zones: ['Asia/Tokyo'],
      source: 'customer',
    });
    expect(recipientZones({ customer_tz: 'Not/AZone', country: 'GB', fallback: 'UTC' })).toEqual({
      zones: ['Europe/London'],
      source: 'country',
    });
    expect(recipientZones({ customer_tz: null, country: null, fallback: 'America/Chicago' })).toEqual({
      zones: ['America/Chicago'],
      source: 'sender_default',
    });
    expect(recipientZones({ customer_tz: null, country: null, fallback: 'bogus' }).zones).toEqual(['UTC']);
  });
  it('a country with several zones gives one per distinct offset', () => {
    const br = zonesOfCountry('BR');
    const offsets = br.map((z) => localMinuteOfDay(z, Date.UTC(2026, 5, 15, 12, 0)));
    expect(new Set(offsets).size).toBe(br.length); // no two zones with the same local time
    expect(offsets).toContain(9 * 60); // São Paulo's offset (UTC-3) is represented
    expect(br.length).toBeGreaterThan(1);
    expect(zonesOfCountry('GB')).toEqual(['Europe/London']);
  });
});
