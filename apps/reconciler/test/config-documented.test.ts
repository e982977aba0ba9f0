import { describe, expect, it } from 'vitest';
import { undocumentedVariables } from '@fleet/testing';
import { reconcilerConfigSchema } from '../src/config.ts';

describe('reconciler config documentation', () => {
  it('every variable the reconciler parses is in the configuration table of docs/operations.md, for the reconciler', () => {
    expect(undocumentedVariables(reconcilerConfigSchema, 'docs/operations.md', 'reconciler')).toEqual([]);
  });
});
