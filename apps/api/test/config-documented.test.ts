import { describe, expect, it } from 'vitest';
import { undocumentedVariables } from '@fleet/testing';
import { apiConfigSchema } from '../src/config.ts';

describe('api config documentation', () => {
  it('every variable the api parses is in the configuration table of docs/operations.md, for the api', () => {
    expect(undocumentedVariables(apiConfigSchema, 'docs/operations.md', 'api')).toEqual([]);
  });
});
