// Templates: what a template record (Meta's `components`, kept verbatim) expects at send time, and the
// check of a send's `components` against it (count and format per component). A mismatch becomes
// TEMPLATE_PARAMS_MISMATCH saying which component expected what; Meta would answer 132000/132012.
// Pure: no I/O. cloud-api.md §1.4.
import type { TemplateRecord } from './types.ts';

type HeaderFormat = 'none' | 'text' | 'image' | 'video' | 'document' | 'location' | 'gif';
type ButtonKind = 'quick_reply' | 'url' | 'copy_code' | 'otp' | 'phone_number' | 'flow' | 'catalog' | 'mpm' | 'other';

export interface TemplateSpec {
  header: { format: HeaderFormat; vars: string[] };
  body: { named: boolean; vars: string[] };
  /** Buttons in template order; `param` says what a send must give for it (null: nothing). */
  buttons: { index: number; kind: ButtonKind; param: 'text' | 'coupon_code' | null }[];
  /** True when the template has more than a body (body text params are then limited to 1,024). */
  multi_component: boolean;
}

export type ParamsCheck = { ok: true } | { ok: false; component: string; problem: string };

const VAR = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

function varsOf(text: unknown): { named: boolean; vars: string[] } {
  if (typeof text !== 'string') return { named: false, vars: [] };
  const names = [...new Set([...text.matchAll(VAR)].map((m) => m[1]))];
  const named = names.some((n) => !/^\d+$/.test(n));
  if (named) return { named, vars: names };
  // Positional: {{1}}..{{n}} are all required, in order, even if one is used twice.
  const max = names.reduce((n, v) => Math.max(n, Number(v)), 0);
  return { named: false, vars: Array.from({ length: max }, (_, i) => String(i + 1)) };
}

const specs = new WeakMap<TemplateRecord, TemplateSpec>();

/** Reads Meta's components (HEADER / BODY / FOOTER / BUTTONS; any case) once per record. */
export function templateSpec(t: TemplateRecord): TemplateSpec {
  const cached = specs.get(t);
  if (cached) return cached;
  const spec: TemplateSpec = {
    header: { format: 'none', vars: [] },
    body: { named: false, vars: [] },
    buttons: [],
    multi_component: false,
  };
  for (const raw of Array.isArray(t.components) ? t.components : []) {
    const c = (raw ?? {}) as Record<string, unknown>;
    const type = String(c.type ?? '').toUpperCase();
    if (type === 'HEADER') {
      const format = String(c.format ?? 'TEXT').toLowerCase() as HeaderFormat;
      spec.header = { format, vars: format === 'text' ? varsOf(c.text).vars : [] };
      spec.multi_component = true;
    } else if (type === 'BODY') {
      spec.body = varsOf(c.text);
    } else if (type === 'FOOTER') {
      spec.multi_component = true;
    } else if (type === 'BUTTONS') {
      spec.multi_component = true;
      const buttons = Array.isArray(c.buttons) ? c.buttons : [];
      buttons.forEach((b: Record<string, unknown>, index) => {
        const bt = String(b?.type ?? '').toUpperCase();
        if (bt === 'URL') spec.buttons.push({ index, kind: 'url', param: varsOf(b.url).vars.length ? 'text' : null });
        else if (bt === 'COPY_CODE') spec.buttons.push({ index, kind: 'copy_code', param: 'coupon_code' });
        // Authentication copy-code / one-tap buttons take the OTP as a url-type text parameter (M-AUTH-COPY).
        else if (bt === 'OTP') spec.buttons.push({ index, kind: 'otp', param: 'text' });
        else if (bt === 'QUICK_REPLY') spec.buttons.push({ index, kind: 'quick_reply', param: null });
        else if (bt === 'PHONE_NUMBER') spec.buttons.push({ index, kind: 'phone_number', param: null });
        else if (bt === 'FLOW') spec.buttons.push({ index, kind: 'flow', param: null });
        else if (bt === 'CATALOG') spec.buttons.push({ index, kind: 'catalog', param: null });
        else if (bt === 'MPM') spec.buttons.push({ index, kind: 'mpm', param: null });
        else spec.buttons.push({ index, kind: 'other', param: null });
      });
    }
  }
  specs.set(t, spec);
  return spec;
}

/** What a send must give, in words (for explanations and `wagate check`). */
export function describeSpec(spec: TemplateSpec): string {
  const parts: string[] = [];
  if (spec.header.format === 'text' && spec.header.vars.length) parts.push('header: 1 text parameter');
  else if (spec.header.format !== 'none' && spec.header.format !== 'text') parts.push(`header: 1 ${spec.header.format} parameter`);
  if (spec.body.vars.length) {
    parts.push(
      spec.body.named
        ? `body: named parameters ${spec.body.vars.join(', ')}`
        : `body: ${spec.body.vars.length} text parameter${spec.body.vars.length > 1 ? 's' : ''} ({{1}}..{{${spec.body.vars.length}}})`,
    );
  }
  for (const b of spec.buttons) if (b.param) parts.push(`button ${b.index} (${b.kind}): 1 ${b.param} parameter`);
  return parts.length ? parts.join('; ') : 'no parameters';
}

