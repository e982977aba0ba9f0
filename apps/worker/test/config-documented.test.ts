import { describe, expect, it } from 'vitest';
import { undocumentedVariables } from '@fleet/testing';
import { workerConfigSchema } from '../src/config.ts';

describe('worker config documentation', () => {
  it('every variable the worker parses is in the configuration table of docs/operations.md, for the worker', () => {
    expect(undocumentedVariables(workerConfigSchema, 'docs/operations.md', 'worker')).toEqual([]);
  });
});
