// Template status, quality, category and components webhooks: the record the gate checks, an audit row
// for each change, and alerts for paused, disabled and low-quality templates.
//
// Meta 2026 (changes-2026.md §5; Meta's status reference of 13 Apr 2026, pywa templates.py): ARCHIVED
// (inactivity; deleted after 28 days) and UNARCHIVED, which restores the status the template had
// before: wagate keeps that status (setting template.before_archive:<waba>:<name>:<language>) and,
// when it does not know it, asks Meta. A quality, category or components event about a template
// wagate has not synced fetches it (GET /{template_id}) instead of inventing a record. Languages are
// compared as Meta means them (templateLanguage: "en-US" is "en_US").
import type { AppContext } from '../../engine/context.ts';
import { toTemplateRecord } from '../../engine/templates.ts';
import { templateLanguage } from '../../domain/language.ts';
import type { Category, TemplateRecord, TemplateStatus } from '../../domain/types.ts';
import type { Obj, TemplateComponentsChange, TemplateEvent } from '../events.ts';
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
  ARCHIVED: 'ARCHIVED', // cannot be sent; UNARCHIVED restores the status before it (below)
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  FLAGGED: null, // quality warning: still sendable until Meta pauses it
  LOCKED: null, // cannot be edited; still sendable
};

function category(c: string | null): Exclude<Category, 'service'> | null {
  return c === 'marketing' || c === 'utility' || c === 'authentication' ? c : null;
}

/** Where the status a template had before Meta archived it is kept until it is unarchived. */
const beforeArchiveKey = (t: Pick<TemplateRecord, 'waba_id' | 'name' | 'language'>) =>
  `template.before_archive:${t.waba_id}:${t.name}:${t.language}`;

/** The template as Meta has it now (GET /{template_id}), through a sender of its WABA; null when it cannot be read. */
async function fetchTemplate(ctx: AppContext, waba_id: string, template_id: string | null, why: string): Promise<TemplateRecord | null> {
  const sender = ctx.senders.list().find((s) => s.waba_id === waba_id);
  if (!sender || !template_id) return null;
  const r = await ctx.meta.getTemplate(
    { phone_number_id: sender.phone_number_id, waba_id, access_token: sender.access_token },
    template_id,
  );
  if (!r.ok) {
    ctx.log.warn({ waba_id, template_id, code: r.error.code, why }, 'template webhook: the template could not be fetched from Meta');
    return null;
  }
  return toTemplateRecord(waba_id, r.value, ctx.now());
}

