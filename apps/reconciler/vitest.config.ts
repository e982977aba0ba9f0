import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['../../packages/testing/src/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The acceptance tests each run several worker/API/reconciler processes against timing (stale attempts, lock
    // expiry, verification windows); one file at a time keeps them from starving each other of CPU.
    fileParallelism: false,
  },
});
