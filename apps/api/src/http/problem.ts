import type { ErrorRequestHandler, RequestHandler } from 'express';
import { ApiError, toError } from '@fleet/errors';
import type { Logger } from '@fleet/logger';
import { currentLogContext } from '@fleet/logger';

/** RFC 9457 problem details, with the fields at fault when the request was malformed. */
export type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: string;
  requestId?: string;
  errors?: { field: string; pointer: string; message: string }[];
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

function problemType(code: string): string {
  return `urn:fleet-rollout:problem:${code}`;
}

export function problemFromApiError(error: ApiError, instance: string): Problem {
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
      field: f.path || '(body)',
      pointer: toPointer(f.path),
      message: f.message,
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

/** Errors that body-parser raises for a malformed or oversized body, mapped to what the client did wrong. */
function fromBodyParserError(error: Error & { type?: string; status?: number }): ApiError | null {
  switch (error.type) {
    case 'entity.parse.failed':
      return new ApiError(400, 'malformed_json', 'Malformed JSON', 'The request body is not valid JSON', [
        { path: '', message: 'invalid JSON' },
      ]);
    case 'entity.too.large':
      return new ApiError(413, 'body_too_large', 'Request body too large', 'The request body exceeds the size limit');
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

/** The last middleware: known errors become problem+json; anything else is logged and answered with a bare 500. */
export function problemErrorHandler(logger: Logger): ErrorRequestHandler {
  return (thrown, req, res, _next) => {
    const error = toError(thrown);
    const known = error instanceof ApiError ? error : fromBodyParserError(error);
    if (known) {
      if (known.status >= 500)
        logger.warn('request failed', {
          status: known.status,
          code: known.code,
          error: error.message,
          cause: error.cause,
        });
      res.status(known.status).type(PROBLEM_CONTENT_TYPE).json(problemFromApiError(known, req.originalUrl));
      return;
    }
    logger.error('unhandled error in request', { error, method: req.method, path: req.path });
    const internal = new ApiError(
      500,
      'internal_error',
      'Internal server error',
      'An unexpected error occurred; it has been logged',
    );
    res.status(500).type(PROBLEM_CONTENT_TYPE).json(problemFromApiError(internal, req.originalUrl));
  };
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new ApiError(404, 'route_not_found', 'Not found', `No route for ${req.method} ${req.path}`));
};
