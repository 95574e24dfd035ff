// Engine functions for customers: inbound messages (care windows), consent, profile. Durable store
// first, then the gate's fast state, then an audit row: a crash between leaves the store right and the
// gate is rebuilt from the store on start. Faces (HTTP, MCP, CLI) call the *FromInput functions,
// which validate what a caller sends and answer the customer view.
import { z } from 'zod';
import type { AppContext } from './context.ts';
import { appError } from '../shared/errors/app-error.ts';
import {
  CARE_WINDOW_MS,
  CATEGORIES,
  FEP_WINDOW_MS,
  type Category,
  type ConsentState,
  type CustomerRecord,
  type WindowRecord,
} from '../domain/types.ts';
import { normalisePhone } from '../domain/phone.ts';
import { isBsuid, portfolioOf } from '../domain/identity.ts';
import { isValidZone } from '../domain/timezone.ts';
import { maskPhone } from '../observability/log.ts';

export async function recordInbound(
  ctx: AppContext,
  input: { sender_id: string; wa_id: string; at: number; profile_name?: string | null; referral?: boolean; source: string },
): Promise<WindowRecord> {
  const sender = ctx.senders.resolve(input.sender_id);
  if (input.profile_name !== undefined) await ctx.store.upsertCustomer(input.wa_id, { profile_name: input.profile_name }, ctx.now());
  else await ctx.store.upsertCustomer(input.wa_id, {}, ctx.now());
  const w = await ctx.store.recordInbound(sender.id, input.wa_id, input.at, { referral: input.referral });
  await ctx.gate.recordInbound(sender.id, input.wa_id, input.at, { referral: input.referral });
  return w;
}

export async function setConsent(
  ctx: AppContext,
  input: {
    wa_id: string;
    category: Category;
    state: ConsentState;
    source: string;
    at?: number;
    actor?: string;
    /** false for a caller limited to some senders: it may not lift an opt-out (consent is shared by every sender). */
    may_lift_opt_out?: boolean;
  },
): Promise<CustomerRecord> {
  const at = input.at ?? ctx.now();
  if (input.may_lift_opt_out === false && input.state !== 'opted_out') {
    const cur = (await ctx.store.getCustomer(input.wa_id))?.consent[input.category];
    if (cur?.state === 'opted_out') {
      throw appError(
        'CONSENT_LIFT_FORBIDDEN',
        `The customer opted out of ${input.category} messages${cur.at ? ` at ${iso(cur.at)}` : ''}; an API key limited to some senders may record opt-outs but not lift one (consent is per customer, shared by every sender).`,
        { details: { category: input.category, state: cur.state, requested: input.state } },
      );
    }
  }
  const c = await ctx.store.setConsent(input.wa_id, input.category, input.state, input.source, at);
  // Mirror what the store kept, not the input: the store ignores an event older than the one it has
  // (a late STOP never overrides a newer START), and the gate must agree with it.
  // The time matters: a free-form reply after an opt-out is allowed only in a window opened after it.
  const kept = c.consent[input.category];
  await ctx.gate.updateCustomer({
    wa_id: input.wa_id,
    consent: { [input.category]: kept.state },
    consent_at: { [input.category]: kept.at ?? at },
  });
  await ctx.store.appendAudit({
    at,
    actor: input.actor ?? input.source,
    action: `consent.${input.state}`,
    subject: input.wa_id,
    detail: { category: input.category, source: input.source },
  });
  return c;
}

export async function updateCustomer(
  ctx: AppContext,
  input: {
    wa_id: string;
    tags?: string[];
    time_zone?: string | null;
    undeliverable_at?: number | null;
    marketing_limited_at?: number | null;
    actor: string;
  },
): Promise<CustomerRecord> {
  const { wa_id, actor, ...patch } = input;
  const c = await ctx.store.upsertCustomer(wa_id, patch, ctx.now());
  await ctx.gate.updateCustomer({ wa_id, ...patch });
  await ctx.store.appendAudit({ at: ctx.now(), actor, action: 'customer.update', subject: wa_id, detail: patch });
  return c;
}

// ---------- faces: validated input → the customer view ----------

