import { describe, expect, it } from 'vitest';
import { spawnApp } from '@fleet/testing';

describe('worker main.ts with a malformed variable', () => {
  it('writes one line on stderr naming WORKER_CONCURRENCY, its value and what is allowed, nothing on stdout, and exits 78 (EX_CONFIG)', async () => {
    const app = spawnApp('worker', { WORKER_CONCURRENCY: 'abc' });
    expect(await app.closed).toBe(78);
    expect(app.stderr()).toBe('worker: configuration error: WORKER_CONCURRENCY="abc": expected an integer from 1 up\n');
    expect(app.stdout()).toBe('');
  });
});
