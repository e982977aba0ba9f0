import express from 'express';
import type { ErrorRequestHandler } from 'express';
import type { RedisClient } from '@fleet/queue';
import type { AccountClients, EndpointAllowlist } from '@fleet/accounts';
import { DEFAULT_ENDPOINT_ALLOWLIST, parseEndpointAllowlist } from '@fleet/accounts';
import { DependencyUnavailableError } from '@fleet/errors';
import type { CmsClient } from '@fleet/cms-client';
import type { Database } from '@fleet/db';
import { isDatabaseUnavailableError } from '@fleet/db';
import type { Logger } from '@fleet/logger';
import type { MetricsRegistry } from '@fleet/metrics';
import type { WebhookQueue } from '@fleet/queue';
import type { SecretBox } from '@fleet/secrets';
import { createHttpMetrics, createMetricsRegistry } from '@fleet/metrics';
import type { BackgroundEnqueues } from './background-enqueues.ts';
import { createBackgroundEnqueues } from './background-enqueues.ts';
import type { QueueBoard } from './queue-board.ts';
import { createQueueBoard } from './queue-board.ts';
import { accessLog } from './http/access-log.ts';
import { authenticate, rolloutTenancyGuard } from './http/auth.ts';
import { jsonBodyGuard, requireJsonWhenBodyPresent } from './http/json-guard.ts';
import { notFoundHandler, problemErrorHandler } from './http/problem.ts';
import { rateLimitPerKey } from './http/rate-limit.ts';
import { requestId } from './http/request-id.ts';
import { requestMetrics } from './http/request-metrics.ts';
import { securityHeaders } from './http/security-headers.ts';
import { adminOperations, adminRoutes } from './routes/admin.ts';
import { accountOperations, accountRoutes } from './routes/accounts.ts';
import { apiKeyOperations, apiKeyRoutes } from './routes/api-keys.ts';
import { docsOperations, docsRoutes } from './routes/docs.ts';
import { healthOperations, healthRoutes } from './routes/health.ts';
import { metricsOperations, metricsRoutes } from './routes/metrics.ts';
import { rolloutOperations, rolloutRoutes } from './routes/rollouts.ts';
import { manualInstallFlagOperations, manualInstallFlagRoutes } from './routes/manual-install-flags.ts';
import { rolloutReportOperations, rolloutReportRoutes } from './routes/rollout-report.ts';
import { rolloutRetryOperations, rolloutRetryRoutes } from './routes/rollout-retry.ts';
import { rolloutControlOperations, rolloutControlRoutes } from './routes/rollout-control.ts';
import type { RolloutStreamHub } from './event-stream/rollout-stream-hub.ts';
import type { EnqueueThread } from './enqueue-thread/enqueue-thread.ts';
import { streamTicketAuthentication } from './event-stream/stream-tickets.ts';
import { createApiKeyCache } from './http/api-key-cache.ts';
import { rolloutEventStreamOperations, rolloutEventStreamRoutes } from './routes/rollout-event-stream.ts';
import { eventOperations, eventRoutes } from './routes/events.ts';
import { webhookOperations, webhookRoutes } from './routes/webhooks.ts';
import { webhookDeliveryOperations, webhookDeliveryRoutes } from './routes/webhook-deliveries.ts';
import type { WebhookUrlPolicy } from './webhook-url-check.ts';
import { consoleOperations, consoleRoutes } from './routes/console.ts';
import { meOperations, meRoutes } from './routes/me.ts';
import { rolloutWaveOperations, rolloutWaveRoutes } from './routes/rollout-waves.ts';

