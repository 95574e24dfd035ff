// The dashboard's shell: session (login with an API key, logout), navigation by URL hash, and the
// page for each route (views.js). Served by wagate at /dashboard; no build step, no external asset.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { ApiError, api, errorText, get, prefetch, setSession } from './api.js';
import { Alerts, Customers, DeadLetters, Messages, Overview, Templates } from './views.js';
import { Campaigns } from './campaigns.js';

const PAGES = [
  ['overview', 'Overview', Overview],
  ['messages', 'Messages', Messages],
  ['customers', 'Customers', Customers],
  ['dead-letters', 'Dead letters', DeadLetters],
  ['campaigns', 'Campaigns', Campaigns],
  ['templates', 'Templates', Templates],
  ['alerts', 'Alerts', Alerts],
];

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?');
  return { page: PAGES.some(([p]) => p === path) ? path : 'overview', query: Object.fromEntries(new URLSearchParams(qs ?? '')) };
}

function useRoute() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const on = () => setRoute(parseHash());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

function Login({ onLogin }) {
  const [key, setKey] = useState('');
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      const s = await api('POST', '/dashboard/session', { key });
      setKey('');
      onLogin(s);
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="login">
    <div class="card">
      <h1>wagate dashboard</h1>
      <p class="muted">Sign in with one of this gateway's API keys (config <code>api.keys</code>). Read keys see; admin keys act; a key limited to some senders sees only those.</p>
      <form onSubmit=${submit}>
        <label for="api-key">API key
          <input id="api-key" name="key" type="password" autocomplete="current-password" required value=${key} onInput=${(e) => setKey(e.currentTarget.value)} />
        </label>
        <button type="submit" disabled=${busy || !key}>${busy ? 'Signing in…' : 'Sign in'}</button>
        ${err && html`<p class="banner error" role="alert">${errorText(err)}</p>`}
      </form>
    </div>
  </main>`;
}

function Shell({ session, onLogout }) {
  const { page, query } = useRoute();
  const [senders, setSenders] = useState([]);
  useEffect(() => {
    get('/v1/senders')
      .then((r) => setSenders(r.senders.map((s) => s.id)))
      .catch(() => {});
  }, []);
  const View = PAGES.find(([p]) => p === page)[2];
  const title = PAGES.find(([p]) => p === page)[1];
  useEffect(() => {
    document.title = `${title} · wagate`;
  }, [title]);
  const logout = async () => {
    await api('DELETE', '/dashboard/session').catch(() => {});
    onLogout();
  };
  return html`<header class="top">
      <span class="brand">wagate</span>
      <nav aria-label="Dashboard">
        ${PAGES.map(([p, label]) => html`<a href=${`#/${p}`} aria-current=${p === page ? 'page' : undefined}>${label}</a>`)}
      </nav>
      <span class="who">
        <span data-testid="who">${session.principal.name} · ${session.principal.role}</span>
        ${!session.open && html`<button type="button" onClick=${logout}>Sign out</button>`}
      </span>
    </header>
    <main>
      ${
        session.open &&
        html`<div class="banner" role="status" data-testid="open-banner">
          No API keys are configured (<code>api.keys</code> is empty): this dashboard and the HTTP API are open to anyone who can reach this port. Fine on your own machine; configure keys before exposing it.
        </div>`
      }
      <${View} query=${query} senders=${senders} />
    </main>`;
}

function App() {
  const [session, setS] = useState(undefined);
  const [err, setErr] = useState(null);
  const apply = (s) => {
    setSession(s);
    setS(s);
  };
  const load = () =>
    get('/dashboard/session')
      .then(apply)
      .catch((e) => setErr(e instanceof ApiError ? e : new Error(String(e))));
  useEffect(() => {
    load();
    const on = () => apply({ authenticated: false, open: false });
    window.addEventListener('wagate:unauthorized', on);
    return () => window.removeEventListener('wagate:unauthorized', on);
  }, []);
  if (err) return html`<main><p class="banner error" role="alert">${errorText(err)}</p></main>`;
  if (session === undefined) return html`<main><p>Loading…</p></main>`;
  if (!session.authenticated) return html`<${Login} onLogin=${apply} />`;
  return html`<${Shell} session=${session} onLogout=${() => apply({ authenticated: false, open: false })} />`;
}

// The overview's data is asked for at once, beside the session (it is the first page).
if (parseHash().page === 'overview') {
  prefetch('/v1/overview');
  prefetch('/v1/stats/series?minutes=60');
}
render(html`<${App} />`, document.getElementById('root'));
