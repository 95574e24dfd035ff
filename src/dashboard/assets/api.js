// The dashboard's calls to wagate's HTTP API (/v1, with the session cookie), its polling hook and
// formatting helpers. Plain ES module, no build step (src/dashboard/README.md).
import { useEffect, useRef, useState } from 'preact/hooks';

let csrf = null;
let role = 'read';

/** Set at login (or from GET /dashboard/session): the token every state-changing call carries. */
export function setSession(s) {
  csrf = s?.csrf ?? null;
  role = s?.principal?.role ?? 'read';
}
export const isAdmin = () => role === 'admin';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.fix = body?.error?.fix ?? null;
    this.code = body?.error?.code ?? null;
  }
}

export async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-wagate-csrf'] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { raw: text };
  }
  if (res.status === 401 && !path.startsWith('/dashboard/session')) window.dispatchEvent(new CustomEvent('wagate:unauthorized'));
  if (!res.ok && !(res.status === 422 && json?.decision)) throw new ApiError(res.status, json);
  return json;
}

const early = new Map();

/** Starts a GET before the page asks for it (the overview's calls, while the session is read). */
export function prefetch(path) {
  const p = api('GET', path);
  p.catch(() => {});
  early.set(path, { at: Date.now(), p });
}

export const get = (path) => {
  const e = early.get(path);
  early.delete(path);
  return e && Date.now() - e.at < 3000 ? e.p : api('GET', path);
};

/** Polls `load` every `ms` (default 3 s, paused while the tab is hidden); returns [data, error, reload]. */
export function usePoll(load, deps, ms = 3000) {
  const [state, setState] = useState({ data: null, error: null });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let alive = true;
    let timer = null;
    const run = async () => {
      if (!document.hidden) {
        try {
          const data = await loadRef.current();
          if (alive) setState({ data, error: null });
        } catch (error) {
          if (alive) setState((s) => ({ data: s.data, error }));
        }
      }
      if (alive && ms > 0) timer = setTimeout(run, ms);
    };
    run();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return [state.data, state.error, () => setTick((t) => t + 1)];
}

/** Re-renders every `ms` (countdowns). */
export function useNow(ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export function fmtDuration(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  const neg = s < 0;
  let v = Math.abs(Math.round(s));
  const d = Math.floor(v / 86400);
  v %= 86400;
  const h = Math.floor(v / 3600);
  v %= 3600;
  const m = Math.floor(v / 60);
  const sec = v % 60;
  const txt = d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${sec}s` : `${sec}s`;
  return neg ? `${txt} ago` : txt;
}

/** Seconds from now until an ISO time (negative once passed). */
export const secondsUntil = (iso, now = Date.now()) => (iso ? (new Date(iso).getTime() - now) / 1000 : null);

/** Phone numbers in full for admin keys only (the API masks its own dashboard reads too). */
export function showPhone(p) {
  if (!p) return '—';
  if (isAdmin()) return p;
  const d = String(p).replace(/[^\d]/g, '');
  if (!d || /•/.test(p)) return p;
  return d.length <= 6 ? '•'.repeat(d.length) : `${d.slice(0, 4)}•••${d.slice(-4)}`;
}

export function errorText(e) {
  if (!e) return '';
  return e.fix ? `${e.message} ${e.fix}` : e.message;
}