export async function applyTemplate(ctx: AppContext, ev: TemplateEvent): Promise<EventResult> {
  const c = ev.change;
  const name = c.name;
  const language = c.language ? templateLanguage(c.language) : null;
  const waba_id = ev.waba_id;
  if (!name || !language || !waba_id) return storeUnknown(ctx, asUnknown(ev, `${ev.field}:incomplete`, ev.value));
  let existing = await ctx.store.getTemplate(waba_id, name, language);
  // Meta's entry.time orders template changes: one older than the record's last update (a sync or a
  // later webhook) is stale. Seconds vs milliseconds: within the same second the webhook wins.
  if (existing && ev.entry_time !== null && ev.entry_time + 1000 <= existing.updated_at) return 'stale';
  let fetched = false;
  if (!existing || ev.kind === 'template_components') {
    // Not synced yet (or edited): what Meta has now, rather than a record made up from one event.
    const f = await fetchTemplate(ctx, waba_id, c.template_id ?? existing?.meta_id ?? null, ev.kind);
    if (f && f.name === name && f.language === language) {
      fetched = true;
      if (existing && f.status === 'ARCHIVED' && existing.status !== 'ARCHIVED')
        await ctx.store.setSetting(beforeArchiveKey(existing), existing.status);
      existing = existing ? { ...existing, ...f, updated_at: existing.updated_at } : { ...f, updated_at: 0 };
    } else if (!existing && ev.kind !== 'template_status') {
      // A quality, category or components event says too little to make a record the gate could use.
      await audit(ctx, 'template.unsynced', `${waba_id}:${name}:${language}`, {
        field: ev.field,
        template_id: c.template_id,
        note: 'The template is not synced and Meta could not be asked for it; nothing was recorded. Run a template sync (POST /v1/templates/sync).',
        value: ev.value,
      });
      return 'ignored';
    }
  }
  const rec: TemplateRecord = existing
    ? { ...existing }
    : // First news of a template from a status event and Meta could not be asked: until a sync fills
      // it in, treat it as marketing (the strictest category: caps and marketing opt-outs apply)
      // unless Meta names the category.
      { waba_id, name, language, category: 'marketing', status: 'PENDING', quality: null, components: [], meta_id: null, updated_at: 0 };
  rec.meta_id = c.template_id ?? rec.meta_id ?? null;
  const before = { status: rec.status, quality: rec.quality ?? null, category: rec.category };
  const detail: Obj = { waba_id, name, language };
  if (fetched) detail.fetched_from_meta = true;
  let componentsChanged = false;

  if (ev.kind === 'template_status') {
    const event = c.event ?? '';
    const next = Object.hasOwn(TEMPLATE_EVENT, event) ? TEMPLATE_EVENT[event] : undefined;
    if (event === 'UNARCHIVED') {
      const restored = await restoreFromArchive(ctx, rec, c.template_id, fetched);
      detail.restored_status = restored;
      if (restored) rec.status = restored;
    } else if (next === undefined) detail.unknown_event = event;
    else if (next === 'ARCHIVED') {
      if (rec.status !== 'ARCHIVED' && existing) await ctx.store.setSetting(beforeArchiveKey(rec), rec.status);
      rec.status = 'ARCHIVED';
    } else if (next !== null) rec.status = next;
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
  } else if (ev.kind === 'template_components') {
    // Meta's fetched components are the whole truth; without them, the edit the webhook shows is applied.
    if (!fetched && c.components) rec.components = patchComponents(rec.components, c.components);
    componentsChanged = JSON.stringify(rec.components) !== JSON.stringify(existing?.components ?? []);
    detail.components = c.components;
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
  const changed =
    !existing ||
    fetched ||
    componentsChanged ||
    before.status !== after.status ||
    before.quality !== after.quality ||
    before.category !== after.category;
  if (changed)
    await audit(ctx, `template.${ev.kind.replace('template_', '')}`, `${waba_id}:${name}:${language}`, { ...detail, before, after });
  templateAlerts(ctx, rec, detail);
  return changed ? 'applied' : 'unchanged';
}

/**
 * The status an unarchived template goes back to: the one kept when it was archived, else Meta's
 * (GET /{template_id}); null (the record is left as it is, and the audit says so) when neither is known.
 */
async function restoreFromArchive(
  ctx: AppContext,
  rec: TemplateRecord,
  template_id: string | null,
  fetched: boolean,
): Promise<TemplateStatus | null> {
  const key = beforeArchiveKey(rec);
  const kept = await ctx.store.getSetting(key);
  if (kept) {
    await ctx.store.setSetting(key, null);
    return kept as TemplateStatus;
  }
  if (rec.status !== 'ARCHIVED') return null; // wagate never saw it archived: its status stands
  if (fetched) return null; // Meta's current record was just read: rec.status already is Meta's
  const f = await fetchTemplate(ctx, rec.waba_id, template_id ?? rec.meta_id ?? null, 'unarchived');
  return f && f.status !== 'ARCHIVED' ? f.status : null;
}

/** A template's components with the edit a components webhook shows (body, text header, footer, URL and phone buttons). */
export function patchComponents(components: unknown[], u: TemplateComponentsChange): unknown[] {
  const out = components.map((x) => (typeof x === 'object' && x !== null ? { ...(x as Obj) } : x)) as unknown[];
  const find = (type: string) =>
    out.find((x): x is Obj => typeof x === 'object' && x !== null && String((x as Obj).type).toUpperCase() === type);
  const set = (type: string, text: string, extra: Obj = {}) => {
    const hit = find(type);
    if (hit) hit.text = text;
    else out.push({ type, ...extra, text });
  };
  if (u.header !== null) {
    const h = find('HEADER');
    if (!h || String(h.format ?? 'TEXT').toUpperCase() === 'TEXT') set('HEADER', u.header, { format: 'TEXT' });
  }
  if (u.body !== null) set('BODY', u.body);
  if (u.footer !== null) set('FOOTER', u.footer);
  const bc = find('BUTTONS');
  if (bc && Array.isArray(bc.buttons) && u.buttons.length) {
    // The webhook lists URL and phone-number buttons only, in order: the n-th of a type updates the n-th of that type.
    const seen = new Map<string, number>();
    bc.buttons = (bc.buttons as unknown[]).map((b) => {
      if (typeof b !== 'object' || b === null) return b;
      const type = String((b as Obj).type).toUpperCase();
      const i = seen.get(type) ?? 0;
      seen.set(type, i + 1);
      const upd = u.buttons.filter((x) => x.type === type)[i];
      if (!upd) return b;
      const nb: Obj = { ...(b as Obj) };
      if (upd.text !== null) nb.text = upd.text;
      if (upd.url !== null) nb.url = upd.url;
      if (upd.phone_number !== null) nb.phone_number = upd.phone_number;
      return nb;
    });
  }
  return out;
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
