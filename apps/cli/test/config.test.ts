import { describe, expect, it } from 'vitest';
import { z } from '@fleet/config';
import { configVariableNames, undocumentedVariables } from '@fleet/testing';
import { cliConfigSchema } from '../src/config.ts';
import { fleetClientEnvSchema } from '../src/fleet/client-env.ts';

describe('cli config', () => {
  it('every variable it parses is in the configuration table of docs/operations.md, for the cli', () => {
    expect(undocumentedVariables(cliConfigSchema, 'docs/operations.md', 'cli')).toEqual([]);
  });

  it('the documentation check reads the schema and the table: a variable nobody documented is reported', () => {
    expect(configVariableNames(cliConfigSchema)).toEqual([
      'DATABASE_URL',
      'FLEET_APPS',
      'FLEET_ENCRYPTION_KEY',
      'FLEET_ENCRYPTION_KEY_FILE',
      'FLEET_ENCRYPTION_PREVIOUS_KEYS',
      'FLEET_KEY_FILE',
      'FLEET_READY_TIMEOUT_MS',
      'HOST',
      'LOG_FORMAT',
      'LOG_LEVEL',
      'NO_COLOR',
      'PORT',
      'REDIS_URL',
      'SIMULATOR_HOST',
      'SIMULATOR_PORT',
    ]);
    const withAnUndocumentedOne = cliConfigSchema.extend({ FLEET_NOT_A_DOCUMENTED_VARIABLE: z.string().optional() });
    expect(undocumentedVariables(withAnUndocumentedOne, 'docs/operations.md', 'cli')).toEqual([
      'FLEET_NOT_A_DOCUMENTED_VARIABLE',
    ]);
    // Documented, but for other apps only: not documented for this one.
    expect(undocumentedVariables(z.object({ SIM_SEED: z.string() }), 'docs/operations.md', 'cli')).toEqual([
      'SIM_SEED',
    ]);
  });
});

describe('fleet client environment', () => {
  it('every variable the client commands parse is in the configuration table of docs/operations.md, for the cli', () => {
    expect(configVariableNames(fleetClientEnvSchema)).toContain('FLEET_API_KEY');
    expect(undocumentedVariables(fleetClientEnvSchema, 'docs/operations.md', 'cli')).toEqual([]);
  });
});
