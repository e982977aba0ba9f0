/** What the baseline scripts are told by the runner, through their environment. */
export type BaselineEnv = {
  simUrl: string;
  accessKeyId: string;
  accessKeySecret: string;
  userId: string;
  concurrency: number;
  instanceCount: number;
  idPrefix: string;
  redisUrl: string;
  queuePrefix: string;
  queueName: string;
};

export function baselineEnvVars(env: BaselineEnv): Record<string, string> {
  return {
    BENCH_SIM_URL: env.simUrl,
    BENCH_ACCESS_KEY_ID: env.accessKeyId,
    BENCH_ACCESS_KEY_SECRET: env.accessKeySecret,
    BENCH_USER_ID: env.userId,
    BENCH_CONCURRENCY: String(env.concurrency),
    BENCH_INSTANCE_COUNT: String(env.instanceCount),
    BENCH_ID_PREFIX: env.idPrefix,
    BENCH_REDIS_URL: env.redisUrl,
    BENCH_QUEUE_PREFIX: env.queuePrefix,
    BENCH_QUEUE_NAME: env.queueName,
  };
}

export function readBaselineEnv(source: Record<string, string | undefined>): BaselineEnv {
  const get = (name: string) => {
    const value = source[name];
    if (!value) throw new Error(`${name} is not set (the baseline scripts are started by bench/src/main.ts)`);
    return value;
  };
  const int = (name: string) => {
    const value = Number(get(name));
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
    return value;
  };
  return {
    simUrl: get('BENCH_SIM_URL'),
    accessKeyId: get('BENCH_ACCESS_KEY_ID'),
    accessKeySecret: get('BENCH_ACCESS_KEY_SECRET'),
    userId: get('BENCH_USER_ID'),
    concurrency: int('BENCH_CONCURRENCY'),
    instanceCount: int('BENCH_INSTANCE_COUNT'),
    idPrefix: get('BENCH_ID_PREFIX'),
    redisUrl: get('BENCH_REDIS_URL'),
    queuePrefix: get('BENCH_QUEUE_PREFIX'),
    queueName: get('BENCH_QUEUE_NAME'),
  };
}

/** `count` distinct ECS-style instance ids (`i-` + lowercase letters and digits) starting with `prefix`. */
export function instanceIdsFor(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `i-${prefix}${i.toString(36).padStart(6, '0')}`);
}
