// Template status, quality and category webhooks: the record the gate checks, an audit row for each
// change, and alerts for paused, disabled and low-quality templates.
import type { AppContext } from '../../engine/context.ts';
import type { Category, TemplateRecord, TemplateStatus } from '../../domain/types.ts';
import type { Obj, TemplateEvent } from '../events.ts';
import { asUnknown, audit, storeUnknown, type EventResult } from './shared.ts';

/** Meta's template events → the status the gate acts on; null = no change of sendability. */
const TEMPLATE_EVENT: Record<string, TemplateStatus | null> = {
  APPROVED: 'APPROVED',
  REINSTATED: 'APPROVED',
  PENDING: 'PENDING',
  REJECTED: 'REJECTED',
  PAUSED: 'PAUSED',
  DISABLED: 'DISABLED',
  IN_APPEAL: 'IN_APPEAL',
  PENDING_DELETION: 'PENDING_DELETION',
  DELETED: 'DELETED',
  ARCHIVED: 'DELETED', // archived templates cannot be sent
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  FLAGGED: null, // quality warning: still sendable until Meta pauses it
  LOCKED: null, // cannot be edited; still sendable
};

function category(c: string | null): Exclude<Category, 'service'> | null {
  return c === 'marketing' || c === 'utility' || c === 'authentication' ? c : null;
}

export async function applyTemplate(ctx: AppContext, ev: TemplateEvent): Promise<EventResult> {
  const c = ev.change;
  const { name, language } = c;
  const waba_id = ev.waba_id;
  if (!name || !language || !waba_id) return storeUnknown(ctx, asUnknown(ev, `${ev.field}:incomplete`, ev.value));
  const existing = await ctx.store.getTemplate(waba_id, name, language);
  // Meta's entry.time orders template changes: one older than the record's last update (a sync or a
  // later webhook) is stale. Seconds vs milliseconds: within the same second the webhook wins.
  if (existing && ev.entry_time !== null && ev.entry_time + 1000 <= existing.updated_at) return 'stale';
  const rec: TemplateRecord = existing
    ? { ...existing }
    : // First news of a template: until a sync fills it in, treat it as marketing (the strictest
      // category: caps and marketing opt-outs apply) unless Meta names the category.
      { waba_id, name, language, category: 'marketing', status: 'PENDING', quality: null, components: [], meta_id: null, updated_at: 0 };
  rec.meta_id = c.template_id ?? rec.meta_id ?? null;
  const before = { status: rec.status, quality: rec.quality ?? null, category: rec.category };
  const detail: Obj = { waba_id, name, language };

  if (ev.kind === 'template_status') {
    const event = c.event ?? '';
    const next = Object.hasOwn(TEMPLATE_EVENT, event) ? TEMPLATE_EVENT[event] : undefined;
    if (next === undefined) detail.unknown_event = event;
    else if (next !== null) rec.status = next;
    const cat = category(c.category);
    if (cat) rec.category = cat;
    Object.assign(detail, {
      event,
      reason: c.reason,
      other_info: c.other_info,
      rejection_info: c.rejection_info,
      disable_info: c.disable_info,
    });
  } else if (ev.kind === 'template_quality') {
    const q = c.new_quality;
    if (q === 'GREEN' || q === 'YELLOW' || q === 'RED' || q === 'UNKNOWN') rec.quality = q;
    detail.previous_quality = c.previous_quality;
    detail.new_quality = ev.value.new_quality_score ?? null;
  } else {
    // template_category_update: an impending change (correct_category + category_update_timestamp)
    // changes nothing yet (new_category is still the current one); a completed one switches it.
    const cat = category(c.new_category);
    if (c.correct_category !== undefined) detail.impending = { correct_category: c.correct_category, at: c.category_update_at };
    if (cat) rec.category = cat;
    detail.previous_category = c.previous_category;
    detail.new_category = ev.value.new_category ?? null;
  }
  rec.updated_at = Math.max(existing?.updated_at ?? 0, ev.entry_time ?? ctx.now());
  await ctx.store.upsertTemplate(rec);
  await ctx.gate.upsertTemplate(rec); // a PAUSED or DISABLED template is denied at the gate from now on
  const after = { status: rec.status, quality: rec.quality ?? null, category: rec.category };
  const changed = !existing || before.status !== after.status || before.quality !== after.quality || before.category !== after.category;
  if (changed)
    await audit(ctx, `template.${ev.kind.replace('template_', '')}`, `${waba_id}:${name}:${language}`, { ...detail, before, after });
  templateAlerts(ctx, rec, detail);
  return changed ? 'applied' : 'unchanged';
}

function templateAlerts(ctx: AppContext, t: TemplateRecord, detail: Obj): void {
  const base = `template:${t.waba_id}:${t.name}:${t.language}`;
  const senderOf = ctx.senders.list().find((s) => s.waba_id === t.waba_id)?.id ?? null;
  if (t.status === 'PAUSED' || t.status === 'DISABLED') {
    const kind = t.status === 'PAUSED' ? 'template_paused' : 'template_disabled';
    ctx.alerts.raise({
      kind,
      severity: t.status === 'PAUSED' ? 'warning' : 'critical',
      dedupe_key: `${base}:${t.status}`,
      sender_id: senderOf,
      title: `Template ${t.name} (${t.language}) is ${t.status}`,
      body:
        t.status === 'PAUSED'
          ? `Meta paused template "${t.name}" (${t.language}) for low quality; wagate now denies sends of it (TEMPLATE_PAUSED). Review the content and the audience; Meta unpauses it automatically or after an edit.`
          : `Meta disabled template "${t.name}" (${t.language}); wagate denies sends of it. Create a new template with improved content, or appeal in WhatsApp Manager.`,
      detail,
    });
  } else if (t.status === 'APPROVED') {
    ctx.alerts.resolve(`${base}:PAUSED`);
    ctx.alerts.resolve(`${base}:DISABLED`);
  }
  if (t.quality === 'RED') {
    ctx.alerts.raise({
      kind: 'quality_dropped',
      severity: 'warning',
      dedupe_key: `${base}:quality_red`,
      sender_id: senderOf,
      title: `Template ${t.name} (${t.language}) quality is RED`,
      body: `Meta rates template "${t.name}" low quality; it may be paused next. Review its content and who receives it.`,
      detail,
    });
  } else if (t.quality) {
    ctx.alerts.resolve(`${base}:quality_red`);
  }
}
