/**
 * Queue and job names derived from domain keys. BullMQ forbids `:` in both; rollout ids are UUIDs and instance ids
 * are `i-` + [a-z0-9], so neither ever contains one.
 */

/** One BullMQ queue per rollout: its global concurrency is the rollout's `concurrency`, enforced in Redis. */
export function installQueueName(rolloutId: string): string {
  return `install.${rolloutId}`;
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
