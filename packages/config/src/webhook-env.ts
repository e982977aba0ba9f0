import { env } from './env-fields.ts';

/**
 * The webhook setting the API (which checks a subscription's URL when it is made) and the notifier (which checks
 * again at each delivery) must read alike.
 */
export const webhookEnv = {
  /**
   * `true`: webhooks may go to loopback, private, link-local and CGNAT addresses (local development and tests only;
   * cloud metadata addresses stay refused). Default false.
   */
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: env.bool(false),
};
