import type { LoggerOptions } from '@fleet/logger';
import type { RedisTarget } from '@fleet/queue';

/** What the enqueue thread is started with (workerData). Held in memory only: never logged, never sent on. */
export type EnqueueThreadData = {
  databaseUrl: string;
  redisTarget: RedisTarget;
  queuePrefix: string;
  log: Pick<LoggerOptions, 'level' | 'format' | 'color' | 'secrets'>;
};

/** The API asks the thread to hand a recorded rollout's first wave to Redis. */
export type EnqueueRequest = { taskId: number; rolloutId: string; concurrency: number };

/** The thread's answer: the enqueue finished (every job of the wave is in Redis), or why it did not. */
export type EnqueueAnswer = { taskId: number; ok: true; handed: number } | { taskId: number; ok: false; error: string };
