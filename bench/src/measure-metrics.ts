import { createDatabase, insertRollout, markRolloutEnqueued } from '@fleet/db';
import { createLogger } from '@fleet/logger';
import { createRedisConnection, enqueueInstallJobs, openInstallQueue } from '@fleet/queue';
import { createTestDatabase, deleteKeysWithPrefix, testRedisUrl, uniquePrefix } from '@fleet/testing';
import { freePort, spawnApp, waitForHttp } from './processes.ts';

/** One scrape series: how long a GET /metrics took, end to end over HTTP, body read. */
type ScrapeFigures = {
  openRollouts: number;
  scrapes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  bytes: number;
  series: number;
};

export type MetricsBenchResult = {
  instancesPerRollout: number;
  one: ScrapeFigures;
  hundred: ScrapeFigures;
  /** p99 at 100 open rollouts over p99 at 1, measured side by side in this run. */
  p99Ratio: number;
};

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function scrapeSeries(url: string, openRollouts: number, scrapes: number): Promise<ScrapeFigures> {
  const times: number[] = [];
  let text = '';
  for (let i = 0; i < scrapes + 5; i++) {
    const started = performance.now();
    const res = await fetch(url);
    text = await res.text();
    if (res.status !== 200) throw new Error(`scrape answered ${res.status}: ${text.slice(0, 200)}`);
    // The first few warm the connection pools and the query plans.
    if (i >= 5) times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return {
    openRollouts,
    scrapes,
    p50Ms: quantile(times, 0.5),
    p99Ms: quantile(times, 0.99),
    maxMs: times.at(-1)!,
    bytes: Buffer.byteLength(text),
    series: text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length,
  };
}

/**
 * `--only metrics`: what one Prometheus scrape of the reconciler costs (its gauges are read at scrape time) with 1
 * open rollout and with 100, each with its jobs in Redis, the real reconciler app serving them over HTTP.
 */
export async function measureMetrics(options: {
  instancesPerRollout: number;
  scrapes: number;
  log: (line: string) => void;
}): Promise<MetricsBenchResult> {
  const { log } = options;
  const created = await createTestDatabase();
  const db = createDatabase({ url: created.url, poolMax: 4 });
  const logger = createLogger({ service: 'bench-metrics', level: 'warn' });
  const prefix = uniquePrefix('benchmetrics');
  const redis = createRedisConnection(testRedisUrl(), 'control', logger);
  const port = await freePort();
  const reconciler = spawnApp('reconciler', {
    DATABASE_URL: created.url,
    REDIS_URL: testRedisUrl(),
    QUEUE_PREFIX: prefix,
    METRICS_PORT: String(port),
    // No pass during the measurement: the scrape alone is measured.
    RECONCILE_INTERVAL_MS: '3600000',
    LOG_LEVEL: 'warn',
  });
  const url = `http://127.0.0.1:${port}/metrics`;
  let rollouts = 0;
  const addRollouts = async (count: number) => {
    for (let n = 0; n < count; n++, rollouts++) {
      const ids = Array.from({ length: options.instancesPerRollout }, (_, i) => `i-bm${rollouts}x${i}`);
      const { rollout, instances } = await insertRollout(db, {
        userId: '1234567898765432',
        force: false,
        concurrency: 10,
        maxAttempts: 3,
        policy: {},
        instanceIds: ids,
      });
      const queue = openInstallQueue(redis, rollout.id, prefix, logger);
      await enqueueInstallJobs(queue, { rolloutId: rollout.id, concurrency: 10, instances });
      await queue.close();
      await markRolloutEnqueued(db, rollout.id);
    }
  };
  try {
    await waitForHttp(url, 60_000, () => reconciler.output());
    await addRollouts(1);
    log(`metrics: ${options.scrapes} scrapes of the reconciler with 1 open rollout`);
    const one = await scrapeSeries(url, 1, options.scrapes);
    await addRollouts(99);
    log(`metrics: ${options.scrapes} scrapes with 100 open rollouts`);
    const hundred = await scrapeSeries(url, 100, options.scrapes);
    return { instancesPerRollout: options.instancesPerRollout, one, hundred, p99Ratio: hundred.p99Ms / one.p99Ms };
  } finally {
    await reconciler.stop();
    await redis.quit();
    await deleteKeysWithPrefix(prefix);
    await db.close();
    await created.drop().catch(() => undefined);
  }
}

export function renderMetricsReport(result: MetricsBenchResult): string {
  const row = (f: ScrapeFigures) =>
    `| ${f.openRollouts} | ${f.p50Ms.toFixed(1)} | ${f.p99Ms.toFixed(1)} | ${f.maxMs.toFixed(1)} | ${f.series} | ${f.bytes} |`;
  return [
    `Reconciler GET /metrics, ${result.one.scrapes} scrapes each, ${result.instancesPerRollout} instances per rollout`,
    '',
    '| open rollouts | p50 ms | p99 ms | max ms | series | bytes |',
    '|---|---|---|---|---|---|',
    row(result.one),
    row(result.hundred),
    '',
    `p99 at 100 open rollouts / at 1: ${result.p99Ratio.toFixed(2)}x; target under 50 ms at 100: ${result.hundred.p99Ms < 50 ? 'met' : 'missed'}`,
  ].join('\n');
}
