import type { Database } from '@fleet/db';
import { listDueDeliveries } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import type { WebhookQueue } from '@fleet/queue';
import { enqueueWebhookDeliveries } from '@fleet/queue';

/**
 * The webhook deliveries' repair: every `intervalMs` (and at start), pending messages due within the next interval
 * are handed to the queue again, each with the delay still to run. A message whose job is there (waiting, delayed,
 * active) is left alone (the job id is the delivery id); one whose job Redis lost (FLUSHALL, a failover that lost
 * writes, the process killed before its enqueue) gets it back. So Redis can lose everything and no message is lost.
 * Idempotent, so every notifier process runs it; no lease is needed.
 */
export type WebhookRedrive = { start(): void; stop(): Promise<void>; runNow(): Promise<number> };

export function createWebhookRedrive(deps: {
  db: Database;
  queue: WebhookQueue;
  logger: Logger;
  intervalMs: number;
  /** Most deliveries handed over per pass. Default 5000. */
  batchSize?: number;
  now?: () => Date;
}): WebhookRedrive {
  const now = deps.now ?? (() => new Date());
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let pass: Promise<number> | null = null;

  const runNow = (): Promise<number> => {
    pass ??= (async () => {
      const at = now();
      const due = await listDueDeliveries(deps.db, {
        dueBefore: new Date(at.getTime() + deps.intervalMs),
        limit: deps.batchSize ?? 5000,
      });
      await enqueueWebhookDeliveries(
        deps.queue,
        due.map((d) => ({ deliveryId: d.id, delayMs: Math.max(0, d.nextAttemptAt.getTime() - at.getTime()) })),
      );
      return due.length;
    })()
      .catch((error: unknown) => {
        deps.logger.warn('webhook re-drive failed; trying again next interval', {
          error: error instanceof Error ? error.message : String(error),
        });
        return 0;
      })
      .finally(() => {
        pass = null;
      });
    return pass;
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => void runNow().finally(schedule), deps.intervalMs);
  };

  return {
    start() {
      void runNow().finally(schedule);
    },
    runNow,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await pass;
    },
  };
}
