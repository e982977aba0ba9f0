import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { createTestDatabase, deleteKeysWithPrefix, testRedisUrl } from '@fleet/testing';
import type { ChildScript } from './processes.ts';
import { freePort, repoRoot, spawnApp, spawnScript, waitForHttp, waitForOutput } from './processes.ts';

/**
 * Everything a benchmark run talks to: a database of its own (a copy of the migrated template, dropped at the end),
 * a Redis key prefix of its own, and the product's real apps as child processes (simulator, API, workers). The
 * reconciler is not started: its repairs and install verification (NodeStatus calls) are not part of the install
 * path being measured, and its calls would share the simulator with it.
 */
export type BenchStack = {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  simUrl: string;
  apiUrl: string;
  /** The API's bootstrap admin key (FLEET_ADMIN_API_KEY), sent as `Authorization: Bearer`. */
  apiKey: string;
  userId: string;
  accessKeyId: string;
  accessKeySecret: string;
  /** A read-only observer's pool on the bench database (the harness reads facts, it never writes product state). */
  db: pg.Pool;
  simulator: ChildScript;
  api(): ChildScript;
  workers(): ChildScript[];
  /** The notifier (webhooks), once startNotifier started it. */
  notifier(): ChildScript | null;
  /** Starts the notifier (webhook deliveries; not started otherwise), with `env` over its settings. */
  startNotifier(env?: Record<string, string>): Promise<ChildScript>;
  /** Stops the running API (if any) and starts a fresh one, with `extraNodeArgs` after BENCH_API_NODE_ARGS. */
  restartApi(extraNodeArgs?: string[]): Promise<ChildScript>;
  /**
   * Stops the running workers (if any) and starts `count` fresh worker processes; `env` overrides their settings
   * (e.g. the account rate, which is otherwise out of the way), and `envOf` each one's own (its METRICS_PORT).
   */
  restartWorkers(
    count: number,
    env?: Record<string, string>,
    envOf?: (index: number) => Record<string, string>,
  ): Promise<ChildScript[]>;
  /** Stops every process, drops the database (unless kept) and deletes the Redis keys. Idempotent. */
  close(): Promise<void>;
};

export type StackOptions = {
  /** Highest rollout concurrency the run uses: our own limits are set at least this high so they never cap it. */
  maxConcurrency: number;
  /** Keep the bench database after the run (its name is printed). */
  keepDatabase: boolean;
  /** Simulator latency at start, ms (changed per run through /_sim/scenario). */
  latencyMs: number;
  /** How often workers look for new rollouts, ms (ROLLOUT_POLL_MS). */
  rolloutPollMs: number;
  log: (line: string) => void;
};

/**
 * Extra Node flags for the API, worker or simulator processes, e.g.
 * BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to see where a job's time goes (a CPU profile per
 * process, written when it exits), or BENCH_SIMULATOR_NODE_ARGS="--import <probe>" to watch the simulator's loop.
 */
function nodeArgs(variable: 'BENCH_API_NODE_ARGS' | 'BENCH_WORKER_NODE_ARGS' | 'BENCH_SIMULATOR_NODE_ARGS'): string[] {
  return process.env[variable]?.split(' ').filter(Boolean) ?? [];
}

