/**
 * The vocabulary of fleet events: what happened to a rollout, a manual-install flag or an API key, as the event log
 * (@fleet/db events/) stores it and every surface (timeline, stream, audit trail) shows it. The type names are a
 * public contract: add types freely, never rename one. One event per change, never one per attempt.
 */

export const FLEET_EVENT_TYPES = [
  'rollout.created',
  'rollout.wave_started',
  'rollout.paused',
  'rollout.resumed',
  'rollout.policy_changed',
  'rollout.aborted',
  'rollout.cancelled',
  'rollout.completed',
  'rollout.retried',
  'rollout.scheduled',
  'rollout.window_waiting',
  'rollout.started',
  'instance.flagged',
  'flag.acknowledged',
  'flag.resolved',
  'flag.closed',
  'flag.reopened',
  'api_key.created',
  'api_key.revoked',
  'webhook.created',
  'webhook.updated',
  'webhook.secret_rotated',
  'webhook.deleted',
  'webhook.disabled',
  'webhook.test',
  'account.created',
  'account.updated',
  'account.credentials_rotated',
  'account.deleted',
] as const;

export type FleetEventType = (typeof FLEET_EVENT_TYPES)[number];

export function isFleetEventType(value: string): value is FleetEventType {
  return (FLEET_EVENT_TYPES as readonly string[]).includes(value);
}

/**
 * Who made the change. `api_key`: a request authenticated with that key (its id and name, never the key);
 * `worker` / `reconciler` / `notifier`: that process on its own (its WORKER_ID / RECONCILER_ID / NOTIFIER_ID); `system`: a change made with no
 * key to name, its id saying which: `fleet-cli` (the CLI writing to the database: `fleet up`, `create-api-key`),
 * `bootstrap` (the API's FLEET_ADMIN_API_KEY), `direct` (tests and tools writing through @fleet/db).
 */
export type EventActor =
  | { kind: 'api_key'; id: string; name: string }
  | { kind: 'worker'; id: string }
  | { kind: 'reconciler'; id: string }
  | { kind: 'notifier'; id: string }
  | { kind: 'system'; id: string };

export type EventActorKind = EventActor['kind'];

export const EVENT_ACTOR_KINDS = [
  'api_key',
  'worker',
  'reconciler',
  'notifier',
  'system',
] as const satisfies readonly EventActorKind[];

/** Who made a change and, for an API request, its request id (X-Request-Id): passed down to whatever writes it. */
export type EventSource = { actor: EventActor; requestId?: string | null };

/** Why a rollout paused: an operator asked, a wave's success rate fell below its gate, or a fleet-wide error. */
export type PauseCause =
  | { kind: 'operator' }
  | { kind: 'wave_gate'; wave: number; succeeded: number; failed: number; thresholdPercent: number }
  /** Bad credentials, a signature mismatch, Forbidden: every instance would fail alike. `code`: CloudMonitor's. */
  | { kind: 'fleet_wide_error'; code: string | null }
  /** The schedule's endAt was reached with endBehavior `pause`. */
  | { kind: 'schedule_end'; endAt: string };