type Param = Record<string, unknown> & { type?: string };
type Comp = { type?: string; sub_type?: string; index?: string | number; parameters?: Param[] };

const BODY_TYPES = new Set(['text', 'currency', 'date_time']);
const MEDIA = new Set(['image', 'video', 'document']);

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function checkBodyParam(p: Param, where: string, maxLen: number): string | null {
  const type = String(p.type ?? '').toLowerCase();
  if (!BODY_TYPES.has(type)) return `${where} is of type "${p.type}"; body parameters are text, currency or date_time`;
  if (type === 'text') {
    if (typeof p.text !== 'string' || !p.text.trim()) return `${where} needs a non-empty "text"`;
    if (p.text.length > maxLen) return `${where} has ${p.text.length} characters, the limit is ${maxLen}`;
    if (/\n{3,}|\t| {5,}/.test(p.text))
      return `${where} has a tab, more than 4 consecutive spaces or more than 2 newlines, which Meta refuses in parameters`;
  } else if (type === 'currency') {
    const c = p.currency as Record<string, unknown> | undefined;
    if (!c || typeof c.fallback_value !== 'string' || typeof c.code !== 'string' || typeof c.amount_1000 !== 'number') {
      return `${where} needs "currency": {fallback_value, code, amount_1000}`;
    }
  } else if (type === 'date_time') {
    const d = p.date_time as Record<string, unknown> | undefined;
    if (!d || typeof d.fallback_value !== 'string') return `${where} needs "date_time": {fallback_value}`;
  }
  return null;
}

