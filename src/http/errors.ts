// One error body everywhere: {error: {code, message, fix, details}}.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
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

/** The same, as an error to throw from a route (the error handler answers it as 400). */
export function zodError(err: ZodError, what = 'request body'): EngineError {
  const b = zodErrorBody(err, what).error;
  return new EngineError(b.code, b.message, b.fix, 400, b.details);
}

export function toErrorReply(err: unknown, log: Logger): { status: number; body: ErrorBody } {
  if (err instanceof EngineError) return { status: err.status, body: errorBody(err.code, err.message, err.fix, err.details) };
  if (err instanceof UnknownSenderError) {
    return { status: 404, body: errorBody('UNKNOWN_SENDER', err.message, 'Use a configured sender alias or phone_number_id (GET /v1/senders lists them).', { known: err.known }) };
  }
  if (err instanceof ZodError) return { status: 400, body: zodErrorBody(err) };
  const fe = err as FastifyError;
  if (fe && fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return { status: 400, body: errorBody('INVALID_JSON', 'The body is empty but Content-Type is application/json.', 'Send a JSON object body, or leave out the Content-Type header when there is no body.', { position: 0 }) };
  }
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

/** A path segment longer than this is refused by the router (414) before any route runs. */
export const MAX_PARAM_LENGTH = 100;

const LONG_URL_FIX = 'Shorten the URL: ids and phone numbers in the path are at most 100 characters; send long data in a JSON body, not in the path or query string.';

/** A caller's path in a message, cut short: a refused one can be kilobytes. */
const shortUrl = (url: string) => (url.length > 80 ? `${url.slice(0, 77)}...` : url);

/**
 * Fastify's router refusals (before any hook or route runs: Fastify option `frameworkErrors`), in our
 * error body rather than Fastify's own: a path parameter over MAX_PARAM_LENGTH, an undecodable URL.
 */
export function frameworkErrorReply(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const path = shortUrl(req.url.split('?')[0]);
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply.status(414).send(errorBody('URI_TOO_LONG', `A path segment of ${req.method} ${path} is longer than ${MAX_PARAM_LENGTH} characters.`, LONG_URL_FIX, { limit: MAX_PARAM_LENGTH, where: 'path' }));
  } else if (err.code === 'FST_ERR_BAD_URL') {
    void reply.status(400).send(errorBody('BAD_URL', `The path ${path} is not a valid URL (a bad percent-encoding such as "%zz" or "%" alone).`, 'Percent-encode the path parameters (encodeURIComponent) and send again.', { where: 'path' }));
  } else {
    void reply.status(500).send(errorBody('INTERNAL', 'An internal error occurred while routing the request.', 'Retry; if it persists, check the server logs.'));
  }
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (Fastify option `clientErrorHandler`):
 * a request line or headers over Node's 16 KB limit, a request that is not HTTP, a client too slow.
 * Written to the socket in our error body, as Fastify's default handler does with its own.
 */
export function clientErrorHandler(err: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let status: number;
  let body: ErrorBody;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    body = errorBody('REQUEST_TIMEOUT', 'The request was not received in time.', 'Send the whole request (headers and body) promptly, and retry.');
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    // Node counts the request line with the headers: when the first line does not end inside what was
    // read, it is the URL that is too long.
    const raw = Buffer.isBuffer(err.rawPacket) ? err.rawPacket : null;
    const eol = raw ? raw.indexOf('\r\n') : -1;
    if (!raw || eol === -1 || eol > 8 * 1024) {
      status = 414;
      body = errorBody('URI_TOO_LONG', 'The URL is longer than the server accepts (16 KB with the headers).', LONG_URL_FIX, { where: 'url' });
    } else {
      status = 431;
      body = errorBody('HEADERS_TOO_LARGE', 'The request headers are larger than the server accepts (16 KB in all).', 'Send fewer or smaller headers.', { where: 'headers' });
    }
  } else {
    status = 400;
    body = errorBody('BAD_HTTP_REQUEST', `The request is not valid HTTP/1.1 (${err.code ?? 'parse error'}).`, 'Send a well-formed HTTP/1.1 request: method, path, "HTTP/1.1", then headers, each line ending in CRLF.', { parser: err.code ?? null });
  }
  if (socket.writable) {
    const json = JSON.stringify(body);
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(json)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${json}`);
  }
  socket.destroy(err);
}
