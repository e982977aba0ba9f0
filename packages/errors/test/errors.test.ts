import { describe, expect, it } from 'vitest';
import { ApiError, FleetError, NotFoundError, toError, ValidationError } from '../src/index.ts';

describe('errors', () => {
  it('normalises any throwable once', () => {
    const e = new Error('x');
    expect(toError(e)).toBe(e);
    expect(toError('boom')).toMatchObject({ name: 'FleetError', code: 'unknown', message: 'boom' });
    expect(toError({ a: 1 }).message).toBe('non-error thrown: {"a":1}');
    expect(toError(undefined)).toBeInstanceOf(FleetError);
  });

  it('carries status, code and fields for API errors', () => {
    const v = new ValidationError('bad', [{ path: 'userId', message: 'wrong' }]);
    expect(v).toBeInstanceOf(ApiError);
    expect(v).toMatchObject({
      status: 400,
      code: 'validation_failed',
      name: 'ValidationError',
      fields: [{ path: 'userId', message: 'wrong' }],
    });
    expect(new NotFoundError('rollout x')).toMatchObject({ status: 404, message: 'rollout x was not found' });
  });
});
