import { describe, expect, it } from 'vitest';
import { spawnApp } from '@fleet/testing';

describe('simulator main.ts with a malformed variable', () => {
  it('writes one line on stderr naming SIM_FAILURE_RATE, its value and what is allowed, nothing on stdout, and exits 78 (EX_CONFIG)', async () => {
    const app = spawnApp('simulator', { SIM_FAILURE_RATE: '1.5' });
    expect(await app.closed).toBe(78);
    expect(app.stderr()).toBe('simulator: configuration error: SIM_FAILURE_RATE="1.5": expected a number at most 1\n');
    expect(app.stdout()).toBe('');
  });
});
