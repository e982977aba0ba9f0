/**
 * Baseline 2: a bare BullMQ worker whose processor only makes the NodeInstall call. Same queue layout and job
 * options as the product (the runner enqueues with @fleet/queue's enqueueInstallJobs), same client library, worker
 * concurrency `BENCH_CONCURRENCY`; no database, no limits, no retries. The difference between this and the product
 * is exactly what the product adds per job: claim and record in Postgres, the Redis limits, the rollout bookkeeping.
 *
 * Prints `{"ready":true}` once the worker is listening, then, after `BENCH_INSTANCE_COUNT` jobs completed, one line
 * `{ "firstCompletedAtMs", "p10AtMs", "p90AtMs", "lastCompletedAtMs", "completed", "succeeded", "cpuSeconds" }` (epoch
 * ms; cpuSeconds: this process's CPU time from ready to the last job).
 * Stops on SIGTERM.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createCmsClient } from '@fleet/cms-client';
import { readBaselineEnv } from './baseline-env.ts';

type InstallJobData = { rolloutId: string; rolloutInstanceId: string; instanceId: string };

const env = readBaselineEnv(process.env);
const cms = createCmsClient({
  endpoint: env.simUrl,
  credentials: { accessKeyId: env.accessKeyId, accessKeySecret: env.accessKeySecret },
  maxConnections: env.concurrency,
});
const connection = new Redis(env.redisUrl, { maxRetriesPerRequest: null });

let completed = 0;
let succeeded = 0;
let firstCompletedAtMs = 0;
let cpuAtReady: NodeJS.CpuUsage | undefined;
let p10AtMs = 0;
let p90AtMs = 0;
const marks = { p10: Math.ceil(env.instanceCount * 0.1), p90: Math.ceil(env.instanceCount * 0.9) };
const worker = new Worker<InstallJobData>(
  env.queueName,
  async (job) => {
    const result = await cms.nodeInstall({ userId: env.userId, instanceId: job.data.instanceId, force: true });
    return result.success;
  },
  {
    connection,
    prefix: env.queuePrefix,
    concurrency: env.concurrency,
    lockDuration: 30_000,
    stalledInterval: 30_000,
    autorun: true,
  },
);
worker.on('error', (error) => process.stderr.write(`bare worker error: ${error.message}\n`));
worker.on('completed', (_job, ok: boolean) => {
  completed++;
  if (ok) succeeded++;
  if (completed === 1) firstCompletedAtMs = Date.now();
  if (completed === marks.p10) p10AtMs = Date.now();
  if (completed === marks.p90) p90AtMs = Date.now();
  if (completed === env.instanceCount) {
    const cpu = process.cpuUsage(cpuAtReady);
    const lastCompletedAtMs = Date.now();
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const summary = { firstCompletedAtMs, p10AtMs, p90AtMs, lastCompletedAtMs, completed, succeeded, cpuSeconds };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  }
});
await worker.waitUntilReady();
cpuAtReady = process.cpuUsage();
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) process.exit(1);
  stopping = true;
  await worker.close();
  await cms.close();
  await connection.quit();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
