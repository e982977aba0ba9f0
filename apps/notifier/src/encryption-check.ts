import type { Database } from '@fleet/db';
import { countWebhooks } from '@fleet/db';
import type { SecretBox } from '@fleet/secrets';

/**
 * Why this notifier must not start, or null. Without FLEET_ENCRYPTION_KEY it cannot open any subscription's signing
 * secret, so with subscriptions stored every attempt would fail (each job over and over, for ever); refusing to start,
 * with one line naming the variable, tells the operator at once, and the messages wait in Postgres, pending, for a
 * notifier with the key. With no subscription yet it starts (there is nothing it could not send), and says so.
 */
export async function missingEncryptionKeyProblem(db: Database, box: SecretBox | undefined): Promise<string | null> {
  if (box) return null;
  const subscriptions = await countWebhooks(db);
  if (subscriptions === 0) return null;
  return (
    `FLEET_ENCRYPTION_KEY is not set, and ${subscriptions} webhook subscription${subscriptions === 1 ? ' has' : 's have'} ` +
    'a sealed signing secret this notifier must open to send: set it to the key the API seals with'
  );
}
