import { defineConfig } from 'vitest/config';

/**
 * `npm run test:fast`: the unit suites in one vitest run. A file belongs here when it needs no Postgres, no Redis and
 * spawns no process and takes a few seconds at most: the pure packages, the config parsers, and files that talk only
 * to an in-process server (apps/simulator's profiles test, 4,000 calls in about 20 s, stays out). The
 * complete run (`npm test`, what CI calls) still runs every one of them in its own workspace.
 */
export default defineConfig({
  test: {
    include: [
      'packages/{errors,rollout-domain,cms-client,cms-simulator,logger,secrets,testing,thread-priority}/test/**/*.test.ts',
      'packages/config/test/config.test.ts',
      'apps/*/test/config.test.ts',
      'apps/*/test/config-documented.test.ts',
      'apps/api/test/background-enqueues.test.ts',
      'apps/worker/test/exact-signing-replay.test.ts',
      'apps/worker/test/trailing-checks.test.ts',
      'apps/cli/test/readme.test.ts',
      'bench/test/**/*.test.ts',
    ],
  },
});