export async function startStack(options: StackOptions): Promise<BenchStack> {
  const tag = randomBytes(4).toString('hex');
  const database = await createTestDatabase();
  const databaseUrl = database.url;
  options.log(`database ${database.name} (a copy of the migrated template)`);

  const redisUrl = testRedisUrl();
  const queuePrefix = `fleet-bench-${tag}`;
  const [simPort, apiPort] = [await freePort(), await freePort()];
  const simUrl = `http://127.0.0.1:${simPort}/`;
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const apiKey = `flt_bench_${randomBytes(24).toString('hex')}`;
  const accessKeyId = 'LTAIbenchkey000001';
  const accessKeySecret = `bench-secret-${randomBytes(8).toString('hex')}`;
  const common = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: queuePrefix,
    CMS_ACCESS_KEY_ID: accessKeyId,
    CMS_ACCESS_KEY_SECRET: accessKeySecret,
    // Webhooks (--only webhooks): the API seals subscription secrets, the notifier opens them; receivers are local.
    FLEET_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
  };

  const simulator = spawnApp(
    'simulator',
    {
      ...common,
      SIMULATOR_PORT: String(simPort),
      SIMULATOR_HOST: '127.0.0.1',
      SIM_LATENCY_MS: String(options.latencyMs),
      SIM_FAILURE_RATE: '0',
      SIM_SEED: 'bench',
      LOG_LEVEL: 'warn',
    },
    'simulator',
    nodeArgs('BENCH_SIMULATOR_NODE_ARGS'),
  );
  let api: ChildScript | null = null;
  let workers: ChildScript[] = [];
  let notifier: ChildScript | null = null;
  const db = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  db.on('error', () => undefined);
  let closing: Promise<void> | null = null;

  const stack: BenchStack = {
    databaseUrl,
    redisUrl,
    queuePrefix,
    simUrl,
    apiUrl,
    apiKey,
    userId: '1234567898765432',
    accessKeyId,
    accessKeySecret,
    db,
    simulator,
    api: () => {
      if (!api) throw new Error('the API is not running');
      return api;
    },
    workers: () => workers,
    notifier: () => notifier,
    async startNotifier(env = {}) {
      await notifier?.stop();
      notifier = spawnApp('notifier', { ...common, LOG_LEVEL: 'info', ...env });
      await waitForOutput(notifier, '"notifier started"', 60_000);
      return notifier;
    },
    async restartApi(extraNodeArgs = []) {
      await api?.stop();
      api = spawnApp(
        'api',
        {
          ...common,
          PORT: String(apiPort),
          HOST: '127.0.0.1',
          FLEET_ADMIN_API_KEY: apiKey,
          // A dry run's pre-check (--only plans) asks the simulator, as the workers' calls do.
          CMS_ENDPOINT: simUrl,
          // Status sampling makes thousands of requests a minute with one key.
          API_RATE_LIMIT_PER_MINUTE: '0',
          LOG_LEVEL: 'warn',
        },
        'api',
        [...nodeArgs('BENCH_API_NODE_ARGS'), ...extraNodeArgs],
      );
      const started = api;
      await waitForHttp(`${apiUrl}/readyz`, 60_000, () => started.output().slice(-4000));
      // The bootstrap key is stored at start; the first authenticated call proves it.
      const probe = await fetch(`${apiUrl}/v1/rollouts?limit=1`, { headers: { authorization: `Bearer ${apiKey}` } });
      await probe.arrayBuffer();
      if (probe.status !== 200)
        throw new Error(`the API refused the bench key: ${probe.status}\n${started.output().slice(-4000)}`);
      return started;
    },
    async restartWorkers(count, env = {}, envOf = () => ({})) {
      await Promise.all(workers.map((w) => w.stop()));
      workers = Array.from({ length: count }, (_, i) =>
        spawnApp(
          'worker',
          {
            ...common,
            CMS_ENDPOINT: simUrl,
            WORKER_ID: `bench-worker-${i + 1}`,
            // Our own limits must not be what caps the run: the rollout's concurrency C is.
            WORKER_CONCURRENCY: String(options.maxConcurrency),
            GLOBAL_CONCURRENCY: String(options.maxConcurrency),
            ACCOUNT_RATE_LIMIT_RPS: '1000000',
            ACCOUNT_RATE_BURST: '1000000',
            ROLLOUT_POLL_MS: String(options.rolloutPollMs),
            // info: the start-up line is how the harness knows a worker is ready; per-attempt lines are debug.
            LOG_LEVEL: 'info',
            ...env,
            ...envOf(i),
          },
          `worker-${i + 1}`,
          nodeArgs('BENCH_WORKER_NODE_ARGS'),
        ),
      );
      await Promise.all(workers.map((w) => waitForOutput(w, '"worker started"', 60_000)));
      return workers;
    },
    close() {
      closing ??= (async () => {
        await Promise.allSettled([...workers.map((w) => w.stop()), api?.stop(), notifier?.stop(), simulator.stop()]);
        await db.end().catch(() => undefined);
        await deleteKeysWithPrefix(queuePrefix, redisUrl).catch(() => undefined);
        if (options.keepDatabase) {
          options.log(`kept database ${database.name}: ${databaseUrl}`);
          return;
        }
        await database.drop();
      })();
      return closing;
    },
  };
  try {
    await waitForHttp(`${simUrl}_sim/stats`, 60_000, () => simulator.output().slice(-4000));
  } catch (error) {
    await stack.close();
    throw error;
  }
  return stack;
}

/** A baseline script (bench/src/baselines/<name>.ts) as its own process. */
export function spawnBaseline(name: 'plain-loop' | 'bare-bullmq', env: Record<string, string>): ChildScript {
  return spawnScript(name, path.join(repoRoot, 'bench', 'src', 'baselines', `${name}.ts`), env);
}
