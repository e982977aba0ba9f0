import { defineConfig } from 'vitest/config';

/**
 * The console's end-to-end tests: headless Chromium (Debian's, driven by playwright-core) against one real stack
 * (simulator, API serving the build in dist/, worker, reconciler) that test/console-stack.ts starts once for every
 * file. `npm test` builds dist/ first. Files run one at a time: they share the stack and the machine has 2 cores.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.e2e.test.ts'],
    globalSetup: ['../../packages/testing/src/global-setup.ts', './test/console-stack.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
