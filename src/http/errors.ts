// One error body everywhere: {error: {code, message, fix, details}}.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import { EngineError } from '../engine/context.ts';
import { UnknownSenderError } from '../senders/registry.ts';
import type { Logger } from '../observability/log.ts';

export interface ErrorBody {
  error: { code: string; message: string; fix: string; details: Record<string, unknown> };
}

export function errorBody(code: string, message: string, fix: string, details: Record<string, unknown> = {}): ErrorBody {
  return { error: { code, message, fix, details } };
}

/** zod issues → one readable message naming each field, plus the issues as details. */
export function zodErrorBody(err: ZodError, what = 'request body'): ErrorBody {
  const issues = err.issues.map((i) => ({ field: i.path.join('.') || '(root)', problem: i.message }));
  const message = `Invalid ${what}: ` + issues.map((i) => `${i.field}: ${i.problem}`).join('; ');
  return errorBody('INVALID_REQUEST', message, 'Correct the named field(s) and send again; see /openapi.json for the schema.', { issues });
}

export function toErrorReply(err: unknown, log: Logger): { status: number; body: ErrorBody } {
  if (err instanceof EngineError) return { status: err.status, body: errorBody(err.code, err.message, err.fix, err.details) };
  if (err instanceof UnknownSenderError) {
    return { status: 404, body: errorBody('UNKNOWN_SENDER', err.message, 'Use a configured sender alias or phone_number_id (GET /v1/senders lists them).', { known: err.known }) };
  }
  if (err instanceof ZodError) return { status: 400, body: zodErrorBody(err) };
  const fe = err as FastifyError;
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode < 500) {
    const code = fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'PAYLOAD_TOO_LARGE' : fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'UNSUPPORTED_MEDIA_TYPE' : fe.statusCode === 429 ? 'RATE_LIMITED' : 'BAD_REQUEST';
    const fix = code === 'PAYLOAD_TOO_LARGE' ? 'Send a smaller body.' : code === 'RATE_LIMITED' ? 'Slow down and retry after the Retry-After delay.' : 'Send a JSON body with Content-Type: application/json.';
    return { status: fe.statusCode, body: errorBody(code, fe.message, fix) };
  }
  log.error({ err }, 'unhandled error');
  return { status: 500, body: errorBody('INTERNAL', 'An internal error occurred; it has been logged.', 'Retry; if it persists, check the server logs.') };
}

export function installErrorHandler(app: { setErrorHandler: (h: (err: unknown, req: FastifyRequest, reply: FastifyReply) => unknown) => unknown; setNotFoundHandler: (h: (req: FastifyRequest, reply: FastifyReply) => unknown) => unknown }, log: Logger): void {
  app.setErrorHandler((err, _req, reply) => {
    const { status, body } = toErrorReply(err, log);
    return reply.status(status).send(body);
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send(errorBody('NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`, 'Check the path; /openapi.json lists every route.')),
  );
}
