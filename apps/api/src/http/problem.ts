import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { FieldLocation } from '@fleet/errors';
import { GuardedWriteRaceError } from '@fleet/db';
import { ApiError, toError } from '@fleet/errors';
import type { Logger } from '@fleet/logger';
import { currentLogContext } from '@fleet/logger';

/** RFC 9457 problem details, with the fields at fault when the request was malformed. */
type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: string;
  requestId?: string;
  /**
   * The fields at fault. `in` says where: `body` (then `pointer` is an RFC 6901 pointer into the body, as RFC 9457
   * uses it), `query`, `path` (a path parameter such as `id`) or `header`; for those three `pointer` points into
   * that location's parameters by name (`/id`), as a body pointer would into the body.
   */
  errors?: { field: string; pointer: string; message: string; in?: FieldLocation }[];
};

const PROBLEM_CONTENT_TYPE = 'application/problem+json';

function problemType(code: string): string {
  return `urn:fleet-rollout:problem:${code}`;
}

function problemFromApiError(error: ApiError, instance: string): Problem {
  const problem: Problem = {
    type: problemType(error.code),
    title: error.title,
    status: error.status,
    detail: error.message,
    instance,
    code: error.code,
  };
  const requestId = currentLogContext().requestId;
  if (requestId) problem.requestId = requestId;
  if (error.fields.length > 0) {
    problem.errors = error.fields.map((f) => ({
      field: f.path || (f.in === undefined || f.in === 'body' ? '(body)' : `(${f.in})`),
      pointer: toPointer(f.path),
      message: f.message,
      ...(f.in ? { in: f.in } : {}),
    }));
  }
  return problem;
}

function toPointer(path: string): string {
  if (!path) return '';
  return `/${path
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter(Boolean)
    .map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1'))
    .join('/')}`;
}

/** What body-parser (raw-body) puts on its errors: `length` is the declared Content-Length, `received` what came. */
type BodyParserError = Error & { type?: string; status?: number; limit?: number; length?: number; received?: number };

/**
 * 413 saying the limit. A declared Content-Length over it is refused before reading (`length`); a chunked body
 * is cut once it passes the limit, so only "at least" is known (`received`: the bytes read until then).
 */
function bodyTooLarge(error: BodyParserError): ApiError {
  const limit = typeof error.limit === 'number' ? error.limit : null;
  const size =
    typeof error.length === 'number'
      ? `is ${error.length} bytes`
      : typeof error.received === 'number'
        ? `is at least ${error.received} bytes`
        : 'is too large';
  const detail =
    limit === null
      ? `The request body ${size}, over the size limit (BODY_LIMIT_BYTES)`
      : `The request body ${size}; the limit is ${limit} bytes (BODY_LIMIT_BYTES)`;
  return new ApiError(413, 'body_too_large', 'Request body too large', detail);
}

/** Errors that body-parser raises for a malformed or oversized body, mapped to what the client did wrong. */
function fromBodyParserError(error: BodyParserError): ApiError | null {
  switch (error.type) {
    case 'entity.parse.failed':
      return new ApiError(400, 'malformed_json', 'Malformed JSON', 'The request body is not valid JSON', [
        { path: '', message: 'invalid JSON' },
      ]);
    case 'entity.too.large':
      return bodyTooLarge(error);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new ApiError(
        415,
        'unsupported_encoding',
        'Unsupported encoding',
        'The request body encoding is not supported',
      );
    case 'request.aborted':
      return new ApiError(400, 'request_aborted', 'Request aborted', 'The request body was not received completely');
    default:
      if (typeof error.status === 'number' && error.status >= 400 && error.status < 500) {
        return new ApiError(error.status, 'bad_request', 'Bad request', 'The request could not be read');
      }
      return null;
  }
}

/**
 * A guarded write that kept losing to other writers (the worker, the reconciler, another request changing the same
 * rollout or flag): nothing was written and the same request may well succeed a moment later, so 409 with
 * Retry-After rather than the 500 of a fault.
 */
function fromDatabaseError(error: Error): ApiError | null {
  if (!(error instanceof GuardedWriteRaceError)) return null;
  return new ApiError(
    409,
    'concurrent_change',
    'Concurrent change',
    `The ${error.table.replace(/_/g, ' ')} ${error.id} kept changing while this request wrote it; nothing was changed. ` +
      'Read it again and retry',
  );
}

/** A problem's `instance`: the URL as asked, but a stream ticket's value (`?ticket=`, see stream-tickets.ts) hidden. */
function withoutTicket(url: string): string {
  return url.replace(/([?&]ticket=)[^&#]*/g, '$1(hidden)');
}

/** The last middleware: known errors become problem+json; anything else is logged and answered with a bare 500. */
export function problemErrorHandler(logger: Logger): ErrorRequestHandler {
  return (thrown, req, res, _next) => {
    const error = toError(thrown);
    const known = error instanceof ApiError ? error : (fromDatabaseError(error) ?? fromBodyParserError(error));
    if (known) {
      if (known.code === 'concurrent_change') res.setHeader('Retry-After', '1');
      if (known.status >= 500)
        logger.warn('request failed', {
          status: known.status,
          code: known.code,
          error: error.message,
          cause: error.cause,
        });
      res
        .status(known.status)
        .type(PROBLEM_CONTENT_TYPE)
        .json(problemFromApiError(known, withoutTicket(req.originalUrl)));
      return;
    }
    logger.error('unhandled error in request', { error, method: req.method, path: req.path });
    const internal = new ApiError(
      500,
      'internal_error',
      'Internal server error',
      'An unexpected error occurred; it has been logged',
    );
    res
      .status(500)
      .type(PROBLEM_CONTENT_TYPE)
      .json(problemFromApiError(internal, withoutTicket(req.originalUrl)));
  };
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new ApiError(404, 'route_not_found', 'Not found', `No route for ${req.method} ${req.path}`));
};
