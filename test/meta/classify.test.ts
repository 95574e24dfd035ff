// Layer 3: the action and delay per code, the 4^X schedule, bounded retries, details variants, and the
// safe defaults for unknown codes.
import { describe, it, expect } from 'vitest';
import { classify, explain, durationFromDetails, parseGraphError, parseWebhookError } from '../../src/domain/errors/index.ts';
import type { GraphError } from '../../src/meta/types.ts';

const err = (code: number, extra: Partial<GraphError> = {}): GraphError => ({
  code,
  subcode: null,
  message: `(#${code})`,
  title: null,
  details: null,
  fbtrace_id: null,
  http_status: 400,
  source: 'sync',
  ...extra,
});

describe('classify', () => {
  it.each([
    [190, 'halt_all', 'all'],
    [0, 'halt_all', 'all'],
    [3, 'halt_all', 'all'],
    [10, 'halt_all', 'all'],
    [200, 'halt_all', 'all'],
    [250, 'halt_all', 'all'],
    [299, 'halt_all', 'all'],
    [131048, 'pause_sender', 'sender'],
    [131031, 'pause_sender', 'sender'],
    [368, 'pause_sender', 'sender'],
    [132015, 'pause_template', 'template'],
    [132016, 'pause_template', 'template'],
    [131026, 'drop', 'recipient'],
    [131050, 'drop', 'recipient'],
    [131047, 'drop', 'recipient'],
    [100, 'fix_request', 'message'],
    [132000, 'fix_request', 'message'],
    [132001, 'fix_request', 'template'],
    [2, 'retry', 'all'],
    [131000, 'retry', 'message'],
    [130429, 'retry_after', 'sender'],
    [131056, 'retry_after', 'recipient'],
    [131049, 'retry_after', 'recipient'],
  ] as const)('%i → %s (%s)', (code, action, scope) => {
    const c = classify(err(code));
    expect(c).toMatchObject({ action, scope, known: true });
  });

  it("131056 follows Meta's 4^X seconds schedule with the attempt number", () => {
    expect([1, 2, 3, 4, 5].map((attempt) => classify(err(131056), { attempt }).retry_after_ms)).toEqual([
      1_000, 4_000, 16_000, 64_000, 256_000,
    ]);
    expect(classify(err(131056), { attempt: 50 }).retry_after_ms).toBe(4 ** 6 * 1000); // capped
  });

  it('gives the delays Meta implies', () => {
    expect(classify(err(131049)).retry_after_ms).toBeGreaterThanOrEqual(24 * 3600_000);
    expect(classify(err(133015)).retry_after_ms).toBe(5 * 60_000);
    expect(classify(err(134101)).retry_after_ms).toBe(10 * 60_000);
    expect(classify(err(132069)).retry_after_ms).toBe(3600_000);
    const t = [1, 2, 3, 10].map((attempt) => classify(err(130429), { attempt }).retry_after_ms!);
    expect(t[0]).toBe(1_000);
    expect(t[1]).toBeGreaterThan(t[0]!);
    expect(t[3]).toBe(30_000);
  });

  it('reads the lockout period from details when Meta gives one (133008)', () => {
    expect(classify(err(133008, { details: 'Try again in 12 minutes.' })).retry_after_ms).toBe(12 * 60_000);
    expect(classify(err(133008, { details: 'Locked.' })).retry_after_ms).toBe(3600_000);
    expect(durationFromDetails('wait 30 seconds')).toBe(30_000);
    expect(durationFromDetails(null)).toBeNull();
  });

  it('bounds retries: code 1 becomes fix_request; 131000 (transient) is never capped by a count', () => {
    expect(classify(err(1), { attempt: 3 }).action).toBe('retry');
    expect(classify(err(1), { attempt: 4 }).action).toBe('fix_request');
    // 131000 is Meta's transient 500: never capped by a count (the worker bounds it by age).
    expect(classify(err(131000), { attempt: 50 }).action).toBe('retry');
  });

  it('transient (uncounted, bounded by time) vs counted: by the catalog for known codes, by HTTP status for unknown ones', () => {
    // Meta's own 5xx and outage codes, and every uncapped wait Meta asks for: transient, whatever the HTTP status.
    for (const code of [131000, 2, 131016, 133004, 130429, 131056, 80007, 4, 131057]) {
      for (const http_status of [500, 400, null])
        expect(classify(err(code, { http_status }), { attempt: 40 }).transient, `${code} @${http_status}`).toBe(true);
    }
    // A retry the catalog caps (code 1 may be a bad request) is counted, and so is the capped 131009 variant.
    expect(classify(err(1), { attempt: 1 })).toMatchObject({ action: 'retry', transient: false });
    expect(classify(err(131009, { details: 'Ad sync may be incomplete.' }))).toMatchObject({ action: 'retry_after', transient: false });
    // Definite failures are never transient.
    for (const code of [190, 131048, 132015, 131026, 100]) expect(classify(err(code)).transient, String(code)).toBe(false);
    // Unknown codes: 5xx, 429 and no status (transport, webhook) are transient; an unexpected status is counted.
    for (const http_status of [500, 502, 503, 429, null])
      expect(classify(err(999999, { http_status })), String(http_status)).toMatchObject({ action: 'retry', transient: true, known: false });
    expect(classify(parseGraphError(502, '<html>Bad gateway</html>')).transient).toBe(true);
    for (const http_status of [200, 302]) {
      const c = classify(err(999999, { http_status }));
      expect(c, String(http_status)).toMatchObject({ action: 'retry', transient: false, known: false });
      expect(c.entry.explanation).toContain('delivery.max_attempts');
    }
    expect(classify(err(999999, { http_status: 400 })).transient).toBe(false);
  });

  it('recognises the Marketing Messages API ad-sync variant of 131009 by its details', () => {
    const sync = err(131009, { details: 'One or more parameter values are invalid. Ad sync may be incomplete.' });
    expect(classify(sync)).toMatchObject({ action: 'retry_after', retry_after_ms: 600_000 });
    expect(classify(sync).variant).toMatch(/ad sync/i);
    expect(classify(sync, { attempt: 2 }).action).toBe('fix_request');
    expect(classify(err(131009, { details: 'Invalid wamid' })).action).toBe('fix_request');
  });

  it('unknown codes: safe default by HTTP status, known=false', () => {
    expect(classify(err(999999, { http_status: 503 }))).toMatchObject({ action: 'retry', known: false });
    expect(classify(err(999999, { http_status: 429 }))).toMatchObject({ action: 'retry', known: false });
    expect(classify(err(999999, { http_status: 400 }))).toMatchObject({ action: 'fix_request', known: false });
    expect(classify(err(999999, { http_status: 404 }))).toMatchObject({ action: 'fix_request', known: false });
    expect(classify(err(999999, { http_status: null, source: 'webhook' }))).toMatchObject({ action: 'retry', known: false });
    expect(classify(err(999999, { http_status: 401 }))).toMatchObject({ action: 'halt_all', known: false });
    const c = classify(err(999999, { http_status: 400 }));
    expect(c.entry.explanation).toContain('999999');
  });

  it('garbage from a proxy (code -1) is retried on 5xx, fixed on 4xx', () => {
    expect(classify(parseGraphError(502, '<html>Bad gateway</html>'))).toMatchObject({ action: 'retry', known: false });
    expect(classify(parseGraphError(400, 'nonsense'))).toMatchObject({ action: 'fix_request', known: false });
    expect(classify(parseWebhookError('nonsense'))).toMatchObject({ action: 'retry', known: false });
  });
});

