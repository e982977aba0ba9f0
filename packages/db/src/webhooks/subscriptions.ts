import type { EventSource, NewFleetEvent, WebhookDisabledReason } from '@fleet/rollout-domain';
import type { Database } from '../client.ts';
import { DIRECT_WRITER, recordEvents } from '../events/record-events.ts';
import type { Prisma } from '../generated/prisma/client.ts';

/**
 * Webhook subscriptions: made, changed, rotated, disabled and deleted each with its event in the same transaction.
 * Secrets arrive and leave sealed (@fleet/secrets, by the caller, which knows the key): this module never sees one in
 * clear. Tenancy is an API key's: a subscription for some accounts, or for every account.
 */

export type WebhookKindName = 'standard' | 'slack' | 'dingtalk';

export type WebhookRecord = {
  id: string;
  /** What may be shown: the URL of a standard subscription; of a chat kind, its masked form (see urlSealed). */
  url: string;
  /**
   * A chat kind's URL, sealed (webhookUrlContext): the notifier sends to it. Null for a standard subscription, and for
   * a chat one made before URLs were sealed whose `url` is still in clear (sealClearSecretUrls seals it).
   */
  urlSealed: string | null;
  kind: WebhookKindName;
  events: string[];
  userIds: string[];
  allAccounts: boolean;
  description: string | null;
  enabled: boolean;
  disabledReason: WebhookDisabledReason | null;
  secretSealed: string;
  previousSecretSealed: string | null;
  previousSecretUntil: Date | null;
  robotSecretSealed: string | null;
  failingSince: Date | null;
  startAfterEventId: bigint;
  createdByKeyId: string | null;
  createdAt: Date;
  updatedAt: Date;
};

export type NewWebhook = {
  /** Made by the caller: the sealed secrets' context names it. */
  id: string;
  /** As WebhookRecord's: masked for a chat kind. */
  url: string;
  /** A chat kind's URL, sealed by the caller; default null (a standard subscription). */
  urlSealed?: string | null;
  kind: WebhookKindName;
  events: readonly string[];
  userIds: readonly string[];
  allAccounts: boolean;
  description: string | null;
  secretSealed: string;
  robotSecretSealed: string | null;
  createdByKeyId: string | null;
  /** Default DIRECT_WRITER (tests, tools). */
  by?: EventSource;
};

type WebhookRow = Omit<WebhookRecord, 'disabledReason' | 'userIds' | 'events'> & {
  disabledReason: string | null;
  userIds: string[] | null;
  events: string[] | null;
};

function toRecord(row: WebhookRow): WebhookRecord {
  return {
    ...row,
    userIds: row.userIds ?? [],
    events: row.events ?? [],
    disabledReason: row.disabledReason as WebhookDisabledReason | null,
  };
}

type WebhookEventType = 'webhook.created' | 'webhook.deleted' | 'webhook.test';

function facts(webhook: WebhookRecord) {
  return {
    webhookId: webhook.id,
    kind: webhook.kind,
    events: webhook.events,
    userIds: webhook.userIds,
    allAccounts: webhook.allAccounts,
    enabled: webhook.enabled,
  };
}

/** A subscription's event: no account of its own (its accounts in data.userIds, as an API key's). Never a secret. */
function webhookEvent(type: WebhookEventType, webhook: WebhookRecord): NewFleetEvent {
  return { type, rolloutId: null, userId: null, data: facts(webhook) };
}

export async function createWebhook(db: Database, input: NewWebhook): Promise<WebhookRecord> {
  return db.prisma.$transaction(async (tx) => {
    // Events committed from now on are its own: the largest id visible now is where it starts.
    const visible = await tx.$queryRaw<{ max: bigint }[]>`SELECT coalesce(max(id), 0)::bigint AS max FROM fleet_event`;
    const max = visible[0]?.max ?? 0n;
    const row = await tx.webhook.create({
      data: {
        id: input.id,
        url: input.url,
        urlSealed: input.urlSealed ?? null,
        kind: input.kind,
        events: [...input.events],
        userIds: [...input.userIds],
        allAccounts: input.allAccounts,
        description: input.description,
        secretSealed: input.secretSealed,
        robotSecretSealed: input.robotSecretSealed,
        startAfterEventId: max,
        createdByKeyId: input.createdByKeyId,
      },
    });
    const record = toRecord(row);
    await recordEvents(tx, input.by ?? DIRECT_WRITER, [webhookEvent('webhook.created', record)]);
    return record;
  });
}

