// The pricing data file: the bundled one is valid and dated; an operator's replacement (through
// WAGATE_PRICING_FILE) is used instead; a broken one is refused naming the key to fix.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { estimatePricing, loadPricing } from '../../src/engine/pricing.ts';
import { EngineError } from '../../src/engine/context.ts';

const dir = mkdtempSync(join(tmpdir(), 'wagate-pricing-'));
const saved = process.env.WAGATE_PRICING_FILE;
afterEach(() => {
  if (saved === undefined) delete process.env.WAGATE_PRICING_FILE;
  else process.env.WAGATE_PRICING_FILE = saved;
});

describe('pricing data', () => {
  it('the bundled file has a source, a date and per-category rates for its markets', () => {
    delete process.env.WAGATE_PRICING_FILE;
    const d = loadPricing();
    expect(d.source.length).toBeGreaterThan(20);
    expect(d.as_of).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(d.markets.flatMap((m) => m.countries)).toEqual(expect.arrayContaining(['IN', 'BR', 'US', 'GB', 'DE', 'MX', 'ID']));
    expect(d.effective_from).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(estimatePricing({ conversation_type: 'service', recipient_country: 'IN', send_at: '2026-09-30' })).toMatchObject({
      cost_per_message: 0,
      pricing_category: 'free_customer_service',
    });
  });

  it("uses the operator's file from WAGATE_PRICING_FILE", () => {
    const file = join(dir, 'rates.json');
    writeFileSync(
      file,
      JSON.stringify({
        source: 'Meta rate card CSV, USD, effective 2026-04-01',
        as_of: '2026-04-01',
        currency: 'USD',
        markets: [{ id: 'france', name: 'France', countries: ['FR'], rates: { marketing: 0.0859, utility: 0.03 } }],
      }),
    );
    process.env.WAGATE_PRICING_FILE = file;
    expect(estimatePricing({ conversation_type: 'MARKETING', recipient_country: 'fr' })).toMatchObject({
      country: 'FR',
      cost_per_message: 0.0859,
      effective_date: '2026-04-01',
    });
  });

  it('refuses a broken file, naming the key', () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, JSON.stringify({ source: 'x', as_of: 'yesterday', currency: 'USD', markets: [] }));
    try {
      loadPricing(file);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).code).toBe('PRICING_FILE_INVALID');
      expect((err as EngineError).message).toContain('as_of');
      expect((err as EngineError).message).toContain('markets');
    }
    rmSync(dir, { recursive: true, force: true });
  });
});