export interface CustomerView {
  /** The key the customer's state is kept under: the phone when known, else the business-scoped user id. */
  wa_id: string;
  /** The phone, when wagate knows it. */
  phone: string | null;
  /** The business-scoped user ids wagate knows for this customer (Meta 2026). */
  user_ids: string[];
  /** false when wagate has no record of this number yet (everything below is the default). */
  known: boolean;
  profile_name: string | null;
  consent: Record<Category, ConsentState>;
  consent_detail: Record<Category, { state: ConsentState; at: string | null; source: string | null }>;
  windows: { sender: string; open: boolean; expires_at: string; kind: 'customer_service' | 'free_entry_point'; last_inbound_at?: string }[];
  tags: string[];
  time_zone: string | null;
  undeliverable_at: string | null;
  marketing_limited_at: string | null;
}

const iso = (t: number | null | undefined) => (t == null ? null : new Date(t).toISOString());

/** "+1 (415) 555-0123" → "14155550123", or a 400 saying why the number is not usable. */
export function parseWaId(phone: unknown): string {
  const p = normalisePhone(phone);
  if (!p.ok) {
    const shown = typeof phone === 'string' ? maskPhone(phone) : '';
    throw appError('INVALID_RECIPIENT', `The phone number${shown ? ` "${shown}"` : ''} is not usable: ${p.reason}.`, {
      fix: p.fix,
      details: { field: 'phone' },
    });
  }
  return p.digits;
}

function parseInput<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value ?? {});
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', problem: i.message }));
    throw appError('INVALID_REQUEST', `Invalid ${what}: ${issues.map((i) => `${i.field}: ${i.problem}`).join('; ')}`, {
      fix: 'Correct the named field(s) and send again.',
      details: { issues },
    });
  }
  return r.data;
}

/**
 * The key a customer's state is kept under, from a phone or a business-scoped user id: the phone a
 * link knows for the BSUID (in the portfolio of any configured sender), else the BSUID itself.
 */
export async function customerKeyOf(ctx: AppContext, id: unknown): Promise<string> {
  if (!isBsuid(id)) return parseWaId(id);
  for (const scope of new Set(ctx.senders.list().map(portfolioOf))) {
    const phone = await ctx.store.getLinkedPhone(scope, id);
    if (phone) return phone;
  }
  return id;
}

/** The BSUIDs known for this customer key (a BSUID key is its own). */
async function userIdsOf(ctx: AppContext, key: string): Promise<string[]> {
  if (isBsuid(key)) return [key];
  const all = new Set<string>();
  for (const scope of new Set(ctx.senders.list().map(portfolioOf)))
    for (const u of await ctx.store.listLinkedUserIds(scope, key)) all.add(u);
  return [...all];
}

export async function getCustomerView(ctx: AppContext, phone: unknown): Promise<CustomerView> {
  const wa_id = await customerKeyOf(ctx, phone);
  const [c, windows] = await Promise.all([ctx.store.getCustomer(wa_id), ctx.store.getWindows(wa_id)]);
  const now = ctx.now();
  const consent = {} as CustomerView['consent'];
  const detail = {} as CustomerView['consent_detail'];
  for (const cat of CATEGORIES) {
    const r = c?.consent[cat];
    consent[cat] = r?.state ?? 'unknown';
    detail[cat] = { state: r?.state ?? 'unknown', at: iso(r?.at), source: r?.source ?? null };
  }
  const views: CustomerView['windows'] = [];
  for (const w of windows) {
    const exp = w.last_inbound_at + CARE_WINDOW_MS;
    views.push({
      sender: w.sender_id,
      open: now < exp,
      expires_at: iso(exp)!,
      kind: 'customer_service',
      last_inbound_at: iso(w.last_inbound_at)!,
    });
    if (w.fep_opened_at != null) {
      const fexp = w.fep_opened_at + FEP_WINDOW_MS;
      views.push({ sender: w.sender_id, open: now < fexp, expires_at: iso(fexp)!, kind: 'free_entry_point' });
    }
  }
  return {
    wa_id,
    phone: isBsuid(wa_id) ? null : wa_id,
    user_ids: await userIdsOf(ctx, wa_id),
    known: c !== null,
    profile_name: c?.profile_name ?? null,
    consent,
    consent_detail: detail,
    windows: views,
    tags: c?.tags ?? [],
    time_zone: c?.time_zone ?? null,
    undeliverable_at: iso(c?.undeliverable_at),
    marketing_limited_at: iso(c?.marketing_limited_at),
  };
}