/** What each event type's `data` holds. */
export type FleetEventData = {
  'rollout.created': {
    totalInstances: number;
    waveCount: number;
    concurrency: number;
    maxAttempts: number;
    force: boolean;
    /** The rollout this one retries, if it is a retry. */
    parentRolloutId: string | null;
  };
  'rollout.wave_started': { wave: number; waveCount: number };
  'rollout.paused': { cause: PauseCause; reason: string | null };
  /** `reason`: the operator's, if one was given (POST .../resume). */
  'rollout.resumed': { wave: number; reason: string | null };
  'rollout.policy_changed': { before: unknown; after: unknown };
  /** Cancelled by its own abort threshold. */
  'rollout.aborted': { reason: string | null };
  'rollout.cancelled': { reason: string | null };
  /** Instances per final state when it completed. */
  'rollout.completed': { counts: Record<string, number> };
  /** A new rollout waits for its schedule (a future startAt, or windows): no call before `nextWindowAt` (null: the next window). */
  'rollout.scheduled': { nextWindowAt: string | null };
  /** Outside every window (or its cutoff): no new call until `nextWindowAt`; calls in flight finish. */
  'rollout.window_waiting': { from: string; nextWindowAt: string | null };
  /** Calls may start: startAt reached inside a window, a window opened, or start-now (`cause`); until `callsUntil` (null: no bound). */
  'rollout.started': {
    from: string;
    cause: 'schedule' | 'start_now';
    callsUntil: string | null;
    /** The operator's reason for a start-now, if one was given; null for the schedule's own starts. */
    reason: string | null;
  };
  /** Written on the original rollout's timeline; the child's own timeline starts with its rollout.created. */
  'rollout.retried': { childRolloutId: string; instances: number };
  /** A host got its manual-install flag for this rollout: a new one, or its open one carried on (`reflagged`). */
  'instance.flagged': {
    flagId: string;
    instanceId: string;
    reason: string;
    action: 'flagged' | 'reflagged';
  };
  'flag.acknowledged': FlagMove;
  'flag.resolved': FlagMove;
  'flag.closed': FlagMove;
  /** A resolved flag opened again: a later rollout failed on the host, or its re-verification failed. */
  'flag.reopened': { flagId: string; instanceId: string; reason: string };
  'api_key.created': ApiKeyFacts;
  'api_key.revoked': ApiKeyFacts;
  'webhook.created': WebhookFacts;
  /** PATCH: the fields it changed, as they were and are (never a secret). */
  'webhook.updated': WebhookFacts & { changed: string[] };
  /** A new signing secret; the previous one signs beside it until `previousSecretUntil`. */
  'webhook.secret_rotated': WebhookFacts & { previousSecretUntil: string };
  'webhook.deleted': WebhookFacts;
  /** Disabled by the notifier: the receiver answered 410 (`gone`) or failed for 5 days in a row (`failing`). */
  'webhook.disabled': WebhookFacts & { reason: WebhookDisabledReason };
  /** POST /v1/webhooks/:id/test: delivered to that subscription only. */
  'webhook.test': WebhookFacts;
  'account.created': AccountFacts;
  /** `changed`: the fields the change set (name, endpoint, rateLimitRps, rateBurst). */
  'account.updated': AccountFacts & { changed: string[] };
  /** New credentials: the AccessKeyIds masked (last 4 characters), never a secret or token. */
  'account.credentials_rotated': AccountFacts & { previousAccessKeyId: string | null };
  'account.deleted': AccountFacts;
};

/** Why a subscription is disabled: an operator's PATCH, a 410 Gone answer, five days of failed attempts. */
export type WebhookDisabledReason = 'operator' | 'gone' | 'failing';

/** What a subscription's events say of it: never its secrets. Its accounts are in `userIds` as an API key's are. */
type WebhookFacts = {
  webhookId: string;
  kind: string;
  events: string[];
  userIds: string[];
  allAccounts: boolean;
  enabled: boolean;
};

type FlagMove = { flagId: string; instanceId: string; from: string; to: string; note: string | null };
/** What an account's events say of it: settings and the masked AccessKeyId, never a secret or token. */
type AccountFacts = {
  name: string;
  endpoint: string | null;
  rateLimitRps: number | null;
  rateBurst: number | null;
  /** Masked to its last 4 characters; null without credentials of its own. */
  accessKeyId: string | null;
  hasSecurityToken: boolean;
};
type ApiKeyFacts = { keyId: string; name: string; role: string; userIds: string[]; allAccounts: boolean };

/** An event to write: its type, its data typed by the type, what it concerns and who made it. */
export type NewFleetEvent = {
  [T in FleetEventType]: {
    type: T;
    data: FleetEventData[T];
    /** The rollout it belongs to (a flag's latest rollout); null for an API key's events. */
    rolloutId: string | null;
    /** The account it concerns; null for an API key's events (their accounts are in `data.userIds`). */
    userId: string | null;
  };
}[FleetEventType];
