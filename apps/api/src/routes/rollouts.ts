import type { EnqueueThread } from '../enqueue-thread/enqueue-thread.ts';
import { Router } from 'express';
import type { Request, Response } from 'express';
import type { RedisClient } from '@fleet/queue';
import { z } from 'zod';
import { ApiError, NotFoundError, ValidationError } from '@fleet/errors';
import type { Database, IdempotencyRecord, RolloutRecord } from '@fleet/db';
import {
  IdempotencyKeyTakenError,
  apiKeyNamesOf,
  claimIdempotencyKey,
  countInstances,
  countInstancesOfRollouts,
  findIdempotencyRecord,
  findInstanceWithAttempts,
  listInstances,
  listRollouts,
  recordRollout,
} from '@fleet/db';
import type { Logger } from '@fleet/logger';
import { isRedisReachable } from '@fleet/queue';
import type { InstanceState, RolloutStatus } from '@fleet/rollout-domain';
import { INSTANCE_STATES, initialRolloutStatus, planWaveSizes, resolveCount } from '@fleet/rollout-domain';
import { DependencyUnavailableError } from '@fleet/errors';
import type { BackgroundEnqueues } from '../background-enqueues.ts';
import { enqueueNewRollout } from '../enqueue-rollout.ts';
import type { ApiPrincipal } from '../http/auth.ts';
import { assertAccountVisible, loadVisibleRollout, requireRole, visibleUserIds } from '../http/auth.ts';
import { ETAG_RESPONSE_HEADERS, IF_NONE_MATCH_HEADER, requestSecond, sendJsonWithEtag } from '../http/etag.ts';
import { eventSourceOf } from '../http/event-source.ts';
import { idempotencyKeySchema, readIdempotencyKey, requestFingerprint } from '../http/idempotency-key.ts';
import { unsupportedMediaType } from '../http/json-guard.ts';
import { parseOrThrow, parsePathParam } from '../http/validate.ts';
import { readRolloutLimits } from '../rollout-limits.ts';
import { readRolloutStatus } from '../rollout-status.ts';
import { assertConsistentPolicy, policyFromCreateBody } from '../rollout-policy-schemas.ts';
import type { ApiOperation } from '../openapi.ts';
import { planRollout } from '../rollout-plan.ts';
import type { PlanDeps } from '../rollout-plan.ts';
import { rolloutPlanSchema } from '../rollout-plan-schema.ts';
import {
  createRolloutSchema,
  dryRunRolloutSchema,
  instanceIdSchema,
  listInstancesQuerySchema,
  listRolloutsQuerySchema,
  rolloutIdSchema,
} from '../rollout-schemas.ts';
import {
  attemptView,
  decodeCursor,
  decodeRolloutCursor,
  encodeCursor,
  encodeRolloutCursor,
  instanceView,
  rolloutSummaryView,
  rolloutView,
} from '../rollout-views.ts';
import {
  createdRolloutSchema,
  instanceDetailSchema,
  instancePageSchema,
  rolloutPageSchema,
  rolloutSchema,
} from '../response-schemas.ts';

export type RolloutRoutesDeps = {
  db: Database;
  /** Fail-fast producer connection (no offline queue). */
  redis: RedisClient;
  queuePrefix: string;
  maxInstancesPerRollout: number;
  logger: Logger;
  /** Runs the enqueue of a new rollout, answering once it is done or its wait is over (see background-enqueues.ts). */
  enqueues: BackgroundEnqueues;
  /** A dry run's pre-check calls CloudMonitor with this; absent: a pre-check answers 503. */
  precheck?: PlanDeps['precheck'];
  /** Where the jobs are built (main.ts's enqueue thread); default on the event loop. */
  enqueueThread?: EnqueueThread | undefined;
  /** Postgres's time (a DatabaseClock), which a schedule's startAt is compared with. Default the system clock. */
  scheduleNow?: () => Date;
};

function requireJson(req: Request): void {
  if (!req.is('application/json')) throw unsupportedMediaType(req);
}