export async function findWebhook(db: Database, id: string): Promise<WebhookRecord | null> {
  const row = await db.prisma.webhook.findUnique({ where: { id } });
  return row ? toRecord(row) : null;
}

/**
 * The subscriptions a caller may manage, newest first: every one (`withinUserIds` null) or those bound only to
 * accounts among `withinUserIds` (as listApiKeys).
 */
export async function listWebhooks(
  db: Database,
  options: { withinUserIds: readonly string[] | null; limit: number },
): Promise<WebhookRecord[]> {
  const rows = await db.prisma.webhook.findMany({
    where:
      options.withinUserIds === null ? {} : { allAccounts: false, userIds: { hasSome: [...options.withinUserIds] } },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    ...(options.withinUserIds === null ? { take: options.limit } : {}),
  });
  const records = rows.map(toRecord);
  if (options.withinUserIds === null) return records;
  const allowed = new Set(options.withinUserIds);
  return records
    .filter((w) => !w.allAccounts && w.userIds.length > 0 && w.userIds.every((u) => allowed.has(u)))
    .slice(0, options.limit);
}

/**
 * How many subscriptions there are (enabled or not: a disabled one may be enabled again). Each holds a sealed signing
 * secret: a notifier without FLEET_ENCRYPTION_KEY could send none of them.
 */
export async function countWebhooks(db: Database): Promise<number> {
  return db.prisma.webhook.count();
}

/** The enabled subscriptions, for the dispatcher (a few hundred at most in a deployment). */
export async function listEnabledWebhooks(db: Database): Promise<WebhookRecord[]> {
  return (await db.prisma.webhook.findMany({ where: { enabled: true } })).map(toRecord);
}

export type WebhookChanges = {
  /** With `urlSealed`: the shown URL (masked for a chat kind) and the sealed one (null for a standard kind). */
  url?: string;
  urlSealed?: string | null;
  events?: readonly string[];
  enabled?: boolean;
  description?: string | null;
};

/** The fields of `changes` that differ from `current`: a field set to what it already is changes nothing. */
function changedFields(current: WebhookRecord, changes: WebhookChanges): (keyof WebhookChanges)[] {
  const sameList = (a: readonly string[], b: readonly string[]) =>
    a.length === b.length && a.every((x, i) => x === b[i]);
  const changed: (keyof WebhookChanges)[] = [];
  if (changes.url !== undefined && (changes.url !== current.url || (changes.urlSealed ?? null) !== current.urlSealed))
    changed.push('url');
  if (changes.events !== undefined && !sameList(changes.events, current.events)) changed.push('events');
  if (changes.enabled !== undefined && changes.enabled !== current.enabled) changed.push('enabled');
  if (changes.description !== undefined && changes.description !== current.description) changed.push('description');
  return changed;
}

/**
 * PATCH: a guarded write on `updatedAt` (a concurrent change wins, this one answers null), with webhook.updated naming
 * the fields that changed. Enabling clears the reason and the run of failures; disabling names the operator. A PATCH
 * that changes nothing (every field as it already is) writes nothing and no event, and answers `current`.
 */
