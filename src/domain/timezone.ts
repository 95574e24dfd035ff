// Time zones for quiet hours: the recipient's zone from the customer record, else from the number's
// country (countries-and-timezones), else the sender's default. Local time via luxon's IANA zones,
// with the UTC offset cached per 15 minutes (DST moves on those boundaries) so the gate's hot path
// does not build a formatter per decision. Pure apart from that cache.
import { IANAZone } from 'luxon';
import ct from 'countries-and-timezones';

export type ZoneSource = 'customer' | 'country' | 'sender_default';

export function isValidZone(zone: unknown): zone is string {
  return typeof zone === 'string' && zone.length > 0 && IANAZone.isValidZone(zone);
}

const countryZones = new Map<string, string[]>();

/** Canonical zones of a country, one per distinct UTC offset pattern (aliases and duplicates dropped). */
export function zonesOfCountry(country: string): string[] {
  const hit = countryZones.get(country);
  if (hit) return hit;
  const c = ct.getCountry(country);
  const zones = (c?.timezones ?? []).filter((z) => isValidZone(z));
  const seen = new Set<string>();
  const out: string[] = [];
  for (const z of zones) {
    const tz = ct.getTimezone(z);
    const key = tz ? `${tz.utcOffset}/${tz.dstOffset}` : z;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(z);
  }
  countryZones.set(country, out);
  return out;
}

/**
 * Zones to evaluate quiet hours in. A country that spans several zones (US, BR, RU, AU…) gives all of
 * them, and quiet hours apply when it is quiet in ANY of them: without the customer's own zone we
 * would rather wait than wake someone. Setting the customer's time_zone makes it exact.
 */
export function recipientZones(opts: { customer_tz: string | null | undefined; country: string | null | undefined; fallback: string }): {
  zones: string[];
  source: ZoneSource;
} {
  if (isValidZone(opts.customer_tz)) return { zones: [opts.customer_tz], source: 'customer' };
  if (opts.country) {
    const zones = zonesOfCountry(opts.country);
    if (zones.length) return { zones, source: 'country' };
  }
  return { zones: [isValidZone(opts.fallback) ? opts.fallback : 'UTC'], source: 'sender_default' };
}

const offsetCache = new Map<string, { bucket: number; offset: number }>();
const BUCKET_MS = 15 * 60_000;

/** Minutes since local midnight in `zone` at `now`. */
export function localMinuteOfDay(zone: string, now: number): number {
  const bucket = Math.floor(now / BUCKET_MS);
  let c = offsetCache.get(zone);
  if (!c || c.bucket !== bucket) {
    c = { bucket, offset: IANAZone.create(zone).offset(now) };
    offsetCache.set(zone, c);
  }
  const local = now + c.offset * 60_000;
  return Math.floor((((local % 86_400_000) + 86_400_000) % 86_400_000) / 60_000);
}

export function parseHHMM(s: string): number {
  const [h, m] = s.split(':').map(Number);
  return h * 60 + m;
}

/** [start, end) in minutes of the day; wraps midnight when start > end (21:00 → 08:00). */
export function inDailyWindow(minute: number, start: number, end: number): boolean {
  if (start === end) return false;
  return start < end ? minute >= start && minute < end : minute >= start || minute < end;
}

/** Minutes from `minute` until `end` (next occurrence). */
export function minutesUntil(minute: number, end: number): number {
  return (end - minute + 1440) % 1440 || 1440;
}

export function formatMinute(m: number): string {
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}
