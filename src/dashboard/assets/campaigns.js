// Campaigns (/v1/campaigns): progress, the preview's results (a dry run of the gate for every
// recipient), start, pause, resume, cancel. Refreshes itself like every page.
import { html } from './html.js';
import { useState } from 'preact/hooks';
import { api, errorText, fmtDuration, fmtTime, get, isAdmin, usePoll } from './api.js';

const enc = encodeURIComponent;
const ACTIONS = {
  draft: ['start'],
  scheduled: ['cancel'],
  running: ['pause', 'cancel'],
  paused: ['resume', 'cancel'],
};
const LABEL = { start: 'Start', pause: 'Pause', resume: 'Resume', cancel: 'Cancel' };

function Preview({ p }) {
  const denied = Object.entries(p.denied ?? {});
  return html`<div class="fix" data-testid="campaign-preview">
    <strong>Preview:</strong> ${p.allowed} of ${p.total} would pass the gate now${p.eta_s != null ? `, about ${fmtDuration(p.eta_s)} to send` : ''}.
    ${denied.length ? html`<div>Denied: ${denied.map(([r, n]) => html`<code>${r}</code> ${n} `)}</div>` : ''}
  </div>`;
}

function CampaignRow({ c, reload }) {
  const [busy, setBusy] = useState(null);
  const [err, setErr] = useState(null);
  const [preview, setPreview] = useState(null);
  const act = async (what) => {
    setBusy(what);
    setErr(null);
    try {
      if (what === 'preview') setPreview(await api('POST', `/v1/campaigns/${enc(c.id)}/preview`));
      else
        await api(
          'POST',
          `/v1/campaigns/${enc(c.id)}/${what}`,
          what === 'pause' || what === 'cancel' ? { reason: `${what} from the dashboard` } : {},
        );
      reload();
    } catch (e) {
      setErr(e);
    } finally {
      setBusy(null);
    }
  };
  const k = c.counts;
  const actions = isAdmin() ? [...(c.terminal ? [] : ['preview']), ...(ACTIONS[c.status] ?? [])] : [];
  return html`<article class="card" data-testid=${`campaign-${c.id}`} aria-labelledby=${`c-h-${c.id}`}>
    <header>
      <h2 id=${`c-h-${c.id}`}>${c.name}</h2>
      <span data-testid="campaign-status" class=${`badge ${c.status === 'paused' ? 'paused' : c.status === 'cancelled' ? 'bad' : c.status === 'completed' ? 'ok' : ''}`}>${c.status}</span>
    </header>
    <p class="muted">${c.template.name} (${c.template.category}) from ${c.sender} · created ${fmtTime(c.created_at)}${c.status_reason ? ` · ${c.status_reason}` : ''}</p>
    <div class="bar" role="progressbar" aria-label=${`${c.name} progress`} aria-valuenow=${c.progress.percent} aria-valuemin="0" aria-valuemax="100"><span style=${{ width: `${c.progress.percent}%` }}></span></div>
    <p>
      ${c.progress.done} of ${c.progress.total} done (${c.progress.percent}%)
      ${c.progress.rate_mps ? ` · ${c.progress.rate_mps} msg/s` : ''}${c.progress.eta_s ? ` · ${fmtDuration(c.progress.eta_s)} left` : ''}
    </p>
    <dl class="kv">
      <dt>Sent</dt><dd>${k.sent} · delivered ${k.delivered} · read ${k.read}</dd>
      <dt>Waiting</dt><dd>${k.pending} pending · ${k.queued} queued</dd>
      <dt>Failed / denied</dt><dd>${k.failed} failed · ${k.denied} denied${
        Object.keys(k.denied_by_reason ?? {}).length
          ? ` (${Object.entries(k.denied_by_reason)
              .map(([r, n]) => `${r} ${n}`)
              .join(', ')})`
          : ''
      }</dd>
    </dl>
    ${preview && html`<${Preview} p=${preview} />`}
    ${
      actions.length > 0 &&
      html`<div class="actions">
        ${actions.map(
          (a) =>
            html`<button type="button" class=${a === 'cancel' ? 'danger' : a === 'preview' ? 'secondary' : ''} disabled=${!!busy} onClick=${() => act(a)}>${busy === a ? '…' : (LABEL[a] ?? 'Preview')}</button>`,
        )}
      </div>`
    }
    ${err && html`<p class="badge bad" role="alert">${errorText(err)}</p>`}
  </article>`;
}

export function Campaigns() {
  const [r, err, reload] = usePoll(() => get('/v1/campaigns?limit=100'), []);
  return html`<h1>Campaigns</h1>
    ${err && html`<div class="banner error" role="alert">${errorText(err)}</div>`}
    ${r && !r.campaigns.length && html`<p class="muted">No campaign yet. Create one with POST /v1/campaigns or <code>wagate campaign create</code>.</p>`}
    <div class="grid">${(r?.campaigns ?? []).map((c) => html`<${CampaignRow} key=${c.id} c=${c} reload=${reload} />`)}</div>`;
}
