/**
 * Baseline 1: what a user's own script would do instead of this product. Signed NodeInstall calls with the
 * same client library, at most `BENCH_CONCURRENCY` in flight, no queue and no database: nothing is recorded, nothing
 * survives a crash. It is the upper bound of a shell loop of signed curl calls.
 *
 * Runs as its own process (like the product's worker) and prints one JSON line:
 * `{ "startedAtMs", "finishedAtMs", "p10AtMs", "p90AtMs", "completed", "succeeded", "cpuSeconds" }` (epoch ms;
 * p10/p90: when 10% and 90% of the calls had finished; cpuSeconds: this process's CPU time over the loop).
 */
import { createCmsClient } from '@fleet/cms-client';
import { readBaselineEnv, instanceIdsFor } from './baseline-env.ts';

const env = readBaselineEnv(process.env);
const cms = createCmsClient({
  endpoint: env.simUrl,
  credentials: { accessKeyId: env.accessKeyId, accessKeySecret: env.accessKeySecret },
  // A user's loop would open as many connections as it runs calls.
  maxConnections: env.concurrency,
});
const ids = instanceIdsFor(env.idPrefix, env.instanceCount);

let next = 0;
let done = 0;
let succeeded = 0;
const marks = { p10: Math.ceil(ids.length * 0.1), p90: Math.ceil(ids.length * 0.9) };
let p10AtMs = 0;
let p90AtMs = 0;
const startedAtMs = Date.now();
const cpuAtStart = process.cpuUsage();
await Promise.all(
  Array.from({ length: Math.min(env.concurrency, ids.length) }, async () => {
    while (next < ids.length) {
      const instanceId = ids[next++]!;
      const result = await cms.nodeInstall({ userId: env.userId, instanceId, force: true });
      if (result.success) succeeded++;
      done++;
      if (done === marks.p10) p10AtMs = Date.now();
      if (done === marks.p90) p90AtMs = Date.now();
    }
  }),
);
const finishedAtMs = Date.now();
const cpu = process.cpuUsage(cpuAtStart);
await cms.close();
process.stdout.write(
  `${JSON.stringify({ startedAtMs, finishedAtMs, p10AtMs, p90AtMs, completed: done, succeeded, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`,
);
