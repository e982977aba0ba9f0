import { describe, expect, it } from 'vitest';
import { spawnApp } from '@fleet/testing';

describe('notifier main.ts with a malformed variable', () => {
  it('writes one line on stderr naming WEBHOOK_RETRY_DELAYS_MS, its value and what is allowed, nothing on stdout, and exits 78 (EX_CONFIG)', async () => {
    const app = spawnApp('notifier', { WEBHOOK_RETRY_DELAYS_MS: '100,soon' });
    expect(await app.closed).toBe(78);
    expect(app.stderr()).toBe(
      'notifier: configuration error: WEBHOOK_RETRY_DELAYS_MS="100,soon": ' +
        'expected a comma-separated list of whole milliseconds, each >= 1\n',
    );
    expect(app.stdout()).toBe('');
  });
});
