// Message templates as the sandbox's Graph API knows them: seeds per WABA, creation checks, and the
// send-time checks Meta applies (status → 132001/132015/132016, parameter count → 132000, parameter
// format → 132012, missing button parameter → 131008). cloud-api.md §1.4, §9.1.
import { syncError, type SyncError } from './errors.ts';
import type { TemplateRef } from './validate.ts';

export type TplCategory = 'MARKETING' | 'UTILITY' | 'AUTHENTICATION';
export type TplStatus =
  | 'APPROVED'
  | 'PENDING'
  | 'REJECTED'
  | 'PAUSED'
  | 'DISABLED'
  | 'IN_APPEAL'
  | 'PENDING_DELETION'
  | 'DELETED'
  | 'LIMIT_EXCEEDED'
  | 'ARCHIVED'
  /** Locked: its content cannot be edited (pywa, Meta's status reference `other_info`); it is still sent. */
  | 'LOCKED';
export type Quality = 'GREEN' | 'YELLOW' | 'RED' | 'UNKNOWN';

export interface SandboxTemplate {
  id: string;
  waba_id: string;
  name: string;
  language: string;
  category: TplCategory;
  previous_category?: TplCategory;
  status: TplStatus;
  quality_score: { score: Quality; date: number };
  parameter_format: 'POSITIONAL' | 'NAMED';
  components: Record<string, unknown>[];
  rejected_reason: string;
  message_send_ttl_seconds?: number;
  /** The status before Meta archived it (for inactivity): UNARCHIVED restores it (changes-2026 §5). */
  archived_from?: TplStatus;
}

