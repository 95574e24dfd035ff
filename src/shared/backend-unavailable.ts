// A production backend (Redis, NATS JetStream) did not answer in time: nothing was changed, the caller
// may retry, and the adapter reconnects by itself. One shape for every adapter, so callers can treat
// any outage alike (`err instanceof BackendUnavailableError`, `err.code`, `err.fix`).
export class BackendUnavailableError extends Error {
  constructor(
    readonly code: string,
    readonly fix: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BackendUnavailableError';
  }
}