const Tag = z.string().trim().min(1, 'a tag cannot be empty').max(64, 'at most 64 characters per tag');
const ProfileInput = z.strictObject({
  tags: z.array(Tag, { error: 'a list of tag strings, e.g. ["vip"]' }).max(100, 'at most 100 tags').optional(),
  time_zone: z
    .string({ error: 'an IANA time zone name such as "America/Sao_Paulo", or null' })
    .refine(isValidZone, 'not an IANA time zone; use a name like "Europe/Berlin" or "America/Sao_Paulo"')
    .nullable()
    .optional(),
  /** Clears (null) a 131026 "undeliverable" hold after the customer fixed their app. */
  undeliverable_at: z.null({ error: 'only null (clear the undeliverable hold) can be set here' }).optional(),
});

/** PUT /v1/customers/:phone — tags, time_zone (and clearing an undeliverable hold). */
export async function updateCustomerFromInput(ctx: AppContext, phone: unknown, body: unknown, actor: string): Promise<CustomerView> {
  const wa_id = await customerKeyOf(ctx, phone);
  const input = parseInput(ProfileInput, body, 'customer update');
  if (input.tags) input.tags = [...new Set(input.tags)];
  await updateCustomer(ctx, { wa_id, ...input, actor });
  return getCustomerView(ctx, wa_id);
}

const ConsentInput = z.strictObject({
  category: z.enum(['marketing', 'utility', 'authentication', 'service'], { error: 'one of marketing, utility, authentication, service' }),
  state: z.enum(['opted_in', 'opted_out', 'unknown'], { error: 'one of opted_in, opted_out, unknown' }),
  source: z.string().trim().min(1).max(200).optional(),
});

/** PUT /v1/customers/:phone/consent — {category, state, source}. */
export async function setConsentFromInput(
  ctx: AppContext,
  phone: unknown,
  body: unknown,
  actor: string,
  opts: { may_lift_opt_out?: boolean } = {},
): Promise<CustomerView> {
  const wa_id = await customerKeyOf(ctx, phone);
  const input = parseInput(ConsentInput, body, 'consent');
  await setConsent(ctx, {
    wa_id,
    category: input.category,
    state: input.state,
    source: input.source ?? actor,
    actor,
    may_lift_opt_out: opts.may_lift_opt_out,
  });
  return getCustomerView(ctx, wa_id);
}

const At = z
  .union([z.number().int().positive(), z.string()], { error: 'an ISO 8601 time ("2026-06-15T12:00:00Z") or epoch milliseconds' })
  .transform((v, c) => {
    const t = typeof v === 'number' ? v : Date.parse(v);
    if (!Number.isFinite(t)) {
      c.addIssue({ code: 'custom', message: 'not a time; use ISO 8601 like "2026-06-15T12:00:00Z"' });
      return z.NEVER;
    }
    return t;
  });
const InboundInput = z.strictObject({
  sender: z.string().min(1).optional(),
  at: At.optional(),
  referral: z.boolean({ error: 'true when the customer came from a click-to-WhatsApp ad' }).optional(),
  profile_name: z.string().max(200).optional(),
});

/**
 * POST /v1/customers/:phone/inbound — records that the customer wrote (opens or refreshes the care
 * window on that sender). For demos and for systems that receive messages elsewhere; webhooks do it
 * in production.
 */
export async function recordInboundFromInput(ctx: AppContext, phone: unknown, body: unknown, actor: string): Promise<CustomerView> {
  const wa_id = await customerKeyOf(ctx, phone);
  const input = parseInput(InboundInput, body, 'inbound');
  const now = ctx.now();
  const at = input.at ?? now;
  if (at > now + 5 * 60_000)
    throw appError('INVALID_REQUEST', `Invalid inbound: at: ${iso(at)} is in the future.`, {
      fix: 'Give the time the customer wrote, not later than now.',
      details: { field: 'at' },
    });
  const sender = ctx.senders.resolve(input.sender ?? null);
  await recordInbound(ctx, { sender_id: sender.id, wa_id, at, referral: input.referral, profile_name: input.profile_name, source: actor });
  await ctx.store.appendAudit({
    at: now,
    actor,
    action: 'customer.inbound',
    subject: wa_id,
    detail: { sender: sender.id, at, referral: input.referral ?? false },
  });
  return getCustomerView(ctx, wa_id);
}
