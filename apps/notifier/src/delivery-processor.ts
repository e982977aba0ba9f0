import type { Database, WebhookRecord } from '@fleet/db';
import {
  claimDeliveryAttempt,
  countInstances,
  disableWebhook,
  hasEarlierUnattemptedDelivery,
  loadDeliveryForAttempt,
  recordDeliveryAttempt,
  webhookSecretContext,
  webhookRobotSecretContext,
  webhookUrlContext,
} from '@fleet/db';
import { assertNever } from '@fleet/errors';
import type { Logger } from '@fleet/logger';
import type { WebhookJob } from '@fleet/queue';
import { delayWebhookJob } from '@fleet/queue';
import type { EventSource } from '@fleet/rollout-domain';
import type { SecretBox } from '@fleet/secrets';
import type { DeliveryAgents, WebhookAnswer } from '@fleet/webhooks';
import { answerExcerpt, buildAttemptRequest, chatText, decideAfterAttempt, sendWebhook } from '@fleet/webhooks';

/**
 * One job: one attempt of one delivery. Reads the message from Postgres (a job carries only its id), opens the
 * subscription's secrets, sends, records the attempt, and then either ends (delivered, given up), puts the job back
 * for the next attempt on the schedule, or disables the subscription (410, five days failing) with its event.
 */
export type DeliveryProcessorDeps = {
  db: Database;
  logger: Logger;
  /** Opens the sealed secrets; undefined when FLEET_ENCRYPTION_KEY is unset (no subscription can then be sent). */
  secretBox: SecretBox | undefined;
  agents: DeliveryAgents;
  /** Who disables a subscription: this notifier. */
  source: EventSource;
  timeoutMs: number;
  retryDelaysMs: readonly number[];
  disableAfterMs: number;
  publicBaseUrl: string | undefined;
  /** How long a message waits for an earlier one of its rollout still on its first attempt, in ms. Default 250. */
  orderWaitMs?: number;
  now?: () => Date;
};

/** A job due later than this is early (a stalled job run again): it is put back until its time, in ms. */
const EARLY_SLACK_MS = 1000;
/** How much longer than an attempt's timeout its lease on the delivery lasts (recording it takes a moment), in ms. */
const LEASE_SLACK_MS = 5000;
/** How long a message waits before a notifier without FLEET_ENCRYPTION_KEY looks at it again, in ms. */
const NO_KEY_RECHECK_MS = 60_000;

/** The signing secrets in clear, current first; the previous one while its 24 hours last. */
function signingSecrets(box: SecretBox, webhook: WebhookRecord, now: Date): string[] {
  const secrets = [box.open(webhook.secretSealed, webhookSecretContext(webhook.id))];
  if (webhook.previousSecretSealed && webhook.previousSecretUntil && webhook.previousSecretUntil > now)
    secrets.push(box.open(webhook.previousSecretSealed, webhookSecretContext(webhook.id)));
  return secrets;
}

export function createDeliveryProcessor(deps: DeliveryProcessorDeps) {
  const now = deps.now ?? (() => new Date());
  return async (job: WebhookJob, token?: string): Promise<void> => {
    const loaded = await loadDeliveryForAttempt(deps.db, job.data.deliveryId);
    // Gone (its subscription deleted), already delivered or given up, or its subscription disabled: nothing to do.
    if (!loaded || loaded.delivery.status !== 'pending' || !loaded.webhook.enabled) return;
    const { delivery, webhook, event } = loaded;
    const startedAt = now();
    const dueIn = (delivery.nextAttemptAt?.getTime() ?? 0) - startedAt.getTime();
    if (dueIn > EARLY_SLACK_MS) return delayWebhookJob(job, token, dueIn);
    if (delivery.attempts === 0 && (await hasEarlierUnattemptedDelivery(deps.db, delivery)))
      return delayWebhookJob(job, token, deps.orderWaitMs ?? 250);
    if (!deps.secretBox) {
      // A subscription made after this notifier started without the key (main.ts refuses to start with one stored):
      // the message stays pending for a notifier with the key, and this one looks again later rather than failing the
      // job over and over.
      deps.logger.error('FLEET_ENCRYPTION_KEY is not set: a webhook message waits for a notifier with the key', {
        deliveryId: delivery.id,
        webhookId: webhook.id,
      });
      return delayWebhookJob(job, token, NO_KEY_RECHECK_MS);
    }
    // One attempt at a time per message: another run of this job, or a redelivery asked for now, waits for its record.
    // A delivery held by an attempt whose notifier died is attempted again by the re-drive once the lease runs out.
    if (!(await claimDeliveryAttempt(deps.db, delivery, deps.timeoutMs + LEASE_SLACK_MS))) return;
    const chatKind = webhook.kind !== 'standard';
    const counts =
      chatKind && event.rolloutId && event.type.startsWith('rollout.')
        ? await countInstances(deps.db, event.rolloutId)
        : undefined;
    const request = buildAttemptRequest({
      kind: webhook.kind,
      // A chat kind's URL is sealed (its credential); the address checks of sendWebhook apply to it opened.
      url: webhook.urlSealed ? deps.secretBox.open(webhook.urlSealed, webhookUrlContext(webhook.id)) : webhook.url,
      messageId: delivery.id,
      event,
      chat: chatText({ type: event.type, rolloutId: event.rolloutId, data: event.data, counts }, deps.publicBaseUrl),
      secrets: signingSecrets(deps.secretBox, webhook, startedAt),
      robotSecret: webhook.robotSecretSealed
        ? deps.secretBox.open(webhook.robotSecretSealed, webhookRobotSecretContext(webhook.id))
        : null,
      now: startedAt,
    });
    const answer: WebhookAnswer = await sendWebhook(deps.agents, { ...request, timeoutMs: deps.timeoutMs });
    const attemptNo = delivery.attempts + 1;
    const decision = decideAfterAttempt({
      answer,
      attemptsMade: attemptNo,
      schedule: deps.retryDelaysMs,
      failingSince: webhook.failingSince,
      disableAfterMs: deps.disableAfterMs,
      now: now(),
    });
    const nextAttemptAt = decision.kind === 'retry' ? new Date(now().getTime() + decision.delayMs) : null;
    const status = decision.kind === 'delivered' ? 'delivered' : decision.kind === 'retry' ? 'pending' : 'failed';
    const recorded = await recordDeliveryAttempt(deps.db, {
      deliveryId: delivery.id,
      webhookId: webhook.id,
      attemptNo,
      startedAt,
      latencyMs: answer.latencyMs,
      httpStatus: answer.kind === 'answered' ? answer.status : null,
      outcome: decision.outcome,
      responseExcerpt: answerExcerpt(answer),
      status,
      nextAttemptAt,
    });
    // Another run of this job recorded the attempt first (a stalled job run twice): its decision stands.
    if (!recorded) return;
    const log = {
      deliveryId: delivery.id,
      webhookId: webhook.id,
      eventType: event.type,
      attemptNo,
      outcome: decision.outcome,
    };
    switch (decision.kind) {
      case 'delivered':
        deps.logger.debug('webhook delivered', log);
        return;
      case 'retry':
        deps.logger.info('webhook attempt failed; will retry', { ...log, delayMs: decision.delayMs });
        return delayWebhookJob(job, token, decision.delayMs);
      case 'give_up':
        deps.logger.warn('webhook given up after its last attempt', log);
        return;
      case 'disable':
        if (await disableWebhook(deps.db, webhook.id, decision.reason, deps.source))
          deps.logger.warn('webhook subscription disabled', { ...log, reason: decision.reason });
        return;
      default:
        return assertNever(decision, 'attempt decision');
    }
  };
}
