export { createRedisConnection, describeRedisTarget, isRedisReachable, redisTargetOf } from './redis-connection.ts';
export type { RedisClient, RedisRole, RedisSettings, RedisTarget } from './redis-connection.ts';
export {
  openInstallQueue,
  enqueueInstallJobs,
  pauseInstallQueue,
  resumeInstallQueue,
  drainInstallQueue,
  DEFAULT_QUEUE_PREFIX,
} from './install-queue.ts';
export type { InstallJobData, InstallJobInstance, InstallQueue } from './install-queue.ts';
export { createInstallWorker, delayInstallJob } from './install-worker.ts';
export type { InstallJob, InstallJobProcessor, InstallWorker, InstallWorkerOptions } from './install-worker.ts';
export { findMissingInstallJobs, installJobKey } from './install-job-keys.ts';
export { countInstallJobs } from './install-job-counts.ts';
export type { InstallJobState } from './install-job-counts.ts';
export {
  installQueueName,
  installJobId,
  rolloutWorkChannel,
  reconcilerLeaderKey,
  apiRateLimitKey,
  adminSessionKey,
  streamTicketKey,
  webhookQueueName,
} from './names.ts';
export {
  openWebhookQueue,
  enqueueWebhookDeliveries,
  redeliverWebhookNow,
  createWebhookWorker,
  delayWebhookJob,
} from './webhook-queue.ts';
export type {
  WebhookJobData,
  WebhookJob,
  WebhookQueue,
  WebhookWorker,
  WebhookJobRequest,
  WebhookWorkerOptions,
} from './webhook-queue.ts';