const ROLLOUTS_PATH = '/v1/rollouts';

/** The ids in their first order, each once. The list itself when there is no duplicate (the usual case): no copy. */
function withoutDuplicates(ids: readonly string[]): readonly string[] {
  const seen = new Set(ids);
  return seen.size === ids.length ? ids : [...seen];
}

function isDryRunRequest(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as { dryRun?: unknown }).dryRun === true;
}

export function rolloutRoutes(deps: RolloutRoutesDeps): Router {
  const router = Router();
  const createSchema = createRolloutSchema(deps.maxInstancesPerRollout);
  const dryRunSchema = dryRunRolloutSchema(deps.maxInstancesPerRollout);

  /**
   * `dryRun: true`: the same checks, then the plan (200), with nothing written: no rollout, instance, job,
   * Idempotency-Key record or event. The key is checked like any other but neither looked up nor stored.
   */
  async function answerDryRun(req: Request, res: Response): Promise<void> {
    readIdempotencyKey(req);
    const body = parseOrThrow(dryRunSchema, req.body, 'rollout', { in: 'body' });
    assertConsistentPolicy(body);
    assertAccountVisible(req, body.userId);
    res.status(200).json(await planRollout(deps, body));
  }

  /**
   * Answers a request whose Idempotency-Key was seen before: the same request gets the original rollout (as it is
   * now) with the original status and `Idempotent-Replayed: true`; a different request with that key gets 422.
   */
  async function replayRollout(
    req: Request,
    res: Response,
    earlier: IdempotencyRecord,
    requestHash: string,
    duplicatesRemoved: number,
  ): Promise<void> {
    if (earlier.requestHash !== requestHash) {
      throw new ApiError(
        422,
        'idempotency_key_reused',
        'Idempotency-Key reused',
        'This Idempotency-Key was already used with a different request; use a new key for a new rollout',
        [{ path: 'Idempotency-Key', message: 'already used with a different request body', in: 'header' }],
      );
    }
    if (!earlier.resourceId) throw new NotFoundError('the rollout of this Idempotency-Key');
    const rollout = await loadVisibleRollout(deps, req, earlier.resourceId);
    const [counts, limitsInForce] = await Promise.all([
      countInstances(deps.db, rollout.id),
      readRolloutLimits(deps, rollout.userId),
    ]);
    res
      .status(earlier.status ?? 202)
      .location(`${ROLLOUTS_PATH}/${rollout.id}`)
      .setHeader('Idempotent-Replayed', 'true')
      .json({ ...rolloutView(rollout, counts, { limitsInForce }), duplicatesRemoved });
  }

  /**
   * Validates the request and records the rollout with all its instances (or answers a replay of an earlier request
   * with this Idempotency-Key and returns null). Everything that holds the whole id list lives in this function.
   */
  async function recordRequestedRollout(
    req: Request,
    res: Response,
    principal: ApiPrincipal,
  ): Promise<{ rollout: RolloutRecord; duplicatesRemoved: number } | null> {
    const idempotencyKey = readIdempotencyKey(req);
    const body = parseOrThrow(createSchema, req.body, 'rollout', { in: 'body' });
    if (body.precheck)
      throw new ValidationError('rollout is invalid: precheck: goes with dryRun: true', [
        {
          path: 'precheck',
          message: 'a pre-check is part of a dry run: send dryRun: true with it; got true',
          in: 'body',
        },
      ]);
    assertConsistentPolicy(body);
    // An account outside the key answers like an account that does not exist (404), never 403.
    assertAccountVisible(req, body.userId);
    const instanceIds = withoutDuplicates(body.instanceIds);
    const duplicatesRemoved = body.instanceIds.length - instanceIds.length;
    const idempotency =
      idempotencyKey === undefined
        ? undefined
        : {
            apiKeyId: principal.keyId,
            key: idempotencyKey,
            requestHash: requestFingerprint('POST', ROLLOUTS_PATH, req.body),
          };
    if (idempotency) {
      const earlier = await findIdempotencyRecord(deps.db, idempotency.apiKeyId, idempotency.key);
      if (earlier) {
        await replayRollout(req, res, earlier, idempotency.requestHash, duplicatesRemoved);
        return null;
      }
    }
    // Check Redis before writing anything: while it is down, answer 503 at once rather than record a rollout
    // that no worker can hear about.
    if (!(await isRedisReachable(deps.redis))) throw new DependencyUnavailableError('redis');
    const policy = policyFromCreateBody(body);
    const status = initialRolloutStatus(policy.schedule, deps.scheduleNow?.() ?? new Date());
    try {
      const rollout = await recordRollout(
        deps.db,
        {
          userId: body.userId,
          force: body.force,
          concurrency: resolveCount(policy.concurrency, instanceIds.length),
          maxAttempts: policy.retry.maxAttempts,
          policy: policy as never,
          instanceIds,
          waveSizes: planWaveSizes(policy.waves, instanceIds.length),
          by: eventSourceOf(req),
          status,
          nextWindowAt: status === 'scheduled' && policy.schedule?.startAt ? new Date(policy.schedule.startAt) : null,
        },
        // The key is recorded in the rollout's own transaction: both exist or neither, and a concurrent request
        // with the same key waits on the primary key, then finds it taken and rolls back whole.
        idempotency
          ? {
              inTransaction: (tx, rolloutId) =>
                claimIdempotencyKey(tx, { ...idempotency, resourceId: rolloutId, status: 202 }),
            }
          : {},
      );
      return { rollout, duplicatesRemoved };
    } catch (error) {
      if (idempotency && error instanceof IdempotencyKeyTakenError) {
        const earlier = await findIdempotencyRecord(deps.db, idempotency.apiKeyId, idempotency.key);
        if (earlier) {
          await replayRollout(req, res, earlier, idempotency.requestHash, duplicatesRemoved);
          return null;
        }
      }
      throw error;
    }
  }

  router.post(ROLLOUTS_PATH, async (req, res) => {
    const principal = requireRole(req, 'operator');
    requireJson(req);
    if (isDryRunRequest(req.body)) return answerDryRun(req, res);
    const recorded = await recordRequestedRollout(req, res, principal);
    if (!recorded) return;
    // The ids are in Postgres now and nothing below reads the body: let the parsed list go before the enqueue, the
    // longest part. Kept, a 100,000-id body is some 6 MB reachable for seconds, and V8 lets garbage grow to a
    // multiple of what is reachable before it collects (measured: about 30 MiB less peak RSS at 100,000 ids).
    req.body = undefined;
    const { rollout, duplicatesRemoved } = recorded;
    const log = deps.logger.child({ rolloutId: rollout.id });
    // Recorded and durable: the jobs follow, answered once they are all in Redis or when the wait is over.
    const enqueued = await deps.enqueues.start(() => enqueueNewRollout(deps, rollout, log));
    const total = rollout.totalInstances;
    log.info('rollout created', {
      userId: rollout.userId,
      instances: total,
      duplicatesRemoved,
      enqueued,
      keyPrefix: principal.keyPrefix,
    });
    const counts = { total, ...Object.fromEntries(INSTANCE_STATES.map((s) => [s, 0])), pending: total } as Parameters<
      typeof rolloutView
    >[1];
    const limitsInForce = await readRolloutLimits(deps, rollout.userId);
    res
      .status(202)
      .location(`${ROLLOUTS_PATH}/${rollout.id}`)
      .json({
        ...rolloutView({ ...rollout, enqueuedAt: enqueued ? new Date() : null }, counts, { limitsInForce }),
        duplicatesRemoved,
      });
  });

  router.get(ROLLOUTS_PATH, async (req, res) => {
    const query = parseOrThrow(listRolloutsQuerySchema, req.query, 'query', { in: 'query' });
    const after = query.cursor === undefined ? undefined : decodeRolloutCursor(query.cursor);
    if (after === null)
      throw new ValidationError('query is invalid: cursor: not a cursor of this API', [
        { path: 'cursor', message: 'not a cursor returned by this API', in: 'query' },
      ]);
    if (query.userId !== undefined) assertAccountVisible(req, query.userId);
    const page = await listRollouts(deps.db, {
      userIds: query.userId !== undefined ? [query.userId] : visibleUserIds(req),
      limit: query.limit,
      ...(query.status ? { status: query.status as RolloutStatus } : {}),
      ...(query.instanceId ? { instanceId: query.instanceId } : {}),
      ...(after ? { after } : {}),
    });
    const [counts, keyNames] = await Promise.all([
      countInstancesOfRollouts(
        deps.db,
        page.rollouts.map((r) => r.id),
      ),
      apiKeyNamesOf(
        deps.db,
        page.rollouts.flatMap((r) => (r.createdByKeyId ? [r.createdByKeyId] : [])),
      ),
    ]);
    res.json({
      items: page.rollouts.map((rollout) => rolloutSummaryView(rollout, counts.get(rollout.id)!, keyNames)),
      nextCursor: page.next ? encodeRolloutCursor(page.next) : null,
    });
  });

  router.get('/v1/rollouts/:id', async (req, res) => {
    const rollout = await loadVisibleRollout(deps, req, req.params.id);
    // Progress as of the whole second: the body, and so its ETag, stays the same within it (see http/etag.ts).
    sendJsonWithEtag(req, res, await readRolloutStatus(deps, rollout, requestSecond()));
  });

  router.get('/v1/rollouts/:id/instances', async (req, res) => {
    const id = parsePathParam(rolloutIdSchema, req, 'id', 'rollout id');
    const query = parseOrThrow(listInstancesQuerySchema, req.query, 'query', { in: 'query' });
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    if (after === null)
      throw new ValidationError('query is invalid: cursor: not a cursor of this API', [
        { path: 'cursor', message: 'not a cursor returned by this API', in: 'query' },
      ]);
    await loadVisibleRollout(deps, req, id);
    const page = await listInstances(deps.db, id, {
      limit: query.limit,
      ...(query.state ? { state: query.state as InstanceState } : {}),
      ...(after !== undefined ? { after } : {}),
    });
    res.json({
      items: page.instances.map(instanceView),
      nextCursor: page.nextCursor === null ? null : encodeCursor(page.nextCursor),
    });
  });

  router.get('/v1/rollouts/:id/instances/:instanceId', async (req, res) => {
    const id = parsePathParam(rolloutIdSchema, req, 'id', 'rollout id');
    const instanceId = parsePathParam(instanceIdSchema, req, 'instanceId', 'instance id');
    await loadVisibleRollout(deps, req, id);
    const instance = await findInstanceWithAttempts(deps.db, id, instanceId);
    if (!instance) throw new NotFoundError(`instance ${instanceId} in rollout ${id}`);
    res.json({
      rolloutId: id,
      ...instanceView(instance),
      verification: instance.verification,
      agentStatus: instance.agentStatus,
      verifiedAt: instance.verifiedAt?.toISOString() ?? null,
      attempts: instance.attempts.map(attemptView),
    });
  });

  return router;
}

