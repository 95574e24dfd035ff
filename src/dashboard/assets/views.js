// The dashboard's pages. Each reads /v1 with the session cookie and refreshes itself (usePoll).
import { html } from './html.js';
import { useState } from 'preact/hooks';
import { api, errorText, fmtDuration, fmtTime, get, isAdmin, secondsUntil, showPhone, useNow, usePoll } from './api.js';
import { Chart } from './charts.js';

const enc = encodeURIComponent;

function Badge({ v, label }) {
  return html`<span class=${`badge ${v ?? ''}`}>${label ?? v ?? '—'}</span>`;
}

function Problem({ error }) {
  if (!error) return null;
  return html`<div class="banner error" role="alert">${errorText(error)}</div>`;
}

/** A button that runs an async action, shows it running and reports the error. */
function Action({ label, run, kind, disabled, testid, confirm }) {
  const [busy, setBusy] = useState(false);
  const [armed, setArmed] = useState(false);
  const [err, setErr] = useState(null);
  const click = async () => {
    if (confirm && !armed) return setArmed(true);
    setBusy(true);
    setErr(null);
    try {
      await run();
    } catch (e) {
      setErr(e);
    } finally {
      setBusy(false);
      setArmed(false);
    }
  };
  return html`<span class="actions">
    <button type="button" class=${kind ?? ''} disabled=${busy || disabled} onClick=${click} data-testid=${testid}>
      ${busy ? '…' : armed ? `Confirm: ${label.toLowerCase()}` : label}
    </button>
    ${err && html`<span class="badge bad" role="alert">${errorText(err)}</span>`}
  </span>`;
}

// ---------------------------------------------------------------------------------------------
// Overview

function TokenForm({ sender, onDone }) {
  const [token, setToken] = useState('');
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      await api('PUT', `/v1/senders/${enc(sender.id)}/token`, { access_token: token });
      setToken('');
      onDone();
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  };
  const id = `token-${sender.id}`;
  return html`<form class="inline" onSubmit=${submit} data-testid=${`token-form-${sender.id}`}>
    <label for=${id}>New access token for ${sender.id}
      <input id=${id} type="password" autocomplete="off" required value=${token} onInput=${(e) => setToken(e.currentTarget.value)} />
    </label>
    <button type="submit" disabled=${busy || !token}>${busy ? 'Checking…' : 'Set token'}</button>
    ${err && html`<div class="badge bad" role="alert">${errorText(err)}</div>`}
  </form>`;
}

/** A sender's reason: long ones (Meta's step-by-step texts) fold under their first sentence. */
function Reason({ text, code }) {
  const first = text.length > 160 ? `${text.split(/(?<=[.:])\s/)[0].slice(0, 160)}…` : null;
  const c = code && html` <code>${code}</code>`;
  if (!first) return html`<p><strong>Reason:</strong> ${text}${c}</p>`;
  return html`<details class="reason"><summary><strong>Reason:</strong> ${first}${c}</summary><p>${text}</p></details>`;
}

