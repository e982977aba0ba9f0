import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['../../packages/testing/src/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file runs a notifier against real receivers and waits on its deliveries; one at a time spares the CPU.
    fileParallelism: false,
  },
});
