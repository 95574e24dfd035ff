// What may be sent to a customer now, asked of the real gate with dry runs (checkCompliance): per
// category, which approved templates fit, the customer's context with every category's answer, and
// wagate's per-customer marketing cap. Nothing here decides: the rules stay in src/domain/decide.ts.
import type { AppContext } from './context.ts';
import { checkCompliance } from './compliance.ts';
import { customerKeyOf, getCustomerView, type CustomerView } from './customers.ts';
import { addressOf } from '../domain/identity.ts';
import { resolveSender } from './senders.ts';
import { findTemplate, templateComponents } from './templates.ts';
import { deny, type Decision } from '../domain/decision.ts';
import { templateSpec, describeSpec } from '../domain/templates.ts';
import type { Category, TemplateRecord } from '../domain/types.ts';

export interface Eligibility {
  eligible: boolean;
  reason_code: string | null;
  explanation: string;
  suggested_action: string;
  /** The approved template the check used for a template category (null for service). */
  template: { name: string; language: string } | null;
  /** The gate's full decision (checks included). */
  decision: Decision;
}

/**
 * Would a message of this category be allowed now? Service: a free-form text. Template categories:
 * the first approved template of that category on the sender's WABA with sample parameters (the gate
 * decides by the template's category, never by a caller's claim). No such template → not eligible.
 */
export async function categoryEligibility(
  ctx: AppContext,
  input: { wa_id: string; category?: Category; sender?: string; template_name?: string; locale?: string },
): Promise<Eligibility> {
  const sender = resolveSender(ctx, input.sender);
  let body: Record<string, unknown>;
  let used: Eligibility['template'] = null;
  if (!input.template_name && (input.category ?? 'service') === 'service') {
    body = { ...addressOf(input.wa_id), type: 'text', text: { body: 'eligibility check' } };
  } else {
    const candidates = input.template_name
      ? [await findTemplate(ctx, sender, input.template_name, input.locale)].filter((t): t is TemplateRecord => t !== null)
      : (await ctx.store.listTemplates({ waba_id: sender.waba_id, status: 'APPROVED' })).filter((t) => t.category === input.category);
    const t = candidates[0];
    if (!t) {
      const explanation = input.template_name
        ? `Template "${input.template_name}" is not known on WABA ${sender.waba_id}.`
        : `No approved ${input.category} template exists on WABA ${sender.waba_id}, so no ${input.category} message can be sent.`;
      const action =
        'Sync templates (sync_template_status / POST /v1/templates/sync) or create one (create_template) and wait for approval.';
      return {
        eligible: false,
        reason_code: 'TEMPLATE_NOT_FOUND',
        explanation,
        suggested_action: action,
        template: null,
        decision: deny('TEMPLATE_NOT_FOUND', explanation, action, [{ rule: 'template_exists', passed: false, detail: explanation }]),
      };
    }
    used = { name: t.name, language: t.language };
    body = {
      ...addressOf(input.wa_id),
      type: 'template',
      template: { name: t.name, language: { code: t.language }, components: templateComponents(t, undefined, { sample: true }) },
    };
  }
  const d = await checkCompliance(ctx, { body, sender: sender.id });
  return {
    eligible: d.allowed,
    reason_code: d.reason_code,
    explanation: d.explanation,
    suggested_action: d.suggested_action,
    template: used,
    decision: d,
  };
}

/**
 * The approved templates that would be allowed for this customer right now (each judged by the gate
 * with sample parameters): what to send instead when a free-form message is refused. Opted-out or
 * capped categories drop out on their own.
 */
export async function fittingTemplates(
  ctx: AppContext,
  input: { to: string; sender?: string; limit?: number },
): Promise<{ name: string; language: string; category: string; parameters: string }[]> {
  const sender = resolveSender(ctx, input.sender);
  const wa_id = await customerKeyOf(ctx, input.to);
  const approved = (await ctx.store.listTemplates({ waba_id: sender.waba_id, status: 'APPROVED' }))
    .sort((a, b) => a.name.localeCompare(b.name))
    .slice(0, 50);
  const out: { name: string; language: string; category: string; parameters: string }[] = [];
  for (const t of approved) {
    const e = await categoryEligibility(ctx, { wa_id, template_name: t.name, locale: t.language, sender: sender.id });
    if (e.eligible) out.push({ name: t.name, language: t.language, category: t.category, parameters: describeSpec(templateSpec(t)) });
    if (out.length >= (input.limit ?? 20)) break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Customer context, frequency cap

export async function getCustomerContext(
  ctx: AppContext,
  input: { customer_id: string; sender?: string },
): Promise<
  CustomerView & { sender: string; marketing_count_24h: number; marketing_cap_per_24h: number; eligibility: Record<Category, Eligibility> }
> {
  const view = await getCustomerView(ctx, input.customer_id);
  const sender = resolveSender(ctx, input.sender);
  const cats: Category[] = ['marketing', 'utility', 'authentication', 'service'];
  const results = await Promise.all(cats.map((c) => categoryEligibility(ctx, { wa_id: view.wa_id, category: c, sender: sender.id })));
  return {
    ...view,
    sender: sender.id,
    marketing_count_24h: await ctx.gate.marketingCount(view.wa_id, ctx.now()),
    marketing_cap_per_24h: ctx.config.policies.marketing_cap_per_24h,
    eligibility: Object.fromEntries(cats.map((c, i) => [c, results[i]])) as Record<Category, Eligibility>,
  };
}

/**
 * wagate's per-customer marketing cap (a local policy: Meta's own per-user limit is dynamic and
 * undisclosed; its 131049 refusals are tracked as marketing_limited_by_meta_at).
 */
export async function checkFrequencyCap(
  ctx: AppContext,
  input: { customer_id: string; sender?: string },
): Promise<Record<string, unknown>> {
  const wa_id = await customerKeyOf(ctx, input.customer_id);
  const now = ctx.now();
  const [count, view, elig] = await Promise.all([
    ctx.gate.marketingCount(wa_id, now),
    getCustomerView(ctx, wa_id),
    categoryEligibility(ctx, { wa_id, category: 'marketing', sender: input.sender }),
  ]);
  const limit = ctx.config.policies.marketing_cap_per_24h;
  const capped = elig.reason_code === 'FREQUENCY_CAP' || (elig.template === null && count >= limit);
  return {
    customer_id: wa_id,
    is_capped: capped,
    marketing_count_24h: count,
    limit,
    window: 'rolling 24 h',
    marketing_eligible: elig.eligible,
    reason_code: elig.reason_code,
    reason: elig.explanation,
    suggested_action: elig.suggested_action,
    marketing_limited_by_meta_at: view.marketing_limited_at,
    note: "The cap is wagate's policy (policies.marketing_cap_per_24h). Marketing inside a window the customer opened does not count. Meta also applies its own undisclosed per-user limit (error 131049).",
  };
}