export type ApiDeps = {
  db: Database;
  /** Fail-fast producer connection (role `producer`). */
  redis: RedisClient;
  logger: Logger;
  queuePrefix: string;
  maxInstancesPerRollout: number;
  bodyLimitBytes: number;
  /** Requests per API key per window (0: off). Default 600 per 60,000 ms. */
  rateLimit?: { limit: number; windowMs?: number };
  /**
   * Where a new rollout's enqueue runs, and how long its POST waits for it (see background-enqueues.ts). main.ts
   * passes its own, to drain it on stop. Default: the POST waits for the whole enqueue.
   */
  enqueues?: BackgroundEnqueues;
  /** The thread new rollouts' jobs are built in (main.ts starts it). Default: none, they are built on the event loop. */
  enqueueThread?: EnqueueThread;
  /** The queue board at /admin/queues; main.ts passes its own, to close its queues on stop. Default: one of its own. */
  queueBoard?: QueueBoard;
  /** The process's event streams (one listen connection, fan-out); main.ts makes it, to stop it with the server. */
  eventStreams: RolloutStreamHub;
  /** Comment heartbeat of every event stream, in ms. Default 15,000. */
  streamHeartbeatMs?: number;
  /** How long a stream ticket may wait for its use, in ms. Default 60,000. */
  streamTicketTtlMs?: number;
  /**
   * `GET /metrics`: the process's registry (main.ts makes it) and METRICS_TOKEN, which a scrape must then carry as
   * its Bearer token. Default: a registry of the app's own, open to anyone.
   */
  metrics?: { registry: MetricsRegistry; token?: string | undefined };
  /**
   * The API's own CloudMonitor client (main.ts builds it from CMS_*): a dry run's pre-check calls with it for an
   * account without credentials of its own. Default: none, and a pre-check answers 503.
   */
  cms?: CmsClient;
  /**
   * Each account's client (its stored credentials and endpoint, see @fleet/accounts), which a pre-check signs with as
   * the workers sign the account's installs; main.ts makes it over `cms`. Default: `cms` for every account.
   */
  accountClients?: Pick<AccountClients, 'current'>;
  /** Seals webhook secrets (FLEET_ENCRYPTION_KEY); undefined: webhooks cannot be made (503). */
  secretBox?: SecretBox | undefined;
  /** How a webhook URL is checked (WEBHOOK_ALLOW_PRIVATE_NETWORKS). Default: public addresses only. */
  webhookUrlPolicy?: WebhookUrlPolicy;
  /** The webhook queue, for a redelivery's job (main.ts passes its own, to close it). Default: the re-drive sends it. */
  webhookQueue?: WebhookQueue;
  /**
   * The time schedules are decided on (a new rollout's startAt, start-now's window): Postgres's, from the
   * DatabaseClock main.ts makes. Default the system clock.
   */
  scheduleNow?: () => Date;
  /** CMS_ENDPOINT_ALLOWLIST: where an account's endpoint may point. Default DEFAULT_ENDPOINT_ALLOWLIST. */
  endpointAllowlist?: EndpointAllowlist;
  /**
   * The web console's build (apps/dashboard/dist), served at `/` (routes/console.ts). Default: none, and the
   * console's paths answer 503 `console_not_built`.
   */
  consoleDir?: string;
  /**
   * API_KEY_CACHE_MS: how long a found API key is trusted without asking Postgres again, in ms (http/api-key-cache.ts).
   * A key revoked through another API process is refused here at most this long after. Default 0: every request
   * looks its key up.
   */
  apiKeyCacheMs?: number;
};

/** Whom a pre-check calls as: the account's client, or the API's own for every account; none without a client. */
function precheckClients(
  deps: ApiDeps,
): { cmsFor(userId: string): Promise<CmsClient>; scheduleNow?: () => Date } | undefined {
  const { cms, accountClients, scheduleNow } = deps;
  if (!cms) return undefined;
  return {
    cmsFor: async (userId) => (accountClients ? (await accountClients.current(userId)).cms : cms),
    // The account's schedule is shared with the workers, which keep it on Postgres's clock: so does the pre-check.
    ...(scheduleNow ? { scheduleNow } : {}),
  };
}