/** Checks a send's components against the template: count and format per component. */
export function checkTemplateParams(t: TemplateRecord, components: unknown[]): ParamsCheck {
  const spec = templateSpec(t);
  let header: Comp | undefined;
  let body: Comp | undefined;
  const buttons = new Map<number, Comp>();
  for (let i = 0; i < components.length; i++) {
    const c = (components[i] ?? {}) as Comp;
    const type = String(c.type ?? '').toLowerCase();
    if (type === 'header') {
      if (header) return { ok: false, component: 'header', problem: 'given twice; send one header component' };
      header = c;
    } else if (type === 'body') {
      if (body) return { ok: false, component: 'body', problem: 'given twice; send one body component' };
      body = c;
    } else if (type === 'button') {
      const index = Number(c.index);
      if (!Number.isInteger(index) || index < 0)
        return {
          ok: false,
          component: `components.${i}`,
          problem: 'a button component needs "index": its 0-based position in the template ("0", "1", …)',
        };
      if (buttons.has(index)) return { ok: false, component: `button ${index}`, problem: 'given twice' };
      buttons.set(index, c);
    } else {
      return { ok: false, component: `components.${i}`, problem: `type "${c.type}" cannot carry parameters; use header, body or button` };
    }
  }

  // Header
  const hp = header?.parameters ?? [];
  const hf = spec.header.format;
  if (hf === 'none' || (hf === 'text' && spec.header.vars.length === 0)) {
    if (hp.length)
      return {
        ok: false,
        component: 'header',
        problem: `the template's header takes no parameters, got ${hp.length}; remove the header component`,
      };
  } else if (hf === 'text') {
    if (hp.length !== 1)
      return { ok: false, component: 'header', problem: `expected 1 text parameter for {{${spec.header.vars[0]}}}, got ${hp.length}` };
    const p = hp[0];
    if (String(p.type ?? '').toLowerCase() !== 'text' || typeof p.text !== 'string' || !p.text.trim())
      return { ok: false, component: 'header', problem: 'expected 1 text parameter ({"type": "text", "text": "…"})' };
    if (p.text.length > 60)
      return { ok: false, component: 'header', problem: `the text parameter has ${p.text.length} characters, Meta's limit is 60` };
  } else {
    const want = hf === 'gif' ? 'video' : hf;
    if (hp.length !== 1)
      return {
        ok: false,
        component: 'header',
        problem: `the template has a ${hf.toUpperCase()} header: expected 1 ${want} parameter, got ${hp.length}`,
      };
    const p = hp[0];
    const pt = String(p.type ?? '').toLowerCase();
    if (pt !== want) return { ok: false, component: 'header', problem: `expected a ${want} parameter, got "${p.type}"` };
    if (MEDIA.has(want)) {
      const m = p[want] as { id?: unknown; link?: unknown } | undefined;
      if (!m || (typeof m.id !== 'string' && typeof m.link !== 'string'))
        return { ok: false, component: 'header', problem: `the ${want} parameter needs "${want}": {"id"} or {"link"}` };
    } else if (want === 'location') {
      const l = p.location as Record<string, unknown> | undefined;
      if (!l || l.latitude === undefined || l.longitude === undefined)
        return { ok: false, component: 'header', problem: 'the location parameter needs latitude and longitude' };
    }
  }

  // Body
  const bp = body?.parameters ?? [];
  const maxLen = spec.multi_component ? 1024 : 32768;
  if (spec.body.named) {
    const expected = new Set(spec.body.vars);
    const given = new Set<string>();
    for (let i = 0; i < bp.length; i++) {
      const name = bp[i].parameter_name;
      if (typeof name !== 'string')
        return {
          ok: false,
          component: 'body',
          problem: `parameter ${i} needs "parameter_name": this template uses named parameters (${spec.body.vars.join(', ')})`,
        };
      if (!expected.has(name))
        return {
          ok: false,
          component: 'body',
          problem: `unknown parameter "${name}"; the template's parameters are ${spec.body.vars.join(', ')}`,
        };
      if (given.has(name)) return { ok: false, component: 'body', problem: `parameter "${name}" given twice` };
      given.add(name);
      const e = checkBodyParam(bp[i], `parameter "${name}"`, maxLen);
      if (e) return { ok: false, component: 'body', problem: e };
    }
    const missing = spec.body.vars.filter((v) => !given.has(v));
    if (missing.length)
      return { ok: false, component: 'body', problem: `missing named parameter${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` };
  } else {
    if (bp.length !== spec.body.vars.length) {
      return {
        ok: false,
        component: 'body',
        problem: `expected ${plural(spec.body.vars.length, 'parameter')}${spec.body.vars.length ? ` ({{1}}..{{${spec.body.vars.length}}})` : ''}, got ${bp.length}`,
      };
    }
    for (let i = 0; i < bp.length; i++) {
      const e = checkBodyParam(bp[i], `parameter {{${i + 1}}}`, maxLen);
      if (e) return { ok: false, component: 'body', problem: e };
    }
  }

  // Buttons
  for (const [index, c] of buttons) {
    const b = spec.buttons.find((x) => x.index === index);
    if (!b)
      return {
        ok: false,
        component: `button ${index}`,
        problem: `the template has ${plural(spec.buttons.length, 'button')}; there is no button at index ${index}`,
      };
    const sub = String(c.sub_type ?? '').toLowerCase();
    const params = c.parameters ?? [];
    if (b.kind === 'quick_reply') {
      if (sub !== 'quick_reply')
        return { ok: false, component: `button ${index}`, problem: `is a quick-reply button: use sub_type "quick_reply"` };
      if (params.some((p) => String(p.type).toLowerCase() !== 'payload'))
        return { ok: false, component: `button ${index}`, problem: 'quick-reply parameters are {"type": "payload", "payload": "…"}' };
      continue;
    }
    if (b.kind === 'flow' || b.kind === 'catalog' || b.kind === 'mpm' || b.kind === 'other') {
      if (sub && sub !== b.kind)
        return { ok: false, component: `button ${index}`, problem: `is a ${b.kind} button: use sub_type "${b.kind}"` };
      continue;
    }
    if (!b.param)
      return {
        ok: false,
        component: `button ${index}`,
        problem: `the ${b.kind.replace('_', ' ')} button takes no parameters; remove this component`,
      };
  }
  for (const b of spec.buttons) {
    if (!b.param) continue;
    const c = buttons.get(b.index);
    const wantSub = b.kind === 'copy_code' ? 'copy_code' : 'url';
    const what = b.kind === 'otp' ? 'the one-time code' : b.kind === 'copy_code' ? 'the coupon code' : 'the URL suffix';
    if (!c)
      return {
        ok: false,
        component: `button ${b.index}`,
        problem: `expected a button component (sub_type "${wantSub}", index "${b.index}") with 1 ${b.param} parameter: ${what}`,
      };
    const sub = String(c.sub_type ?? '').toLowerCase();
    if (sub !== wantSub)
      return { ok: false, component: `button ${b.index}`, problem: `expected sub_type "${wantSub}", got "${c.sub_type ?? ''}"` };
    const params = c.parameters ?? [];
    if (params.length !== 1)
      return { ok: false, component: `button ${b.index}`, problem: `expected 1 ${b.param} parameter (${what}), got ${params.length}` };
    const p = params[0];
    if (String(p.type ?? '').toLowerCase() !== b.param || typeof p[b.param] !== 'string' || !(p[b.param] as string).trim()) {
      return { ok: false, component: `button ${b.index}`, problem: `expected {"type": "${b.param}", "${b.param}": "…"} (${what})` };
    }
    if (b.kind === 'copy_code' && (p.coupon_code as string).length > 20)
      return {
        ok: false,
        component: `button ${b.index}`,
        problem: `the coupon code has ${(p.coupon_code as string).length} characters, Meta's limit is 20`,
      };
    if (b.kind === 'otp' && (p.text as string).length > 15)
      return {
        ok: false,
        component: `button ${b.index}`,
        problem: `the one-time code has ${(p.text as string).length} characters, Meta's limit is 15`,
      };
  }
  return { ok: true };
}