/** Templates every WABA starts with, so a demo works with no setup. */
export function seedTemplates(): Omit<SandboxTemplate, 'id' | 'waba_id'>[] {
  const base = {
    status: 'APPROVED' as const,
    quality_score: { score: 'GREEN' as const, date: 0 },
    parameter_format: 'POSITIONAL' as const,
    rejected_reason: 'NONE',
  };
  return [
    {
      ...base,
      name: 'hello_world',
      language: 'en_US',
      category: 'UTILITY',
      components: [
        { type: 'HEADER', format: 'TEXT', text: 'Hello World' },
        {
          type: 'BODY',
          text: 'Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta.',
        },
        { type: 'FOOTER', text: 'WhatsApp Business Platform sample message' },
      ],
    },
    {
      ...base,
      name: 'order_update',
      language: 'en_US',
      category: 'UTILITY',
      components: [{ type: 'BODY', text: 'Hi {{1}}, your order {{2}} has shipped.', example: { body_text: [['Jessica', 'A-1042']] } }],
    },
    {
      ...base,
      name: 'spring_sale',
      language: 'en_US',
      category: 'MARKETING',
      components: [
        {
          type: 'BODY',
          text: 'Hi {{1}}, our spring sale starts today: 20% off everything. Not interested? Tap Stop promotions.',
          example: { body_text: [['Jessica']] },
        },
        { type: 'BUTTONS', buttons: [{ type: 'QUICK_REPLY', text: 'Stop promotions' }] },
      ],
    },
    {
      ...base,
      name: 'auth_code',
      language: 'en_US',
      category: 'AUTHENTICATION',
      components: [
        {
          type: 'BODY',
          text: '*{{1}}* is your verification code. For your security, do not share this code.',
          add_security_recommendation: true,
          example: { body_text: [['123456']] },
        },
        { type: 'FOOTER', text: 'This code expires in 10 minutes.', code_expiration_minutes: 10 },
        { type: 'BUTTONS', buttons: [{ type: 'OTP', otp_type: 'COPY_CODE', text: 'Copy code' }] },
      ],
    },
  ];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Distinct variables in a template text: {{1}} {{2}} or {{first_name}}. */
export function variables(text: unknown): string[] {
  if (typeof text !== 'string') return [];
  const out: string[] = [];
  for (const m of text.matchAll(/\{\{\s*([a-z0-9_]+)\s*\}\}/g)) if (!out.includes(m[1])) out.push(m[1]);
  return out;
}

function comp(t: SandboxTemplate, type: string): Obj | undefined {
  return t.components.find((c) => typeof c.type === 'string' && c.type.toUpperCase() === type) as Obj | undefined;
}

function sent(ref: TemplateRef, type: string): Obj[] {
  return ref.components.filter((c) => typeof c.type === 'string' && c.type.toLowerCase() === type);
}

const TEXT_PARAM_TYPES = new Set(['text', 'currency', 'date_time']);

/** Send-time check of a template message against the stored template. Null when it passes. */
export function checkTemplateSend(t: SandboxTemplate, ref: TemplateRef): SyncError | null {
  if (t.status === 'PAUSED') return syncError(132015, { details: `Template ${t.name} is paused.` });
  if (t.status === 'DISABLED') return syncError(132016, { details: `Template ${t.name} is disabled.` });
  if (t.status !== 'APPROVED' && t.status !== 'LOCKED')
    return syncError(132001, { details: `template name (${t.name}) does not exist in ${ref.language}` });

  // Header: a text header carries at most one variable; a media header needs one media parameter.
  const header = comp(t, 'HEADER');
  const sentHeader = sent(ref, 'header')[0];
  const hParams = (sentHeader?.parameters as Obj[] | undefined) ?? [];
  if (header) {
    const format = String(header.format ?? 'TEXT').toUpperCase();
    if (format === 'TEXT') {
      const want = variables(header.text).length;
      if (hParams.length !== want)
        return syncError(132000, {
          details: `header: number of localizable_params (${hParams.length}) does not match the expected number of params (${want})`,
        });
      for (const p of hParams)
        if (p.type !== 'text')
          return syncError(132012, { details: `header: parameter type ${String(p.type)} does not match the expected format TEXT` });
      for (const p of hParams)
        if (typeof p.text === 'string' && p.text.length > 60)
          return syncError(132005, { details: 'header: parameter text is longer than 60 characters' });
    } else {
      const want = format.toLowerCase();
      if (hParams.length !== 1)
        return syncError(132000, {
          details: `header: number of localizable_params (${hParams.length}) does not match the expected number of params (1)`,
        });
      if (hParams[0].type !== want)
        return syncError(132012, {
          details: `header: Format mismatch, expected ${format}, received ${String(hParams[0].type).toUpperCase()}`,
        });
    }
  } else if (hParams.length > 0) {
    return syncError(132000, {
      details: `header: number of localizable_params (${hParams.length}) does not match the expected number of params (0)`,
    });
  }

  // Body: positional needs exactly N values in order; named needs each name once.
  const body = comp(t, 'BODY');
  const want = variables(body?.text);
  const bParams = (sent(ref, 'body')[0]?.parameters as Obj[] | undefined) ?? [];
  if (bParams.length !== want.length)
    return syncError(132000, {
      details: `body: number of localizable_params (${bParams.length}) does not match the expected number of params (${want.length})`,
    });
  for (const p of bParams) {
    if (!TEXT_PARAM_TYPES.has(String(p.type)))
      return syncError(132012, {
        details: `body: parameter type ${String(p.type)} is not allowed in a text component (text, currency, date_time)`,
      });
  }
  if (t.parameter_format === 'NAMED') {
    const names = new Set(bParams.map((p) => p.parameter_name));
    for (const w of want)
      if (!names.has(w)) return syncError(132000, { details: `body: parameter ${w} is missing (named parameters need parameter_name)` });
  }
  const maxBody = t.components.length > 1 ? 1024 : 32768;
  for (const p of bParams)
    if (typeof p.text === 'string' && p.text.length > maxBody)
      return syncError(132005, { details: `body: parameter text is longer than ${maxBody} characters` });

  // Buttons: a URL button with a variable, and an authentication OTP button, need their parameter.
  const buttons = (comp(t, 'BUTTONS')?.buttons as Obj[] | undefined) ?? [];
  const sentButtons = sent(ref, 'button');
  for (let i = 0; i < buttons.length; i++) {
    const b = buttons[i];
    const bt = String(b.type).toUpperCase();
    // Authentication OTP buttons (copy code, one tap) carry the code as sub_type "url", index "0" (M-AUTH-COPY).
    const needs = bt === 'OTP' ? 'url' : bt === 'URL' && variables(b.url).length > 0 ? 'url' : bt === 'COPY_CODE' ? 'copy_code' : null;
    if (!needs) continue;
    const s = sentButtons.find((x) => String(x.index) === String(i));
    const params = (s?.parameters as Obj[] | undefined) ?? [];
    if (!s || params.length === 0) {
      return syncError(131008, {
        details: `buttons: Button at index ${i} of type ${needs === 'url' ? 'Url' : 'CopyCode'} requires a parameter`,
      });
    }
    if (s.sub_type !== undefined && String(s.sub_type).toLowerCase() !== needs)
      return syncError(132012, { details: `buttons: Button at index ${i} expects sub_type ${needs}` });
  }
  return null;
}

/** Validates a POST /{waba}/message_templates body. Returns the normalised fields or a Graph error. */
export function validateCreate(body: unknown):
  | {
      ok: true;
      name: string;
      language: string;
      category: TplCategory;
      components: Obj[];
      parameter_format: 'POSITIONAL' | 'NAMED';
      ttl?: number;
    }
  | { ok: false; err: SyncError } {
  const bad = (details: string) => ({ ok: false as const, err: syncError(100, { details }) });
  if (!isObj(body)) return bad('Request body must be a JSON object.');
  const { name, language, category, components } = body;
  if (typeof name !== 'string' || name === '') return bad('The parameter name is required.');
  if (name.length > 512 || !/^[a-z0-9_]+$/.test(name))
    return bad('Param name must contain only lowercase letters, numbers and underscores, at most 512 characters.');
  if (typeof language !== 'string' || language === '') return bad('The parameter language is required.');
  if (typeof category !== 'string') return bad('The parameter category is required.');
  const cat = category.toUpperCase();
  if (cat !== 'MARKETING' && cat !== 'UTILITY' && cat !== 'AUTHENTICATION')
    return bad('Param category must be one of {AUTHENTICATION, MARKETING, UTILITY}.');
  if (!Array.isArray(components) || components.length === 0) return bad('The parameter components is required.');
  let bodies = 0;
  for (const c of components) {
    if (!isObj(c) || typeof c.type !== 'string') return bad('Each component needs a type.');
    const t = c.type.toUpperCase();
    if (t === 'BODY') {
      bodies++;
      if (typeof c.text !== 'string' || c.text === '') return bad('BODY component needs text.');
      if (c.text.length > 1024) return bad('BODY text is over its character limit of 1024.');
      if (/^\s*\{\{[^}]+\}\}|\{\{[^}]+\}\}\s*$/.test(c.text)) return bad("Variables can't be at the start or end of the template.");
    } else if (t === 'HEADER') {
      if (String(c.format ?? 'TEXT').toUpperCase() === 'TEXT') {
        if (typeof c.text !== 'string' || c.text.length > 60) return bad('HEADER text is required and at most 60 characters.');
        if (variables(c.text).length > 1) return bad('HEADER text can have at most one variable.');
      }
    } else if (t === 'FOOTER') {
      if (typeof c.text === 'string' && c.text.length > 60) return bad('FOOTER text is over its character limit of 60.');
    } else if (t === 'BUTTONS') {
      if (!Array.isArray(c.buttons) || c.buttons.length === 0 || c.buttons.length > 10) return bad('BUTTONS needs 1 to 10 buttons.');
    } else {
      return bad(`Unknown component type ${c.type}.`);
    }
  }
  if (bodies !== 1) return bad('A template needs exactly one BODY component.');
  const pf = String(body.parameter_format ?? 'POSITIONAL').toUpperCase();
  if (pf !== 'POSITIONAL' && pf !== 'NAMED') return bad('Param parameter_format must be one of {POSITIONAL, NAMED}.');
  const ttl = typeof body.message_send_ttl_seconds === 'number' ? body.message_send_ttl_seconds : undefined;
  return { ok: true, name, language, category: cat, components: components as Obj[], parameter_format: pf, ttl };
}

/** The template object as GET /message_templates shows it. */
export function templateView(t: SandboxTemplate): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: t.name,
    parameter_format: t.parameter_format,
    components: t.components,
    language: t.language,
    status: t.status,
    category: t.category,
    id: t.id,
    quality_score: t.quality_score,
    rejected_reason: t.rejected_reason,
  };
  if (t.previous_category) out.previous_category = t.previous_category;
  if (t.message_send_ttl_seconds !== undefined) out.message_send_ttl_seconds = t.message_send_ttl_seconds;
  return out;
}