function SenderCard({ s, now, reload }) {
  const exp = s.token?.expires_at;
  const never = s.token?.seconds_to_expiry === -1 || exp === 'never';
  const left = never ? Number.POSITIVE_INFINITY : exp && !Number.isNaN(Date.parse(exp)) ? secondsUntil(exp, now) : null;
  const limit = s.messaging_limit?.limit;
  const used = s.messaging_limit?.unique_recipients_24h ?? 0;
  const pct = limit ? Math.min(100, Math.round((used / limit) * 100)) : 0;
  return html`<article class="card" data-testid=${`sender-${s.id}`} aria-labelledby=${`sender-h-${s.id}`}>
    <header>
      <h2 id=${`sender-h-${s.id}`}>${s.id} <span class="muted mono">${s.display_phone_number ?? s.phone_number_id}</span></h2>
      <span data-testid="sender-state"><${Badge} v=${s.display_state} /></span>
    </header>
    ${s.reason && s.display_state !== 'active' && html`<${Reason} text=${s.reason} code=${s.reason_code} />`}
    ${s.fix && html`<p class="fix"><strong>Fix:</strong> ${s.fix}</p>`}
    ${s.restrictions?.map((r) => html`<p class="fix">Restricted: <code>${r.type}</code> until ${fmtTime(r.expires_at)}</p>`)}
    <dl class="kv">
      <dt>Token</dt>
      <dd data-testid="sender-token">
        ${s.token?.valid === false ? html`<${Badge} v="bad" label="not valid" />` : s.token?.valid ? html`<${Badge} v="ok" label="valid" />` : 'not checked yet'}
        ${s.token?.valid === false && s.token.reason && html` <span class="muted">${s.token.reason}</span>`}
        ${s.token?.valid !== false && html`${' '}${left === Number.POSITIVE_INFINITY ? 'never expires' : left !== null ? html`<span data-testid="token-countdown">${left > 0 ? `expires in ${fmtDuration(left)}` : 'expired'}</span>` : s.token?.checked_at ? '' : html`<span class="muted">expiry not read yet (Check now)</span>`}`}
      </dd>
      <dt>Quality</dt>
      <dd>${s.quality_rating ? html`<${Badge} v=${s.quality_rating} />` : '—'} ${s.messaging_limit_tier && html`<span class="muted">${s.messaging_limit_tier}</span>`}</dd>
      <dt>Messaging limit</dt>
      <dd>
        ${used} of ${limit ?? 'unlimited'} unique users (rolling 24 h)
        ${limit && html`<div class=${`bar ${pct > 80 ? 'high' : ''}`} role="progressbar" aria-label="Messaging limit used" aria-valuenow=${pct} aria-valuemin="0" aria-valuemax="100"><span style=${{ width: `${pct}%` }}></span></div>`}
      </dd>
      <dt>Throughput</dt>
      <dd>${s.throughput?.sent_last_minute ?? 0} sent last minute · ${s.throughput?.avg_mps_5min ?? 0} msg/s (5 min) · capacity ${s.throughput_mps} msg/s</dd>
      <dt>Queue</dt>
      <dd>${s.queue ? `${s.queue.depth} waiting, oldest ${fmtDuration(s.queue.oldest_age_s)}` : '—'}</dd>
    </dl>
    ${
      isAdmin() &&
      html`<div class="actions">
        ${s.state === 'active' && html`<${Action} label="Pause" kind="secondary" run=${() => api('POST', `/v1/senders/${enc(s.id)}/pause`, { reason: 'paused from the dashboard' }).then(reload)} />`}
        ${(s.state === 'paused' || s.state === 'halted') && html`<${Action} label="Resume" run=${() => api('POST', `/v1/senders/${enc(s.id)}/resume`, {}).then(reload)} />`}
        <${Action} label="Check now" kind="secondary" run=${() => api('POST', `/v1/senders/${enc(s.id)}/check`, {}).then(reload)} />
      </div>`
    }
    ${isAdmin() && (s.state === 'halted' || s.token?.valid === false) && html`<${TokenForm} sender=${s} onDone=${reload} />`}
  </article>`;
}

const RANGES = [
  [60, 'last hour'],
  [360, 'last 6 hours'],
  [1440, 'last 24 hours'],
  [10080, 'last 7 days'],
];

