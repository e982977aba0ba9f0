import { DelayedError, Queue, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import type { Logger } from '@fleet/logger';
import { webhookDeliveryJobId, webhookQueueName } from './names.ts';
import type { RedisClient } from './redis-connection.ts';

/**
 * The webhook delivery queue: one job per message attempt due, for every subscription. A job carries the delivery's
 * id only; the URL, the secrets and the body are read from Postgres when it runs, so nothing secret is ever in Redis.
 * Postgres is the record (webhook_delivery): a job lost with Redis is made again by the notifier's re-drive, and the
 * job id is the delivery id, so handing a delivery over twice while its job exists is a no-op.
 */
export type WebhookJobData = { deliveryId: string };
export type WebhookJob = Job<WebhookJobData>;
export type WebhookQueue = Queue<WebhookJobData>;
export type WebhookWorker = Worker<WebhookJobData>;

export function openWebhookQueue(connection: RedisClient, prefix: string, logger: Logger): WebhookQueue {
  const queue = new Queue<WebhookJobData>(webhookQueueName(), { connection, prefix });
  queue.on('error', (error) => logger.warn('webhook queue error', { error: error.message }));
  return queue;
}

/** A delivery to attempt after `delayMs` (0: now). */
export type WebhookJobRequest = { deliveryId: string; delayMs: number };

export async function enqueueWebhookDeliveries(
  queue: WebhookQueue,
  deliveries: readonly WebhookJobRequest[],
): Promise<void> {
  if (deliveries.length === 0) return;
  await queue.addBulk(
    deliveries.map((d) => ({
      name: 'webhook-delivery',
      data: { deliveryId: d.deliveryId },
      opts: {
        jobId: webhookDeliveryJobId(d.deliveryId),
        ...(d.delayMs > 0 ? { delay: Math.round(d.delayMs) } : {}),
        // The delivery log is in Postgres; a job that threw (Postgres away) is made again by the re-drive.
        removeOnComplete: true,
        removeOnFail: true,
        attempts: 1,
      },
    })),
  );
}

/**
 * A delivery to attempt now (a redelivery): its job is made, and when its job is already there waiting out a retry's
 * delay (hours, late in the schedule), that job is moved forward to now instead, as adding it again would be a no-op.
 * A job that is running is left to finish its attempt.
 */
export async function redeliverWebhookNow(queue: WebhookQueue, deliveryId: string): Promise<void> {
  await enqueueWebhookDeliveries(queue, [{ deliveryId, delayMs: 0 }]);
  const job = await queue.getJob(webhookDeliveryJobId(deliveryId));
  if (job && (await job.isDelayed())) await job.promote();
}

export type WebhookWorkerOptions = {
  /** Worker-role connection (`maxRetriesPerRequest: null`). */
  connection: RedisClient;
  prefix: string;
  processor: (job: WebhookJob, token?: string) => Promise<unknown>;
  /** Attempts this process makes at once. */
  concurrency: number;
  /** How long an active job's lock lasts without renewal, in ms; longer than the attempt's timeout. */
  lockDurationMs: number;
  logger: Logger;
};

/**
 * A job whose worker died runs again (the delivery may then reach its receiver twice, with the same webhook-id,
 * which is what at-least-once means); high so that restarts never fail one.
 */
const MAX_STALLED_COUNT = 1000;

export function createWebhookWorker(options: WebhookWorkerOptions): WebhookWorker {
  const worker = new Worker<WebhookJobData>(webhookQueueName(), options.processor, {
    connection: options.connection,
    prefix: options.prefix,
    concurrency: Math.max(1, options.concurrency),
    lockDuration: options.lockDurationMs,
    stalledInterval: Math.min(options.lockDurationMs, 5000),
    maxStalledCount: MAX_STALLED_COUNT,
    autorun: true,
  });
  worker.on('error', (error) => options.logger.warn('webhook worker error', { error: error.message }));
  worker.on('failed', (job, error) =>
    options.logger.warn('webhook job failed', { deliveryId: job?.data.deliveryId, error: error.message }),
  );
  return worker;
}

/** Puts a running job back in the delayed set for `delayMs` and ends the processor (rejects with DelayedError). */
export async function delayWebhookJob(job: WebhookJob, token: string | undefined, delayMs: number): Promise<never> {
  await job.moveToDelayed(Date.now() + Math.max(1, Math.round(delayMs)), token);
  throw new DelayedError();
}
