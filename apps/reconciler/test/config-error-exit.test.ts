import { describe, expect, it } from 'vitest';
import { spawnApp } from '@fleet/testing';

describe('reconciler main.ts with a malformed variable', () => {
  it('writes one line on stderr naming RECONCILE_INTERVAL_MS, its value and what is allowed, nothing on stdout, and exits 78 (EX_CONFIG)', async () => {
    const app = spawnApp('reconciler', { RECONCILE_INTERVAL_MS: 'soon' });
    expect(await app.closed).toBe(78);
    expect(app.stderr()).toBe(
      'reconciler: configuration error: RECONCILE_INTERVAL_MS="soon": expected an integer from 1 up\n',
    );
    expect(app.stdout()).toBe('');
  });
});
