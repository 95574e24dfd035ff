// Direct Send (issue 14, changes-2026.md §6; Meta's Direct Send reference and TTL page, 31 Jul 2026):
// `category: "utility"` on a text or interactive message is accepted and gated as a business-initiated
// utility message, `ttl_seconds` is checked against Meta's bounds, the record and the payload say so,
// and a 139200 from Meta (in a failed status) stops the sender's next Direct Send at the gate while
// approved templates still go. Real SQLite store, memory gate and processor; Meta-shaped bodies.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateMessage } from '../../src/domain/message.ts';
import { checkCompliance } from '../../src/engine/compliance.ts';
import { submitMessage } from '../../src/engine/messages.ts';
import { WebhookProcessor } from '../../src/webhooks/processor.ts';
import { makeCtx, st, statusBody, WABA, type TestCtx } from '../webhooks/helpers.ts';

const UK = '447700900123';
// Meta's Direct Send request bodies (reference page examples), text and CTA URL.
const text = (extra: Record<string, unknown> = {}) => ({
  messaging_product: 'whatsapp',
  recipient_type: 'individual',
  to: UK,
  type: 'text',
  text: { body: 'Your order A-1042 has shipped.' },
  category: 'utility',
  ...extra,
});
const ctaUrl = {
  to: UK,
  type: 'interactive',
  category: 'utility',
  interactive: {
    type: 'cta_url',
    body: { text: 'Your order A-1042 has shipped.' },
    action: { name: 'cta_url', parameters: { display_text: 'Track', url: 'https://shop.example/t/A-1042' } },
  },
};

describe('the Direct Send envelope', () => {
  it('accepts category "utility" (any case) on text and interactive cta_url / button, with ttl_seconds 30..43200', () => {
    for (const body of [text(), text({ category: 'UTILITY', ttl_seconds: 600 }), ctaUrl]) {
      const r = validateMessage(body);
      expect(r.ok, JSON.stringify(r)).toBe(true);
      if (r.ok) expect(r.message.direct_send?.category).toBe('utility');
    }
    const r = validateMessage(text({ ttl_seconds: 43_200 }));
    expect(r.ok && r.message.direct_send).toEqual({ category: 'utility', ttl_seconds: 43_200 });
  });

  it.each([
    [text({ ttl_seconds: 29 }), 'ttl_seconds', /30 to 43200/],
    [text({ ttl_seconds: 43_201 }), 'ttl_seconds', /30 to 43200/],
    [text({ ttl_seconds: '600' }), 'ttl_seconds', /whole number/],
    [{ to: UK, type: 'text', text: { body: 'x' }, ttl_seconds: 600 }, 'ttl_seconds', /only for Direct Send/],
    [text({ category: 'authentication' }), 'category', /authentication template/],
    [text({ category: 'marketing' }), 'category', /use "utility"/],
    [{ to: UK, type: 'image', image: { link: 'https://x.example/a.png' }, category: 'utility' }, 'category', /not "image"/],
    [
      {
        to: UK,
        type: 'interactive',
        category: 'utility',
        interactive: {
          type: 'list',
          body: { text: 'x' },
          action: { button: 'Pick', sections: [{ title: 'S', rows: [{ id: '1', title: 'One' }] }] },
        },
      },
      'category',
      /not interactive "list"/,
    ],
  ])('refuses %j naming %s', (body, field, problem) => {
    const r = validateMessage(body);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      const issue = r.issues.find((i) => i.field === field);
      expect(issue?.problem, r.summary).toMatch(problem);
    }
  });
});

describe('Direct Send at the gate and in the queue', () => {
  let t: TestCtx;
  let proc: WebhookProcessor;
  beforeEach(async () => {
    t = await makeCtx();
    proc = new WebhookProcessor(t.ctx);
    await proc.start();
  });
  afterEach(async () => {
    await proc.stop();
    await t.close();
  });

  it('outside any window: allowed as utility (a plain text is not), and the record and payload carry it', async () => {
    expect((await checkCompliance(t.ctx, { body: { to: UK, type: 'text', text: { body: 'hi' } } })).reason_code).toBe(
      'WINDOW_CLOSED_TEMPLATE_REQUIRED',
    );
    const d = await checkCompliance(t.ctx, { body: text({ ttl_seconds: 600 }) });
    expect(d.allowed, d.explanation).toBe(true);
    expect(d.checks.find((c) => c.rule === 'care_window')?.detail).toMatch(/Direct Send/);
    const r = await submitMessage(t.ctx, { body: text({ ttl_seconds: 600 }), actor: 'test' });
    expect(r.http_status).toBe(202);
    const m = await t.ctx.store.getMessage(r.id!);
    expect(m).toMatchObject({ category: 'utility', type: 'text', reserved_tier: true });
    expect(m?.payload).toMatchObject({ to: UK, type: 'text', category: 'utility', ttl_seconds: 600 });
  });

  it('a utility opt-out stops it, a bad TTL is a 400-style refusal naming the field', async () => {
    await t.ctx.store.upsertCustomer(UK, {}, t.ctx.now());
    const { setConsent } = await import('../../src/engine/customers.ts');
    await setConsent(t.ctx, { wa_id: UK, category: 'utility', state: 'opted_out', source: 'test' });
    expect((await checkCompliance(t.ctx, { body: text() })).reason_code).toBe('OPTED_OUT');
    const bad = await checkCompliance(t.ctx, { body: text({ ttl_seconds: 5 }) }).catch((e) => e);
    expect(JSON.stringify(bad)).toMatch(/ttl_seconds/);
  });

  it("139200 in a failed status holds the sender's Direct Send (SENDER_RESTRICTED); approved templates still go", async () => {
    const r = await submitMessage(t.ctx, { body: text(), actor: 'test' });
    expect(r.http_status).toBe(202);
    await t.ctx.store.updateMessage(r.id!, { wamid: 'wamid.DS1' }, t.ctx.now());
    // Meta's failed status with the Direct Send error (error_data.details as Meta writes it), unknown field included.
    await proc.applyBody(
      statusBody([
        st('wamid.DS1', 'failed', t.clock.t - 1000, {
          biz_opaque_callback_data: r.id,
          errors: [
            {
              code: 139200,
              title: 'Direct Send utility or authentication access is blocked',
              message: 'Direct Send utility or authentication access is blocked',
              error_data: { details: 'Direct Send access for this business is blocked.' },
              href: 'https://developers.facebook.com/documentation/business-messaging/whatsapp/direct-send/api-reference/',
            },
          ],
          template_id: '1234567890',
        }),
      ]),
    );
    const next = await checkCompliance(t.ctx, { body: text() });
    expect(next).toMatchObject({ allowed: false, reason_code: 'SENDER_RESTRICTED' });
    expect(next.explanation).toMatch(/Direct Send/);
    const rec = {
      waba_id: WABA,
      name: 'order_update',
      language: 'en_US',
      category: 'utility' as const,
      status: 'APPROVED' as const,
      components: [{ type: 'BODY', text: 'Your order {{1}} has shipped.' }],
      updated_at: 1,
    };
    await t.ctx.store.upsertTemplate(rec);
    await t.ctx.gate.upsertTemplate(rec);
    const tpl = await checkCompliance(t.ctx, {
      body: {
        to: UK,
        type: 'template',
        template: {
          name: 'order_update',
          language: { code: 'en_US' },
          components: [{ type: 'body', parameters: [{ type: 'text', text: 'A1' }] }],
        },
      },
    });
    expect(tpl.allowed, tpl.explanation).toBe(true);
  });
});