export function Overview() {
  const now = useNow(1000);
  const [minutes, setMinutes] = useState(60);
  const [o, err, reload] = usePoll(() => get('/v1/overview'), []);
  const [series] = usePoll(() => get(`/v1/stats/series?minutes=${minutes}`), [minutes]);
  if (!o) return html`<${Problem} error=${err} /><p>Loading…</p>`;
  const total = o.messages ? Object.values(o.messages).reduce((a, b) => a + b, 0) : null;
  return html`<${Problem} error=${err} />
    <h1>Overview</h1>
    <div class="tiles">
      <div class="tile" data-testid="tile-queue"><div class="n">${o.queue?.depth ?? '—'}</div><div class="l">queued · oldest ${fmtDuration(o.queue?.oldest_age_s)}</div></div>
      <div class="tile" data-testid="tile-dead-letters"><div class="n">${o.dead_letters.open}</div><div class="l"><a href="#/dead-letters">open dead letters</a></div></div>
      <div class="tile" data-testid="tile-alerts"><div class="n">${o.open_alerts}</div><div class="l"><a href="#/alerts">open alerts</a></div></div>
      ${total !== null && html`<div class="tile"><div class="n">${total}</div><div class="l"><a href="#/messages">messages stored</a></div></div>`}
    </div>
    <div class="grid">${o.senders.map((s) => html`<${SenderCard} key=${s.id} s=${s} now=${now} reload=${reload} />`)}</div>
    <div class="row" style=${{ marginTop: '1em' }}>
      <label>Charts over
        <select value=${minutes} onChange=${(e) => setMinutes(Number(e.currentTarget.value))}>
          ${RANGES.map(([m, l]) => html`<option value=${m}>${l}</option>`)}
        </select>
      </label>
    </div>
    ${
      series &&
      html`<div class="charts">
        <${Chart} testid="chart-sends" title="Sends per minute by outcome" t=${series.t} series=${series.sends} unit="sends" />
        <${Chart} testid="chart-decisions" title="Gate decisions per minute by reason" t=${series.t} series=${series.decisions} unit="decisions" />
        <${Chart} testid="chart-errors" title="Meta errors per minute by code" t=${series.t} series=${series.meta_errors} unit="errors" />
        <${Chart} testid="chart-latency" title="Delivery latency (enqueue to Meta accept)" t=${series.t} series=${{ p50: series.latency_ms.p50, p95: series.latency_ms.p95 }} unit="ms" />
      </div>`
    }`;
}

// ---------------------------------------------------------------------------------------------
// Messages

function Decision({ d }) {
  if (!d) return html`<p class="muted">No decision recorded with this message.</p>`;
  return html`<div data-testid="decision">
    <p>
      <${Badge} v=${d.allowed ? 'ok' : 'bad'} label=${d.allowed ? 'allowed' : 'denied'} />
      ${d.reason_code && html` <code>${d.reason_code}</code>`} ${d.explanation}
    </p>
    ${!d.allowed && d.suggested_action && html`<p class="fix">${d.suggested_action}</p>`}
    <div class="table-wrap">
      <table>
        <caption class="sr-only">Every check the gate ran</caption>
        <thead><tr><th scope="col">Check</th><th scope="col">Outcome</th><th scope="col">Detail</th></tr></thead>
        <tbody>
          ${(d.checks ?? []).map(
            (c) =>
              html`<tr data-testid="check"><td><code class="rule">${c.rule}</code></td><td><${Badge} v=${c.passed ? 'passed' : 'failed'} label=${c.passed ? 'passed' : 'failed'} /></td><td class="wrap">${c.detail}</td></tr>`,
          )}
        </tbody>
      </table>
    </div>
  </div>`;
}

// Statuses in the order a message lives them: Meta's webhook times have whole seconds, so a `sent`
// can carry an earlier time than the `queued` wagate stamped in milliseconds.
const STAGE = { queued: 0, sending: 1, in_doubt: 2, accepted: 3, sent: 4, delivered: 5, read: 6, failed: 7, dead_lettered: 8 };
const byLifecycle = (a, b) => (STAGE[a.status] ?? 9) - (STAGE[b.status] ?? 9) || (a.at < b.at ? -1 : a.at > b.at ? 1 : 0);