/** What the OpenAPI document says about these routes; the schemas are the ones the routes validate with. */
export function rolloutOperations(maxInstancesPerRollout: number): ApiOperation[] {
  const rolloutParams = z.strictObject({ id: rolloutIdSchema });
  return [
    {
      method: 'post',
      path: ROLLOUTS_PATH,
      operationId: 'createRollout',
      tag: 'rollouts',
      role: 'operator',
      summary: 'Create a rollout',
      description:
        'Records the rollout and all its instances in one transaction, then enqueues one install job per instance (of the first wave). ' +
        'Instance ids are de-duplicated (`duplicatesRemoved`). ' +
        'The answer waits for the enqueue at most ENQUEUE_WAIT_MS (default 1 s): `enqueued: true` when every job is in the queue; ' +
        '`enqueued: false` when it continues in the background (a large rollout), until GET shows it true. ' +
        'An account outside the API key answers 404. With `Idempotency-Key`, the same key and body return the original rollout ' +
        '(`Idempotent-Replayed: true`); the same key with another body answers 422. ' +
        'Redis unreachable: 503 and nothing is recorded. ' +
        'With `dryRun: true` (same body, same checks) it answers 200 with the plan and records nothing: every refused id with its index and reason ' +
        '(instead of a 400), the waves, the effective limits and a duration estimate with its formula (docs/api.md, Dry run).',
      headers: [
        {
          name: 'Idempotency-Key',
          description: '1 to 255 visible ASCII characters; scoped to the API key',
          schema: idempotencyKeySchema,
        },
      ],
      body: createRolloutSchema(maxInstancesPerRollout),
      idempotent: true,
      responses: {
        200: { description: 'A dry run (`dryRun: true`): the plan; nothing was recorded', schema: rolloutPlanSchema },
        202: {
          description:
            'Accepted: the rollout is recorded, and enqueued or being enqueued (`enqueued`); or a replay of an earlier request with this Idempotency-Key',
          schema: createdRolloutSchema,
          headers: {
            Location: 'the rollout',
            'Idempotent-Replayed': '`true` when this answers an earlier request with the same Idempotency-Key',
          },
        },
      },
    },
    {
      method: 'get',
      path: ROLLOUTS_PATH,
      operationId: 'listRollouts',
      tag: 'rollouts',
      role: 'viewer',
      summary: 'List the rollouts the API key may see, newest first',
      query: listRolloutsQuerySchema,
      responses: {
        200: {
          description: 'A page of rollouts; pass `nextCursor` as `cursor` for the next one',
          schema: rolloutPageSchema,
        },
      },
    },
    {
      method: 'get',
      path: '/v1/rollouts/:id',
      operationId: 'getRollout',
      tag: 'rollouts',
      role: 'viewer',
      summary: 'A rollout with its counts per instance state, its limits in force and its progress',
      description:
        '`progress.ratePerSecond` is instances finished per second over `progress.windowSeconds`: ' +
        "the last 60 s, or the rollout's age while it is younger (at least 1 s). " +
        '`etaSeconds` / `etaAt` are when every instance is final at that rate: 0 when all are, ' +
        'null when nothing finished in the window and while paused. ' +
        'A completed or cancelled rollout shows `ratePerSecond`, `etaSeconds` and `etaAt` null. ' +
        '`parentRolloutId`: the rollout a retry retries (null for a first rollout). ' +
        'Conditional: the answer has a strong `ETag` (a hash of the body; time-dependent fields are computed as of the whole second), ' +
        'and a request whose `If-None-Match` names it answers 304 with no body.',
      params: rolloutParams,
      headers: [IF_NONE_MATCH_HEADER],
      responses: {
        200: { description: 'The rollout', schema: rolloutSchema, headers: ETAG_RESPONSE_HEADERS },
        304: {
          description: 'Not modified: the body would be the one `If-None-Match` names',
          headers: ETAG_RESPONSE_HEADERS,
        },
      },
    },
    {
      method: 'get',
      path: '/v1/rollouts/:id/instances',
      operationId: 'listRolloutInstances',
      tag: 'rollouts',
      role: 'viewer',
      summary: "A page of a rollout's instances",
      params: rolloutParams,
      query: listInstancesQuerySchema,
      responses: { 200: { description: 'A page of instances', schema: instancePageSchema } },
    },
    {
      method: 'get',
      path: '/v1/rollouts/:id/instances/:instanceId',
      operationId: 'getRolloutInstance',
      tag: 'rollouts',
      role: 'viewer',
      summary: 'One instance with every NodeInstall attempt and its RequestId',
      params: z.strictObject({ id: rolloutIdSchema, instanceId: instanceIdSchema }),
      responses: { 200: { description: 'The instance and its attempts', schema: instanceDetailSchema } },
    },
  ];
}
