import type { Request, RequestHandler } from 'express';
import { ApiError, ValidationError } from '@fleet/errors';

/** Deepest nesting accepted in a JSON body (the deepest real body, a rollout's retry policy, is 2). */
const MAX_JSON_DEPTH = 32;

/**
 * Keys refused anywhere in a body. JSON.parse makes them plain own properties, but code that copies or merges
 * objects (`Object.assign`, spreads into prototypes, lodash merge) may turn them into prototype pollution; a
 * client has no reason to send them.
 */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function pathOf(parent: string, key: string | number): string {
  return typeof key === 'number' ? `${parent}[${key}]` : parent ? `${parent}.${key}` : key;
}

/**
 * Refuses bodies nested deeper than MAX_JSON_DEPTH and bodies with prototype keys, with 400 naming the place.
 * The walk is iterative: a body of 100,000 nested arrays must not overflow the stack (JSON.parse accepts it).
 */
export const jsonBodyGuard: RequestHandler = (req, _res, next) => {
  const body: unknown = req.body;
  if (body === null || typeof body !== 'object') return next();
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: body, path: '', depth: 1 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (depth > MAX_JSON_DEPTH) {
      throw new ValidationError(`body is invalid: nested deeper than ${MAX_JSON_DEPTH} levels`, [
        { path, message: `nested deeper than ${MAX_JSON_DEPTH} levels` },
      ]);
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        if (item !== null && typeof item === 'object')
          stack.push({ value: item, path: pathOf(path, i), depth: depth + 1 });
      });
    } else {
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        if (FORBIDDEN_KEYS.has(key))
          throw new ValidationError(`body is invalid: ${pathOf(path, key)}: forbidden field name`, [
            { path: pathOf(path, key), message: 'forbidden field name' },
          ]);
        if (item !== null && typeof item === 'object')
          stack.push({ value: item, path: pathOf(path, key), depth: depth + 1 });
      }
    }
  }
  next();
};

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function hasBody(req: Request): boolean {
  const length = req.get('content-length');
  return req.get('transfer-encoding') !== undefined || (length !== undefined && length !== '0');
}

export function unsupportedMediaType(req: Request): ApiError {
  return new ApiError(
    415,
    'unsupported_media_type',
    'Unsupported media type',
    'The request body must be application/json',
    [{ path: '', message: `content-type ${req.get('content-type') ?? '(none)'} is not application/json` }],
  );
}

/** A request that carries a body must say it is JSON (415 otherwise): no route reads any other format. */
export const requireJsonWhenBodyPresent: RequestHandler = (req, _res, next) => {
  if (BODY_METHODS.has(req.method) && hasBody(req) && !req.is('application/json')) throw unsupportedMediaType(req);
  next();
};