function MessageDetail({ id }) {
  const [r, err] = usePoll(() => get(`/v1/messages/search?q=${enc(id)}`), [id]);
  const m = r?.messages?.find((x) => x.id === id);
  if (!m) return html`<${Problem} error=${err} /><p>Loading…</p>`;
  return html`<section class="card" aria-label="Message" data-testid="message-detail">
    <header><h2 class="mono">${m.id}</h2><span data-testid="message-status"><${Badge} v=${m.status} /></span></header>
    <dl class="kv">
      <dt>To</dt><dd class="mono">${showPhone(m.to)}</dd>
      <dt>Sender</dt><dd>${m.sender}</dd>
      <dt>What</dt><dd>${m.template ? `template ${m.template.name} (${m.template.language})` : m.type} · ${m.category}</dd>
      <dt>wamid</dt><dd class="mono">${m.wamid ?? '—'}</dd>
      <dt>Attempts</dt><dd>${m.attempts}</dd>
      ${m.last_error && html`<dt>Last error</dt><dd><pre>${JSON.stringify(m.last_error, null, 2)}</pre></dd>`}
    </dl>
    <h3>Statuses</h3>
    <ol class="timeline" data-testid="status-timeline">
      ${[...m.history].sort(byLifecycle).map(
        (
          h,
        ) => html`<li class=${h.status === m.status ? 'now' : ''}><${Badge} v=${h.status} /> ${fmtTime(h.at)} <span class="muted">${h.source}</span>
          ${h.detail?.error && html` <code>${h.detail.error.code} ${h.detail.error.title ?? ''}</code>`}</li>`,
      )}
    </ol>
    <h3>Gate decision</h3>
    <${Decision} d=${m.decision} />
  </section>`;
}

