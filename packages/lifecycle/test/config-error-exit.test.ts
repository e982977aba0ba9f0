import { describe, expect, it } from 'vitest';
import { ConfigError } from '@fleet/errors';
import { configErrorLine } from '../src/index.ts';

describe('configErrorLine', () => {
  it('names the app, the variable, its shown value and what is allowed', () => {
    const error = new ConfigError('WORKER_CONCURRENCY', 'expected an integer from 1 up', { shownValue: '"abc"' });
    expect(configErrorLine('worker', error)).toBe(
      'worker: configuration error: WORKER_CONCURRENCY="abc": expected an integer from 1 up',
    );
  });

  it('leaves the value out for a variable that is not set', () => {
    expect(configErrorLine('api', new ConfigError('REQUIRED_ID', 'must be set'))).toBe(
      'api: configuration error: REQUIRED_ID: must be set',
    );
  });
});