export async function updateWebhook(
  db: Database,
  current: WebhookRecord,
  changes: WebhookChanges,
  by: EventSource = DIRECT_WRITER,
): Promise<WebhookRecord | null> {
  const changed = changedFields(current, changes);
  if (changed.length === 0) return current;
  return db.prisma.$transaction(async (tx) => {
    const data: Prisma.WebhookUpdateManyMutationInput = {};
    if (changed.includes('url')) Object.assign(data, { url: changes.url!, urlSealed: changes.urlSealed ?? null });
    if (changed.includes('events')) data.events = [...changes.events!];
    if (changed.includes('description')) data.description = changes.description ?? null;
    if (changed.includes('enabled'))
      Object.assign(
        data,
        changes.enabled
          ? { enabled: true, disabledReason: null, failingSince: null }
          : { enabled: false, disabledReason: 'operator' },
      );
    const { count } = await tx.webhook.updateMany({ where: { id: current.id, updatedAt: current.updatedAt }, data });
    if (count === 0) return null;
    const record = toRecord((await tx.webhook.findUniqueOrThrow({ where: { id: current.id } })) as WebhookRow);
    await recordEvents(tx, by, [
      { type: 'webhook.updated', rolloutId: null, userId: null, data: { ...facts(record), changed } },
    ]);
    return record;
  });
}

/**
 * A new signing secret; the current one becomes the previous one and keeps signing until `previousSecretUntil`.
 * Guarded on the current sealed secret, so two rotations at once cannot both keep "the previous" one.
 */
export async function rotateWebhookSecret(
  db: Database,
  current: WebhookRecord,
  rotation: { secretSealed: string; previousSecretUntil: Date },
  by: EventSource = DIRECT_WRITER,
): Promise<WebhookRecord | null> {
  return db.prisma.$transaction(async (tx) => {
    const { count } = await tx.webhook.updateMany({
      where: { id: current.id, secretSealed: current.secretSealed },
      data: {
        secretSealed: rotation.secretSealed,
        previousSecretSealed: current.secretSealed,
        previousSecretUntil: rotation.previousSecretUntil,
      },
    });
    if (count === 0) return null;
    const record = toRecord((await tx.webhook.findUniqueOrThrow({ where: { id: current.id } })) as WebhookRow);
    await recordEvents(tx, by, [
      {
        type: 'webhook.secret_rotated',
        rolloutId: null,
        userId: null,
        data: { ...facts(record), previousSecretUntil: rotation.previousSecretUntil.toISOString() },
      },
    ]);
    return record;
  });
}

/** Deletes a subscription and its delivery log; false when it was already gone. */
export async function deleteWebhook(
  db: Database,
  webhook: WebhookRecord,
  by: EventSource = DIRECT_WRITER,
): Promise<boolean> {
  return db.prisma.$transaction(async (tx) => {
    const { count } = await tx.webhook.deleteMany({ where: { id: webhook.id } });
    if (count === 0) return false;
    await recordEvents(tx, by, [webhookEvent('webhook.deleted', webhook)]);
    return true;
  });
}

/** A webhook.test event for this subscription only (the dispatcher sends it to no other). Returns its id. */
export async function recordWebhookTest(
  db: Database,
  webhook: WebhookRecord,
  by: EventSource = DIRECT_WRITER,
): Promise<bigint> {
  return db.prisma.$transaction(async (tx) => {
    const [id] = await recordEvents(tx, by, [webhookEvent('webhook.test', webhook)]);
    return id!;
  });
}

/**
 * Disabled by the notifier (410 Gone, or failing for days), with webhook.disabled: a guarded write on `enabled`, so of
 * two workers deciding it at once one writes the event. False when it was already disabled or is gone.
 */
export async function disableWebhook(
  db: Database,
  id: string,
  reason: Exclude<WebhookDisabledReason, 'operator'>,
  by: EventSource,
): Promise<boolean> {
  return db.prisma.$transaction(async (tx) => {
    const { count } = await tx.webhook.updateMany({
      where: { id, enabled: true },
      data: { enabled: false, disabledReason: reason },
    });
    if (count === 0) return false;
    const record = toRecord((await tx.webhook.findUniqueOrThrow({ where: { id } })) as WebhookRow);
    await recordEvents(tx, by, [
      { type: 'webhook.disabled', rolloutId: null, userId: null, data: { ...facts(record), reason } },
    ]);
    return true;
  });
}
