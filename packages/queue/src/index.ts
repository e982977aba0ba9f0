export { createRedisConnection, isRedisReachable } from './redis-connection.ts';
export type { RedisRole } from './redis-connection.ts';
export {
  openInstallQueue,
  enqueueInstallJobs,
  pauseInstallQueue,
  resumeInstallQueue,
  drainInstallQueue,
  DEFAULT_QUEUE_PREFIX,
} from './install-queue.ts';
export type { InstallJobData, InstallJobInstance } from './install-queue.ts';
export { installQueueName, installJobId, rolloutWorkChannel } from './names.ts';