export function Messages({ query }) {
  const [q, setQ] = useState(query.q ?? '');
  const selected = query.id ?? null;
  const term = query.q ?? '';
  const [list, err] = usePoll(
    () => (term ? get(`/v1/messages/search?q=${enc(term)}`) : get('/v1/messages?limit=25').then((r) => ({ messages: r.messages }))),
    [term],
  );
  const go = (params) => {
    const s = new URLSearchParams(params).toString();
    location.hash = `#/messages${s ? `?${s}` : ''}`;
  };
  return html`<h1>Messages</h1>
    <form class="inline" role="search" onSubmit=${(e) => {
      e.preventDefault();
      go(q ? { q } : {});
    }}>
      <label for="msg-q">Message id, wamid, phone number or business-scoped user id
        <input id="msg-q" type="search" value=${q} onInput=${(e) => setQ(e.currentTarget.value)} placeholder="msg_…, wamid.…, +447700900123, US.1234…" />
      </label>
      <button type="submit">Search</button>
    </form>
    <${Problem} error=${err} />
    <div class="split">
      <div class="table-wrap">
        <table data-testid="message-list">
          <caption class="sr-only">${term ? `Messages matching ${term}` : 'Latest messages'}</caption>
          <thead><tr><th scope="col">Message</th><th scope="col">Status</th><th scope="col">To</th><th scope="col">Created</th></tr></thead>
          <tbody>
            ${(list?.messages ?? []).map(
              (m) => html`<tr>
                <td><a href=${`#/messages?${new URLSearchParams({ ...(term ? { q: term } : {}), id: m.id })}`} class="mono">${m.id}</a><div class="muted">${m.template ? m.template.name : m.type}</div></td>
                <td><${Badge} v=${m.status} /></td>
                <td class="mono nowrap">${showPhone(m.to)}</td>
                <td>${fmtTime(m.created_at)}</td>
              </tr>`,
            )}
            ${list && !list.messages.length && html`<tr><td colspan="4" class="muted">No message found.</td></tr>`}
          </tbody>
        </table>
      </div>
      <div>${selected ? html`<${MessageDetail} id=${selected} />` : html`<p class="muted">Pick a message to see its statuses and the gate's decision.</p>`}</div>
    </div>`;
}

// ---------------------------------------------------------------------------------------------
// Customers

function CustomerDetail({ id, senders }) {
  const now = useNow(1000);
  const [c, err] = usePoll(() => get(`/v1/customers/${enc(id)}`), [id]);
  const [t] = usePoll(() => get(`/v1/customers/${enc(id)}/timeline`), [id], 5000);
  const [caps] = usePoll(
    () =>
      Promise.all(senders.map((s) => get(`/v1/customers/${enc(id)}/frequency-cap?sender=${enc(s)}`).then((r) => ({ sender: s, ...r })))),
    [id, senders.join(',')],
    10000,
  );
  if (!c) return html`<${Problem} error=${err} /><p>Loading…</p>`;
  return html`<section class="card" aria-label="Customer" data-testid="customer-detail">
    <header><h2 class="mono">${showPhone(c.phone ?? c.wa_id)}</h2>${c.profile_name && html`<span>${c.profile_name}</span>`}</header>
    <dl class="kv">
      <dt>Business-scoped ids</dt><dd class="mono">${c.user_ids?.length ? c.user_ids.join(', ') : '—'}</dd>
      <dt>Tags</dt><dd>${c.tags?.length ? c.tags.map((x) => html`<span class="badge">${x}</span> `) : '—'}</dd>
      <dt>Time zone</dt><dd>${c.time_zone ?? '—'}</dd>
    </dl>
    <h3>Consent</h3>
    <div class="table-wrap"><table>
      <thead><tr><th scope="col">Category</th><th scope="col">State</th><th scope="col">Source</th><th scope="col">Since</th></tr></thead>
      <tbody>${Object.entries(c.consent_detail ?? {}).map(
        ([cat, d]) =>
          html`<tr><td>${cat}</td><td><${Badge} v=${d.state === 'opted_in' ? 'ok' : d.state === 'opted_out' ? 'bad' : ''} label=${d.state} /></td><td>${d.source ?? '—'}</td><td>${fmtTime(d.at)}</td></tr>`,
      )}</tbody>
    </table></div>
    <h3>Windows</h3>
    ${
      c.windows?.length
        ? html`<ul>${c.windows.map((w) => html`<li>${w.sender}: ${w.kind.replace(/_/g, ' ')} ${w.open ? html`<${Badge} v="ok" label="open" /> closes in ${fmtDuration(secondsUntil(w.expires_at, now))}` : html`<${Badge} label="closed" />`}</li>`)}</ul>`
        : html`<p class="muted">No window: the customer has not written to any sender.</p>`
    }
    <h3>Marketing cap</h3>
    ${caps ? html`<ul>${caps.map((x) => html`<li>${x.sender}: ${x.marketing_count_24h ?? 0} of ${x.limit ?? '—'} marketing messages in 24 h ${x.is_capped ? html`<${Badge} v="bad" label="capped" />` : ''}</li>`)}</ul>` : html`<p class="muted">…</p>`}
    <h3>Timeline <a href=${`/v1/customers/${enc(id)}/timeline?format=csv`} download>Export CSV</a></h3>
    <div class="table-wrap"><table class="stack" data-testid="timeline">
      <thead><tr><th scope="col">When</th><th scope="col">Kind</th><th scope="col">Sender</th><th scope="col">What</th></tr></thead>
      <tbody>${(t?.events ?? [])
        .slice(0, 200)
        .map(
          (e) =>
            html`<tr><td data-label="When">${fmtTime(e.at)}</td><td data-label="Kind"><${Badge} label=${e.kind} /></td><td data-label="Sender">${e.sender ?? '—'}</td><td data-label="What" class="wrap">${e.what}<div class="muted">${e.detail}</div></td></tr>`,
        )}</tbody>
    </table></div>
  </section>`;
}

export function Customers({ query, senders }) {
  const [q, setQ] = useState(query.id ?? '');
  return html`<h1>Customers</h1>
    <form class="inline" role="search" onSubmit=${(e) => {
      e.preventDefault();
      location.hash = `#/customers?id=${enc(q.trim())}`;
    }}>
      <label for="cust-q">Phone number or business-scoped user id
        <input id="cust-q" type="search" value=${q} onInput=${(e) => setQ(e.currentTarget.value)} placeholder="+447700900123 or US.1234…" />
      </label>
      <button type="submit">Open</button>
    </form>
    ${query.id ? html`<${CustomerDetail} id=${query.id} senders=${senders} />` : html`<p class="muted">Give a customer's number to see consent, windows, caps and the audit trail.</p>`}`;
}

// ---------------------------------------------------------------------------------------------
// Dead letters

export function DeadLetters({ senders }) {
  const [state, setState] = useState('open');
  const [sender, setSender] = useState('');
  const [reason, setReason] = useState('');
  const [openId, setOpenId] = useState(null);
  const [result, setResult] = useState(null);
  const qs = new URLSearchParams({ state, limit: '200', ...(sender ? { sender } : {}) }).toString();
  const [r, err, reload] = usePoll(() => get(`/v1/dead-letters?${qs}`), [qs]);
  const all = r?.dead_letters ?? [];
  const reasons = [...new Set(all.map((d) => d.reason_code))].sort();
  const list = reason ? all.filter((d) => d.reason_code === reason) : all;
  const bulk = async (action) => {
    const out = await api('POST', '/v1/dead-letters/bulk', {
      action,
      ...(sender ? { sender } : {}),
      ...(reason ? { reason_code: reason } : {}),
    });
    setResult(`${action === 'replay' ? 'Replayed' : 'Discarded'} ${out.done} of ${out.matched}.`);
    reload();
  };
  return html`<h1>Dead letters</h1>
    <form class="inline" onSubmit=${(e) => e.preventDefault()}>
      <label for="dl-state">State
        <select id="dl-state" value=${state} onChange=${(e) => setState(e.currentTarget.value)}>
          ${['open', 'replayed', 'discarded'].map((s) => html`<option value=${s}>${s}</option>`)}
        </select>
      </label>
      <label for="dl-sender">Sender
        <select id="dl-sender" value=${sender} onChange=${(e) => setSender(e.currentTarget.value)}>
          <option value="">every sender</option>
          ${senders.map((s) => html`<option value=${s}>${s}</option>`)}
        </select>
      </label>
      <label for="dl-reason">Reason
        <select id="dl-reason" value=${reason} onChange=${(e) => setReason(e.currentTarget.value)}>
          <option value="">every reason</option>
          ${reasons.map((x) => html`<option value=${x}>${x}</option>`)}
        </select>
      </label>
      ${
        isAdmin() &&
        state === 'open' &&
        html`<${Action} label=${`Replay all ${list.length}`} disabled=${!list.length} run=${() => bulk('replay')} testid="bulk-replay" />
        <${Action} label=${`Discard all ${list.length}`} kind="danger" confirm disabled=${!list.length} run=${() => bulk('discard')} testid="bulk-discard" />`
      }
    </form>
    ${result && html`<p class="banner" role="status">${result}</p>`}
    <${Problem} error=${err} />
    <div class="table-wrap">
      <table class="stack" data-testid="dead-letter-list">
        <caption class="sr-only">Dead letters</caption>
        <thead><tr><th scope="col">Dead letter</th><th scope="col">Reason</th><th scope="col">Sender</th><th scope="col">When</th><th scope="col">Actions</th></tr></thead>
        <tbody>
          ${list.map(
            (d) => html`<tr data-testid=${`dl-${d.id}`}>
              <td data-label="Dead letter"><button type="button" class="secondary" aria-expanded=${openId === d.id} onClick=${() => setOpenId(openId === d.id ? null : d.id)}>${d.id}</button>
                ${
                  openId === d.id &&
                  html`<div class="fix" data-testid="dl-detail"><p>${d.explanation}</p>${d.fix && html`<p><strong>Fix:</strong> ${d.fix}</p>`}
                  <p>Message <a href=${`#/messages?id=${enc(d.message_id)}&q=${enc(d.message_id)}`} class="mono">${d.message_id}</a> · ${d.attempts} attempts</p>
                  ${d.meta_error && html`<pre>${JSON.stringify(d.meta_error, null, 2)}</pre>`}</div>`
                }
              </td>
              <td data-label="Reason"><code>${d.reason_code}</code></td>
              <td data-label="Sender">${d.sender_id}</td>
              <td data-label="When">${fmtTime(d.created_at)}</td>
              <td data-label="Actions">${
                isAdmin() && d.state === 'open'
                  ? html`<div class="actions">
                      <${Action} label="Replay" testid="replay" run=${() =>
                        api('POST', `/v1/dead-letters/${enc(d.id)}/replay`).then((x) => {
                          setResult(
                            x.id
                              ? `Replayed as ${x.id} (${x.status}).`
                              : `Replay denied: ${x.decision?.reason_code} ${x.decision?.explanation ?? ''}`,
                          );
                          reload();
                        })} />
                      <${Action} label="Discard" kind="danger" confirm testid="discard" run=${() => api('DELETE', `/v1/dead-letters/${enc(d.id)}`).then(reload)} />
                    </div>`
                  : html`<${Badge} label=${d.state} />`
              }</td>
            </tr>`,
          )}
          ${r && !list.length && html`<tr><td colspan="5" class="muted">No ${state} dead letter.</td></tr>`}
        </tbody>
      </table>
    </div>`;
}

// ---------------------------------------------------------------------------------------------
// Templates and alerts

export function Templates({ senders }) {
  const [sender, setSender] = useState(senders[0] ?? '');
  const [r, err] = usePoll(() => get(`/v1/templates?limit=500${sender ? `&sender=${enc(sender)}` : ''}`), [sender], 10000);
  return html`<h1>Templates</h1>
    <form class="inline" onSubmit=${(e) => e.preventDefault()}>
      <label for="tpl-sender">Sender (its WhatsApp Business account)
        <select id="tpl-sender" value=${sender} onChange=${(e) => setSender(e.currentTarget.value)}>${senders.map((s) => html`<option value=${s}>${s}</option>`)}</select>
      </label>
    </form>
    <${Problem} error=${err} />
    <div class="table-wrap"><table class="stack" data-testid="template-list">
      <caption class="sr-only">Templates</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Language</th><th scope="col">Category</th><th scope="col">Status</th><th scope="col">Quality</th><th scope="col">Last change</th></tr></thead>
      <tbody>${(r?.templates ?? []).map(
        (t) =>
          html`<tr><td data-label="Name"><span class="mono">${t.name}</span></td><td data-label="Language">${t.language}</td><td data-label="Category">${t.category}</td><td data-label="Status"><${Badge} v=${t.status} /></td><td data-label="Quality">${t.quality ? html`<${Badge} v=${t.quality} />` : '—'}</td><td data-label="Last change">${fmtTime(t.updated_at)}</td></tr>`,
      )}
      ${r && !r.templates.length && html`<tr><td colspan="6" class="muted">No template known for this sender.</td></tr>`}</tbody>
    </table></div>`;
}

export function Alerts() {
  const [show, setShow] = useState('open');
  const [o, err, reload] = usePoll(() => get('/v1/overview'), []);
  const list = (o?.alerts ?? []).filter((a) => (show === 'open' ? a.open : show === 'acknowledged' ? a.acknowledged_at : true));
  return html`<h1>Alerts</h1>
    <form class="inline" onSubmit=${(e) => e.preventDefault()}>
      <label for="al-show">Show
        <select id="al-show" value=${show} onChange=${(e) => setShow(e.currentTarget.value)}>
          <option value="open">open</option><option value="acknowledged">acknowledged</option><option value="all">all</option>
        </select>
      </label>
    </form>
    <${Problem} error=${err} />
    <div class="table-wrap"><table class="stack" data-testid="alert-list">
      <caption class="sr-only">Alerts</caption>
      <thead><tr><th scope="col">Severity</th><th scope="col">Alert</th><th scope="col">Sender</th><th scope="col">Raised</th><th scope="col">State</th></tr></thead>
      <tbody>${list.map(
        (a) => html`<tr data-testid=${`alert-${a.id}`}>
          <td data-label="Severity"><${Badge} v=${a.severity} /></td>
          <td data-label="Alert" class="wrap"><strong>${a.title}</strong><div class="muted pre-line">${a.body}</div></td>
          <td data-label="Sender">${a.sender_id ?? '—'}</td>
          <td data-label="Raised">${fmtTime(a.created_at)}</td>
          <td data-label="State">${a.open ? html`<${Badge} v="warn" label="open" />` : html`<${Badge} v="ok" label=${`resolved ${fmtTime(a.resolved_at)}`} />`}
            ${a.acknowledged_at ? html`<div class="muted">acknowledged by ${a.acknowledged_by} ${fmtTime(a.acknowledged_at)}</div>` : isAdmin() && html`<${Action} label="Acknowledge" kind="secondary" run=${() => api('POST', `/v1/alerts/${enc(a.id)}/acknowledge`).then(reload)} />`}</td>
        </tr>`,
      )}
      ${o && !list.length && html`<tr><td colspan="5" class="muted">No ${show === 'all' ? '' : show} alert.</td></tr>`}</tbody>
    </table></div>`;
}
