/**
 * Queue, job and key names derived from domain keys. BullMQ forbids `:` in queue names and job ids; rollout ids are
 * UUIDs and instance ids are `i-` + [a-z0-9], so neither ever contains one.
 *
 * The key scheme, on one node, under Sentinel and on a Redis Cluster alike (one set of names everywhere, so the
 * tests on one node run the names a cluster gets). Every key starts with the deployment's prefix (QUEUE_PREFIX, which
 * never holds a hash tag itself). On a cluster, a key's slot is the hash of its hash tag (the first `{...}` in it)
 * when it has one, else of the whole key; a Lua script, MULTI or pipeline may only name keys of one slot.
 * - Keys used together go under one hash tag; each key used alone has none, so those spread over the slots.
 * - A BullMQ queue's scripts take many of its keys at once (`<prefix>:<queue>:wait`, `:active`, `:meta`, the job
 *   hashes, ...): so every queue's NAME carries a hash tag of its own, never the prefix (BullMQ's Redis Cluster
 *   guide: with a tag in the prefix, every queue lands in one slot and on one node). Per-rollout queues take the
 *   rollout id as their tag (installQueueName), so rollouts spread over the nodes; a queue of the deployment's
 *   own (one for all rollouts) takes its own name as tag, e.g. `{deliveries}`. A new queue follows the same rule.
 * - Several queues are never named in one command: reads across rollouts go one pipeline per queue on a cluster
 *   (execPerSlotGroup, redis-slots.ts).
 * - The limits' scripts take an account's schedule and the global cap's keys together: every limits key shares the
 *   tag `{limits}` (packages/limits, limits-keys.ts).
 * - The keys below here (announcements, lease, rate-limit windows, admin sessions, stream tickets) are each read and
 *   written alone, by a single-key command or a script of one key: no tag.
 * - A scan of the deployment's keys must run on every master of a cluster (deleteKeysWithPrefix in @fleet/testing).
 */

/**
 * One BullMQ queue per rollout: its global concurrency is the rollout's `concurrency`, enforced in Redis. The rollout
 * id is the queue's hash tag (`install.{<id>}`), so each rollout's queue keys share a slot and rollouts spread.
 */
export function installQueueName(rolloutId: string): string {
  return `install.{${rolloutId}}`;
}

/** The job id of an instance's install job in its rollout's queue: adding it twice while it exists is a no-op. */
export function installJobId(instanceId: string): string {
  return instanceId;
}

/**
 * Pub/sub channel on which a rollout id is announced whenever work is handed to its queue (creation, retry, a wave
 * start, a repair), so that worker processes start on it at once instead of at their next look at Postgres.
 */
export function rolloutWorkChannel(prefix: string): string {
  return `${prefix}:events:rollout-work`;
}

/**
 * The reconciler's leader lease: one string key whose value is the holder's id, with a TTL. Every reconciler of a
 * deployment must use the same key for only one of them to repair at a time.
 */
export function reconcilerLeaderKey(prefix: string): string {
  return `${prefix}:reconciler:leader`;
}

/**
 * The API's request counter of one API key in one fixed rate-limit window (`window` = start time / window length),
 * shared by every API process of the deployment.
 */
export function apiRateLimitKey(prefix: string, apiKeyId: string, window: number): string {
  return `${prefix}:ratelimit:${apiKeyId}:${window}`;
}

/**
 * An admin session of the API's queue board (`/admin/queues`): holds the id of the API key that opened it, with a
 * TTL. `sessionHash` is the SHA-256 of the session cookie, never the cookie itself.
 */
export function adminSessionKey(prefix: string, sessionHash: string): string {
  return `${prefix}:admin-session:${sessionHash}`;
}

/**
 * A stream ticket of the API (POST /v1/rollouts/:id/events/stream-tickets), by the SHA-256 (hex) of the ticket: the
 * ticket itself is never stored. The value names the API key and rollout it was made for; the key expires with the
 * ticket and is deleted by its one use, in whichever API process that happens.
 */
export function streamTicketKey(prefix: string, ticketHash: string): string {
  return `${prefix}:stream-ticket:${ticketHash}`;
}

/**
 * The one queue of webhook deliveries (every subscription's); the notifier runs it. A queue of the deployment's own:
 * its name is its hash tag (see the key scheme above).
 */
export function webhookQueueName(): string {
  return '{webhook-deliveries}';
}

/** The job id of a delivery's attempt job: the delivery id (a UUID), so one delivery has at most one job. */
export function webhookDeliveryJobId(deliveryId: string): string {
  return deliveryId;
}