describe('explain', () => {
  it('190 with a subcode names the subcode and gives the token steps', () => {
    const x = explain(190, 463);
    expect(x).toMatchObject({ code: 190, subcode: 463, subcode_name: 'Expired', action: 'halt_all', known: true });
    expect(x.meaning).toContain('463');
    expect(x.fix).toContain('whatsapp_business_messaging');
    expect(x.fix).toContain('PUT /v1/senders/:id/token');
  });

  it('190 with an undocumented subcode still explains it as an invalid token', () => {
    const x = explain(190, 1234567);
    expect(x.known).toBe(true);
    expect(x.meaning).toContain('not one of Meta');
  });

  it('unknown code: known=false with a helpful pointer', () => {
    const x = explain(4242);
    expect(x.known).toBe(false);
    expect(x.fix).toContain('error-codes');
    expect(x).toMatchObject({ category: 'unexpected', can_retry: true });
  });

  it("carries the reference's explain_error fields (category, can_retry, human_explanation, suggested_action)", () => {
    expect(explain(131056)).toMatchObject({ category: 'throttling', can_retry: true });
    expect(explain(190)).toMatchObject({ category: 'authorization', can_retry: false });
    expect(explain(131047)).toMatchObject({ category: 'recipient', can_retry: false });
    expect(explain(132000)).toMatchObject({ category: 'template', can_retry: false });
    expect(explain(131031)).toMatchObject({ category: 'integrity' });
    expect(explain(131042)).toMatchObject({ category: 'account' });
    expect(explain(2)).toMatchObject({ category: 'server', can_retry: true });
    const x = explain(190, 463);
    expect(x.human_explanation).toBe(x.explanation);
    expect(x.suggested_action).toBe(x.fix);
  });
});

describe('2024-2026 codes (changes-2026.md §8), from Meta-shaped errors', () => {
  it('131063 on /messages: the WABA takes marketing only through the Marketing Messages API, and the fix says how to route it', () => {
    // The sync body Meta answers (pywa's MarketingTemplatesDisabledForCloudAPI), with a field wagate does not know.
    const e = parseGraphError(400, {
      error: {
        message: '(#131063) Marketing templates are disabled for Cloud API',
        type: 'OAuthException',
        code: 131063,
        error_data: {
          messaging_product: 'whatsapp',
          details:
            'To send this template, use the Marketing Messages API for WhatsApp or enable marketing templates on Cloud API by turning off disable_marketing_messages_on_cloud_api.',
        },
        error_user_msg: 'unknown to wagate',
        fbtrace_id: 'AbCdEf123',
      },
    });
    const c = classify(e);
    expect(c).toMatchObject({ known: true, action: 'fix_request', scope: 'sender' });
    expect(c.entry.fix).toMatch(/marketing_endpoint: marketing_messages/);
    expect(c.entry.fix).toContain('meta.marketing_messages_wabas');
  });

  it.each([
    [137000, 'drop', 'recipient'],
    [131044, 'pause_sender', 'sender'],
    [132008, 'fix_request', 'message'],
    [139200, 'fix_request', 'sender'],
    [2388318, 'fix_request', 'template'],
    [2388330, 'fix_request', 'template'],
    [131020, 'fix_request', 'message'],
    [131214, 'fix_request', 'message'],
    [139102, 'fix_request', 'recipient'],
    [138006, 'fix_request', 'message'],
    [147005, 'fix_request', 'sender'],
  ] as const)('%i in a failed status webhook → %s (%s), known, with a fix', (code, action, scope) => {
    const e = parseWebhookError({
      code,
      title: `Meta title ${code}`,
      message: `Meta title ${code}`,
      error_data: { details: 'd' },
      href: 'x',
    });
    const c = classify(e);
    expect(c).toMatchObject({ known: true, action, scope });
    expect(c.entry.fix.length).toBeGreaterThan(20);
    expect(explain(code).known).toBe(true);
  });
});
