import { Router } from 'express';
import { z } from 'zod';
import type { Database } from '@fleet/db';
import { iterateReportInstances, listFailureCauseInstances, readReportFigures } from '@fleet/db';
import { loadVisibleRollout } from '../http/auth.ts';
import { ETAG_RESPONSE_HEADERS, IF_NONE_MATCH_HEADER, requestSecond, sendJsonWithEtag } from '../http/etag.ts';
import { parseOrThrow } from '../http/validate.ts';
import type { ApiOperation } from '../openapi.ts';
import { planFailureGroups, streamCsv } from '../failure-report.ts';
import { rolloutIdSchema } from '../rollout-schemas.ts';

export type RolloutReportRoutesDeps = { db: Database };

const REPORT_PATH = '/v1/rollouts/:id/report';

const rolloutReportQuerySchema = z.strictObject({
  /** `json` (default): counts, progress and failures grouped by cause. `csv`: one row per instance, streamed. */
  format: z.enum(['json', 'csv']).default('json'),
  /** `failures` (default): failed installs and failed verifications. `all`: every instance (CSV only makes sense). */
  scope: z.enum(['failures', 'all']).default('failures'),
  /** Instances listed per group in JSON (the count is always complete; the CSV has every instance). */
  instancesPerGroup: z.coerce.number().int().min(0).max(1000).default(20),
});

/** Rows read from Postgres per page: small enough to stay flat in memory, large enough to be few round trips. */
const PAGE_SIZE = 2000;

/**
 * GET /v1/rollouts/:id/report: what happened and what to do about it. JSON: counts per state, verification and
 * flag counts, progress (done / total, rate over the last minute or the rollout's age, ETA), and failures grouped by cause, each group
 * with its count, the recommended action and its instances (last RequestId, attempts, last error). CSV: the same
 * instances, one row each, streamed with backpressure for whoever logs on to the hosts.
 */
export function rolloutReportRoutes(deps: RolloutReportRoutesDeps): Router {
  const router = Router();

  router.get(REPORT_PATH, async (req, res) => {
    const query = parseOrThrow(rolloutReportQuerySchema, req.query, 'query', { in: 'query' });
    const rollout = await loadVisibleRollout(deps, req, req.params.id);

    if (query.format === 'csv') {
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      res.status(200);
      res.setHeader('Content-Type', 'text/csv; charset=utf-8');
      res.setHeader('Content-Disposition', `attachment; filename="rollout-${rollout.id}-${query.scope}-${stamp}.csv"`);
      try {
        await streamCsv(
          res,
          rollout.id,
          iterateReportInstances(deps.db, rollout.id, { scope: query.scope, pageSize: PAGE_SIZE }),
        );
      } catch (error) {
        // The status line is gone already: all that is left is to cut the download short, so it is not taken
        // for a complete file.
        if (!res.headersSent) throw error;
        res.destroy(error as Error);
      }
      return;
    }

    const now = requestSecond();
    // Two statements: every count at once, then the instances of the causes the counts say to list.
    const { counts, verification, manualInstallFlags, retries, causeCounts, progress } = await readReportFigures(
      deps.db,
      rollout,
      now,
    );
    const plan = planFailureGroups(causeCounts);
    const instances = await listFailureCauseInstances(deps.db, rollout.id, plan.listedCauses, query.instancesPerGroup);
    const groups = plan.groups(instances, query.instancesPerGroup);
    const report = {
      rolloutId: rollout.id,
      userId: rollout.userId,
      status: rollout.status,
      statusReason: rollout.statusReason,
      parentRolloutId: rollout.parentRolloutId,
      retries: retries.map((r) => ({
        id: r.id,
        status: r.status,
        totalInstances: r.totalInstances,
        createdAt: r.createdAt.toISOString(),
      })),
      counts,
      progress,
      verification,
      manualInstallFlags,
      failures: { total: plan.total, causes: groups.length, groups },
    };
    // Weak: the same report made in another second (generatedAt aside) is the same report (see http/etag.ts).
    sendJsonWithEtag(req, res, { ...report, generatedAt: now.toISOString() }, { weakValidatorOf: report });
  });

  return router;
}

export const rolloutReportOperations: ApiOperation[] = [
  {
    method: 'get',
    path: REPORT_PATH,
    operationId: 'getRolloutReport',
    tag: 'rollouts',
    role: 'viewer',
    summary:
      'Failure report of a rollout: failures grouped by cause with the recommended action; CSV for the people who install by hand',
    description:
      'Counts per state, install verification and manual-install flag counts, ' +
      "progress (done / total, instances finished per second over the last minute or, while younger, the rollout's age " +
      '(`windowSeconds`), ETA; no rate and no ETA once completed or cancelled, no ETA while paused), ' +
      'and the failed instances (failed NodeInstall, or an agent that never reported running afterwards) grouped by cause: ' +
      'the error code plus the error message with instance ids, UUIDs, numbers and quoted values replaced by placeholders. ' +
      '`?format=csv` streams one row per instance (`scope=all`: every instance). ' +
      'The JSON report is conditional: a weak `ETag` (a hash of the body but `generatedAt`; progress and ETA are as of the whole second), ' +
      'and `If-None-Match` naming it answers 304 with no body. The CSV has no validator (it is streamed as it is read).',
    params: z.strictObject({ id: rolloutIdSchema }),
    query: rolloutReportQuerySchema,
    headers: [IF_NONE_MATCH_HEADER],
    responses: {
      200: {
        description: 'The report (JSON, with ETag), or the instances as CSV (`text/csv`, as an attachment)',
        headers: ETAG_RESPONSE_HEADERS,
      },
      304: {
        description: 'Not modified: the JSON report would be the one `If-None-Match` names',
        headers: ETAG_RESPONSE_HEADERS,
      },
    },
  },
];
