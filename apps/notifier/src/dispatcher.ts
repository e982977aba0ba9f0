import type { Database, EventListener, EventListenerOptions } from '@fleet/db';
import { dispatchWebhookEvents } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import type { WebhookQueue } from '@fleet/queue';
import { enqueueWebhookDeliveries } from '@fleet/queue';
import { subscriptionReceives } from '@fleet/webhooks';

/**
 * Turns committed fleet events into deliveries: woken by every NOTIFY on the events channel (and after each
 * re-LISTEN, and every `pollIntervalMs` in case a notice was missed), it runs dispatch steps until the cursor has
 * caught up, handing each step's new deliveries to the queue at once. The events table is the only source: a
 * webhook says what the timeline, the stream and the audit trail say. A delivery committed but not handed over
 * (Redis down, the process killed between the two) is found by the re-drive.
 */
export type WebhookDispatcher = { start(): Promise<void>; stop(): Promise<void>; runNow(): Promise<void> };

export type WebhookDispatcherDeps = {
  db: Database;
  queue: WebhookQueue;
  logger: Logger;
  /** Makes the LISTEN connection on the events channel (createEventListener with the URL and channel). */
  listen: (
    handlers: Pick<EventListenerOptions, 'onNotification' | 'onListening' | 'onConnectionLost'>,
  ) => EventListener;
  /** Events per dispatch step. Default 500. */
  batchSize?: number;
  /** A look without a notice, in ms. Default 5000. */
  pollIntervalMs?: number;
};

export function createWebhookDispatcher(deps: WebhookDispatcherDeps): WebhookDispatcher {
  const batchSize = deps.batchSize ?? 500;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const drain = async () => {
    for (;;) {
      const step = await dispatchWebhookEvents(deps.db, {
        batchSize,
        planner: (event, subscriptions) => subscriptions.filter((s) => subscriptionReceives(s, event)),
      });
      if (step.deliveries.length > 0) {
        await enqueueWebhookDeliveries(
          deps.queue,
          step.deliveries.map((d) => ({ deliveryId: d.id, delayMs: 0 })),
        ).catch((error: unknown) =>
          // Recorded in Postgres already: the re-drive hands them over once Redis answers.
          deps.logger.warn('could not enqueue webhook deliveries; the re-drive will', {
            deliveries: step.deliveries.length,
            error: error instanceof Error ? error.message : String(error),
          }),
        );
        deps.logger.debug('webhook deliveries dispatched', { events: step.events, deliveries: step.deliveries.length });
      }
      if (step.events < batchSize || stopped) return;
    }
  };

  /** One drain at a time; a wake-up during one runs another after it (the notice may be for events it missed). */
  const runNow = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await drain().catch((error: unknown) =>
          deps.logger.warn('webhook dispatch failed; trying again on the next event or poll', {
            error: error instanceof Error ? error.message : String(error),
          }),
        );
      } while (again && !stopped);
    })().finally(() => {
      running = null;
    });
    return running;
  };

  const listener = deps.listen({
    onNotification: () => void runNow(),
    onListening: () => void runNow(),
    onConnectionLost: (error) => deps.logger.warn('events listen connection lost', { error: error.message }),
  });

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      void runNow().finally(schedule);
    }, deps.pollIntervalMs ?? 5000);
  };

  return {
    async start() {
      await listener.start();
      await runNow();
      schedule();
    },
    runNow,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await listener.stop();
      await running;
    },
  };
}
