import { describe, it, expect } from 'vitest';
import { checkTemplateParams, describeSpec, templateSpec } from '../../src/domain/templates.ts';
import { templateCategory } from '../../src/domain/categories.ts';
import { TEMPLATES } from '../gate/cases.ts';
import type { TemplateRecord } from '../../src/domain/types.ts';

const T = (name: string) => TEMPLATES.find((t) => t.name === name)!;
const body = (...texts: string[]) => ({ type: 'body', parameters: texts.map((text) => ({ type: 'text', text })) });
const fails = (t: TemplateRecord, comps: unknown[]) => {
  const r = checkTemplateParams(t, comps);
  if (r.ok) throw new Error('expected a mismatch');
  return `${r.component}: ${r.problem}`;
};

describe('template specs from Meta components', () => {
  it('reads positional, named, header, and buttons', () => {
    expect(templateSpec(T('order_update'))).toMatchObject({
      header: { format: 'text', vars: ['1'] },
      body: { named: false, vars: ['1', '2'] },
      buttons: [
        { index: 0, kind: 'url', param: 'text' },
        { index: 1, kind: 'quick_reply', param: null },
      ],
    });
    expect(templateSpec(T('named')).body).toEqual({ named: true, vars: ['first_name', 'order_id'] });
    expect(describeSpec(templateSpec(T('order_update')))).toBe(
      'header: 1 text parameter; body: 2 text parameters ({{1}}..{{2}}); button 0 (url): 1 text parameter',
    );
  });
  it('positional {{n}} needs every index up to the highest', () => {
    const t = { ...T('promo'), components: [{ type: 'BODY', text: 'a {{3}} b {{1}} {{1}}' }] };
    expect(templateSpec(t).body.vars).toEqual(['1', '2', '3']);
  });
  it('categories: any case maps to one category; unknown → null', () => {
    expect(templateCategory('MARKETING')).toBe('marketing');
    expect(templateCategory(' Utility ')).toBe('utility');
    expect(templateCategory('authentication')).toBe('authentication');
    expect(templateCategory('SERVICE')).toBeNull();
    expect(templateCategory(undefined)).toBeNull();
  });
});

describe('checkTemplateParams', () => {
  it('accepts correct parameters of every kind', () => {
    expect(checkTemplateParams(T('promo'), [body('Ann', '10%')])).toEqual({ ok: true });
    expect(
      checkTemplateParams(T('promo'), [
        {
          type: 'BODY',
          parameters: [
            { type: 'currency', currency: { fallback_value: '$1', code: 'USD', amount_1000: 1000 } },
            { type: 'date_time', date_time: { fallback_value: 'May 1' } },
          ],
        },
      ]),
    ).toEqual({ ok: true });
    expect(
      checkTemplateParams(T('order_update'), [
        { type: 'header', parameters: [{ type: 'text', text: 'A1' }] },
        body('A1', 'Mon'),
        { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: 'A1' }] },
        { type: 'button', sub_type: 'quick_reply', index: 1, parameters: [{ type: 'payload', payload: 'STOP' }] },
      ]),
    ).toEqual({ ok: true });
    expect(
      checkTemplateParams(T('coupon'), [
        { type: 'button', sub_type: 'copy_code', index: 0, parameters: [{ type: 'coupon_code', coupon_code: 'SAVE10' }] },
      ]),
    ).toEqual({ ok: true });
  });
  it.each([
    ['promo', [body('a', 'b', 'c')], /body: expected 2 parameters \(\{\{1\}\}..\{\{2\}\}\), got 3/],
    ['promo', [body('a', '')], /body: parameter \{\{2\}\} needs a non-empty "text"/],
    ['promo', [body('a', 'b\tc')], /tab/],
    [
      'promo',
      [
        {
          type: 'body',
          parameters: [
            { type: 'image', image: { id: '1' } },
            { type: 'text', text: 'b' },
          ],
        },
      ],
      /body parameters are text, currency or date_time/,
    ],
    [
      'promo',
      [body('a', 'b'), { type: 'header', parameters: [{ type: 'text', text: 'x' }] }],
      /header: the template's header takes no parameters/,
    ],
    ['promo', [body('a', 'b'), body('a', 'b')], /body: given twice/],
    ['promo', [body('a', 'b'), { type: 'footer', parameters: [] }], /cannot carry parameters/],
    ['order_update', [body('A1', 'Mon')], /header: expected 1 text parameter for \{\{1\}\}, got 0/],
    [
      'order_update',
      [{ type: 'header', parameters: [{ type: 'text', text: 'x'.repeat(61) }] }, body('A1', 'Mon')],
      /61 characters, Meta's limit is 60/,
    ],
    [
      'order_update',
      [
        { type: 'header', parameters: [{ type: 'text', text: 'A' }] },
        body('A1', 'Mon'),
        { type: 'button', sub_type: 'quick_reply', index: '0', parameters: [] },
      ],
      /button 0: is a quick-reply|expected sub_type "url"/,
    ],
    [
      'order_update',
      [
        { type: 'header', parameters: [{ type: 'text', text: 'A' }] },
        body('A1', 'Mon'),
        { type: 'button', sub_type: 'url', index: '5', parameters: [] },
      ],
      /no button at index 5/,
    ],
    [
      'order_update',
      [
        { type: 'header', parameters: [{ type: 'text', text: 'A' }] },
        body('A1', 'Mon'),
        { type: 'button', sub_type: 'url', parameters: [] },
      ],
      /needs "index"/,
    ],
    [
      'named',
      [
        {
          type: 'body',
          parameters: [
            { type: 'text', text: 'Ann' },
            { type: 'text', text: '7' },
          ],
        },
      ],
      /needs "parameter_name"/,
    ],
    [
      'named',
      [
        {
          type: 'body',
          parameters: [
            { type: 'text', parameter_name: 'first_name', text: 'Ann' },
            { type: 'text', parameter_name: 'order', text: '7' },
          ],
        },
      ],
      /unknown parameter "order"; the template's parameters are first_name, order_id/,
    ],
    ['image_promo', [{ type: 'header', parameters: [{ type: 'video', video: { id: '1' } }] }], /expected a image parameter, got "video"/],
    ['image_promo', [{ type: 'header', parameters: [{ type: 'image', image: {} }] }], /needs "image": \{"id"\} or \{"link"\}/],
    [
      'otp',
      [body('123456')],
      /button 0: expected a button component \(sub_type "url", index "0"\) with 1 text parameter: the one-time code/,
    ],
    [
      'otp',
      [body('1'), { type: 'button', sub_type: 'url', index: '0', parameters: [{ type: 'text', text: '1234567890123456' }] }],
      /limit is 15/,
    ],
  ])('%s mismatch %#', (name, comps, problem) => {
    expect(fails(T(name), comps)).toMatch(problem);
  });
  it('a body-only template allows long parameters; with other components the limit is 1,024', () => {
    const only = { ...T('promo'), components: [{ type: 'BODY', text: '{{1}}' }] };
    expect(checkTemplateParams(only, [body('x'.repeat(2000))])).toEqual({ ok: true });
    expect(fails(T('promo'), [body('x'.repeat(1025), 'b')])).toMatch(/1025 characters, the limit is 1024/);
  });
});
