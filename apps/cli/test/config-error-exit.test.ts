import { describe, expect, it } from 'vitest';
import { spawnApp } from '@fleet/testing';

describe('cli main.ts with a malformed variable', () => {
  it('up writes one line on stderr naming FLEET_APPS, its value and the apps allowed, nothing on stdout, and exits 78 (EX_CONFIG)', async () => {
    const app = spawnApp('cli', { FLEET_APPS: 'api,web' }, { args: ['up'] });
    expect(await app.closed).toBe(78);
    expect(app.stderr()).toBe(
      'fleet: configuration error: FLEET_APPS="api,web": expected a comma-separated list of simulator, api, worker, reconciler, notifier\n',
    );
    expect(app.stdout()).toBe('');
  });
});
