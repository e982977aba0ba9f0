import { describe, expect, it } from 'vitest';
import { spawnApp } from '@fleet/testing';

describe('api main.ts with a malformed variable', () => {
  it('writes one line on stderr naming PORT, its value and the allowed range, nothing on stdout, and exits 78 (EX_CONFIG)', async () => {
    const app = spawnApp('api', { PORT: 'eighty' });
    expect(await app.closed).toBe(78);
    expect(app.stderr()).toBe('api: configuration error: PORT="eighty": expected an integer from 0 to 65535\n');
    expect(app.stdout()).toBe('');
  });
});

describe('api main.ts with a malformed secret', () => {
  it('names FLEET_ADMIN_API_KEY and its length in the one line, never its value', async () => {
    const app = spawnApp('api', { FLEET_ADMIN_API_KEY: 'short-secret-value' });
    expect(await app.closed).toBe(78);
    expect(app.stderr()).toMatch(
      /^api: configuration error: FLEET_ADMIN_API_KEY=\(18 characters, not shown\): must be 32 to 512 characters[^\n]*\n$/,
    );
    expect(app.output()).not.toContain('short-secret-value');
  });
});
