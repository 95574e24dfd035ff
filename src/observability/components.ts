// What runs inside one wagate process, and in what state: /ready answers 200 only when every component
// is running (a component turned off by the options counts as such), and `wagate start` exits with the
// failing one named. The composition root (src/app.ts) moves each through its states; nothing else writes.

export type ComponentState =
  | 'not_started'
  | 'starting'
  | 'running'
  /** Running without something it could not get at start (the template sync when Meta fails): ready. */
  | 'degraded'
  | 'failed'
  | 'stopped'
  /** Turned off by the options (workers: false, monitor: false): not expected to run. */
  | 'disabled';

export interface ComponentStatus {
  state: ComponentState;
  /** When it entered that state (ms). */
  since: number;
  /** What went wrong (failed, degraded). */
  error?: string;
  /** How to fix it (failed, degraded). */
  fix?: string;
}

/** States in which a component does not keep the process from being ready. */
const READY_STATES: ReadonlySet<ComponentState> = new Set(['running', 'degraded', 'disabled']);

export class Components {
  private readonly states = new Map<string, ComponentStatus>();

  constructor(
    names: readonly string[],
    private readonly now: () => number = Date.now,
  ) {
    for (const n of names) this.states.set(n, { state: 'not_started', since: now() });
  }

  set(name: string, state: ComponentState, detail: { error?: string; fix?: string } = {}): void {
    this.states.set(name, {
      state,
      since: this.now(),
      ...(detail.error !== undefined ? { error: detail.error } : {}),
      ...(detail.fix !== undefined ? { fix: detail.fix } : {}),
    });
  }

  get(name: string): ComponentStatus | undefined {
    return this.states.get(name);
  }

  snapshot(): Record<string, ComponentStatus> {
    return Object.fromEntries([...this.states].map(([n, s]) => [n, { ...s }]));
  }

  /** Components that keep the process from being ready (not started yet, starting, failed, stopped). */
  notReady(): string[] {
    return [...this.states].filter(([, s]) => !READY_STATES.has(s.state)).map(([n]) => n);
  }
}

/** A component that could not start: start() rejects with it, `wagate start` prints it and exits 1. */
export class StartupError extends Error {
  constructor(
    readonly component: string,
    readonly reason: string,
    readonly fix: string,
    options?: { cause?: unknown },
  ) {
    super(`${component} could not start: ${reason}`, options);
    this.name = 'StartupError';
  }
}
