import { describe, expect, it } from 'vitest';
import { undocumentedVariables } from '@fleet/testing';
import { simulatorConfigSchema } from '../src/config.ts';

describe('simulator config documentation', () => {
  it('every variable the simulator parses is in the configuration table of docs/operations.md, for the simulator', () => {
    expect(undocumentedVariables(simulatorConfigSchema, 'docs/operations.md', 'simulator')).toEqual([]);
  });
});
