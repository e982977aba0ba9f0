import type { Database, EventListener, EventListenerOptions } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import type { RedisClient } from '@fleet/queue';
import { createWebhookWorker, openWebhookQueue } from '@fleet/queue';
import type { SecretBox } from '@fleet/secrets';
import { createDeliveryAgents } from '@fleet/webhooks';
import { createDeliveryProcessor } from './delivery-processor.ts';
import { createWebhookDispatcher } from './dispatcher.ts';
import { createWebhookRedrive } from './redrive.ts';

/**
 * The notifier: the dispatcher (events to deliveries), the delivery worker (attempts), and the re-drive (Postgres to
 * Redis), over one queue. main.ts builds the clients and hands them here; tests do the same with their own.
 */
export type NotifierDeps = {
  db: Database;
  /** Worker-role connection (`maxRetriesPerRequest: null`), for the queue and the worker. */
  redis: RedisClient;
  prefix: string;
  logger: Logger;
  secretBox: SecretBox | undefined;
  listen: (
    handlers: Pick<EventListenerOptions, 'onNotification' | 'onListening' | 'onConnectionLost'>,
  ) => EventListener;
  notifierId: string;
  allowPrivateNetworks: boolean;
  concurrency: number;
  timeoutMs: number;
  retryDelaysMs: readonly number[];
  disableAfterMs: number;
  redriveIntervalMs: number;
  publicBaseUrl: string | undefined;
  /** Dispatcher's look without a notice, in ms. Default 5000. */
  pollIntervalMs?: number;
};

export type Notifier = { start(): Promise<void>; stop(): Promise<void> };

export function createNotifier(deps: NotifierDeps): Notifier {
  const queue = openWebhookQueue(deps.redis, deps.prefix, deps.logger);
  const agents = createDeliveryAgents({ allowPrivateNetworks: deps.allowPrivateNetworks });
  const dispatcher = createWebhookDispatcher({
    db: deps.db,
    queue,
    logger: deps.logger,
    listen: deps.listen,
    ...(deps.pollIntervalMs === undefined ? {} : { pollIntervalMs: deps.pollIntervalMs }),
  });
  const redrive = createWebhookRedrive({ db: deps.db, queue, logger: deps.logger, intervalMs: deps.redriveIntervalMs });
  const processor = createDeliveryProcessor({
    db: deps.db,
    logger: deps.logger,
    secretBox: deps.secretBox,
    agents,
    source: { actor: { kind: 'notifier', id: deps.notifierId } },
    timeoutMs: deps.timeoutMs,
    retryDelaysMs: deps.retryDelaysMs,
    disableAfterMs: deps.disableAfterMs,
    publicBaseUrl: deps.publicBaseUrl,
  });
  let worker: ReturnType<typeof createWebhookWorker> | undefined;
  let stopping: Promise<void> | undefined;
  return {
    async start() {
      // The lock outlasts an attempt's deadline, so a slow receiver does not make its job look stalled.
      worker = createWebhookWorker({
        connection: deps.redis,
        prefix: deps.prefix,
        processor,
        concurrency: deps.concurrency,
        lockDurationMs: deps.timeoutMs + 15_000,
        logger: deps.logger,
      });
      await dispatcher.start();
      redrive.start();
    },
    stop() {
      stopping ??= (async () => {
        await dispatcher.stop();
        await redrive.stop();
        // Attempts in flight finish (each within timeoutMs) and record what they got.
        await worker?.close();
        await queue.close();
        agents.destroy();
      })();
      return stopping;
    },
  };
}