/** Builds the HTTP API. It does not listen: main.ts and tests do. */
export function createApp(appDeps: ApiDeps): express.Express {
  // One cache of found keys for every route that authenticates, and for the revocation that must forget a key.
  const deps = { ...appDeps, apiKeyCache: createApiKeyCache({ ttlMs: appDeps.apiKeyCacheMs ?? 0 }) };
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(requestId);
  app.use(securityHeaders);
  app.use(accessLog(deps.logger));
  const metricsRegistry = deps.metrics?.registry ?? createMetricsRegistry();
  app.use(requestMetrics(createHttpMetrics(metricsRegistry), app));
  app.use(healthRoutes(deps));
  app.use(metricsRoutes({ registry: metricsRegistry, token: deps.metrics?.token, logger: deps.logger }));
  app.use(
    docsRoutes({
      operations: () => [
        ...healthOperations,
        ...metricsOperations,
        ...docsOperations,
        ...rolloutOperations(deps.maxInstancesPerRollout),
        ...rolloutControlOperations,
        ...apiKeyOperations,
        ...accountOperations,
        ...rolloutReportOperations,
        ...rolloutRetryOperations,
        ...manualInstallFlagOperations,
        ...adminOperations,
        ...rolloutEventStreamOperations,
        ...eventOperations,
        ...webhookOperations,
        ...webhookDeliveryOperations,
        ...meOperations,
        ...rolloutWaveOperations,
        ...consoleOperations,
      ],
    }),
  );
  // One budget per key, counted in Redis, whichever of /v1 and /admin the key is used on.
  const perKeyRateLimit = rateLimitPerKey(deps, {
    limit: deps.rateLimit?.limit ?? 600,
    windowMs: deps.rateLimit?.windowMs ?? 60_000,
    prefix: deps.queuePrefix,
  });
  // Admins' pages (the queue board), with their own authentication: a session cookie a browser can send.
  app.use(adminRoutes({ ...deps, queueBoard: deps.queueBoard ?? createQueueBoard(deps), rateLimit: perKeyRateLimit }));
  // An EventSource cannot send Authorization: its stream may carry a single-use ticket instead (stream-tickets.ts).
  app.get('/v1/rollouts/:id/events/stream', streamTicketAuthentication(deps));
  // Everything under /v1, including routes added below later: a key first (before a body is even read), then its
  // rate limit, then the body (JSON only, size and nesting limited, no prototype keys).
  app.use(
    '/v1',
    authenticate(deps),
    perKeyRateLimit,
    requireJsonWhenBodyPresent,
    express.json({ limit: deps.bodyLimitBytes, strict: true }),
    jsonBodyGuard,
  );
  // Another tenant's rollout is a 404 for every route under it, whoever wrote the route.
  app.use('/v1/rollouts/:id', rolloutTenancyGuard(deps));
  const enqueues = deps.enqueues ?? createBackgroundEnqueues();
  app.use(rolloutRoutes({ ...deps, enqueues, precheck: precheckClients(deps) }));
  app.use(rolloutControlRoutes(deps));
  app.use(rolloutReportRoutes(deps));
  app.use(rolloutRetryRoutes({ ...deps, enqueues }));
  app.use(manualInstallFlagRoutes(deps));
  app.use(rolloutEventStreamRoutes(deps));
  app.use(apiKeyRoutes(deps));
  app.use(
    accountRoutes({
      db: deps.db,
      logger: deps.logger,
      box: deps.secretBox,
      endpointAllowlist: deps.endpointAllowlist ?? parseEndpointAllowlist(DEFAULT_ENDPOINT_ALLOWLIST),
    }),
  );
  app.use(eventRoutes(deps));
  const webhookUrlPolicy = deps.webhookUrlPolicy ?? { allowPrivateNetworks: false };
  app.use(webhookRoutes({ ...deps, secretBox: deps.secretBox, webhookUrlPolicy }));
  app.use(webhookDeliveryRoutes({ ...deps, webhookQueue: deps.webhookQueue }));
  app.use(meRoutes());
  app.use(rolloutWaveRoutes(deps));
  // The console's page and files, last: public (the page holds no data; it signs in with a key and calls /v1).
  app.use(consoleRoutes({ dir: deps.consoleDir }));
  app.use(notFoundHandler);
  // Postgres unreachable mid-request: a 503 the client may retry, not a 500.
  const databaseUnavailable: ErrorRequestHandler = (error, _req, _res, next) => {
    next(isDatabaseUnavailableError(error) ? new DependencyUnavailableError('postgres', { cause: error }) : error);
  };
  app.use(databaseUnavailable);
  app.use(problemErrorHandler(deps.logger));
  return app;
}
