// One error body everywhere: {error: {code, message, fix, details}}, with the code's status, every code
// from the registry (src/shared/errors/registry.ts): the error and not-found handlers, Fastify's router
// refusals and Node's parser refusals answer with appError() like every route.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import { UnknownSenderError } from '../senders/registry.ts';
import type { Logger } from '../observability/log.ts';
import { appError, EngineError, errorBodyOf, unknownSenderError } from '../shared/errors/app-error.ts';

export type { ErrorBody } from '../shared/errors/app-error.ts';

/** Answers with the error's registered status and the one error body. */
export function sendError(reply: FastifyReply, err: EngineError): FastifyReply {
  return reply.status(err.status).send(errorBodyOf(err));
}

/** zod issues → one INVALID_REQUEST naming each field, with the issues as details (thrown by routes: 400). */
export function zodError(err: ZodError, what = 'request body'): EngineError {
  const issues = err.issues.map((i) => ({ field: i.path.join('.') || '(root)', problem: i.message }));
  const message = `Invalid ${what}: ` + issues.map((i) => `${i.field}: ${i.problem}`).join('; ');
  return appError('INVALID_REQUEST', message, { details: { issues } });
}

/** Fastify's own client errors (status < 500) by their Fastify code. */
function fastifyClientError(fe: FastifyError & { statusCode: number }): EngineError {
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return appError('PAYLOAD_TOO_LARGE', fe.message);
  if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return appError('UNSUPPORTED_MEDIA_TYPE', fe.message, { status: fe.statusCode as 415 });
  if (fe.statusCode === 429) return appError('RATE_LIMITED', fe.message);
  return appError('BAD_REQUEST', fe.message, { status: fe.statusCode });
}

/** Whatever a route threw, as the registered error to answer with (an unexpected one is logged: INTERNAL). */
export function toAppError(err: unknown, log: Logger): EngineError {
  if (err instanceof EngineError) return err;
  if (err instanceof UnknownSenderError) return unknownSenderError(err);
  if (err instanceof ZodError) return zodError(err);
  const fe = err as FastifyError;
  if (fe && fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return appError('INVALID_JSON', 'The body is empty but Content-Type is application/json.', {
      fix: 'Send a JSON object body, or leave out the Content-Type header when there is no body.',
      details: { position: 0 },
    });
  }
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode < 500)
    return fastifyClientError(fe as FastifyError & { statusCode: number });
  log.error({ err }, 'unhandled error');
  return appError('INTERNAL', 'An internal error occurred; it has been logged.');
}

export function installErrorHandler(
  app: {
    setErrorHandler: (h: (err: unknown, req: FastifyRequest, reply: FastifyReply) => unknown) => unknown;
    setNotFoundHandler: (h: (req: FastifyRequest, reply: FastifyReply) => unknown) => unknown;
  },
  log: Logger,
): void {
  app.setErrorHandler((err, _req, reply) => sendError(reply, toAppError(err, log)));
  app.setNotFoundHandler((req, reply) => sendError(reply, appError('NOT_FOUND', `No route ${req.method} ${req.url.split('?')[0]}`)));
}

/** A path segment longer than this is refused by the router (414) before any route runs. */
export const MAX_PARAM_LENGTH = 100;

/** A caller's path in a message, cut short: a refused one can be kilobytes. */
const shortUrl = (url: string) => (url.length > 80 ? `${url.slice(0, 77)}...` : url);

/**
 * Fastify's router refusals (before any hook or route runs: Fastify option `frameworkErrors`), in our
 * error body rather than Fastify's own: a path parameter over MAX_PARAM_LENGTH, an undecodable URL.
 */
export function frameworkErrorReply(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const path = shortUrl(req.url.split('?')[0]);
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void sendError(
      reply,
      appError('URI_TOO_LONG', `A path segment of ${req.method} ${path} is longer than ${MAX_PARAM_LENGTH} characters.`, {
        details: { limit: MAX_PARAM_LENGTH, where: 'path' },
      }),
    );
  } else if (err.code === 'FST_ERR_BAD_URL') {
    void sendError(
      reply,
      appError('BAD_URL', `The path ${path} is not a valid URL (a bad percent-encoding such as "%zz" or "%" alone).`, {
        details: { where: 'path' },
      }),
    );
  } else {
    void sendError(reply, appError('INTERNAL', 'An internal error occurred while routing the request.'));
  }
}

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (Fastify option `clientErrorHandler`):
 * a request line or headers over Node's 16 KB limit, a request that is not HTTP, a client too slow.
 * Written to the socket in our error body, as Fastify's default handler does with its own.
 */
export function clientErrorHandler(err: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let e: EngineError;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    e = appError('REQUEST_TIMEOUT', 'The request was not received in time.');
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    // Node counts the request line with the headers: when the first line does not end inside what was
    // read, it is the URL that is too long.
    const raw = Buffer.isBuffer(err.rawPacket) ? err.rawPacket : null;
    const eol = raw ? raw.indexOf('\r\n') : -1;
    if (!raw || eol === -1 || eol > 8 * 1024) {
      e = appError('URI_TOO_LONG', 'The URL is longer than the server accepts (16 KB with the headers).', { details: { where: 'url' } });
    } else {
      e = appError('HEADERS_TOO_LARGE', 'The request headers are larger than the server accepts (16 KB in all).', {
        details: { where: 'headers' },
      });
    }
  } else {
    e = appError('BAD_HTTP_REQUEST', `The request is not valid HTTP/1.1 (${err.code ?? 'parse error'}).`, {
      details: { parser: err.code ?? null },
    });
  }
  if (socket.writable) {
    const json = JSON.stringify(errorBodyOf(e));
    socket.write(
      `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Length: ${Buffer.byteLength(json)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${json}`,
    );
  }
  socket.destroy(err);
}
